// Small hooks shared by the screens: loading with stale answers discarded, debounced searches,
// polling.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, normaliseError } from "./api";
import { fieldErrorsOf } from "./fieldErrors";
import type { FieldError } from "./types";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` when `key` changes (after `delay` ms, if given) and whenever `reload` is called.
 * The load for the key the component first shows never waits: the delay lets a typist finish a
 * word, and nobody has typed yet. Only the answer to the latest request is kept: a slower, older
 * answer never replaces a newer one, so results cannot arrive out of order.
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
  // The first key, until another one comes (then `undefined`, which no key equals).
  const initial = useRef<string | null | undefined>(key);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const mine = ++latest.current;
    const first = key === initial.current && version === 0;
    if (!first) initial.current = undefined;
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
    if (delay <= 0 || first) {
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

export interface Submission {
  busy: boolean;
  /** The engine's field errors of the last try, each shown under its field. */
  errors: FieldError[];
  /** A refusal that names no field, for a banner (unless the form hands it on). */
  failure: ApiError | null;
  setFailure: (error: ApiError | null) => void;
  /** Runs a form's work: busy meanwhile; what the engine refuses is sorted into field errors or
   * a failure (handed to `onFailure` when given). */
  run: (work: () => Promise<void>) => Promise<void>;
}

/** A form's submit: the busy state, and the engine's refusal split by field, in one place. */
export function useSubmit(onFailure?: (error: ApiError | null) => void): Submission {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [failure, setFailure] = useState<ApiError | null>(null);
  const onFailureRef = useRef(onFailure);
  onFailureRef.current = onFailure;
  const fail = useCallback((error: ApiError | null) => {
    if (onFailureRef.current) onFailureRef.current(error);
    else setFailure(error);
  }, []);
  const run = useCallback(
    async (work: () => Promise<void>) => {
      setBusy(true);
      setErrors([]);
      fail(null);
      try {
        await work();
      } catch (err) {
        const error = normaliseError(err);
        const fields = fieldErrorsOf(error);
        setErrors(fields);
        if (fields.length === 0) fail(error);
      } finally {
        setBusy(false);
      }
    },
    [fail],
  );
  return { busy, errors, failure, setFailure, run };
}
