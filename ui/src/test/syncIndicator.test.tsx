import { describe, expect, it } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import { SyncIndicator } from "../components/SyncIndicator";
import { SyncProvider, syncStatus } from "../sync";
import type { SyncState } from "../types";
import { answer } from "./tauri";

const base: SyncState = {
  server: "https://ils.example.com",
  domain: "harley",
  device: "dev-1",
  cursor: 10,
  last_success: "2026-12-01T10:00:00Z",
  last_error: null,
  pending: 0,
  rejected: 0,
  conflicts: 0,
  online: true,
  retry_at: null,
  session_kept: null,
};

describe("syncStatus", () => {
  it.each<[string, Partial<SyncState>, string]>([
    ["no server", { server: null, online: null, last_success: null }, "Not connected"],
    ["reached, nothing waiting", {}, "Online"],
    ["last attempt failed", { online: false, last_error: "connection refused" }, "Offline"],
    ["changes waiting", { pending: 3 }, "Syncing"],
    ["first sync not done", { last_success: null }, "Syncing"],
    ["reach not known yet", { online: null }, "Syncing"],
  ])("%s", (_what, over, expected) => {
    expect(syncStatus({ ...base, ...over })).toBe(expected);
  });
});

describe("SyncIndicator", () => {
  const show = async (state: SyncState) => {
    answer({ sync_state: state });
    render(
      <SyncProvider>
        <SyncIndicator />
      </SyncProvider>,
    );
    return screen.getByTestId("sync-indicator");
  };

  it("says Online when ILS Central was reached", async () => {
    const el = await show(base);
    await waitFor(() => expect(el.textContent).toContain("Online"));
  });

  it("says Offline when it was not", async () => {
    const el = await show({ ...base, online: false, last_error: "timed out" });
    await waitFor(() => expect(el.textContent).toContain("Offline"));
    expect(el.getAttribute("title")).toContain("timed out");
  });

  it("says Not connected for a practice kept only here", async () => {
    const el = await show({ ...base, server: null, domain: null, online: null, last_success: null });
    await waitFor(() => expect(el.textContent).toContain("Not connected"));
  });
});
