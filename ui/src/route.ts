// Where the shell is. A small state machine rather than URLs: the window has one page.

import { createContext, useContext } from "react";

export type Route =
  | { name: "patients" }
  | { name: "patient"; id: string }
  | { name: "rx-new"; patientId: string }
  | { name: "orders"; orderId?: string }
  | { name: "kb" }
  | { name: "assistant" }
  | { name: "sync" }
  | { name: "activity"; entityId?: string }
  | { name: "settings" };

export type NavName = "patients" | "orders" | "kb" | "assistant" | "sync" | "activity" | "settings";

export interface NavItem {
  name: NavName;
  label: string;
}

/** The left navigation, in Alt+1… order. */
export const NAV: NavItem[] = [
  { name: "patients", label: "Patients" },
  { name: "orders", label: "Orders" },
  { name: "kb", label: "Knowledge base" },
  { name: "assistant", label: "Assistant" },
  { name: "sync", label: "Sync" },
  { name: "activity", label: "Activity" },
  { name: "settings", label: "Settings" },
];

/** The navigation entry a route belongs to. */
export function navOf(route: Route): NavName {
  switch (route.name) {
    case "patient":
    case "rx-new":
      return "patients";
    default:
      return route.name;
  }
}

export const NavigateContext = createContext<(route: Route) => void>(() => undefined);

export function useNavigate(): (route: Route) => void {
  return useContext(NavigateContext);
}
