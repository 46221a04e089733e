import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { PrescriptionForm, visibleErrors } from "../screens/PrescriptionForm";
import { toRxJson, emptyRxForm } from "../rxForm";
import type { EyeRx, RxCheck } from "../types";
import { answer, callsOf } from "./tauri";
import { renderScreen } from "./render";

const eye = (over: Partial<EyeRx>): EyeRx => ({
  sphere: 0,
  cylinder: null,
  axis: null,
  add: null,
  prism_horizontal: null,
  prism_vertical: null,
  power: null,
  base_curve: null,
  diameter: null,
  ...over,
});

const lastCheck = () => {
  const calls = callsOf("check_prescription");
  return calls[calls.length - 1]?.input as Record<string, Record<string, unknown>>;
};

describe("toRxJson", () => {
  it("sends numbers as numbers, unreadable text as typed, and leaves empty cells out", () => {
    const form = emptyRxForm("2026-11-02");
    form.right = { ...form.right, sphere: "-1.25", cylinder: "−0,50", axis: "180", add: "" };
    form.left = { ...form.left, sphere: "minus two", prism_h_amount: "1", prism_h_base: "in" };
    form.pd.binocular_distance = "63";
    form.prescriber = "  Dr Jane Smith ";
    const json = toRxJson(form);
    expect(json.right).toEqual({ sphere: -1.25, cylinder: -0.5, axis: 180 });
    expect(json.left).toEqual({ sphere: "minus two", prism_horizontal: { amount: 1, base: "in" } });
    expect(json.pd).toEqual({ binocular_distance: 63 });
    expect(json.prescriber).toBe("Dr Jane Smith");
    expect(json).not.toHaveProperty("expiry_date");
    expect(json).not.toHaveProperty("contact_lens");
    expect(json.issue_date).toBe("2026-11-02");
  });

  it("sends contact-lens fields only on a contact-lens prescription", () => {
    const form = emptyRxForm("2026-11-02");
    form.right = { ...form.right, sphere: "-2", power: "-2.25", base_curve: "8.6" };
    form.brand = "Acuvue";
    expect(toRxJson(form).right).toEqual({ sphere: -2 });
    form.kind = "contact_lens";
    const json = toRxJson(form);
    expect(json.right).toEqual({ sphere: -2, power: -2.25, base_curve: 8.6 });
    expect(json.contact_lens).toEqual({ brand: "Acuvue" });
  });
});

describe("visibleErrors", () => {
  const required = { field: "right.sphere", code: "input.required", message: "right.sphere is required" };
  const rule = { field: "right.axis", code: "rx.axis_required", message: "Axis is required" };
  it("hides 'required' on untouched fields until a save is tried, never a broken rule", () => {
    expect(visibleErrors([required, rule], new Set(), false)).toEqual([rule]);
    expect(visibleErrors([required, rule], new Set(["right.sphere"]), false)).toEqual([required, rule]);
    expect(visibleErrors([required, rule], new Set(), true)).toEqual([required, rule]);
  });
});

