import { syncStatus, useSync } from "../sync";
import { time } from "../format";

/** The top bar's sync light: Online / Offline / Not connected / Syncing, and the last sync. */
export function SyncIndicator({ onOpen }: { onOpen?: () => void }) {
  const { state } = useSync();
  const status = syncStatus(state);
  const tone = status.toLowerCase().replace(" ", "-");
  const details = [
    state?.last_success ? `last sync ${time(state.last_success)}` : null,
    state && state.pending > 0 ? `${state.pending} waiting` : null,
  ].filter(Boolean);
  const title = state?.last_error ? `Last error: ${state.last_error}` : undefined;
  return (
    <button
      type="button"
      className={`sync-indicator sync-${tone}`}
      data-testid="sync-indicator"
      onClick={onOpen}
      title={title}
      aria-label={`Sync: ${status}${details.length ? `, ${details.join(", ")}` : ""}. Open the sync screen`}
    >
      <span className="sync-dot" aria-hidden="true" />
      <span className="sync-status">{status}</span>
      {details.length > 0 && <span className="sync-details"> · {details.join(" · ")}</span>}
    </button>
  );
}
