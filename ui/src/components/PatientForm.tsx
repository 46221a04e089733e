// A patient's details: new (`add_patient`) or changed (`update_patient`, only what changed).

import { useState, type FormEvent } from "react";
import * as api from "../api";
import type { PatientChanges, PatientData, PatientRecord } from "../types";
import { TextField } from "./TextField";
import { OtherErrors } from "./FieldErrors";
import { ErrorBanner } from "./ErrorBanner";
import { unclaimed } from "../fieldErrors";
import { useSubmit } from "../hooks";

type Values = Record<keyof PatientData, string>;

const REQUIRED = ["customer_number", "first_name", "last_name", "date_of_birth"] as const;
const OPTIONAL = ["email", "phone", "address", "notes"] as const;
const PATHS = [...REQUIRED, ...OPTIONAL];

function valuesOf(p?: PatientData): Values {
  return {
    customer_number: p?.customer_number ?? "",
    first_name: p?.first_name ?? "",
    last_name: p?.last_name ?? "",
    date_of_birth: p?.date_of_birth ?? "",
    email: p?.email ?? "",
    phone: p?.phone ?? "",
    address: p?.address ?? "",
    notes: p?.notes ?? "",
  };
}

/**
 * The new patient as the engine reads it: required text as typed (an empty one is sent as ""
 * so the engine names it), optional text null when empty.
 */
export function newPatientInput(v: Values): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const k of REQUIRED) out[k] = v[k].trim();
  for (const k of OPTIONAL) out[k] = v[k].trim() === "" ? null : v[k].trim();
  return out;
}

/**
 * Only the fields that changed; an optional field emptied is cleared (null). Values are compared
 * trimmed, so a stored value with spaces around it (from another device) that the person did not
 * touch is not sent back as a change.
 */
export function patientChanges(before: PatientData, v: Values): PatientChanges {
  const out: PatientChanges = {};
  for (const k of REQUIRED) {
    if (v[k].trim() !== before[k].trim()) out[k] = v[k].trim();
  }
  for (const k of OPTIONAL) {
    const next = v[k].trim() === "" ? null : v[k].trim();
    const was = (before[k] ?? "").trim() === "" ? null : (before[k] ?? "").trim();
    if (next !== was) out[k] = next;
  }
  return out;
}

export function PatientForm({
  patient,
  onSaved,
  onCancel,
}: {
  /** Editing this patient; a new one when absent. */
  patient?: PatientRecord;
  onSaved: (p: PatientRecord) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<Values>(() => valuesOf(patient?.data));
  const { busy, errors, failure, run } = useSubmit();
  const set = (k: keyof Values) => (value: string) => setValues((v) => ({ ...v, [k]: value }));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      let saved: PatientRecord;
      if (patient) {
        const changes = patientChanges(patient.data, values);
        saved = Object.keys(changes).length === 0 ? patient : await api.updatePatient(patient.id, changes);
      } else {
        saved = await api.addPatient(newPatientInput(values));
      }
      onSaved(saved);
    });
  };

  const field = (k: keyof Values, label: string, extra: Record<string, unknown> = {}) => (
    <TextField
      label={label}
      field={k}
      value={values[k]}
      onChange={set(k)}
      errors={errors}
      testId={`patient-${k}`}
      {...extra}
    />
  );

  return (
    <form className="form" onSubmit={submit} data-testid="patient-form" noValidate>
      <ErrorBanner error={failure} />
      <OtherErrors errors={unclaimed(errors, PATHS)} />
      <div className="row-3">
        {field("customer_number", "Customer number", { placeholder: "C-1042", "data-autofocus": true })}
        {field("first_name", "First name", { autoComplete: "off" })}
        {field("last_name", "Last name", { autoComplete: "off" })}
      </div>
      <div className="row-3">
        {field("date_of_birth", "Date of birth", {
          placeholder: "YYYY-MM-DD",
          inputMode: "numeric",
          autoComplete: "off",
          hint: "Year, month, day: 1984-03-07",
        })}
        {field("email", "E-mail", { type: "email" })}
        {field("phone", "Phone", { type: "tel" })}
      </div>
      {field("address", "Address", { multiline: true })}
      {field("notes", "Notes", { multiline: true })}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="patient-save">
          {busy ? "Saving…" : patient ? "Save changes" : "Add patient"}
        </button>
      </div>
    </form>
  );
}