describe("PrescriptionForm", () => {
  it("checks as you type and shows the engine's error under the right cell, and the transposed form", async () => {
    const check: RxCheck = {
      errors: [{ field: "right.sphere", code: "rx.sphere_not_quarter_step", message: "Sphere must be in 0.25 steps, got -1.30" }],
      transposed: { right: eye({ sphere: -1.8, cylinder: 0.5, axis: 90 }), left: eye({}) },
    };
    answer({ check_prescription: check });
    renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-right-sphere"), "-1.30");
    await user.type(screen.getByTestId("rx-right-cylinder"), "-0.50");
    await user.type(screen.getByTestId("rx-right-axis"), "180");

    const error = await screen.findByText(/0\.25 steps/);
    expect(error.getAttribute("data-testid")).toBe("field-error");
    expect(error.getAttribute("data-field")).toBe("right.sphere");
    // It sits in the right eye's sphere cell, next to its input, and marks that input.
    const cell = error.closest("td")!;
    expect(within(cell).getByTestId("rx-right-sphere")).toBeTruthy();
    expect(screen.getByTestId("rx-right-sphere").getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByTestId("rx-left-sphere").getAttribute("aria-invalid")).toBeNull();

    expect(lastCheck().right).toEqual({ sphere: -1.3, cylinder: -0.5, axis: 180 });
    // Debounced: far fewer checks than keystrokes.
    expect(callsOf("check_prescription").length).toBeLessThan(4);
    await waitFor(() => expect(screen.getByTestId("rx-transposed").textContent).toContain("R \u22121.80 / +0.50 \u00d7 90"));
  });

  it("sends what cannot be read as typed, so the engine names it", async () => {
    answer({
      check_prescription: {
        errors: [{ field: "left.axis", code: "input.invalid", message: "left.axis must be degrees, got \"ninety\"" }],
        transposed: null,
      },
    });
    renderScreen(<PrescriptionForm patientId="p1" />);
    await userEvent.setup().type(screen.getByTestId("rx-left-axis"), "ninety");
    const error = await screen.findByText(/must be degrees/);
    expect(error.getAttribute("data-field")).toBe("left.axis");
    expect(lastCheck().left).toEqual({ axis: "ninety" });
  });

  it("shows every error the save reports (required ones too) and navigates nowhere", async () => {
    answer({
      check_prescription: { errors: [], transposed: null },
      add_prescription: () => {
        throw {
          code: "input.required",
          message: "right.sphere is required (and 2 more problems)",
          fields: [
            { field: "right.sphere", code: "input.required", message: "right.sphere is required" },
            { field: "prescriber", code: "input.required", message: "prescriber is required (text)" },
            { field: "contact_lens", code: "rx.contact_lens_field_on_spectacles", message: "Contact-lens details belong elsewhere" },
          ],
        };
      },
    });
    const { navigate } = renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.click(screen.getByTestId("rx-save"));
    await waitFor(() => expect(screen.getAllByTestId("field-error")).toHaveLength(3));
    const fields = screen.getAllByTestId("field-error").map((e) => e.getAttribute("data-field"));
    expect(fields).toEqual(expect.arrayContaining(["right.sphere", "prescriber", "contact_lens"]));
    expect(callsOf("add_prescription")[0]).toMatchObject({ patient_id: "p1", input: { kind: "spectacle", issue_date: expect.any(String) } });
    expect(navigate).not.toHaveBeenCalled();
  });

  it("shows an error on the kind or the status under them", async () => {
    answer({
      check_prescription: { errors: [], transposed: null },
      add_prescription: () => {
        throw {
          code: "rx.status_not_allowed",
          message: "A new prescription is active or a draft",
          fields: [
            { field: "status", code: "rx.status_not_allowed", message: "A new prescription is active or a draft" },
            { field: "kind", code: "input.invalid", message: "kind must be spectacle or contact_lens" },
          ],
        };
      },
    });
    renderScreen(<PrescriptionForm patientId="p1" />);
    await userEvent.setup().click(screen.getByTestId("rx-save"));
    await waitFor(() => expect(screen.getAllByTestId("field-error")).toHaveLength(2));
    const status = screen.getAllByTestId("field-error").find((e) => e.getAttribute("data-field") === "status")!;
    expect(status.closest(".field")?.querySelector("#rx-status")).toBeTruthy();
    const kind = screen.getAllByTestId("field-error").find((e) => e.getAttribute("data-field") === "kind")!;
    expect(kind.closest("fieldset")?.querySelector('input[name="kind"]')).toBeTruthy();
    expect(document.querySelector(".form-errors")).toBeNull();
  });

  it("saves and returns to the patient", async () => {
    answer({ check_prescription: { errors: [], transposed: null }, add_prescription: { id: "rx1" } });
    const { navigate } = renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-right-sphere"), "-1");
    await user.type(screen.getByTestId("rx-left-sphere"), "-1.25");
    await user.type(screen.getByTestId("rx-pd"), "63.5");
    await user.type(screen.getByTestId("rx-prescriber"), "Dr Smith");
    await user.click(screen.getByTestId("rx-save"));
    await waitFor(() => expect(navigate).toHaveBeenCalledWith({ name: "patient", id: "p1" }));
    const input = callsOf("add_prescription")[0].input as Record<string, unknown>;
    expect(input).toMatchObject({ right: { sphere: -1 }, left: { sphere: -1.25 }, pd: { binocular_distance: 63.5 }, prescriber: "Dr Smith" });
  });
});
