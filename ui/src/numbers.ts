// Numbers as people type them into a form, for the engine to read.

const NUMBER = /^[+-]?(\d+([.,]\d*)?|[.,]\d+)$/;

/**
 * A number cell for the engine: undefined when empty (the field is left out), a number when the
 * text reads as one (`-1.25`, `+0,75`, `−2`), otherwise the text itself, so that the engine names
 * the problem rather than the window hiding it.
 */
export function numberOrRaw(text: string): number | string | undefined {
  const t = text.trim().replace(/\u2212/g, "-");
  if (t === "") return undefined;
  if (!NUMBER.test(t)) return text.trim();
  return parseFloat(t.replace(",", "."));
}

/** Text for the engine: undefined when empty, trimmed otherwise. */
export function textOrUndefined(text: string): string | undefined {
  const t = text.trim();
  return t === "" ? undefined : t;
}

/** Copies `entries` into an object, leaving out the undefined ones. */
export function compact(entries: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out;
}

/** A number shown in a cell: `31.5`, or empty. */
export function cell(value: number | null | undefined): string {
  return value === null || value === undefined ? "" : String(value);
}
