// The steps of the window's start, marked once each (`performance.mark`): `make bench-desktop`
// reads them with the time to the first patient list (api.benchReady). Cheap enough to leave on.

const marked = new Set<string>();

/** Marks that the start reached `step`, the first time only. */
export function markStart(step: string): void {
  if (marked.has(step)) return;
  marked.add(step);
  performance.mark(step);
}
