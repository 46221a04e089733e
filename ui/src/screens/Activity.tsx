// The local audit log: who did what to which record, filtered by record id (by the engine) and
// by action (here).

import { useMemo, useState } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import type { LocalUser } from "../types";
import { dateTime, fullName } from "../format";
import { ErrorBanner } from "../components/ErrorBanner";

const LIMIT = 500;

export function Activity({ entityId }: { entityId?: string }) {
  const [entity, setEntity] = useState(entityId ?? "");
  const [action, setAction] = useState("");
  const key = entity.trim();
  const entries = useLoad(`entries:${key}`, () => api.auditEntries(key === "" ? null : key, LIMIT), 250);
  // Names for the user ids the log holds (administrators may list users; others see ids).
  const people = useLoad("users", () => api.users().catch(() => [] as LocalUser[]));
  const names = useMemo(() => new Map((people.data ?? []).map((u) => [u.id, fullName(u)])), [people.data]);

  const actions = useMemo(() => [...new Set((entries.data ?? []).map((e) => e.action))].sort(), [entries.data]);
  const shown = (entries.data ?? []).filter((e) => action === "" || e.action === action);

  return (
    <section className="screen screen-wide" aria-labelledby="activity-title">
      <header className="screen-header">
        <h1 id="activity-title">Activity</h1>
        <button type="button" className="btn" onClick={entries.reload}>Refresh</button>
      </header>
      <div className="filters">
        <div className="field">
          <label htmlFor="activity-entity">Record id</label>
          <input id="activity-entity" value={entity} onChange={(e) => setEntity(e.target.value)} placeholder="Any record"
            spellCheck={false} data-testid="activity-entity" />
        </div>
        <div className="field">
          <label htmlFor="activity-action">Action</label>
          <select id="activity-action" value={action} onChange={(e) => setAction(e.target.value)} data-testid="activity-action">
            <option value="">All actions</option>
            {actions.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </div>
        <p className="muted small">{entries.data ? `${shown.length} of ${entries.data.length} entries (latest ${LIMIT})` : ""}</p>
      </div>
      <ErrorBanner error={entries.error} />
      <table className="table table-dense">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Record</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.id} data-testid="audit-row">
              <td className="nowrap">{dateTime(e.at)}</td>
              <td title={e.actor}>{names.get(e.actor) ?? <code className="small">{e.actor}</code>}</td>
              <td><code>{e.action}</code></td>
              <td>
                {e.entity}{" "}
                {e.entity_id && (
                  <button type="button" className="link-button small" onClick={() => setEntity(e.entity_id ?? "")}
                    title="Show only this record">
                    {e.entity_id}
                  </button>
                )}
              </td>
              <td>{e.detail === null || e.detail === undefined ? "" : <code className="small detail">{JSON.stringify(e.detail)}</code>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
