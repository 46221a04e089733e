// The practice's AI configuration (company administrators): ai_config / set_ai_config.

import { useEffect, useState, type FormEvent } from "react";
import * as api from "../../api";
import type { AiConfig, FieldError } from "../../types";
import { fieldErrorsOf, unclaimed } from "../../fieldErrors";
import { TextField } from "../../components/TextField";
import { FieldErrors, OtherErrors } from "../../components/FieldErrors";
import { ErrorBanner } from "../../components/ErrorBanner";
import { useNotify } from "../../notify";

const PATHS = [
  "ai_config.system_prompt",
  "ai_config.temperature",
  "ai_config.max_tokens",
  "ai_config.enabled_models",
  "ai_config.feature_flags",
];

export function AiConfigPanel() {
  const [config, setConfig] = useState<AiConfig | null>(null);
  const [version, setVersion] = useState(0);
  const [temperature, setTemperature] = useState("");
  const [maxTokens, setMaxTokens] = useState("");
  const [models, setModels] = useState("");
  const [newFlag, setNewFlag] = useState("");
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const { showInfo } = useNotify();

  useEffect(() => {
    api.aiConfig().then(
      (s) => {
        setConfig(s.config);
        setVersion(s.version);
        setTemperature(String(s.config.temperature));
        setMaxTokens(String(s.config.max_tokens));
        setModels(s.config.enabled_models.join(", "));
      },
      (e: unknown) => setFailure(api.normaliseError(e)),
    );
  }, []);

  if (!config) return <ErrorBanner error={failure} />;

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErrors([]);
    setFailure(null);
    const t = Number(temperature);
    const m = Number(maxTokens);
    const local: FieldError[] = [];
    if (temperature.trim() === "" || !Number.isFinite(t))
      local.push({ field: "ai_config.temperature", code: "input.invalid", message: "The temperature is a number, e.g. 0.2" });
    if (!/^\d+$/.test(maxTokens.trim()))
      local.push({ field: "ai_config.max_tokens", code: "input.invalid", message: "The token limit is a whole number, e.g. 1024" });
    if (local.length > 0) {
      setErrors(local);
      setBusy(false);
      return;
    }
    const next: AiConfig = {
      ...config,
      temperature: t,
      max_tokens: m,
      enabled_models: models.split(",").map((s) => s.trim()).filter((s) => s !== ""),
    };
    try {
      const v = await api.setAiConfig(next);
      setConfig(next);
      setVersion(v);
      showInfo(`AI configuration saved (version ${v}).`);
    } catch (err) {
      const error = api.normaliseError(err);
      const fields = fieldErrorsOf(error);
      setErrors(fields);
      if (fields.length === 0) setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  const flag = (name: string, on: boolean) =>
    setConfig({ ...config, feature_flags: { ...config.feature_flags, [name]: on } });
  const dropFlag = (name: string) => {
    const rest = { ...config.feature_flags };
    delete rest[name];
    setConfig({ ...config, feature_flags: rest });
  };

  return (
    <form className="form" onSubmit={save}>
      <p className="muted small">Version {version}</p>
      <ErrorBanner error={failure} />
      <OtherErrors errors={unclaimed(errors, PATHS)} />
      <TextField label="System prompt" field="ai_config.system_prompt" multiline value={config.system_prompt ?? ""}
        onChange={(v) => setConfig({ ...config, system_prompt: v.trim() === "" ? null : v })} errors={errors} />
      <div className="row-3">
        <TextField label="Temperature" field="ai_config.temperature" value={temperature} onChange={setTemperature}
          errors={errors} inputMode="decimal" />
        <TextField label="Maximum answer tokens" field="ai_config.max_tokens" value={maxTokens} onChange={setMaxTokens}
          errors={errors} inputMode="numeric" />
        <TextField label="Models allowed (comma-separated)" field="ai_config.enabled_models" value={models}
          onChange={setModels} errors={errors} hint="Empty: the platform's defaults" />
      </div>
      <fieldset className="group">
        <legend>Options</legend>
        <label className="check">
          <input type="checkbox" checked={config.knowledge_base_enabled}
            onChange={(e) => setConfig({ ...config, knowledge_base_enabled: e.target.checked })} />
          Answer from the knowledge base
        </label>
        <label className="check">
          <input type="checkbox" checked={config.redact_patient_data}
            onChange={(e) => setConfig({ ...config, redact_patient_data: e.target.checked })} />
          Replace patient identifiers before a question leaves this computer
        </label>
        <label className="check">
          <input type="checkbox" checked={config.prescription_capture}
            onChange={(e) => setConfig({ ...config, prescription_capture: e.target.checked })} />
          Allow reading paper prescriptions from photos (photos cannot be redacted)
        </label>
      </fieldset>
      <fieldset className="group">
        <legend>Feature flags</legend>
        {Object.entries(config.feature_flags).map(([name, on]) => (
          <div key={name} className="flag-row">
            <label className="check">
              <input type="checkbox" checked={on} onChange={(e) => flag(name, e.target.checked)} />
              <code>{name}</code>
            </label>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => dropFlag(name)}>
              Remove
            </button>
          </div>
        ))}
        <div className="inline-form">
          <label htmlFor="new-flag" className="sr-only">New flag name</label>
          <input id="new-flag" value={newFlag} onChange={(e) => setNewFlag(e.target.value)} placeholder="flag_name" />
          <button type="button" className="btn btn-small" disabled={newFlag.trim() === ""}
            onClick={() => { flag(newFlag.trim(), true); setNewFlag(""); }}>
            Add flag
          </button>
        </div>
        <FieldErrors errors={errors} field="ai_config.feature_flags" />
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Saving…" : "Save AI configuration"}
        </button>
      </div>
    </form>
  );
}
