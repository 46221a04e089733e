// The practice's orders: a board with a column per status, or a list; overdue ones marked.

import { useMemo, useState } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import { ORDER_STATUSES, type OrderRecord, type OrderStatus } from "../types";
import { date, humanise } from "../format";
import { ErrorBanner } from "../components/ErrorBanner";
import { OrderDetail } from "../components/OrderDetail";
import { OrderStatusBadge } from "../components/OrderStatusBadge";

type View = "board" | "list";

interface OrdersData {
  all: OrderRecord[];
  overdue: Set<string>;
}

async function loadOrders(): Promise<OrdersData> {
  const [all, overdue] = await Promise.all([api.orders({ limit: 1000 }), api.orders({ overdue: true, limit: 1000 })]);
  return { all, overdue: new Set(overdue.map((o) => o.id)) };
}

export function Orders({ openOrderId }: { openOrderId?: string }) {
  const [view, setView] = useState<View>("board");
  const [onlyOverdue, setOnlyOverdue] = useState(false);
  const [openId, setOpenId] = useState<string | null>(openOrderId ?? null);
  const { data, error, loading, reload } = useLoad("orders", loadOrders);

  const shown = useMemo(
    () => (data ? data.all.filter((o) => !onlyOverdue || data.overdue.has(o.id)) : []),
    [data, onlyOverdue],
  );
  const byStatus = useMemo(() => {
    const m = new Map<OrderStatus, OrderRecord[]>(ORDER_STATUSES.map((s) => [s, []]));
    for (const o of shown) m.get(o.status)?.push(o);
    return m;
  }, [shown]);
  const open = data?.all.find((o) => o.id === openId) ?? null;
  const overdueCount = data?.overdue.size ?? 0;

  const card = (o: OrderRecord) => (
    <button type="button" key={o.id} className={`order-card${data?.overdue.has(o.id) ? " overdue" : ""}`}
      data-testid="order-row" data-order-id={o.id} onClick={() => setOpenId(o.id)}>
      <span className="order-number">{o.order_number}</span>
      <span className="order-card-line">
        <OrderStatusBadge status={o.status} />
      </span>
      <span>{humanise(o.data.lens_type)}</span>
      <span className="muted small">{o.data.material}</span>
      {o.data.promised_date && (
        <span className="small">
          Promised {date(o.data.promised_date)}
          {data?.overdue.has(o.id) && <strong className="overdue-text"> · overdue</strong>}
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
            Only overdue ({overdueCount})
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
      {data && data.all.length === 0 && (
        <p className="muted">No orders yet. Orders are placed from a patient's prescription.</p>
      )}
      {data && data.all.length > 0 && view === "board" && (
        <div className="board">
          {ORDER_STATUSES.map((s) => (
            <section key={s} className="board-column" aria-label={humanise(s)}>
              <h2>
                {humanise(s)} <span className="count">{byStatus.get(s)?.length ?? 0}</span>
              </h2>
              <div className="board-cards">{byStatus.get(s)?.map(card)}</div>
            </section>
          ))}
        </div>
      )}
      {data && data.all.length > 0 && view === "list" && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Status</th>
              <th scope="col">Lens</th>
              <th scope="col">Material</th>
              <th scope="col">Promised</th>
              <th scope="col">Placed</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((o) => (
              <tr key={o.id} className={`clickable${data.overdue.has(o.id) ? " overdue" : ""}`} data-testid="order-row"
                data-order-id={o.id} onClick={() => setOpenId(o.id)}>
                <td>
                  <button type="button" className="link-button" onClick={(e) => { e.stopPropagation(); setOpenId(o.id); }}>
                    {o.order_number}
                  </button>
                </td>
                <td><OrderStatusBadge status={o.status} overdue={data.overdue.has(o.id)} /></td>
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
        <OrderDetail key={open.id} order={open} overdue={data?.overdue.has(open.id)} onClose={() => setOpenId(null)}
          onChanged={reload} />
      )}
    </section>
  );
}
