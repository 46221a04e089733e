import { describe, expect, it, vi } from "vitest";
import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { SignIn } from "../screens/SignIn";
import { NotifyProvider, NoticeArea, useNotify } from "../notify";
import { INFO } from "./render";
import { answer, callsOf } from "./tauri";

const ada = { id: "u1", email: "ada@example.org", first_name: "Ada", last_name: "Lovelace", role: "ecp", status: "active", created_at: "" };
const state = (server: string | null) => ({
  server, domain: server ? "harley" : null, device: "d", cursor: 0, last_success: null, last_error: null,
  pending: 0, rejected: 0, conflicts: 0, online: null, retry_at: null, session_kept: null,
});
const notSignedIn = { code: "auth.not_signed_in", message: "Sign in first" };

describe("SignIn", () => {
  it("asks for a password when the practice is connected to ILS Central", async () => {
    answer({ sync_state: state("https://ils.example.com"), users: () => { throw notSignedIn; }, sign_in_with_password: ada });
    const onSignedIn = vi.fn();
    render(<SignIn info={INFO} onSignedIn={onSignedIn} />);
    const password = await screen.findByTestId("sign-in-password");
    const u = userEvent.setup();
    await u.type(screen.getByTestId("sign-in-email"), "ada@example.org");
    await u.type(password, "correct horse");
    await u.click(screen.getByTestId("sign-in-submit"));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith(ada));
    expect(callsOf("sign_in_with_password")).toEqual([{ email: "ada@example.org", password: "correct horse" }]);
    expect(callsOf("sign_in")).toEqual([]);
  });

  it("signs in by e-mail alone on a practice kept here, and shows a refusal", async () => {
    let attempts = 0;
    answer({
      sync_state: state(null),
      users: () => { throw notSignedIn; },
      sign_in: () => {
        attempts += 1;
        if (attempts === 1) throw { code: "auth.unknown_user", message: "\"x@example.org\" is not a user of this practice" };
        return ada;
      },
    });
    const onSignedIn = vi.fn();
    render(<SignIn info={INFO} onSignedIn={onSignedIn} />);
    const u = userEvent.setup();
    await waitFor(() => expect((screen.getByTestId("sign-in-submit") as HTMLButtonElement).disabled).toBe(false));
    expect(screen.queryByTestId("sign-in-password")).toBeNull();
    await u.type(screen.getByTestId("sign-in-email"), "x@example.org");
    await u.click(screen.getByTestId("sign-in-submit"));
    expect((await screen.findByTestId("error-banner")).textContent).toContain("not a user of this practice");
    await u.clear(screen.getByTestId("sign-in-email"));
    await u.type(screen.getByTestId("sign-in-email"), "ada@example.org");
    await u.click(screen.getByTestId("sign-in-submit"));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith(ada));
    expect(callsOf("sign_in").map((a) => a.email)).toEqual(["x@example.org", "ada@example.org"]);
    // The next sign-in offers this e-mail first.
    expect(JSON.parse(localStorage.getItem("ils.recentUsers") ?? "[]")).toEqual(["ada@example.org"]);
  });
});

describe("notices", () => {
  function Probe() {
    const { showInfo, showError, dismiss } = useNotify();
    return (
      <>
        <NoticeArea />
        <button onClick={() => showInfo("Prescription saved.")}>info</button>
        <button onClick={() => showError({ code: "auth.forbidden", message: "Not allowed" })}>error</button>
        <button onClick={() => dismiss("error")}>navigate</button>
      </>
    );
  }

  it("keeps a 'saved' notice across a screen change but clears an error", async () => {
    render(<NotifyProvider><Probe /></NotifyProvider>);
    const u = userEvent.setup();
    await u.click(screen.getByText("info"));
    await u.click(screen.getByText("navigate"));
    expect(screen.getByRole("status").textContent).toContain("Prescription saved.");
    await u.click(screen.getByText("error"));
    expect(screen.getByTestId("error-banner").textContent).toContain("Not allowed");
    expect(screen.getByTestId("error-banner").textContent).toContain("auth.forbidden");
    await u.click(screen.getByText("navigate"));
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });

  it("lets information fade by itself", () => {
    vi.useFakeTimers();
    try {
      render(<NotifyProvider><Probe /></NotifyProvider>);
      act(() => screen.getByText("info").click());
      expect(screen.queryByRole("status")).not.toBeNull();
      act(() => vi.advanceTimersByTime(7000));
      expect(screen.queryByRole("status")).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });
});
