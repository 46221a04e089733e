// Entering a prescription. As the person types, the form is checked by the engine
// (`check_prescription`, debounced) and every problem is shown under its cell, with the lens in
// the other cylinder convention beneath the grid. Save sends the same JSON to `add_prescription`.
// A photo of the paper prescription may fill the form first (`capture_prescription`): the form
// is then a draft to check, with the fields not read highlighted; nothing is saved until Save.

import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import * as api from "../api";
import type { Captured, FieldError, RxCheck, RxKind } from "../types";
import {
  emptyRxForm,
  hasBothPds,
  rxFormFromJson,
  rxPaths,
  toRxJson,
  type EyeForm,
  type PdMode,
  type RxForm,
} from "../rxForm";
import { EyeGrid } from "../components/EyeGrid";
import { PhotoCapture } from "../components/PhotoCapture";
import { TextField } from "../components/TextField";
import { FieldErrors, OtherErrors } from "../components/FieldErrors";
import { ErrorBanner } from "../components/ErrorBanner";
import { eyeSummary, todayIn } from "../format";
import { unclaimed } from "../fieldErrors";
import { useNavigate } from "../route";
import { useNotify } from "../notify";
import { useSession } from "../session";

export const CHECK_DELAY_MS = 150;
const PATHS = rxPaths();
const MONOCULAR_PD = ["pd.right_distance", "pd.left_distance", "pd.right_near", "pd.left_near"];

/** The form filled from a photo: what was read, by which model, and what was not. */
interface PhotoDraft {
  model: string;
  provider: string;
  unread: string[];
  bothPds: boolean;
}

/**
 * The errors to show: every rule the values break, and "required" only for fields the person
 * has touched, or all of them once they have tried to save.
 */
export function visibleErrors(errors: readonly FieldError[], touched: ReadonlySet<string>, submitted: boolean): FieldError[] {
  if (submitted) return [...errors];
  return errors.filter((e) => e.code !== "input.required" || touched.has(e.field));
}

