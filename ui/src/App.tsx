// The gate: a database without a practice gets the first run, one without a signed-in user the
// sign-in, otherwise the shell.

import { useCallback, useEffect, useState } from "react";
import * as api from "./api";
import type { Abilities, AppInfo, LocalUser } from "./types";
import type { SessionUser } from "./session";
import { NotifyProvider } from "./notify";
import { FirstRun } from "./screens/FirstRun";
import { SignIn } from "./screens/SignIn";
import { Shell } from "./Shell";
import { fullName } from "./format";
import { ErrorBanner } from "./components/ErrorBanner";
import { markStart } from "./startup";

type Gate =
  | { phase: "loading" }
  | { phase: "failed"; error: api.ApiError }
  | { phase: "first-run"; info: AppInfo }
  | { phase: "sign-in"; info: AppInfo; reason?: string }
  | { phase: "shell"; info: AppInfo; user: SessionUser };

export function sessionUserOf(user: LocalUser, abilities: Abilities | null): SessionUser {
  return { email: user.email, name: fullName(user) || user.email, role: user.role, id: user.id, abilities };
}

export function App() {
  const [gate, setGate] = useState<Gate>({ phase: "loading" });

  const load = useCallback(async (reason?: string) => {
    try {
      markStart("app_info asked");
      const info = await api.appInfo();
      markStart("app_info answered");
      if (!info.engine.practice) {
        setGate({ phase: "first-run", info });
      } else if (!info.signed_in) {
        setGate({ phase: "sign-in", info, reason });
      } else {
        setGate({ phase: "shell", info, user: sessionUserOf(info.signed_in, info.abilities) });
      }
    } catch (e) {
      setGate({ phase: "failed", error: api.normaliseError(e) });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const signOut = useCallback(
    async (reason?: string) => {
      try {
        await api.signOut();
      } finally {
        await load(reason);
      }
    },
    [load],
  );

  return <NotifyProvider>{render()}</NotifyProvider>;

  function render() {
    switch (gate.phase) {
      case "loading":
        return (
          <div className="gate" aria-busy="true">
            <p className="muted">Opening ILS Desktop…</p>
          </div>
        );
      case "failed":
        return (
          <div className="gate" data-testid="gate-failed">
            <div className="card gate-card">
              <h1>ILS Desktop cannot open its data</h1>
              <ErrorBanner error={gate.error} />
              <p className="muted small">
                Nothing has been changed. Once the cause is put right (a drive connected, another program closed), try
                again.
              </p>
              <button type="button" className="btn btn-primary" onClick={() => void load()} data-testid="gate-retry">
                Try again
              </button>
            </div>
          </div>
        );
      case "first-run":
        return <FirstRun info={gate.info} onDone={() => void load()} />;
      case "sign-in":
        return <SignIn info={gate.info} reason={gate.reason} onSignedIn={() => void load()} />;
      case "shell":
        return (
          <Shell
            info={gate.info}
            user={gate.user}
            // Everything again, the signed-in user included: connecting to ILS Central signs in
            // the account that connected, and the window must show who now acts.
            refreshInfo={() => load()}
            onSignOut={(reason) => void signOut(reason)}
          />
        );
    }
  }
}
