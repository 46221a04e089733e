// The sync state, polled every 3 s for the whole shell (the indicator, the Sync screen and the
// assistant read it from here).

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import * as api from "./api";
import { usePoll } from "./hooks";
import type { SyncState } from "./types";

export type SyncStatus = "Not connected" | "Offline" | "Online" | "Syncing";

/**
 * What the indicator says. A practice kept only on this computer is not connected; a connected
 * one is offline when the last attempt failed to reach ILS Central, syncing while its first
 * sync has not finished, the reach is not known yet, or changes are waiting, else online.
 */
export function syncStatus(state: SyncState | null | undefined): SyncStatus {
  if (!state || !state.server) return "Not connected";
  if (state.online === false) return "Offline";
  if (state.online === null || state.last_success === null || state.pending > 0) return "Syncing";
  return "Online";
}

interface SyncContextValue {
  state: SyncState | null;
  refresh: () => Promise<void>;
}

const SyncContext = createContext<SyncContextValue | null>(null);

export function SyncProvider({ children, intervalMs = 3000 }: { children: ReactNode; intervalMs?: number }) {
  const [state, setState] = useState<SyncState | null>(null);
  const refresh = useCallback(async () => {
    try {
      setState(await api.syncState());
    } catch {
      // The indicator keeps the last state it knew; the Sync screen shows errors itself.
    }
  }, []);
  usePoll(refresh, intervalMs);
  const value = useMemo(() => ({ state, refresh }), [state, refresh]);
  return <SyncContext.Provider value={value}>{children}</SyncContext.Provider>;
}

export function useSync(): SyncContextValue {
  const ctx = useContext(SyncContext);
  if (!ctx) throw new Error("useSync outside SyncProvider");
  return ctx;
}
