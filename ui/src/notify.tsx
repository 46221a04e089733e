// Messages that are not about one field: the error banner (`error-banner`) and short notices.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { normaliseError } from "./api";

interface Notice {
  kind: "error" | "info";
  text: string;
  code?: string;
}

interface Notify {
  notice: Notice | null;
  showError: (error: unknown) => void;
  showInfo: (text: string) => void;
  /** Clears the notice, or only an error one (moving to another screen keeps a "saved"). */
  dismiss: (only?: "error") => void;
}

const INFO_MS = 6000;

const NotifyContext = createContext<Notify | null>(null);

export function NotifyProvider({ children }: { children: ReactNode }) {
  const [notice, setNotice] = useState<Notice | null>(null);
  const showError = useCallback((error: unknown) => {
    const e = normaliseError(error);
    setNotice({ kind: "error", text: e.message, code: e.code });
  }, []);
  const showInfo = useCallback((text: string) => setNotice({ kind: "info", text }), []);
  const dismiss = useCallback(
    (only?: "error") => setNotice((n) => (only && n?.kind !== only ? n : null)),
    [],
  );
  // Information fades by itself; an error stays until it is dismissed or the screen changes.
  useEffect(() => {
    if (notice?.kind !== "info") return;
    const timer = setTimeout(() => setNotice((n) => (n === notice ? null : n)), INFO_MS);
    return () => clearTimeout(timer);
  }, [notice]);
  const value = useMemo(
    () => ({ notice, showError, showInfo, dismiss }),
    [notice, showError, showInfo, dismiss],
  );
  return <NotifyContext.Provider value={value}>{children}</NotifyContext.Provider>;
}

export function useNotify(): Notify {
  const ctx = useContext(NotifyContext);
  if (!ctx) throw new Error("useNotify outside NotifyProvider");
  return ctx;
}

/** The banner of the current notice, if any. */
export function NoticeArea() {
  const { notice, dismiss } = useNotify();
  if (!notice) return null;
  if (notice.kind === "error") {
    return (
      <div className="banner banner-error" role="alert" data-testid="error-banner">
        <span className="banner-text">{notice.text}</span>
        {notice.code && <code className="banner-code">{notice.code}</code>}
        <button type="button" className="btn btn-ghost btn-small" onClick={() => dismiss()}>
          Dismiss
        </button>
      </div>
    );
  }
  return (
    <div className="banner banner-info" role="status">
      <span className="banner-text">{notice.text}</span>
      <button type="button" className="btn btn-ghost btn-small" onClick={() => dismiss()}>
        Dismiss
      </button>
    </div>
  );
}
