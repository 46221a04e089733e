import { describe, expect, it, vi, afterEach } from "vitest";
import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useIdleLock } from "../idle";
import { onIngestEvent, startProgress, fraction } from "../ingest";
import { Shell } from "../Shell";
import { NotifyProvider } from "../notify";
import { ABILITIES, INFO } from "./render";
import { answer } from "./tauri";

function IdleProbe({ minutes, onIdle }: { minutes: number; onIdle: () => void }) {
  useIdleLock(minutes, onIdle, 1000);
  return null;
}

describe("useIdleLock", () => {
  afterEach(() => vi.useRealTimers());

  it("locks after the idle minutes, and activity postpones it", () => {
    vi.useFakeTimers();
    const onIdle = vi.fn();
    render(<IdleProbe minutes={1} onIdle={onIdle} />);
    act(() => vi.advanceTimersByTime(50_000));
    fireEvent.keyDown(window, { key: "a" });
    act(() => vi.advanceTimersByTime(50_000));
    expect(onIdle).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(15_000));
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it("never locks with 0 minutes", () => {
    vi.useFakeTimers();
    const onIdle = vi.fn();
    render(<IdleProbe minutes={0} onIdle={onIdle} />);
    act(() => vi.advanceTimersByTime(24 * 60 * 60_000));
    expect(onIdle).not.toHaveBeenCalled();
  });
});

describe("ingest progress", () => {
  it("folds the channel's events, a document's progress nested under its own tag", () => {
    let p = startProgress();
    p = onIngestEvent(p, { event: "found", files: 2 });
    p = onIngestEvent(p, { event: "file", index: 0, path: "/a.md" });
    p = onIngestEvent(p, { event: "document", progress: { event: "started", source: "/a.md", chunks: 4 } });
    p = onIngestEvent(p, { event: "document", progress: { event: "embedded", source: "/a.md", done: 2, total: 4 } });
    expect(fraction(p)).toBeCloseTo(0.25);
    p = onIngestEvent(p, { event: "refused", file: "/b.exe", code: "kb.unsupported", message: "not a document" });
    expect(p.refused).toEqual([{ file: "/b.exe", code: "kb.unsupported", message: "not a document" }]);
  });
});

describe("Shell", () => {
  it("shows the user and sync state, and opens screens with Alt+digit", async () => {
    answer({
      sync_state: { server: null, domain: null, device: "d", cursor: 0, last_success: null, last_error: null, pending: 2, rejected: 0, conflicts: 0, online: null, retry_at: null, session_kept: null },
      search_patients: [],
      orders: [],
      pending_changes: [],
      sync_rejected: [],
      sync_conflicts: [],
    });
    render(
      <NotifyProvider>
        <Shell info={INFO} user={{ email: "ada@example.org", name: "Ada Lovelace", role: "ecp", id: "u1", abilities: ABILITIES.ecp }}
          refreshInfo={async () => undefined} onSignOut={() => undefined} />
      </NotifyProvider>,
    );
    expect(screen.getByTestId("signed-in-user").textContent).toContain("Ada Lovelace");
    await waitFor(() => expect(screen.getByTestId("sync-indicator").textContent).toContain("Not connected"));
    fireEvent.keyDown(window, { key: "2", code: "Digit2", altKey: true });
    expect(screen.getByTestId("nav-orders").getAttribute("aria-current")).toBe("page");
    fireEvent.keyDown(window, { key: "5", code: "Digit5", altKey: true });
    await waitFor(() => expect(screen.getByTestId("sync-pending").textContent).toBe("2"));
    fireEvent.keyDown(document.body, { key: "/", code: "Slash" });
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("patient-search")));
  });
});
