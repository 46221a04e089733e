import { afterEach, vi } from "vitest";
import { cleanup } from "@testing-library/react";

// The window talks to the engine only through these two modules; every test answers them.
vi.mock("@tauri-apps/api/core", () => {
  class Channel<T> {
    id = 0;
    onmessage: (message: T) => void = () => undefined;
  }
  return { invoke: vi.fn(), Channel };
});

vi.mock("@tauri-apps/api/webview", () => ({
  getCurrentWebview: () => ({ onDragDropEvent: async () => () => undefined }),
}));

// The system's file dialog: nothing chosen unless a test says otherwise (`chooseInDialog`).
vi.mock("@tauri-apps/plugin-dialog", () => ({ open: vi.fn(async () => null) }));

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
  localStorage.clear();
});
