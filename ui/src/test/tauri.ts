// The Tauri IPC as the tests drive it: `invoke` is a mock that each test answers per command.

import { vi } from "vitest";
import { invoke } from "@tauri-apps/api/core";
import { open } from "@tauri-apps/plugin-dialog";

export const mockInvoke = vi.mocked(invoke);

type Handler = (args: Record<string, unknown> | undefined) => unknown;

/** Answers each command with its handler (a value, or a function of the arguments). */
export function answer(handlers: Record<string, Handler | unknown>): void {
  mockInvoke.mockImplementation(async (command: string, args?: unknown) => {
    if (!(command in handlers)) throw { code: "test.unexpected_command", message: `unexpected ${command}` };
    const h = handlers[command];
    return typeof h === "function" ? await (h as Handler)(args as Record<string, unknown>) : h;
  });
}

/** The arguments of every call of `command`, in order. */
export function callsOf(command: string): Record<string, unknown>[] {
  return mockInvoke.mock.calls.filter(([c]) => c === command).map(([, a]) => (a ?? {}) as Record<string, unknown>);
}

/** A promise with its resolve and reject in hand, to answer a call when the test says. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What the system's file dialog answers next: the paths chosen, or null (closed). */
export function chooseInDialog(chosen: string | string[] | null): void {
  vi.mocked(open).mockResolvedValueOnce(chosen);
}
