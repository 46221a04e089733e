// What the window offers whom. The engine decides (ils-core access.rs and order.rs); these
// tables, copied from there, only keep the window from offering what it would refuse. When the
// role is unknown, everything the status allows is offered and the engine answers.

import type { OrderAction, OrderStatus, Role, RxStatus } from "./types";

const GRANTS: Record<Role, string[]> = {
  platform_admin: ["*"],
  company_admin: [
    "users:*",
    "company:*",
    "ai:*",
    "audit:read",
    "gdpr:*",
    "patients:read",
    "prescriptions:read",
    "orders:read",
  ],
  ecp: ["orders:create", "orders:read", "patients:*", "prescriptions:*", "ai:chat"],
  lab_tech: ["orders:read", "orders:update", "production:*"],
  engineer: ["production:*", "technical:*"],
};

/** Whether `role` holds `permission` (`resource:action`); exact resources only, as in access.rs. */
export function allows(role: Role | null, permission: string): boolean {
  if (role === null) return true;
  const [resource, action] = permission.split(":");
  return GRANTS[role].some((grant) => {
    if (grant === "*") return true;
    const [r, a] = grant.split(":");
    return r === resource && (a === "*" || a === action);
  });
}

export function isAdmin(role: Role | null): boolean {
  return role === "company_admin" || role === "platform_admin";
}

/** The status machine (order.rs `transition`): the status each allowed action leads to. */
const TRANSITIONS: Partial<Record<OrderStatus, Partial<Record<OrderAction, OrderStatus>>>> = {
  draft: { submit: "submitted", cancel: "cancelled" },
  submitted: { start_production: "in_production", cancel: "cancelled" },
  in_production: { send_to_quality_check: "quality_check", cancel: "cancelled" },
  quality_check: { ship: "shipped", cancel: "cancelled" },
  shipped: { deliver: "delivered" },
  delivered: { remake: "remade" },
};

/** Who may take an action from a status (order.rs `OrderAction::permissions`): any of these. */
function actionPermissions(action: OrderAction, from: OrderStatus): string[] {
  switch (action) {
    case "submit":
    case "remake":
      return ["orders:create"];
    case "start_production":
    case "send_to_quality_check":
    case "ship":
      return ["orders:update"];
    case "deliver":
      return ["orders:create", "orders:update"];
    case "cancel":
      return from === "draft" || from === "submitted"
        ? ["orders:create", "orders:update"]
        : ["orders:update"];
  }
}

/** The actions offered on an order in `status` to a user with `role`. */
export function orderActions(status: OrderStatus, role: Role | null): OrderAction[] {
  const allowed = Object.keys(TRANSITIONS[status] ?? {}) as OrderAction[];
  return allowed.filter((action) =>
    actionPermissions(action, status).some((permission) => allows(role, permission)),
  );
}

/** A cancel or a remake says why (order.rs `needs_reason`). */
export function needsReason(action: OrderAction): boolean {
  return action === "cancel" || action === "remake";
}

/** The statuses a prescription in `from` may move to (decide/prescriptions.rs `set_status`). */
export function rxNextStatuses(from: RxStatus): RxStatus[] {
  switch (from) {
    case "draft":
      return ["active", "cancelled", "entered_in_error"];
    case "active":
      return ["cancelled", "entered_in_error"];
    default:
      return [];
  }
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
