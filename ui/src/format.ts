// How values are shown: dioptres as written on a prescription, dates in the reader's locale,
// engine names (snake_case) as words.

import type { EyeRx, RxData } from "./types";

const MINUS = "\u2212";

/** Signed, two decimals, with a true minus sign: `+1.25`, `−0.50`, `0.00`. */
export function dioptres(value: number | null | undefined): string {
  if (value === null || value === undefined) return "";
  const hundredths = Math.round(value * 100);
  const sign = hundredths > 0 ? "+" : hundredths < 0 ? MINUS : "";
  return `${sign}${(Math.abs(hundredths) / 100).toFixed(2)}`;
}

export function millimetres(value: number | null | undefined): string {
  if (value === null || value === undefined) return "";
  return `${value.toFixed(1)} mm`;
}

/** One eye as optometrists write it: `−1.25 / −0.50 × 180 Add +2.00`, or `−1.25 DS`. */
export function eyeSummary(eye: EyeRx): string {
  const parts = [dioptres(eye.sphere)];
  if (eye.cylinder !== null && eye.cylinder !== 0) {
    parts.push(`/ ${dioptres(eye.cylinder)}`);
    if (eye.axis !== null) parts.push(`\u00d7 ${eye.axis}`);
  } else {
    parts.push("DS");
  }
  if (eye.add !== null) parts.push(`Add ${dioptres(eye.add)}`);
  return parts.join(" ");
}

export function rxSummary(rx: RxData): string {
  return `R ${eyeSummary(rx.right)}  L ${eyeSummary(rx.left)}`;
}

/** An engine name as words: `in_production` → `In production`. */
export function humanise(name: string): string {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// Formatters made once: `toLocaleDateString` with options builds a new one (loading locale data)
// at every call, which a list of hundreds of rows pays for hundreds of times.
const formats = new Map<string, Intl.DateTimeFormat>();
function formatter(name: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let made = formats.get(name);
  if (!made) {
    made = new Intl.DateTimeFormat(undefined, options);
    formats.set(name, made);
  }
  return made;
}

/** A calendar date (`YYYY-MM-DD`) in the reader's locale, without time-zone shifts. */
export function date(value: string | null | undefined): string {
  if (!value) return "";
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return value;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return formatter("date", { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" }).format(d);
}

/** A moment (RFC 3339) in the reader's locale and time zone. */
export function dateTime(value: string | null | undefined): string {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return formatter("dateTime", { dateStyle: "medium", timeStyle: "short" }).format(d);
}

export function time(value: string | Date | null | undefined): string {
  if (!value) return "";
  const d = typeof value === "string" ? new Date(value) : value;
  if (Number.isNaN(d.getTime())) return "";
  return formatter("time", { hour: "2-digit", minute: "2-digit" }).format(d);
}

/** When a hybrid logical clock stamp was made (its first part is the wall time in ms, hex). */
export function hlcTime(stamp: string): Date | null {
  const wall = stamp.split("-")[0];
  if (!wall || !/^[0-9a-f]{12}$/i.test(wall)) return null;
  return new Date(parseInt(wall, 16));
}

/** Today in the practice's time zone (the engine's "today"), as `YYYY-MM-DD`. */
export function todayIn(timeZone: string | null | undefined, now: Date = new Date()): string {
  const make = (tz?: string) => {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(now);
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
    return `${get("year")}-${get("month")}-${get("day")}`;
  };
  try {
    return make(timeZone ?? undefined);
  } catch {
    return make();
  }
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export function fullName(p: { first_name: string; last_name: string }): string {
  return `${p.first_name} ${p.last_name}`.trim();
}
