// The first sync after connecting: `sync_state` every 500 ms until it has succeeded once and
// nothing is waiting.

import { useRef, useState } from "react";
import * as api from "../api";
import { usePoll } from "../hooks";
import type { SyncState } from "../types";
import { dateTime } from "../format";

export function firstSyncDone(state: SyncState | null): boolean {
  return !!state && state.last_success !== null && state.pending === 0;
}

export function ConnectProgress({ initial, onDone }: { initial: SyncState | null; onDone: () => void }) {
  const [state, setState] = useState<SyncState | null>(initial);
  const most = useRef(Math.max(initial?.pending ?? 0, 1));
  const done = firstSyncDone(state);

  usePoll(async () => {
    const next = await api.syncState();
    most.current = Math.max(most.current, next.pending);
    setState(next);
  }, 500, !done);

  const sent = state ? most.current - state.pending : 0;
  return (
    <div className="connect-progress" data-testid="connect-progress">
      <h2>{done ? "Connected and up to date" : "Bringing this computer up to date…"}</h2>
      {done ? (
        <progress max={1} value={1} aria-label="First sync" />
      ) : state && state.pending > 0 ? (
        <progress max={most.current} value={sent} aria-label="First sync" />
      ) : (
        <progress aria-label="First sync" />
      )}
      <p role="status" className="muted">
        {done
          ? `Last sync ${dateTime(state?.last_success)}.`
          : state?.last_error
            ? `Waiting for ILS Central: ${state.last_error}`
            : state && state.pending > 0
              ? `${state.pending} changes still to send.`
              : "Receiving the practice's records…"}
      </p>
      {state?.server && <p className="muted">Server: {state.server}</p>}
      <button type="button" className="btn btn-primary" onClick={onDone} disabled={!done} data-testid="connect-continue">
        Continue
      </button>
      {!done && (
        <button type="button" className="btn btn-ghost" onClick={onDone}>
          Continue while it syncs
        </button>
      )}
    </div>
  );
}
