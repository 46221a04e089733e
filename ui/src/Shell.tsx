// The signed-in window: top bar (practice, sync, user), left navigation, the current screen.
// Keyboard: Alt+1…Alt+7 open the screens, Alt+8 the last patient opened, "/" the patient search.

import { Suspense, useCallback, useEffect, useLayoutEffect, useMemo, useState } from "react";
import type { AppInfo } from "./types";
import { SessionContext, type Session, type SessionUser } from "./session";
import { NAV, NavigateContext, navOf, type Route } from "./route";
import { NoticeArea, useNotify } from "./notify";
import { SyncProvider } from "./sync";
import { SyncIndicator } from "./components/SyncIndicator";
import { useIdleLock } from "./idle";
import { humanise } from "./format";
import { Patients } from "./screens/Patients";
import { markStart, whenStarted } from "./startup";
import { ScreenBoundary } from "./components/ScreenBoundary";
import { lazyScreen } from "./lazyScreen";

// The patient list comes with the shell; every other screen is its own script, read when first
// opened or, sooner, once the window has started (`preloadScreens`), so that the first list is
// not kept waiting while the engine reads code it does not need yet.
const screens = {
  patientView: () => import("./screens/PatientView"),
  prescriptionForm: () => import("./screens/PrescriptionForm"),
  orders: () => import("./screens/Orders"),
  knowledgeBase: () => import("./screens/KnowledgeBase"),
  assistant: () => import("./screens/Assistant"),
  sync: () => import("./screens/Sync"),
  activity: () => import("./screens/Activity"),
  settings: () => import("./screens/Settings"),
};
const PatientView = lazyScreen(() => screens.patientView().then((m) => m.PatientView));
const PrescriptionForm = lazyScreen(() => screens.prescriptionForm().then((m) => m.PrescriptionForm));
const Orders = lazyScreen(() => screens.orders().then((m) => m.Orders));
const KnowledgeBase = lazyScreen(() => screens.knowledgeBase().then((m) => m.KnowledgeBase));
const Assistant = lazyScreen(() => screens.assistant().then((m) => m.Assistant));
const Sync = lazyScreen(() => screens.sync().then((m) => m.Sync));
const Activity = lazyScreen(() => screens.activity().then((m) => m.Activity));
const Settings = lazyScreen(() => screens.settings().then((m) => m.Settings));

/** Reads every screen's script in the background. */
function preloadScreens(): void {
  for (const load of Object.values(screens)) void load().catch(() => undefined);
}

