// Rendering a screen as the shell would: session, notices, navigation and sync state around it.

import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { vi } from "vitest";
import { SessionContext, type Session } from "../session";
import { NotifyProvider, NoticeArea } from "../notify";
import { NavigateContext, type Route } from "../route";
import type { Abilities, AppInfo, Role } from "../types";
import abilitiesJson from "./abilities.json";

export const INFO: AppInfo = {
  version: "0.1.0",
  engine: {
    database: "/tmp/ils.db",
    schema_version: 7,
    device_id: "dev-1",
    practice: { company_id: "c1", name: "Harley Street Optics", time_zone: "Europe/London" },
    user: "ada@example.org",
  },
  model_dir: "/models",
  model_present: true,
  idle_lock_minutes: 10,
  rendering: "software (the computer has no GPU render node)",
  signed_in: null,
  abilities: null,
};

/** Each role's abilities as app_info sends them (written from ils-core by a Rust test). */
export const ABILITIES = abilitiesJson as Record<Role, Abilities>;

export function renderScreen(ui: ReactElement, session: Partial<Session> = {}) {
  const navigate = vi.fn<(r: Route) => void>();
  const value: Session = {
    info: INFO,
    user: { email: "ada@example.org", name: "Ada Lovelace", role: "ecp", id: "u1", abilities: ABILITIES.ecp },
    refreshInfo: async () => undefined,
    signOut: () => undefined,
    ...session,
  };
  const result = render(
    <SessionContext.Provider value={value}>
      <NotifyProvider>
        <NavigateContext.Provider value={navigate}>
          <NoticeArea />
          {ui}
        </NavigateContext.Provider>
      </NotifyProvider>
    </SessionContext.Provider>,
  );
  return { ...result, navigate };
}
