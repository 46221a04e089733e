import { afterEach, describe, expect, it, vi } from "vitest";
import { act, renderHook } from "@testing-library/react";
import { useLoad } from "../hooks";

describe("useLoad with a delay", () => {
  afterEach(() => vi.useRealTimers());

  it("loads the first key at once, and waits the delay after each change", async () => {
    vi.useFakeTimers();
    const load = vi.fn(async (key: string) => `answer to ${key}`);
    const { result, rerender } = renderHook(({ key }) => useLoad(key, load, 120), {
      initialProps: { key: "" },
    });
    // The window's first list: asked for at once, nobody has typed.
    expect(load).toHaveBeenCalledTimes(1);
    expect(load).toHaveBeenLastCalledWith("");
    await act(async () => undefined);
    expect(result.current.data).toBe("answer to ");

    // Typing: nothing is asked for until the typist pauses.
    rerender({ key: "a" });
    rerender({ key: "ab" });
    act(() => vi.advanceTimersByTime(119));
    expect(load).toHaveBeenCalledTimes(1);
    await act(async () => vi.advanceTimersByTime(1));
    expect(load).toHaveBeenCalledTimes(2);
    expect(load).toHaveBeenLastCalledWith("ab");
    expect(result.current.data).toBe("answer to ab");

    // Back to the first key by typing: that waits too.
    rerender({ key: "" });
    expect(load).toHaveBeenCalledTimes(2);
    await act(async () => vi.advanceTimersByTime(120));
    expect(load).toHaveBeenCalledTimes(3);
  });

  it("waits for the first key typed when it began with none", async () => {
    vi.useFakeTimers();
    const load = vi.fn(async (key: string) => key);
    const { rerender } = renderHook(({ key }: { key: string | null }) => useLoad(key, load, 250), {
      initialProps: { key: null as string | null },
    });
    expect(load).not.toHaveBeenCalled();
    rerender({ key: "k" });
    expect(load).not.toHaveBeenCalled();
    await act(async () => vi.advanceTimersByTime(250));
    expect(load).toHaveBeenCalledTimes(1);
  });
});
