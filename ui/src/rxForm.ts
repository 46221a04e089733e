// The prescription form's state and the ILS JSON form it becomes (ils-core rx/json.rs).

import type { RxKind } from "./types";
import { compact, numberOrRaw, textOrUndefined } from "./numbers";

export const EYE_CELLS = ["sphere", "cylinder", "axis", "add"] as const;
export const LENS_CELLS = ["power", "base_curve", "diameter"] as const;

export interface EyeForm {
  sphere: string;
  cylinder: string;
  axis: string;
  add: string;
  prism_h_amount: string;
  prism_h_base: string;
  prism_v_amount: string;
  prism_v_base: string;
  power: string;
  base_curve: string;
  diameter: string;
}

export type PdMode = "binocular" | "monocular";

export interface RxForm {
  kind: RxKind;
  status: "active" | "draft";
  right: EyeForm;
  left: EyeForm;
  pdMode: PdMode;
  pd: {
    binocular_distance: string;
    binocular_near: string;
    right_distance: string;
    left_distance: string;
    right_near: string;
    left_near: string;
  };
  segment_height: string;
  vertex_distance: string;
  issue_date: string;
  expiry_date: string;
  prescriber: string;
  notes: string;
  brand: string;
  wear_duration: string;
}

export const emptyEye = (): EyeForm => ({
  sphere: "",
  cylinder: "",
  axis: "",
  add: "",
  prism_h_amount: "",
  prism_h_base: "",
  prism_v_amount: "",
  prism_v_base: "",
  power: "",
  base_curve: "",
  diameter: "",
});

export function emptyRxForm(today: string): RxForm {
  return {
    kind: "spectacle",
    status: "active",
    right: emptyEye(),
    left: emptyEye(),
    pdMode: "binocular",
    pd: {
      binocular_distance: "",
      binocular_near: "",
      right_distance: "",
      left_distance: "",
      right_near: "",
      left_near: "",
    },
    segment_height: "",
    vertex_distance: "",
    issue_date: today,
    expiry_date: "",
    prescriber: "",
    notes: "",
    brand: "",
    wear_duration: "",
  };
}

function prism(amount: string, base: string): Record<string, unknown> | undefined {
  if (amount.trim() === "" && base === "") return undefined;
  return compact({ amount: numberOrRaw(amount), base: base || undefined });
}

function eyeJson(eye: EyeForm, kind: RxKind): Record<string, unknown> {
  return compact({
    sphere: numberOrRaw(eye.sphere),
    cylinder: numberOrRaw(eye.cylinder),
    axis: numberOrRaw(eye.axis),
    add: numberOrRaw(eye.add),
    prism_horizontal: prism(eye.prism_h_amount, eye.prism_h_base),
    prism_vertical: prism(eye.prism_v_amount, eye.prism_v_base),
    ...(kind === "contact_lens"
      ? {
          power: numberOrRaw(eye.power),
          base_curve: numberOrRaw(eye.base_curve),
          diameter: numberOrRaw(eye.diameter),
        }
      : {}),
  });
}

/**
 * The prescription as the engine reads it: empty cells left out, numbers as numbers, anything
 * unreadable as the text typed (so the engine reports it), only the PD fields of the chosen
 * mode, and contact-lens fields only on a contact-lens prescription.
 */
export function toRxJson(form: RxForm): Record<string, unknown> {
  const pd =
    form.pdMode === "binocular"
      ? compact({
          binocular_distance: numberOrRaw(form.pd.binocular_distance),
          binocular_near: numberOrRaw(form.pd.binocular_near),
        })
      : compact({
          right_distance: numberOrRaw(form.pd.right_distance),
          left_distance: numberOrRaw(form.pd.left_distance),
          right_near: numberOrRaw(form.pd.right_near),
          left_near: numberOrRaw(form.pd.left_near),
        });
  const lens =
    form.kind === "contact_lens"
      ? compact({ brand: textOrUndefined(form.brand), wear_duration: textOrUndefined(form.wear_duration) })
      : {};
  return compact({
    kind: form.kind,
    status: form.status,
    right: eyeJson(form.right, form.kind),
    left: eyeJson(form.left, form.kind),
    pd: Object.keys(pd).length > 0 ? pd : undefined,
    segment_height: numberOrRaw(form.segment_height),
    vertex_distance: numberOrRaw(form.vertex_distance),
    issue_date: textOrUndefined(form.issue_date),
    expiry_date: textOrUndefined(form.expiry_date),
    prescriber: textOrUndefined(form.prescriber),
    notes: textOrUndefined(form.notes),
    contact_lens: Object.keys(lens).length > 0 ? lens : undefined,
  });
}

/**
 * The engine's path of each form cell, for matching its errors. With a kind and a PD mode, only
 * the cells the form shows for them (an error on a hidden cell is then listed at the top).
 */
