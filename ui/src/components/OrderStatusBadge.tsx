import type { OrderStatus } from "../types";

/** The status word as the engine names it (`in_production`), styled by stage. */
export function OrderStatusBadge({ status, overdue }: { status: OrderStatus; overdue?: boolean }) {
  return (
    <>
      <span className={`badge badge-order-${status}`} data-testid="order-status">
        {status}
      </span>
      {overdue && <span className="badge badge-overdue">overdue</span>}
    </>
  );
}
