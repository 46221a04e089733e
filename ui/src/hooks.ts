// Small hooks shared by the screens: loading with stale answers discarded, debounced searches,
// polling.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, normaliseError } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` when `key` changes (after `delay` ms, if given) and whenever `reload` is called.
 * Only the answer to the latest request is kept: a slower, older answer never replaces a newer
 * one, so results cannot arrive out of order.
 */
export function useLoad<T>(
  key: string | null,
  load: (key: string) => Promise<T>,
  delay = 0,
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(key !== null);
  const [version, setVersion] = useState(0);
  const latest = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const mine = ++latest.current;
    if (key === null) {
      setLoading(false);
      return;
    }
    setLoading(true);
    const start = () => {
      loadRef.current(key).then(
        (value) => {
          if (latest.current !== mine) return;
          setData(value);
          setError(null);
          setLoading(false);
        },
        (e: unknown) => {
          if (latest.current !== mine) return;
          setError(normaliseError(e));
          setLoading(false);
        },
      );
    };
    if (delay <= 0) {
      start();
      return;
    }
    const timer = setTimeout(start, delay);
    return () => clearTimeout(timer);
  }, [key, delay, version]);

  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { data, error, loading, reload };
}

/** Calls `tick` every `ms` while `enabled`, never two at once; the first call is immediate. */
export function usePoll(tick: () => Promise<unknown>, ms: number, enabled = true): void {
  const tickRef = useRef(tick);
  tickRef.current = tick;
  useEffect(() => {
    if (!enabled) return;
    let running = false;
    let stopped = false;
    const run = () => {
      if (running || stopped) return;
      running = true;
      tickRef.current()
        .catch(() => undefined)
        .finally(() => {
          running = false;
        });
    };
    run();
    const timer = setInterval(run, ms);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [ms, enabled]);
}

/** A value that follows `value` once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
