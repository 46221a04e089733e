// A lens order made from a prescription (`create_order`; ils-core order.rs OrderData).

import { useState, type FormEvent } from "react";
import * as api from "../api";
import { LENS_TYPES, type LensType, type OrderRecord, type PrescriptionRecord } from "../types";
import { cell, compact, numberOrRaw, textOrUndefined } from "../numbers";
import { unclaimed } from "../fieldErrors";
import { useSubmit } from "../hooks";
import { humanise, rxSummary } from "../format";
import { TextField } from "./TextField";
import { FieldErrors, OtherErrors } from "./FieldErrors";
import { ErrorBanner } from "./ErrorBanner";

const COMMON_COATINGS = ["anti-reflective", "hard coat", "blue light filter", "UV protection", "hydrophobic"];

const FRAME = ["brand", "model", "colour", "box_a", "box_b", "dbl", "ed"] as const;
const FRAME_TEXT = new Set(["brand", "model", "colour"]);
const MEASUREMENTS = [
  "right_pd",
  "left_pd",
  "right_near_pd",
  "left_near_pd",
  "right_segment_height",
  "left_segment_height",
  "right_oc_height",
  "left_oc_height",
] as const;

type FrameForm = Record<(typeof FRAME)[number], string>;
type MeasurementsForm = Record<(typeof MEASUREMENTS)[number], string>;

export interface OrderFormValues {
  lens_type: LensType;
  material: string;
  coatings: string[];
  otherCoatings: string;
  tint: string;
  frame: FrameForm;
  measurements: MeasurementsForm;
  promised_date: string;
  notes: string;
}

const LABELS: Record<string, string> = {
  brand: "Brand",
  model: "Model",
  colour: "Colour",
  box_a: "Box A (mm)",
  box_b: "Box B (mm)",
  dbl: "DBL (mm)",
  ed: "ED (mm)",
  right_pd: "Right PD",
  left_pd: "Left PD",
  right_near_pd: "Right near PD",
  left_near_pd: "Left near PD",
  right_segment_height: "Right seg. height",
  left_segment_height: "Left seg. height",
  right_oc_height: "Right OC height",
  left_oc_height: "Left OC height",
};

/**
 * The form filled from the prescription: its per-eye PDs and segment height, a lens type its
 * adds allow. A binocular PD is never split into per-eye values: halves are not measurements
 * (faces are not symmetric, and 63.3 mm would become 31.7 + 31.7), so those are left for the
 * person who measured.
 */
export function orderDefaults(rx: PrescriptionRecord): OrderFormValues {
  const pd = rx.data.pd;
  const multifocal = rx.data.right.add !== null && rx.data.left.add !== null;
  return {
    lens_type: multifocal ? "progressive" : "single_vision",
    material: "",
    coatings: [],
    otherCoatings: "",
    tint: "",
    frame: { brand: "", model: "", colour: "", box_a: "", box_b: "", dbl: "", ed: "" },
    measurements: {
      right_pd: cell(pd.right_distance),
      left_pd: cell(pd.left_distance),
      right_near_pd: cell(pd.right_near),
      left_near_pd: cell(pd.left_near),
      right_segment_height: multifocal ? cell(rx.data.segment_height) : "",
      left_segment_height: multifocal ? cell(rx.data.segment_height) : "",
      right_oc_height: "",
      left_oc_height: "",
    },
    promised_date: "",
    notes: "",
  };
}

/** The order as the engine reads it (OrderData::from_json); empty fields left out. */
export function toOrderJson(patientId: string, prescriptionId: string, v: OrderFormValues): Record<string, unknown> {
  const coatings = [
    ...v.coatings,
    ...v.otherCoatings
      .split(",")
      .map((c) => c.trim())
      .filter((c) => c !== ""),
  ];
  const frame = compact(
    Object.fromEntries(FRAME.map((k) => [k, FRAME_TEXT.has(k) ? textOrUndefined(v.frame[k]) : numberOrRaw(v.frame[k])])),
  );
  const measurements = compact(Object.fromEntries(MEASUREMENTS.map((k) => [k, numberOrRaw(v.measurements[k])])));
  return compact({
    patient_id: patientId,
    prescription_id: prescriptionId,
    lens_type: v.lens_type,
    material: v.material.trim(),
    coatings,
    tint: textOrUndefined(v.tint),
    frame: Object.keys(frame).length > 0 ? frame : undefined,
    measurements: Object.keys(measurements).length > 0 ? measurements : undefined,
    promised_date: textOrUndefined(v.promised_date),
    notes: textOrUndefined(v.notes),
  });
}

