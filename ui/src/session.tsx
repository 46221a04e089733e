// Who is signed in, and the app's facts (app_info), for every screen of the shell.

import { createContext, useContext } from "react";
import type { Abilities, AppInfo, Role } from "./types";

export interface SessionUser {
  email: string;
  name: string;
  role: Role;
  id: string;
  /** What this user may do (app_info), so that screens offer only that. */
  abilities: Abilities | null;
}

export interface Session {
  info: AppInfo;
  user: SessionUser;
  /** Reads app_info again (after settings change it). */
  refreshInfo: () => Promise<void>;
  /** Signs out and returns to the sign-in screen. */
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error("useSession outside SessionContext");
  return ctx;
}