export function rxPaths(kind?: RxKind, pdMode?: PdMode): string[] {
  const lens = kind === undefined || kind === "contact_lens";
  const eyes = ["right", "left"].flatMap((eye) => [
    eye,
    ...[...EYE_CELLS, ...(lens ? LENS_CELLS : [])].map((c) => `${eye}.${c}`),
    `${eye}.prism_horizontal.amount`,
    `${eye}.prism_horizontal.base`,
    `${eye}.prism_vertical.amount`,
    `${eye}.prism_vertical.base`,
  ]);
  const binocular = ["pd.binocular_distance", "pd.binocular_near"];
  const monocular = ["pd.right_distance", "pd.left_distance", "pd.right_near", "pd.left_near"];
  return [
    ...eyes,
    ...(pdMode === "monocular" ? [] : binocular),
    ...(pdMode === "binocular" ? [] : monocular),
    "segment_height",
    "vertex_distance",
    "issue_date",
    "expiry_date",
    "prescriber",
    "notes",
    "kind",
    "status",
    ...(lens ? ["contact_lens.brand", "contact_lens.wear_duration"] : []),
  ];
}

// --- From the ILS JSON back to the form ---

const BINOCULAR_PD = ["binocular_distance", "binocular_near"] as const;
const MONOCULAR_PD = ["right_distance", "left_distance", "right_near", "left_near"] as const;

function objectAt(value: unknown, key: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const v = (value as Record<string, unknown>)[key];
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** A value as a cell shows it: numbers as written by JavaScript (`-2.25`, `0`), text as it is. */
function cellText(value: unknown): string {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  if (typeof value === "string") return value;
  return "";
}

const present = (o: Record<string, unknown>, key: string) => o[key] !== undefined && o[key] !== null;

function eyeForm(json: Record<string, unknown>): EyeForm {
  const h = objectAt(json, "prism_horizontal");
  const v = objectAt(json, "prism_vertical");
  return {
    sphere: cellText(json.sphere),
    cylinder: cellText(json.cylinder),
    axis: cellText(json.axis),
    add: cellText(json.add),
    prism_h_amount: cellText(h.amount),
    prism_h_base: cellText(h.base),
    prism_v_amount: cellText(v.amount),
    prism_v_base: cellText(v.base),
    power: cellText(json.power),
    base_curve: cellText(json.base_curve),
    diameter: cellText(json.diameter),
  };
}

/** Whether a prescription in the ILS form has both binocular and per-eye PDs (the form sends one). */
export function hasBothPds(json: unknown): boolean {
  const pd = objectAt(json, "pd");
  return BINOCULAR_PD.some((k) => present(pd, k)) && MONOCULAR_PD.some((k) => present(pd, k));
}

/**
 * The form showing a prescription in the ILS form (the inverse of `toRxJson`), e.g. the draft a
 * photo was read into. Fields absent from the JSON are left empty, the issue date included
 * unless `today` is given (a capture passes none: an issue date not read stays empty for a
 * person to fill in). The kind, when absent, is told by the contact-lens fields; the PD mode
 * is per eye when only per-eye PDs are given (with both, binocular, the per-eye ones kept in
 * the form behind the "Per eye" choice).
 */
export function rxFormFromJson(json: unknown, today = ""): RxForm {
  const root = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  const right = eyeForm(objectAt(root, "right"));
  const left = eyeForm(objectAt(root, "left"));
  const lens = objectAt(root, "contact_lens");
  const pd = objectAt(root, "pd");
  const lensFields =
    Object.keys(lens).length > 0 || [right, left].some((e) => LENS_CELLS.some((c) => e[c].trim() !== ""));
  const kind: RxKind =
    root.kind === "spectacle" || root.kind === "contact_lens" ? root.kind : lensFields ? "contact_lens" : "spectacle";
  const pdMode: PdMode =
    !BINOCULAR_PD.some((k) => present(pd, k)) && MONOCULAR_PD.some((k) => present(pd, k)) ? "monocular" : "binocular";
  return {
    kind,
    status: root.status === "draft" ? "draft" : "active",
    right,
    left,
    pdMode,
    pd: {
      binocular_distance: cellText(pd.binocular_distance),
      binocular_near: cellText(pd.binocular_near),
      right_distance: cellText(pd.right_distance),
      left_distance: cellText(pd.left_distance),
      right_near: cellText(pd.right_near),
      left_near: cellText(pd.left_near),
    },
    segment_height: cellText(root.segment_height),
    vertex_distance: cellText(root.vertex_distance),
    issue_date: present(root, "issue_date") ? cellText(root.issue_date) : today,
    expiry_date: cellText(root.expiry_date),
    prescriber: cellText(root.prescriber),
    notes: cellText(root.notes),
    brand: cellText(lens.brand),
    wear_duration: cellText(lens.wear_duration),
  };
}
