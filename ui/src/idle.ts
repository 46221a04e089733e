// The idle lock: after `minutes` without a key press, a click or a mouse movement, `onIdle`
// runs (the shell signs out). 0 minutes never locks.

import { useEffect, useRef } from "react";

const EVENTS = ["keydown", "mousedown", "mousemove", "wheel", "touchstart", "pointerdown"] as const;

export function useIdleLock(minutes: number, onIdle: () => void, checkEveryMs = 5000): void {
  const onIdleRef = useRef(onIdle);
  onIdleRef.current = onIdle;
  useEffect(() => {
    if (!minutes || minutes <= 0) return;
    let last = Date.now();
    let fired = false;
    const touch = () => {
      last = Date.now();
    };
    for (const name of EVENTS) window.addEventListener(name, touch, { passive: true, capture: true });
    const timer = setInterval(() => {
      if (!fired && Date.now() - last >= minutes * 60_000) {
        fired = true;
        onIdleRef.current();
      }
    }, checkEveryMs);
    return () => {
      clearInterval(timer);
      for (const name of EVENTS) window.removeEventListener(name, touch, { capture: true });
    };
  }, [minutes, checkEveryMs]);
}
