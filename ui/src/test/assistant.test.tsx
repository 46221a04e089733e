import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Assistant } from "../screens/Assistant";
import { SyncProvider } from "../sync";
import { renderScreen } from "./render";
import { answer, callsOf, deferred } from "./tauri";
import type { Answer } from "../types";

const OLD = { id: "c-old", title: "Progressive fitting", created_by: "u1", created_at: "2026-12-01T10:00:00Z" };

function reply(conversation: string): Answer {
  return {
    conversation,
    text: "Fit at pupil centre.",
    citations: [],
    answerability: { verdict: "answered" },
    cited: [],
    outcome: "answered",
    model: "test-model",
    usage: null,
    latency_ms: 1,
  } as unknown as Answer;
}

describe("Assistant", () => {
  it("an answer still streaming neither runs beside a new question nor pulls the screen back to its conversation", async () => {
    const user = userEvent.setup();
    const pending = deferred<Answer>();
    answer({
      sync_state: { server: null, domain: null, device: "d", cursor: 0, last_success: null, last_error: null, pending: 0, rejected: 0, conflicts: 0, online: null, retry_at: null, session_kept: null },
      conversations: [OLD],
      conversation: { conversation: OLD, messages: [{ id: "m1", conversation_id: OLD.id, role: "user", content: "How high for progressives?", created_at: OLD.created_at }] },
      ask: () => pending.promise,
    });
    renderScreen(
      <SyncProvider intervalMs={60_000}>
        <Assistant />
      </SyncProvider>,
    );
    await user.type(screen.getByTestId("ask-input"), "A new question{Enter}");
    await waitFor(() => expect(callsOf("ask")).toHaveLength(1));

    // The person opens an older conversation while the answer is still coming, and asks again.
    await user.click(await screen.findByText("Progressive fitting"));
    await screen.findByText("How high for progressives?");
    await user.type(screen.getByTestId("ask-input"), "Another{Enter}");
    expect(callsOf("ask")).toHaveLength(1);

    // The first answer ends: the screen stays on the conversation the person opened.
    pending.resolve(reply("c-new"));
    await waitFor(() => expect(callsOf("conversations").length).toBeGreaterThan(1));
    expect(screen.getByText("How high for progressives?")).toBeTruthy();
    expect(screen.getByRole("button", { name: /Progressive fitting/ }).getAttribute("aria-current")).toBe("true");
  });

  it("stops an answer being written, keeping what was shown", async () => {
    const user = userEvent.setup();
    const pending = deferred<Answer>();
    answer({
      sync_state: { server: null, domain: null, device: "d", cursor: 0, last_success: null, last_error: null, pending: 0, rejected: 0, conflicts: 0, online: null, retry_at: null, session_kept: null },
      conversations: [],
      ask: () => pending.promise,
      stop_answer: () => {
        pending.resolve({ ...reply("c-new"), text: "Fit at pupil", outcome: "cancelled" } as Answer);
        return true;
      },
    });
    renderScreen(
      <SyncProvider intervalMs={60_000}>
        <Assistant />
      </SyncProvider>,
    );
    await user.type(screen.getByTestId("ask-input"), "How high?{Enter}");
    expect(screen.queryByTestId("ask-send")).toBeNull();
    await user.click(await screen.findByTestId("ask-stop"));
    expect(callsOf("stop_answer")).toHaveLength(1);
    await screen.findByText("The answer was stopped.");
    expect(screen.getByTestId("answer").textContent).toBe("Fit at pupil");
    expect(screen.queryByTestId("ask-stop")).toBeNull();
    expect(screen.getByTestId("ask-send")).toBeTruthy();
  });

  it("a past answer opens the passages it cited", async () => {
    const user = userEvent.setup();
    const cited = { number: 1, chunk_id: "42", document: "Sports glasses", excerpt: "Fit polycarbonate or Trivex lenses." };
    answer({
      sync_state: { server: null, domain: null, device: "d", cursor: 0, last_success: null, last_error: null, pending: 0, rejected: 0, conflicts: 0, online: null, retry_at: null, session_kept: null },
      conversations: [OLD],
      conversation: {
        conversation: OLD,
        messages: [
          { role: "user", content: "Which lenses for sports?", citations: null, model: null, prompt_tokens: null, output_tokens: null, latency_ms: null },
          { role: "assistant", content: "Polycarbonate [1].", citations: { passages: ["42"], shown: [cited], outcome: "cancelled" }, model: "gpt-test", prompt_tokens: 1, output_tokens: 1, latency_ms: 1 },
        ],
      },
    });
    renderScreen(
      <SyncProvider intervalMs={60_000}>
        <Assistant />
      </SyncProvider>,
    );
    await user.click(await screen.findByText("Progressive fitting"));
    await user.click(await screen.findByTestId("citation"));
    expect((await screen.findByTestId("source-panel")).textContent).toContain("Fit polycarbonate or Trivex lenses.");
    expect(screen.getByText("The answer was stopped.")).toBeTruthy();
  });
});