interface Props {
  info: AppInfo;
  user: SessionUser;
  refreshInfo: () => Promise<void>;
  onSignOut: (reason?: string) => void;
}

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export function Shell({ info, user, refreshInfo, onSignOut }: Props) {
  markStart("shell rendered");
  useLayoutEffect(() => {
    markStart("shell in the DOM");
    requestAnimationFrame(() => {
      markStart("shell frame begins");
      setTimeout(() => markStart("shell frame drawn"), 0);
    });
  }, []);
  useEffect(() => {
    markStart("shell effects");
    whenStarted(preloadScreens);
  }, []);
  const [route, setRoute] = useState<Route>({ name: "patients" });
  const [lastPatient, setLastPatient] = useState<string | null>(null);
  const [searchFocus, setSearchFocus] = useState(0);
  const { dismiss } = useNotify();

  const navigate = useCallback(
    (next: Route) => {
      dismiss("error");
      if (next.name === "patient") setLastPatient(next.id);
      setRoute(next);
    },
    [dismiss],
  );

  const lock = useCallback(() => onSignOut("Signed out after a time without activity."), [onSignOut]);
  useIdleLock(info.idle_lock_minutes, lock);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey && !e.ctrlKey && !e.metaKey && /^Digit[1-8]$/.test(e.code)) {
        // Not while a dialog is open: leaving would throw away what is being typed there.
        if (document.querySelector('[role="dialog"]')) return;
        const n = Number(e.code.slice(5));
        e.preventDefault();
        if (n <= NAV.length) navigate({ name: NAV[n - 1].name } as Route);
        else if (lastPatient) navigate({ name: "patient", id: lastPatient });
        return;
      }
      if (e.key === "/" && !e.altKey && !e.ctrlKey && !e.metaKey && !isTyping(e.target)) {
        if (document.querySelector('[role="dialog"]')) return;
        e.preventDefault();
        setRoute({ name: "patients" });
        setSearchFocus((n) => n + 1);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [navigate, lastPatient]);

  const session: Session = useMemo(
    () => ({ info, user, refreshInfo, signOut: () => onSignOut() }),
    [info, user, refreshInfo, onSignOut],
  );
  const current = navOf(route);

  return (
    <SessionContext.Provider value={session}>
      <NavigateContext.Provider value={navigate}>
        <SyncProvider>
          <div className="app">
            <a className="skip-link" href="#main">
              Skip to content
            </a>
            <header className="topbar">
              <div className="brand">
                <span className="brand-mark" aria-hidden="true">◉</span>
                <span className="brand-name">{info.engine.practice?.name ?? "ILS Desktop"}</span>
              </div>
              <div className="topbar-right">
                <SyncIndicator onOpen={() => navigate({ name: "sync" })} />
                <span className="signed-in" data-testid="signed-in-user" title={user.email}>
                  {user.name}
                  {user.role && <span className="role-tag">{humanise(user.role)}</span>}
                </span>
                <button type="button" className="btn btn-ghost btn-small" onClick={() => onSignOut()} data-testid="sign-out">
                  Sign out
                </button>
              </div>
            </header>
            <nav className="sidebar" aria-label="Screens">
              <ul>
                {NAV.map((item, i) => (
                  <li key={item.name}>
                    <button
                      type="button"
                      className={`nav-item${current === item.name ? " active" : ""}`}
                      aria-current={current === item.name ? "page" : undefined}
                      data-testid={`nav-${item.name}`}
                      onClick={() => navigate({ name: item.name } as Route)}
                    >
                      <span>{item.label}</span>
                      <kbd aria-label={`Alt ${i + 1}`}>Alt+{i + 1}</kbd>
                    </button>
                  </li>
                ))}
                {lastPatient && (
                  <li>
                    <button
                      type="button"
                      className={`nav-item nav-sub${route.name === "patient" ? " active" : ""}`}
                      onClick={() => navigate({ name: "patient", id: lastPatient })}
                    >
                      <span>Last patient</span>
                      <kbd aria-label="Alt 8">Alt+8</kbd>
                    </button>
                  </li>
                )}
              </ul>
              <p className="sidebar-hint muted">
                Press <kbd>/</kbd> to find a patient
              </p>
            </nav>
            <main id="main" className="main" tabIndex={-1}>
              <NoticeArea />
              <ScreenBoundary place={JSON.stringify(route)}>
                <Suspense
                  fallback={
                    <p className="muted" aria-busy="true">
                      Opening…
                    </p>
                  }
                >
                  <Screen route={route} searchFocus={searchFocus} />
                </Suspense>
              </ScreenBoundary>
            </main>
          </div>
        </SyncProvider>
      </NavigateContext.Provider>
    </SessionContext.Provider>
  );
}

function Screen({ route, searchFocus }: { route: Route; searchFocus: number }) {
  switch (route.name) {
    case "patients":
      return <Patients focusToken={searchFocus} />;
    case "patient":
      return <PatientView key={route.id} id={route.id} />;
    case "rx-new":
      return <PrescriptionForm patientId={route.patientId} />;
    case "orders":
      return <Orders openOrderId={route.orderId} />;
    case "kb":
      return <KnowledgeBase />;
    case "assistant":
      return <Assistant />;
    case "sync":
      return <Sync />;
    case "activity":
      return <Activity entityId={route.entityId} />;
    case "settings":
      return <Settings />;
  }
}
