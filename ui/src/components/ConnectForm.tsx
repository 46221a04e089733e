// Connecting this computer's practice to ILS Central (`connect`): the first sync follows in the
// background.

import { useState, type FormEvent } from "react";
import * as api from "../api";
import type { SyncState } from "../types";
import { TextField } from "./TextField";
import { OtherErrors } from "./FieldErrors";
import { unclaimed } from "../fieldErrors";
import { useSubmit } from "../hooks";

const PATHS = ["server", "domain", "email", "password", "device_name", "code"];

export function ConnectForm({
  onConnected,
  onError,
}: {
  onConnected: (state: SyncState) => void;
  onError: (error: api.ApiError | null) => void;
}) {
  const [server, setServer] = useState("");
  const [domain, setDomain] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [deviceName, setDeviceName] = useState("Front desk");
  const [code, setCode] = useState("");
  const { busy, errors, run } = useSubmit(onError);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const state = await api.connect({
        server: server.trim(),
        domain: domain.trim(),
        email: email.trim(),
        password,
        device_name: deviceName.trim(),
        code: code.trim() || null,
      });
      onConnected(state);
    });
  };

  return (
    <form className="form" onSubmit={submit} data-testid="connect-form" noValidate>
      <OtherErrors errors={unclaimed(errors, PATHS)} />
      <TextField label="Server address" field="server" value={server} onChange={setServer} errors={errors}
        placeholder="https://ils.example.com" required autoComplete="url" testId="connect-server" />
      <TextField label="Practice domain" field="domain" value={domain} onChange={setDomain} errors={errors}
        placeholder="harley-street-optics" required testId="connect-domain" />
      <div className="row-2">
        <TextField label="E-mail" field="email" type="email" value={email} onChange={setEmail} errors={errors}
          required autoComplete="username" testId="connect-email" />
        <TextField label="Password" field="password" type="password" value={password} onChange={setPassword}
          errors={errors} required autoComplete="current-password" testId="connect-password" />
      </div>
      <div className="row-2">
        <TextField label="Name of this computer" field="device_name" value={deviceName} onChange={setDeviceName}
          errors={errors} required testId="connect-device" />
        <TextField label="Registration code (optional)" field="code" value={code} onChange={setCode}
          errors={errors} hint="From your administrator; approves this computer at once." testId="connect-code" />
      </div>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="connect-submit">
          {busy ? "Connecting…" : "Connect"}
        </button>
      </div>
    </form>
  );
}
