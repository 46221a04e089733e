// The first run on a computer: a practice kept here only, or this computer joining one on ILS
// Central.

import { useState, type FormEvent } from "react";
import * as api from "../api";
import { ErrorBanner } from "../components/ErrorBanner";
import type { AppInfo, LocalUser, SyncState } from "../types";
import { TextField } from "../components/TextField";
import { OtherErrors } from "../components/FieldErrors";
import { ConnectForm } from "../components/ConnectForm";
import { ConnectProgress } from "../components/ConnectProgress";
import { unclaimed } from "../fieldErrors";
import { useSubmit } from "../hooks";

type Step = "choose" | "offline" | "connect" | "syncing";

function defaultTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export function FirstRun({ info, onDone }: { info: AppInfo; onDone: (user?: LocalUser) => void }) {
  const [step, setStep] = useState<Step>("choose");
  const [error, setError] = useState<api.ApiError | null>(null);
  const [connected, setConnected] = useState<SyncState | null>(null);

  return (
    <div className="gate">
      <div className="card gate-card gate-wide" data-testid="first-run">
        <h1>Welcome to ILS Desktop</h1>
        <ErrorBanner error={error} />
        {step === "choose" && (
          <>
            <p className="muted">How will this computer keep the practice's records?</p>
            <div className="choices">
              <button type="button" className="choice" data-testid="first-run-offline" onClick={() => setStep("offline")}>
                <strong>Work offline on this computer</strong>
                <span>The practice's records stay here. You can connect to ILS Central later.</span>
              </button>
              <button type="button" className="choice" data-testid="first-run-connect" onClick={() => setStep("connect")}>
                <strong>Connect to ILS Central</strong>
                <span>Join your practice's account; records sync with your other computers.</span>
              </button>
            </div>
            <p className="muted small">Data file: {info.engine.database}</p>
          </>
        )}
        {step === "offline" && (
          <OfflineForm onBack={() => setStep("choose")} onError={setError} onCreated={(user) => onDone(user)} />
        )}
        {step === "connect" && (
          <>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setStep("choose")}>
              ← Back
            </button>
            <ConnectForm
              onError={setError}
              onConnected={(state) => {
                setError(null);
                setConnected(state);
                setStep("syncing");
              }}
            />
          </>
        )}
        {step === "syncing" && <ConnectProgress initial={connected} onDone={() => onDone()} />}
      </div>
    </div>
  );
}

const PATHS = ["name", "time_zone", "admin.first_name", "admin.last_name", "admin.email", "admin.role"];

function OfflineForm({
  onBack,
  onError,
  onCreated,
}: {
  onBack: () => void;
  onError: (e: api.ApiError | null) => void;
  onCreated: (user: LocalUser) => void;
}) {
  const [name, setName] = useState("");
  const [timeZone, setTimeZone] = useState(defaultTimeZone);
  const [firstName, setFirstName] = useState("");
  const [lastName, setLastName] = useState("");
  const [email, setEmail] = useState("");
  const { busy, errors, run } = useSubmit(onError);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const created = await api.createPractice({
        name: name.trim(),
        time_zone: timeZone.trim() || null,
        admin: {
          email: email.trim(),
          first_name: firstName.trim(),
          last_name: lastName.trim(),
          role: "company_admin",
        },
      });
      onCreated(created.user);
    });
  };

  return (
    <form className="form" onSubmit={submit} noValidate>
      <button type="button" className="btn btn-ghost btn-small" onClick={onBack}>
        ← Back
      </button>
      <OtherErrors errors={unclaimed(errors, PATHS)} />
      <h2>The practice</h2>
      <div className="row-2">
        <TextField label="Practice name" field="name" value={name} onChange={setName} errors={errors}
          required testId="practice-name" data-autofocus />
        <TextField label="Time zone" field="time_zone" value={timeZone} onChange={setTimeZone} errors={errors}
          hint="IANA name, e.g. Europe/London" testId="practice-tz" />
      </div>
      <h2>The administrator</h2>
      <div className="row-2">
        <TextField label="First name" field="admin.first_name" value={firstName} onChange={setFirstName}
          errors={errors} required autoComplete="given-name" testId="admin-first-name" />
        <TextField label="Last name" field="admin.last_name" value={lastName} onChange={setLastName}
          errors={errors} required autoComplete="family-name" testId="admin-last-name" />
      </div>
      <TextField label="E-mail" field="admin.email" type="email" value={email} onChange={setEmail} errors={errors}
        required autoComplete="email" testId="admin-email" />
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="first-run-submit">
          {busy ? "Creating…" : "Create the practice"}
        </button>
      </div>
    </form>
  );
}