const PATHS = [
  "patient_id",
  "lens_type",
  "material",
  "coatings",
  "tint",
  "promised_date",
  "notes",
  ...FRAME.map((k) => `frame.${k}`),
  ...MEASUREMENTS.map((k) => `measurements.${k}`),
];

export function OrderForm({
  patientId,
  prescription,
  onSaved,
  onCancel,
}: {
  patientId: string;
  prescription: PrescriptionRecord;
  onSaved: (order: OrderRecord) => void;
  onCancel: () => void;
}) {
  const [v, setV] = useState<OrderFormValues>(() => orderDefaults(prescription));
  const { busy, errors, failure, run } = useSubmit();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => onSaved(await api.createOrder(toOrderJson(patientId, prescription.id, v))));
  };

  const toggleCoating = (c: string) =>
    setV((x) => ({ ...x, coatings: x.coatings.includes(c) ? x.coatings.filter((y) => y !== c) : [...x.coatings, c] }));
  const coatingErrors = errors.filter((e) => e.field.startsWith("coatings["));

  return (
    <form className="form" onSubmit={submit} data-testid="order-form" noValidate>
      <p className="muted">From the prescription: {rxSummary(prescription.data)}</p>
      <ErrorBanner error={failure} />
      {/* The prescription itself can stop an order (not active, expired, contact lenses). */}
      <FieldErrors errors={errors} field="prescription_id" />
      <OtherErrors errors={unclaimed(errors, [...PATHS, "prescription_id"]).filter((e) => !e.field.startsWith("coatings["))} />
      <div className="row-3">
        <div className="field">
          <label htmlFor="order-lens-type">Lens type</label>
          <select id="order-lens-type" value={v.lens_type} data-testid="order-lens-type"
            onChange={(e) => setV({ ...v, lens_type: e.target.value as LensType })}>
            {LENS_TYPES.map((t) => (
              <option key={t} value={t}>
                {humanise(t)}
              </option>
            ))}
          </select>
          <FieldErrors errors={errors} field="lens_type" />
        </div>
        <TextField label="Material" field="material" value={v.material} onChange={(material) => setV({ ...v, material })}
          errors={errors} testId="order-material" placeholder="1.6 MR-8" data-autofocus />
        <TextField label="Tint" field="tint" value={v.tint} onChange={(tint) => setV({ ...v, tint })} errors={errors} />
      </div>
      <fieldset className="group">
        <legend>Coatings</legend>
        <div className="chips">
          {COMMON_COATINGS.map((c) => (
            <label key={c} className="check">
              <input type="checkbox" checked={v.coatings.includes(c)} onChange={() => toggleCoating(c)} />
              {c}
            </label>
          ))}
        </div>
        <TextField label="Other coatings (comma-separated)" field="coatings" value={v.otherCoatings}
          onChange={(otherCoatings) => setV({ ...v, otherCoatings })} errors={errors} />
        {coatingErrors.length > 0 && <OtherErrors errors={coatingErrors} />}
      </fieldset>
      <fieldset className="group">
        <legend>Frame</legend>
        <div className="row-4">
          {FRAME.map((k) => (
            <TextField key={k} label={LABELS[k]} field={`frame.${k}`} value={v.frame[k]} errors={errors}
              inputMode={FRAME_TEXT.has(k) ? undefined : "decimal"}
              onChange={(value) => setV({ ...v, frame: { ...v.frame, [k]: value } })} />
          ))}
        </div>
      </fieldset>
      <fieldset className="group">
        <legend>Measurements (mm)</legend>
        <div className="row-4">
          {MEASUREMENTS.map((k) => (
            <TextField key={k} label={LABELS[k]} field={`measurements.${k}`} value={v.measurements[k]} errors={errors}
              inputMode="decimal" onChange={(value) => setV({ ...v, measurements: { ...v.measurements, [k]: value } })} />
          ))}
        </div>
      </fieldset>
      <div className="row-2">
        <TextField label="Promised date" field="promised_date" type="date" value={v.promised_date} errors={errors}
          onChange={(promised_date) => setV({ ...v, promised_date })} testId="order-promised-date" />
        <TextField label="Notes" field="notes" value={v.notes} errors={errors} onChange={(notes) => setV({ ...v, notes })} />
      </div>
      <div className="form-actions">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="order-save">
          {busy ? "Placing…" : "Place order"}
        </button>
      </div>
    </form>
  );
}
