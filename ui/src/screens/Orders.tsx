// The practice's orders: a board with a column per status (the newest of each, with how many
// there are), or a list; overdue ones marked; the patient named for roles that read patients.

import { useMemo, useState } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import type { BoardOrder, PatientLabel } from "../types";
import { date, humanise } from "../format";
import { ErrorBanner } from "../components/ErrorBanner";
import { OrderDetail } from "../components/OrderDetail";
import { OrderStatusBadge } from "../components/OrderStatusBadge";

type View = "board" | "list";

/** The most orders a column shows; the column says how many more there are. */
export const PER_COLUMN = 200;

export function patientName(p: PatientLabel | null): string | null {
  return p ? `${p.last_name}, ${p.first_name} (${p.customer_number})` : null;
}

export function Orders({ openOrderId }: { openOrderId?: string }) {
  const [view, setView] = useState<View>("board");
  const [onlyOverdue, setOnlyOverdue] = useState(false);
  const [openId, setOpenId] = useState<string | null>(openOrderId ?? null);
  const { data, error, loading, reload } = useLoad(`orders\u0000${onlyOverdue}`, () =>
    api.orderBoard(PER_COLUMN, onlyOverdue),
  );

  const shown = useMemo(
    () =>
      (data?.columns ?? [])
        .flatMap((c) => c.orders)
        .sort((a, b) => b.order.created_at.localeCompare(a.order.created_at)),
    [data],
  );
  const total = data?.columns.reduce((n, c) => n + c.total, 0) ?? 0;
  const hidden = data?.columns.filter((c) => c.total > c.orders.length) ?? [];
  const open = shown.find((o) => o.order.id === openId) ?? null;

  const card = ({ order: o, overdue, patient }: BoardOrder) => (
    <button type="button" key={o.id} className={`order-card${overdue ? " overdue" : ""}`}
      data-testid="order-row" data-order-id={o.id} onClick={() => setOpenId(o.id)}>
      <span className="order-number">{o.order_number}</span>
      {patient && <span className="order-patient" data-testid="order-patient">{patientName(patient)}</span>}
      <span className="order-card-line">
        <OrderStatusBadge status={o.status} />
      </span>
      <span>{humanise(o.data.lens_type)}</span>
      <span className="muted small">{o.data.material}</span>
      {o.data.promised_date && (
        <span className="small">
          Promised {date(o.data.promised_date)}
          {overdue && <strong className="overdue-text"> · overdue</strong>}
        </span>
      )}
    </button>
  );

  return (
    <section className="screen screen-wide" aria-labelledby="orders-title">
      <header className="screen-header">
        <h1 id="orders-title">Orders</h1>
        <div className="header-actions">
          <label className="check">
            <input type="checkbox" checked={onlyOverdue} onChange={(e) => setOnlyOverdue(e.target.checked)} />
            Only overdue ({data?.overdue_total ?? 0})
          </label>
          <div className="segmented segmented-inline" role="group" aria-label="View">
            {(["board", "list"] as View[]).map((v) => (
              <button key={v} type="button" className={view === v ? "selected" : undefined} aria-pressed={view === v}
                onClick={() => setView(v)} data-testid={`orders-view-${v}`}>
                {v === "board" ? "Board" : "List"}
              </button>
            ))}
          </div>
          <button type="button" className="btn" onClick={reload} disabled={loading}>
            Refresh
          </button>
        </div>
      </header>
      <ErrorBanner error={error} />
      {!data && loading && <p className="muted">Loading orders…</p>}
      {data && total === 0 && (
        <p className="muted">
          {onlyOverdue ? "No order is overdue." : "No orders yet. Orders are placed from a patient's prescription."}
        </p>
      )}
      {hidden.length > 0 && (
        <p className="muted small" data-testid="orders-capped">
          Showing the newest {data?.per_column} of{" "}
          {hidden.map((c) => `${c.total.toLocaleString()} ${humanise(c.status).toLowerCase()}`).join(", ")}. Older ones are
          on each patient's page.
        </p>
      )}
      {data && total > 0 && view === "board" && (
        <div className="board">
          {data.columns.map((c) => (
            <section key={c.status} className="board-column" aria-label={humanise(c.status)}>
              <h2>
                {humanise(c.status)} <span className="count">{c.total}</span>
              </h2>
              <div className="board-cards">{c.orders.map(card)}</div>
            </section>
          ))}
        </div>
      )}
      {data && total > 0 && view === "list" && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Patient</th>
              <th scope="col">Status</th>
              <th scope="col">Lens</th>
              <th scope="col">Material</th>
              <th scope="col">Promised</th>
              <th scope="col">Placed</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(({ order: o, overdue, patient }) => (
              <tr key={o.id} className={`clickable${overdue ? " overdue" : ""}`} data-testid="order-row"
                data-order-id={o.id} onClick={() => setOpenId(o.id)}>
                <td>
                  <button type="button" className="link-button" onClick={(e) => { e.stopPropagation(); setOpenId(o.id); }}>
                    {o.order_number}
                  </button>
                </td>
                <td>{patientName(patient) ?? <span className="muted">—</span>}</td>
                <td><OrderStatusBadge status={o.status} overdue={overdue} /></td>
                <td>{humanise(o.data.lens_type)}</td>
                <td>{o.data.material}</td>
                <td>{date(o.data.promised_date)}</td>
                <td>{date(o.created_at.slice(0, 10))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open && (
        <OrderDetail key={open.order.id} order={open.order} overdue={open.overdue} onClose={() => setOpenId(null)}
          onChanged={reload} />
      )}
    </section>
  );
}
