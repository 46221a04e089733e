// What the window offers whom. Nothing is decided here: the engine reads ils-core's rules out
// for the signed-in role (`Abilities`, in app_info) and these helpers only look things up in it.
// The engine still checks every action when it is taken. Without abilities (nobody known),
// nothing is offered.

import type { Abilities, OrderAction, OrderStatus, RxStatus } from "./types";

/** Whether the signed-in role holds `permission` (`resource:action`). */
export function allows(abilities: Abilities | null, permission: string): boolean {
  return abilities?.permissions.includes(permission) ?? false;
}

/** The actions the status machine allows from `status`, split into the ones this role may
 * take and the ones only another role may. */
export function orderActions(
  status: OrderStatus,
  abilities: Abilities | null,
): { mine: OrderAction[]; others: OrderAction[] } {
  const moves = (abilities?.order_actions ?? []).filter((m) => m.from === status);
  return {
    mine: moves.filter((m) => m.permitted).map((m) => m.action),
    others: moves.filter((m) => !m.permitted).map((m) => m.action),
  };
}

/** Whether an action must say why (a cancel or a remake). */
export function needsReason(abilities: Abilities | null, action: OrderAction): boolean {
  return abilities?.order_actions.some((m) => m.action === action && m.needs_reason) ?? false;
}

/** The statuses this role may move a prescription in `from` to. */
export function rxNextStatuses(from: RxStatus, abilities: Abilities | null): RxStatus[] {
  return (abilities?.rx_status_changes ?? [])
    .filter((c) => c.from === from && c.permitted)
    .map((c) => c.to);
}

export const ACTION_LABELS: Record<OrderAction, string> = {
  submit: "Submit to lab",
  start_production: "Start production",
  send_to_quality_check: "Send to quality check",
  ship: "Ship",
  deliver: "Deliver",
  cancel: "Cancel order",
  remake: "Remake",
};
