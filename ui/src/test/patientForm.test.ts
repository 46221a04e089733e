import { describe, expect, it } from "vitest";
import { newPatientInput, patientChanges } from "../components/PatientForm";
import type { PatientData } from "../types";

const stored: PatientData = {
  customer_number: "C-1042",
  first_name: "Grace ",
  last_name: "Hopper",
  date_of_birth: "1956-12-09",
  email: null,
  phone: "020 7946 0000",
  address: "  1 Harley Street\nLondon  ",
  notes: "Prefers mornings.\n",
};
const form = (over: Partial<Record<keyof PatientData, string>> = {}) => ({
  customer_number: "C-1042",
  first_name: "Grace",
  last_name: "Hopper",
  date_of_birth: "1956-12-09",
  email: "",
  phone: "020 7946 0000",
  address: "1 Harley Street\nLondon",
  notes: "Prefers mornings.",
  ...over,
});

describe("patientChanges", () => {
  it("sends nothing for values the person did not change, spaces around stored ones included", () => {
    expect(patientChanges(stored, form())).toEqual({});
  });

  it("sends what changed, trimmed, and clears an emptied optional field", () => {
    expect(patientChanges(stored, form({ last_name: " Murray Hopper ", phone: "  ", notes: "Afternoons now." }))).toEqual({
      last_name: "Murray Hopper",
      phone: null,
      notes: "Afternoons now.",
    });
  });
});

describe("newPatientInput", () => {
  it("sends required text as typed (trimmed) and empty optional text as null", () => {
    expect(newPatientInput(form({ first_name: "", email: " " }))).toMatchObject({ first_name: "", email: null, notes: "Prefers mornings." });
  });
});
