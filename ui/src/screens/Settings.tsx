// Settings: the AI configuration, users, the idle lock, the theme, and where the data is.

import { useState, type FormEvent } from "react";
import * as api from "../api";
import { useSession } from "../session";
import { useNotify } from "../notify";
import { allows } from "../permissions";
import { readTheme, saveTheme, type ThemeChoice } from "../theme";
import { AiConfigPanel } from "./settings/AiConfigPanel";
import { UsersPanel } from "./settings/UsersPanel";
import { ErrorBanner } from "../components/ErrorBanner";

export function Settings() {
  const { info, user } = useSession();
  return (
    <section className="screen" aria-labelledby="settings-title">
      <header className="screen-header">
        <h1 id="settings-title">Settings</h1>
      </header>
      <section className="panel" aria-labelledby="appearance-title">
        <h2 id="appearance-title">Appearance</h2>
        <ThemePicker />
      </section>
      <section className="panel" aria-labelledby="lock-title">
        <h2 id="lock-title">Idle lock</h2>
        <IdleLock current={info.idle_lock_minutes} />
      </section>
      {allows(user.abilities, "company:update") && (
        <section className="panel" aria-labelledby="ai-title">
          <h2 id="ai-title">AI configuration</h2>
          <AiConfigPanel />
        </section>
      )}
      <section className="panel" aria-labelledby="users-title">
        <h2 id="users-title">Users on this computer</h2>
        <UsersPanel />
      </section>
      <section className="panel" aria-labelledby="about-title">
        <h2 id="about-title">Data and about</h2>
        <dl className="details">
          <div><dt>Version</dt><dd>ILS Desktop {info.version}</dd></div>
          <div><dt>Practice</dt><dd>{info.engine.practice?.name} ({info.engine.practice?.time_zone})</dd></div>
          <div><dt>Database</dt><dd><code>{info.engine.database}</code></dd></div>
          <div><dt>Schema version</dt><dd>{info.engine.schema_version}</dd></div>
          <div><dt>Device id</dt><dd><code>{info.engine.device_id}</code></dd></div>
          <div><dt>Drawing</dt><dd>{info.rendering}</dd></div>
          <div><dt>Embedding model</dt><dd><code>{info.model_dir}</code> — {info.model_present ? "present" : "missing: documents cannot be added or searched by meaning"}</dd></div>
        </dl>
      </section>
    </section>
  );
}

function ThemePicker() {
  const [theme, setTheme] = useState<ThemeChoice>(readTheme);
  const choose = (t: ThemeChoice) => {
    setTheme(t);
    saveTheme(t);
  };
  return (
    <fieldset className="segmented">
      <legend>Theme</legend>
      {(["system", "light", "dark"] as ThemeChoice[]).map((t) => (
        <label key={t} className={theme === t ? "selected" : undefined}>
          <input type="radio" name="theme" value={t} checked={theme === t} onChange={() => choose(t)} data-testid={`theme-${t}`} />
          {t === "system" ? "As the system" : t === "light" ? "Light" : "Dark"}
        </label>
      ))}
    </fieldset>
  );
}

function IdleLock({ current }: { current: number }) {
  const { refreshInfo } = useSession();
  const { showInfo } = useNotify();
  const [minutes, setMinutes] = useState(String(current));
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setFailure(null);
    const n = Number(minutes);
    if (!/^\d+$/.test(minutes.trim()) || !Number.isInteger(n)) {
      setFailure(new api.ApiError("settings.idle_lock_out_of_range", "The idle lock is a whole number of minutes, 0 (never) to 1440"));
      return;
    }
    try {
      const saved = await api.setIdleLock(n);
      await refreshInfo();
      showInfo(saved === 0 ? "The window no longer locks itself." : `The window locks after ${saved} minutes without activity.`);
    } catch (err) {
      setFailure(api.normaliseError(err));
    }
  };
  return (
    <form className="inline-form" onSubmit={save}>
      <label htmlFor="idle-minutes">Sign out after</label>
      <input id="idle-minutes" className="input-narrow" inputMode="numeric" value={minutes} onChange={(e) => setMinutes(e.target.value)} />
      <span>minutes without activity (0 = never)</span>
      <button type="submit" className="btn">Save</button>
      <ErrorBanner error={failure} />
    </form>
  );
}
