// One order in a drawer: its details, its timeline, the moves its status allows, the DCS record.

import { useState } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import { useNotify } from "../notify";
import { useSession } from "../session";
import { useNavigate } from "../route";
import { ACTION_LABELS, needsReason, orderActions } from "../permissions";
import type { FieldError, OrderAction, OrderRecord } from "../types";
import { date, dateTime, humanise, millimetres } from "../format";
import { fieldErrorsOf } from "../fieldErrors";
import { Dialog } from "./Dialog";
import { ExportDialog } from "./ExportDialog";
import { ErrorBanner } from "./ErrorBanner";
import { FieldErrors } from "./FieldErrors";
import { OrderStatusBadge } from "./OrderStatusBadge";

export function OrderDetail({
  order: initial,
  overdue,
  onClose,
  onChanged,
}: {
  order: OrderRecord;
  overdue?: boolean;
  onClose: () => void;
  onChanged: () => void;
}) {
  const [order, setOrder] = useState(initial);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState<OrderAction | null>(null);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const [dcs, setDcs] = useState<string | null>(null);
  const { showInfo } = useNotify();
  const { user } = useSession();
  const navigate = useNavigate();
  const timeline = useLoad(`${order.id}\u0000${order.updated_at}`, () => api.orderTimeline(order.id));

  const { mine, others } = orderActions(order.status, user.abilities);

  const act = async (action: OrderAction) => {
    setBusy(action);
    setErrors([]);
    setFailure(null);
    try {
      const done = await api.transitionOrder(order.id, action, note.trim() === "" ? null : note.trim());
      setOrder(done.order);
      setNote("");
      onChanged();
      showInfo(
        done.remake
          ? `Order ${done.order.order_number} is remade; the remake is ${done.remake.order_number}.`
          : `Order ${done.order.order_number} is now ${humanise(done.order.status).toLowerCase()}.`,
      );
    } catch (err) {
      const error = api.normaliseError(err);
      const fields = fieldErrorsOf(error);
      setErrors(fields);
      if (fields.length === 0 || fields.some((f) => f.field !== "reason")) setFailure(error);
    } finally {
      setBusy(null);
    }
  };

  const exportDcs = async () => {
    setFailure(null);
    try {
      setDcs(await api.orderDcs(order.id));
    } catch (e) {
      setFailure(api.normaliseError(e));
    }
  };

  const d = order.data;
  const button = (a: OrderAction, quiet: boolean) => (
    <button key={a} type="button" className={`btn${quiet ? "" : a === "cancel" ? " btn-danger" : " btn-primary"}`}
      data-testid={`order-action-${a}`} disabled={busy !== null} onClick={() => void act(a)}>
      {busy === a ? "…" : ACTION_LABELS[a]}
      {needsReason(user.abilities, a) && <span className="sr-only"> (needs a note saying why)</span>}
    </button>
  );

  return (
    <>
      <Dialog title={`Order ${order.order_number}`} onClose={onClose} drawer testId="order-detail">
        <div className="order-detail">
          <p>
            <OrderStatusBadge status={order.status} overdue={overdue} />
          </p>
          <ErrorBanner error={failure} />
          <dl className="details details-compact">
            <div><dt>Lens</dt><dd>{humanise(d.lens_type)}</dd></div>
            <div><dt>Material</dt><dd>{d.material}</dd></div>
            <div><dt>Coatings</dt><dd>{d.coatings.join(", ") || "—"}</dd></div>
            <div><dt>Tint</dt><dd>{d.tint ?? "—"}</dd></div>
            <div><dt>Frame</dt><dd>{[d.frame.brand, d.frame.model, d.frame.colour].filter(Boolean).join(" ") || "—"}</dd></div>
            <div><dt>PD</dt><dd>{d.measurements.right_pd !== null || d.measurements.left_pd !== null
              ? `R ${millimetres(d.measurements.right_pd)} · L ${millimetres(d.measurements.left_pd)}` : "—"}</dd></div>
            <div><dt>Promised</dt><dd>{d.promised_date ? date(d.promised_date) : "—"}</dd></div>
            {order.remake_reason && <div><dt>Remake of</dt><dd>{order.remake_reason}</dd></div>}
            {d.notes && <div><dt>Notes</dt><dd className="pre-line">{d.notes}</dd></div>}
          </dl>

          {(mine.length > 0 || others.length > 0) && (
            <section className="order-actions" aria-label="Move the order">
              <div className="field">
                <label htmlFor="order-note">Note {mine.concat(others).some((a) => needsReason(user.abilities, a)) && <span className="muted">(say why when cancelling or remaking)</span>}</label>
                <textarea id="order-note" rows={2} value={note} onChange={(e) => setNote(e.target.value)}
                  data-testid="order-note" aria-describedby="order-note-errors" />
                <div id="order-note-errors">
                  <FieldErrors errors={errors} field="reason" />
                </div>
              </div>
              <div className="button-row">{mine.map((a) => button(a, false))}</div>
              {others.length > 0 && (
                <div className="other-actions">
                  <h4>For other roles</h4>
                  <p className="muted small">Your role may not take these; ILS says so if it refuses.</p>
                  <div className="button-row">{others.map((a) => button(a, true))}</div>
                </div>
              )}
            </section>
          )}

          <section aria-labelledby="timeline-title">
            <h3 id="timeline-title">Timeline</h3>
            {timeline.error && <ErrorBanner error={timeline.error} />}
            <ol className="timeline">
              {(timeline.data ?? []).map((ev) => (
                <li key={ev.id}>
                  <span className="timeline-when">{dateTime(ev.at)}</span>
                  <span className="timeline-what">
                    {humanise(ev.action)}
                    {ev.from_status && <> · {ev.from_status} → {ev.to_status}</>}
                    {!ev.from_status && <> · {ev.to_status}</>}
                  </span>
                  {ev.note && <span className="timeline-note">“{ev.note}”</span>}
                </li>
              ))}
            </ol>
          </section>

          <div className="button-row">
            <button type="button" className="btn" onClick={() => void exportDcs()} data-testid="order-dcs">
              DCS export
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => navigate({ name: "patient", id: d.patient_id })}>
              Open the patient
            </button>
          </div>
        </div>
      </Dialog>
      {dcs !== null && (
        <ExportDialog title={`DCS record · ${order.order_number}`} text={dcs} mimeType="text/plain"
          fileName={`${order.order_number}.dcs`} onClose={() => setDcs(null)} />
      )}
    </>
  );
}
