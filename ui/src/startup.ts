// The window's start: its steps, marked once each (`performance.mark`), which
// `make bench-desktop` reads with the time to the first patient list (api.benchReady); and the
// work that waits until the window has started (its first patient list on screen).

const marked = new Set<string>();
const waiting: (() => void)[] = [];
let isStarted = false;

/** Marks that the start reached `step`, the first time only. */
export function markStart(step: string): void {
  if (marked.has(step)) return;
  marked.add(step);
  performance.mark(step);
}

/** Runs `task` soon after the window has started, or soon if it already has. */
export function whenStarted(task: () => void): void {
  if (isStarted) setTimeout(task, 0);
  else waiting.push(task);
}

/** The window has started: its first patient list (or why there is none) is on screen. */
export function started(): void {
  if (isStarted) return;
  isStarted = true;
  markStart("patients shown");
  for (const task of waiting.splice(0)) setTimeout(task, 0);
}
