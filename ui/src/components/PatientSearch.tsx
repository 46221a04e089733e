// Patient search as you type: by name prefix, and by customer number when the text looks like
// one (C-1042). Debounced; an older answer never replaces a newer one. Arrow keys move through
// the results, Enter opens one.

import { forwardRef, useEffect, useState, type KeyboardEvent } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import type { PatientRecord } from "../types";
import { date } from "../format";
import { markStart, started } from "../startup";

export const SEARCH_DELAY_MS = 120;

/** Letters and digits with a dash, or with at least one digit: what customer numbers look like. */
export function looksLikeCustomerNumber(text: string): boolean {
  return /^[A-Za-z0-9_./-]{1,32}$/.test(text) && (/\d/.test(text) || /[A-Za-z0-9]-[A-Za-z0-9]/.test(text));
}

/**
 * The patients for a search text. With several words, the first is sent as the name prefix and
 * every word must begin the first or the last name.
 */
export async function findPatients(text: string, limit = 50): Promise<PatientRecord[]> {
  const q = text.trim();
  if (q === "") return api.searchPatients({}, limit);
  const words = q.split(/\s+/);
  const byName = api.searchPatients({ name_prefix: words[0] }, limit);
  const byNumber = looksLikeCustomerNumber(q)
    ? api.searchPatients({ customer_number: q }, limit).catch(() => [] as PatientRecord[])
    : Promise.resolve([] as PatientRecord[]);
  const [names, numbers] = await Promise.all([
    // A text that is no name search (digits only are fine, control characters are not) finds
    // no names; the customer number may still find someone.
    byName.catch((e: unknown) => {
      if (looksLikeCustomerNumber(q)) return [] as PatientRecord[];
      throw e;
    }),
    byNumber,
  ]);
  const lower = words.map((w) => w.toLowerCase());
  const matchesAll = (p: PatientRecord) =>
    lower.every((w) => p.data.first_name.toLowerCase().startsWith(w) || p.data.last_name.toLowerCase().startsWith(w));
  const seen = new Set<string>();
  const out: PatientRecord[] = [];
  for (const p of [...numbers, ...names.filter((p) => words.length === 1 || matchesAll(p))]) {
    if (!seen.has(p.id)) {
      seen.add(p.id);
      out.push(p);
    }
  }
  return out;
}

let benchReported = false;

interface Props {
  onOpen: (patient: PatientRecord) => void;
  /** Bumped to reload (after a patient is added). */
  version?: number;
}

export const PatientSearch = forwardRef<HTMLInputElement, Props>(function PatientSearch({ onOpen, version = 0 }, ref) {
  markStart("search rendered");
  const [text, setText] = useState("");
  const [active, setActive] = useState(0);
  const { data, error, loading } = useLoad(
    `${version}\u0000${text}`,
    (key) => {
      markStart("patients asked");
      return findPatients(key.split("\u0000")[1]).then((found) => {
        markStart("patients answered");
        return found;
      });
    },
    SEARCH_DELAY_MS,
  );
  const results = data ?? [];

  useEffect(() => setActive(0), [data]);

  // The first answer on screen: the window has started. The first list with rows is what
  // `make bench-desktop` times (the command does nothing otherwise).
  useEffect(() => {
    if (data !== undefined || error) started();
  }, [data, error]);
  useEffect(() => {
    if (!benchReported && results.length > 0) {
      benchReported = true;
      void api.benchReady().catch(() => undefined);
    }
  }, [results.length]);

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (results.length === 0) return;
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setActive((i) => Math.min(i + 1, results.length - 1));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setActive((i) => Math.max(i - 1, 0));
    } else if (e.key === "Home" && e.ctrlKey) {
      setActive(0);
    } else if (e.key === "Enter") {
      e.preventDefault();
      // The list on screen may still be the answer to an earlier text (a fast typist, a
      // barcode scanner): open nobody until the answer to this text has come.
      if (loading) return;
      const chosen = results[Math.min(active, results.length - 1)];
      if (chosen) onOpen(chosen);
    }
  };

  const optionId = (i: number) => `patient-option-${i}`;
  return (
    <div className="patient-search">
      <label htmlFor="patient-search" className="sr-only">
        Find a patient
      </label>
      <input
        ref={ref}
        id="patient-search"
        type="search"
        className="search-input"
        placeholder="Find a patient by name or customer number  ( / )"
        autoComplete="off"
        spellCheck={false}
        role="combobox"
        aria-expanded={results.length > 0}
        aria-controls="patient-results"
        aria-autocomplete="list"
        aria-activedescendant={results.length > 0 ? optionId(active) : undefined}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        data-testid="patient-search"
      />
      <p className="muted small" role="status" aria-live="polite">
        {error
          ? error.message
          : loading
            ? "Searching…"
            : text.trim() === ""
              ? `${results.length} patients`
              : `${results.length} found`}
      </p>
      <ul id="patient-results" role="listbox" aria-label="Patients" className="result-list">
        {results.map((p, i) => (
          <li
            key={p.id}
            id={optionId(i)}
            role="option"
            aria-selected={i === active}
            className={`result-row${i === active ? " active" : ""}`}
            onClick={() => onOpen(p)}
            onMouseEnter={() => setActive(i)}
            data-testid="patient-row"
            data-patient-id={p.id}
          >
            <span className="result-name">
              {p.data.last_name}, {p.data.first_name}
            </span>
            <span className="result-dob">{date(p.data.date_of_birth)}</span>
            <span className="result-number">{p.data.customer_number}</span>
          </li>
        ))}
      </ul>
    </div>
  );
});