export function PrescriptionForm({ patientId, onSaved }: { patientId: string; onSaved?: () => void }) {
  const { info } = useSession();
  const navigate = useNavigate();
  const { showInfo } = useNotify();
  const [form, setForm] = useState<RxForm>(() => emptyRxForm(todayIn(info.engine.practice?.time_zone)));
  const [touched, setTouched] = useState<Set<string>>(() => new Set());
  const [check, setCheck] = useState<RxCheck | null>(null);
  const [saveErrors, setSaveErrors] = useState<FieldError[] | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [draft, setDraft] = useState<PhotoDraft | null>(null);
  /** The fields a photo left unread that the person has not filled in since. */
  const [unread, setUnread] = useState<ReadonlySet<string>>(() => new Set());
  const latest = useRef(0);
  /** Whether the person has typed since the form was last filled (empty, or from a photo). */
  const typed = useRef(false);
  /** A photo read while the person had typed values: offered, not applied, until they choose. */
  const [offered, setOffered] = useState<Captured | null>(null);

  const json = useMemo(() => toRxJson(form), [form]);
  const dirty = touched.size > 0;

  // Check as the person types; only the answer to the latest check is kept.
  useEffect(() => {
    if (!dirty) return;
    const mine = ++latest.current;
    const timer = setTimeout(() => {
      api.checkPrescription(json).then(
        (result) => {
          if (latest.current === mine) {
            setCheck(result);
            setFailure(null);
          }
        },
        (e: unknown) => {
          if (latest.current === mine) {
            // A failed check leaves nothing stale on screen (no old transposed form).
            setCheck(null);
            setFailure(api.normaliseError(e));
          }
        },
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [json, dirty]);

  const touch = (path: string) => {
    setTouched((t) => {
      if (t.has(path)) return t;
      const next = new Set(t);
      next.add(path);
      return next;
    });
    setUnread((u) => {
      if (!u.has(path)) return u;
      const next = new Set(u);
      next.delete(path);
      return next;
    });
  };

  // A photo read into a draft: the form shows it, with what the engine says of it, until the
  // live check (run on the new values) answers.
  const onCaptured = (captured: Captured) => {
    if (typed.current) setOffered(captured);
    else fillFromPhoto(captured);
  };

  const fillFromPhoto = (captured: Captured) => {
    typed.current = false;
    setOffered(null);
    const next = rxFormFromJson(captured.prescription);
    // A machine's reading is a draft until a person has checked it against the paper and
    // chosen to make it active: nothing unchecked becomes orderable with one click.
    next.status = "draft";
    // A per-eye PD that could not be read is shown (empty, highlighted) per eye.
    const binocularRead = next.pd.binocular_distance !== "" || next.pd.binocular_near !== "";
    if (!binocularRead && captured.unread.some((p) => MONOCULAR_PD.includes(p))) next.pdMode = "monocular";
    latest.current++; // a check of the values replaced must not replace the draft's problems
    setForm(next);
    setDraft({
      model: captured.model,
      provider: captured.provider,
      unread: captured.unread,
      bothPds: hasBothPds(captured.prescription),
    });
    setUnread(new Set(captured.unread));
    setCheck({ errors: captured.problems, transposed: null });
    setSaveErrors(null);
    setSubmitted(false);
    setFailure(null);
    // Every field is the paper's: the engine's "required" is shown on all of them at once.
    setTouched(new Set([...PATHS, ...captured.problems.map((e) => e.field), ...captured.unread]));
  };

  const update = (patch: Partial<RxForm>, path: string) => {
    typed.current = true;
    setForm((f) => ({ ...f, ...patch }));
    setSaveErrors(null);
    touch(path);
  };

  const updateEye = (eye: "right" | "left", key: keyof EyeForm, value: string, path: string) => {
    typed.current = true;
    setForm((f) => ({ ...f, [eye]: { ...f[eye], [key]: value } }));
    setSaveErrors(null);
    touch(path);
  };

  const errors = visibleErrors(saveErrors ?? check?.errors ?? [], touched, submitted);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setFailure(null);
    latest.current++; // a check still on its way must not replace the save's answer
    try {
      await api.addPrescription(patientId, json);
      showInfo("Prescription saved.");
      if (onSaved) onSaved();
      else navigate({ name: "patient", id: patientId });
    } catch (err) {
      const error = api.normaliseError(err);
      if (error.fields.length > 0) {
        setSaveErrors(error.fields);
        setSubmitted(true);
      } else {
        setFailure(error);
      }
    } finally {
      setBusy(false);
    }
  };

  const transposed = check?.transposed;
  const hasCylinder = (f: EyeForm) => f.cylinder.trim() !== "" && Number.parseFloat(f.cylinder) !== 0;
  const text = (key: "segment_height" | "vertex_distance" | "issue_date" | "expiry_date" | "prescriber" | "notes") =>
    (value: string) => update({ [key]: value } as Partial<RxForm>, key);
  const pd = (key: keyof RxForm["pd"]) => (value: string) =>
    update({ pd: { ...form.pd, [key]: value } }, `pd.${key}`);

  return (
    <section className="screen" aria-labelledby="rx-form-title">
      <header className="screen-header">
        <div>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => navigate({ name: "patient", id: patientId })}>
            ← Back to the patient
          </button>
          <h1 id="rx-form-title">New prescription</h1>
        </div>
      </header>
      <PhotoCapture onCaptured={onCaptured} />
      {offered && (
        <div className="notice" role="alertdialog" aria-labelledby="rx-capture-offer-title" data-testid="rx-capture-offer">
          <p id="rx-capture-offer-title">
            <strong>The photo has been read.</strong> Replace the values you typed with its reading? What you typed is
            kept if you choose “Keep what I typed”.
          </p>
          <div className="button-row">
            <button type="button" className="btn btn-primary" onClick={() => fillFromPhoto(offered)} data-testid="rx-capture-replace">
              Use the photo's reading
            </button>
            <button type="button" className="btn" onClick={() => setOffered(null)} data-testid="rx-capture-keep">
              Keep what I typed
            </button>
          </div>
        </div>
      )}
      <form className="form rx-form" onSubmit={save} data-testid="rx-form" noValidate>
        <ErrorBanner error={failure} />
        {draft && (
          <div className="notice rx-capture-draft" data-testid="rx-capture-draft" role="status">
            <p>
              <strong>Draft from a photo</strong>, read by {draft.model || "the vision model"}
              {draft.provider ? ` (${draft.provider})` : ""}. Check every value against the paper before saving:
              nothing is saved until you press Save.
            </p>
            {draft.unread.length > 0 ? (
              <p data-testid="rx-capture-unread">
                Not read: {draft.unread.join(", ")}. {draft.unread.length === 1 ? "It is" : "They are"} left empty and
                highlighted for you to fill in from the paper.
              </p>
            ) : (
              <p>Every field on the paper was read.</p>
            )}
            {draft.bothPds && (
              <p>
                Both a binocular and a per-eye PD were read; the binocular one is used. Choose “Per eye” to use the
                per-eye ones instead.
              </p>
            )}
          </div>
        )}
        <OtherErrors errors={unclaimed(errors, rxPaths(form.kind, form.pdMode))} />
        <div className="row-3">
          <fieldset className={`segmented${unread.has("kind") ? " field-unread" : ""}`}>
            <legend>Kind</legend>
            {(["spectacle", "contact_lens"] as RxKind[]).map((k) => (
              <label key={k} className={form.kind === k ? "selected" : undefined}>
                <input type="radio" name="kind" value={k} checked={form.kind === k}
                  onChange={() => update({ kind: k }, "kind")} data-testid={`rx-kind-${k}`} />
                {k === "spectacle" ? "Spectacles" : "Contact lenses"}
              </label>
            ))}
            <FieldErrors errors={errors} field="kind" />
          </fieldset>
          <div className="field">
            <label htmlFor="rx-status">Status</label>
            <select id="rx-status" data-testid="rx-status" aria-describedby="rx-status-errors" value={form.status} onChange={(e) => update({ status: e.target.value as RxForm["status"] }, "status")}>
              <option value="active">Active</option>
              <option value="draft">Draft</option>
            </select>
            <FieldErrors errors={errors} field="status" id="rx-status-errors" />
          </div>
        </div>

        <EyeGrid kind={form.kind} right={form.right} left={form.left} errors={errors} unread={unread} onChange={updateEye} />

        <div className="transposed" data-testid="rx-transposed" aria-live="polite">
          {transposed && (hasCylinder(form.right) || hasCylinder(form.left)) ? (
            <>
              <span className="muted">Transposed: </span>
              <span>R {transposed.right ? eyeSummary(transposed.right) : "(fix the right eye first)"}</span>
              <span>L {transposed.left ? eyeSummary(transposed.left) : "(fix the left eye first)"}</span>
            </>
          ) : (
            <span className="muted">The transposed form appears here once a cylinder is entered.</span>
          )}
        </div>

        <fieldset className="group">
          <legend>Pupillary distance</legend>
          <div className="segmented segmented-inline" role="radiogroup" aria-label="PD as">
            {(["binocular", "monocular"] as PdMode[]).map((m) => (
              <label key={m} className={form.pdMode === m ? "selected" : undefined}>
                <input type="radio" name="pd-mode" value={m} checked={form.pdMode === m}
                  onChange={() => setForm((f) => ({ ...f, pdMode: m }))} />
                {m === "binocular" ? "Binocular" : "Per eye"}
              </label>
            ))}
          </div>
          {form.pdMode === "binocular" ? (
            <div className="row-4">
              <TextField label="Distance PD (mm)" field="pd.binocular_distance" unread={unread.has("pd.binocular_distance")} value={form.pd.binocular_distance}
                onChange={pd("binocular_distance")} errors={errors} inputMode="decimal" testId="rx-pd" />
              <TextField label="Near PD (mm)" field="pd.binocular_near" unread={unread.has("pd.binocular_near")} value={form.pd.binocular_near}
                onChange={pd("binocular_near")} errors={errors} inputMode="decimal" testId="rx-pd-near" />
            </div>
          ) : (
            <div className="row-4">
              <TextField label="Right distance (mm)" field="pd.right_distance" unread={unread.has("pd.right_distance")} value={form.pd.right_distance}
                onChange={pd("right_distance")} errors={errors} inputMode="decimal" testId="rx-pd-right" />
              <TextField label="Left distance (mm)" field="pd.left_distance" unread={unread.has("pd.left_distance")} value={form.pd.left_distance}
                onChange={pd("left_distance")} errors={errors} inputMode="decimal" testId="rx-pd-left" />
              <TextField label="Right near (mm)" field="pd.right_near" unread={unread.has("pd.right_near")} value={form.pd.right_near}
                onChange={pd("right_near")} errors={errors} inputMode="decimal" />
              <TextField label="Left near (mm)" field="pd.left_near" unread={unread.has("pd.left_near")} value={form.pd.left_near}
                onChange={pd("left_near")} errors={errors} inputMode="decimal" />
            </div>
          )}
        </fieldset>

        <div className="row-4">
          <TextField label="Segment height (mm)" field="segment_height" unread={unread.has("segment_height")} value={form.segment_height}
            onChange={text("segment_height")} errors={errors} inputMode="decimal" testId="rx-segment-height" />
          <TextField label="Vertex distance (mm)" field="vertex_distance" unread={unread.has("vertex_distance")} value={form.vertex_distance}
            onChange={text("vertex_distance")} errors={errors} inputMode="decimal" testId="rx-vertex-distance" />
          <TextField label="Issue date" field="issue_date" unread={unread.has("issue_date")} type="date" value={form.issue_date}
            onChange={text("issue_date")} errors={errors} testId="rx-issue-date" />
          <TextField label="Expiry date" field="expiry_date" unread={unread.has("expiry_date")} type="date" value={form.expiry_date}
            onChange={text("expiry_date")} errors={errors} testId="rx-expiry-date" />
        </div>

        {form.kind === "contact_lens" && (
          <div className="row-2">
            <TextField label="Brand" field="contact_lens.brand" unread={unread.has("contact_lens.brand")} value={form.brand}
              onChange={(v) => update({ brand: v }, "contact_lens.brand")} errors={errors} />
            <TextField label="Wear duration" field="contact_lens.wear_duration" unread={unread.has("contact_lens.wear_duration")} value={form.wear_duration}
              onChange={(v) => update({ wear_duration: v }, "contact_lens.wear_duration")} errors={errors}
              placeholder="daily, 2 weeks, monthly" />
          </div>
        )}

        <TextField label="Prescriber" field="prescriber" unread={unread.has("prescriber")} value={form.prescriber} onChange={text("prescriber")}
          errors={errors} testId="rx-prescriber" placeholder="Dr Jane Smith" />
        <TextField label="Notes" field="notes" unread={unread.has("notes")} value={form.notes} onChange={text("notes")} errors={errors} multiline
          testId="rx-notes" />

        <div className="form-actions">
          <span className="muted" role="status">
            {!dirty ? "" : errors.length === 0 ? "No problems found." : `${errors.length} problem${errors.length === 1 ? "" : "s"} to check.`}
          </span>
          <button type="button" className="btn" onClick={() => navigate({ name: "patient", id: patientId })}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="rx-save">
            {busy ? "Saving…" : "Save prescription"}
          </button>
        </div>
      </form>
    </section>
  );
}
