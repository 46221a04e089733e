// Signing in: with a password when the practice is connected to ILS Central (checked there, or
// offline against the kept verifier), by e-mail alone when it is kept only on this computer.

import { useEffect, useState, type FormEvent } from "react";
import * as api from "../api";
import { ErrorBanner } from "../components/ErrorBanner";
import type { AppInfo, LocalUser, SyncState } from "../types";
import { fullName } from "../format";

const RECENT_KEY = "ils.recentUsers";

export function readRecent(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string").slice(0, 6) : [];
  } catch {
    return [];
  }
}

function remember(email: string) {
  try {
    const next = [email, ...readRecent().filter((e) => e.toLowerCase() !== email.toLowerCase())].slice(0, 6);
    localStorage.setItem(RECENT_KEY, JSON.stringify(next));
  } catch {
    // Nothing to do: the list is a convenience.
  }
}

export function SignIn({
  info,
  reason,
  onSignedIn,
}: {
  info: AppInfo;
  reason?: string;
  onSignedIn: (user: LocalUser) => void;
}) {
  const [sync, setSync] = useState<SyncState | null | undefined>(undefined);
  const [known, setKnown] = useState<LocalUser[]>([]);
  const [email, setEmail] = useState(() => readRecent()[0] ?? "");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<api.ApiError | null>(null);

  useEffect(() => {
    api.syncState().then(setSync, (e: unknown) => {
      setSync(null);
      setError(api.normaliseError(e));
    });
    // Listing users needs a signed-in administrator; before sign-in it usually fails, and the
    // e-mail is typed or picked from this computer's recent sign-ins instead.
    api.users().then(setKnown, () => setKnown([]));
  }, []);

  const withPassword = !!sync?.server;
  const recent = readRecent();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const user = withPassword
        ? await api.signInWithPassword(email.trim(), password)
        : await api.signIn(email.trim());
      remember(user.email);
      onSignedIn(user);
    } catch (err) {
      setError(api.normaliseError(err));
      setPassword("");
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="gate">
      <form className="card gate-card form" onSubmit={submit} data-testid="sign-in">
        <h1>Sign in</h1>
        <p className="muted">{info.engine.practice?.name}</p>
        {reason && <div className="banner banner-info" role="status">{reason}</div>}
        <ErrorBanner error={error} />
        {!withPassword && (known.length > 0 || recent.length > 0) && (
          <fieldset className="user-picker">
            <legend>Who is working?</legend>
            {(known.length > 0 ? known.map((u) => ({ email: u.email, label: fullName(u) })) : recent.map((e) => ({ email: e, label: e }))).map(
              (u) => (
                <button
                  key={u.email}
                  type="button"
                  className={`chip${u.email === email ? " chip-active" : ""}`}
                  aria-pressed={u.email === email}
                  onClick={() => setEmail(u.email)}
                >
                  {u.label}
                </button>
              ),
            )}
          </fieldset>
        )}
        <div className="field">
          <label htmlFor="sign-in-email">E-mail</label>
          <input
            id="sign-in-email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            data-testid="sign-in-email"
            autoFocus
          />
        </div>
        {withPassword && (
          <div className="field">
            <label htmlFor="sign-in-password">Password</label>
            <input
              id="sign-in-password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              data-testid="sign-in-password"
            />
            <p className="field-hint">
              Checked with ILS Central ({sync?.server}); without a connection, against this computer's copy.
            </p>
          </div>
        )}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy || sync === undefined} data-testid="sign-in-submit">
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </div>
      </form>
    </div>
  );
}
