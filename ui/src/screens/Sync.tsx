// Sync with ILS Central: where it stands, what waits, what was refused, conflicts to review,
// and connecting a practice kept only here.

import { useState } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import { useNotify } from "../notify";
import { useSession } from "../session";
import { syncStatus, useSync } from "../sync";
import type { LocalConflict, Resolution, SyncState } from "../types";
import { dateTime, hlcTime, humanise } from "../format";
import { ErrorBanner } from "../components/ErrorBanner";
import { ConnectForm } from "../components/ConnectForm";
import { ConnectProgress } from "../components/ConnectProgress";

async function loadLists() {
  const [pending, rejected, conflicts] = await Promise.all([api.pendingChanges(), api.syncRejected(), api.syncConflicts()]);
  return { pending, rejected, conflicts };
}

export function Sync() {
  const { refreshInfo } = useSession();
  const { state, refresh } = useSync();
  const { showInfo } = useNotify();
  // The lists follow the counts the indicator polls.
  const key = state ? `${state.pending}/${state.rejected}/${state.conflicts}/${state.last_success}` : "first";
  const lists = useLoad(key, loadLists);
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const [connected, setConnected] = useState<SyncState | null>(null);
  const [resolving, setResolving] = useState<string | null>(null);

  const syncNow = async () => {
    setFailure(null);
    try {
      await api.syncNow();
      showInfo(state?.server ? "Sync started." : "Not connected: changes wait on this computer until it connects.");
      setTimeout(() => void refresh(), 1000);
    } catch (e) {
      setFailure(api.normaliseError(e));
    }
  };

  const resolve = async (c: LocalConflict, resolution: Resolution) => {
    setResolving(c.id);
    setFailure(null);
    try {
      await api.resolveConflict(c.id, resolution);
      showInfo(resolution === "kept" ? "The current version is kept." : "The other version is restored as a new edit.");
      await refresh();
      lists.reload();
    } catch (e) {
      setFailure(api.normaliseError(e));
    } finally {
      setResolving(null);
    }
  };

  if (connected) {
    return (
      <section className="screen">
        <ConnectProgress initial={connected} onDone={() => { setConnected(null); void refresh(); }} />
      </section>
    );
  }

  const pending = lists.data?.pending ?? [];
  const rejected = lists.data?.rejected ?? [];
  const conflicts = lists.data?.conflicts ?? [];

  return (
    <section className="screen" aria-labelledby="sync-title">
      <header className="screen-header">
        <h1 id="sync-title">Sync</h1>
        <button type="button" className="btn btn-primary" onClick={() => void syncNow()} data-testid="sync-now"
          title={state?.server ? undefined : "Connect to ILS Central first; until then changes wait here"}>
          Sync now
        </button>
      </header>
      <ErrorBanner error={failure ?? lists.error} onDismiss={failure ? () => setFailure(null) : undefined} />

      <dl className="details">
        <div><dt>Status</dt><dd>{syncStatus(state)}</dd></div>
        <div><dt>Server</dt><dd>{state?.server ? `${state.server} (${state.domain ?? ""})` : "Not connected"}</dd></div>
        <div><dt>Last sync</dt><dd>{state?.last_success ? dateTime(state.last_success) : "Never"}</dd></div>
        <div><dt>Waiting to send</dt><dd><span data-testid="sync-pending">{state?.pending ?? 0}</span></dd></div>
        {state?.retry_at && <div><dt>Next try</dt><dd>{dateTime(state.retry_at)}</dd></div>}
        {state?.last_error && <div><dt>Last error</dt><dd className="error-text">{state.last_error}</dd></div>}
        <div><dt>This computer</dt><dd><code>{state?.device}</code></dd></div>
      </dl>

      {state && !state.server && (
        <section className="panel" aria-labelledby="connect-title">
          <h2 id="connect-title">Connect to ILS Central</h2>
          <p className="muted">
            The practice's records, users and documents go up to your practice's account; from then on they sync in the background.
          </p>
          <ConnectForm
            onError={setFailure}
            onConnected={(state) => {
              setConnected(state);
              void refreshInfo();
            }}
          />
        </section>
      )}

      <section className="panel" aria-labelledby="conflicts-title">
        <h2 id="conflicts-title">Conflicts to review ({conflicts.length})</h2>
        {conflicts.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <ul className="plain-list">
            {conflicts.map((c) => (
              <li key={c.id} className="conflict" data-testid="conflict-row">
                <div>
                  <strong>{humanise(c.entity)}</strong> <code>{c.entity_id}</code> · {humanise(c.reason)} · {dateTime(c.recorded_at)}
                </div>
                <details>
                  <summary>The version that lost</summary>
                  <pre className="export-text">{JSON.stringify(c.lost, null, 2)}</pre>
                </details>
                <div className="button-row">
                  <button type="button" className="btn" disabled={resolving === c.id} onClick={() => void resolve(c, "kept")}
                    data-testid="conflict-keep">
                    Keep current
                  </button>
                  <button type="button" className="btn" disabled={resolving === c.id} onClick={() => void resolve(c, "restored")}
                    data-testid="conflict-restore">
                    Restore the other
                  </button>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="panel" aria-labelledby="rejected-title">
        <h2 id="rejected-title">Refused by ILS Central ({rejected.length})</h2>
        {rejected.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <table className="table">
            <thead>
              <tr><th scope="col">What</th><th scope="col">Change</th><th scope="col">Why</th><th scope="col">When</th></tr>
            </thead>
            <tbody>
              {rejected.map((r) => (
                <tr key={r.change_id} data-testid="rejected-row">
                  <td>{humanise(r.entity)} <code className="small">{r.entity_id}</code></td>
                  <td>{r.operation}</td>
                  <td>{r.message} <code className="small">{r.code}</code></td>
                  <td>{dateTime(r.rejected_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="panel" aria-labelledby="pending-title">
        <h2 id="pending-title">Waiting to send ({pending.length})</h2>
        {pending.length === 0 ? (
          <p className="muted">Nothing waiting.</p>
        ) : (
          <table className="table">
            <thead>
              <tr><th scope="col">What</th><th scope="col">Change</th><th scope="col">When</th></tr>
            </thead>
            <tbody>
              {pending.map((p) => (
                <tr key={p.change_id} data-testid="pending-row">
                  <td>{humanise(p.entity)} <code className="small">{p.entity_id}</code></td>
                  <td>{p.operation}</td>
                  <td>{dateTime(hlcTime(p.hlc)?.toISOString())}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}
