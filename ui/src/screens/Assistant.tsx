// The assistant: conversations, a question box, the answer streamed (passages first, then the
// text as it is written), citations that open the passage they cite.

import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import { useSync } from "../sync";
import type { AnswerOutcome, Answerability, Citation, Message } from "../types";
import { dateTime } from "../format";
import { Markdown } from "../components/Markdown";
import { ErrorBanner } from "../components/ErrorBanner";

interface Turn {
  key: number;
  question: string;
  citations: Citation[];
  answerability: Answerability | null;
  text: string;
  outcome: AnswerOutcome | null;
  model: string | null;
  pending: boolean;
  error: api.ApiError | null;
}

/** Whether an answer came from the documents alone, without a model. */
export function passagesOnly(outcome: AnswerOutcome | null): boolean {
  return outcome === "offline" || outcome === "unreachable";
}

const OUTCOME_NOTE: Partial<Record<AnswerOutcome, string>> = {
  truncated: "The answer stopped at the length limit.",
  cut: "The answer was cut off midway; what came is kept.",
  cancelled: "The answer was stopped.",
  unreachable: "No model could be reached.",
};

export function Assistant() {
  const convs = useLoad("conversations", api.conversations);
  const { state: sync } = useSync();
  const [current, setCurrent] = useState<string | null>(null);
  const [history, setHistory] = useState<Message[]>([]);
  const [historyError, setHistoryError] = useState<api.ApiError | null>(null);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [question, setQuestion] = useState("");
  const [offline, setOffline] = useState(false);
  const [offlineChosen, setOfflineChosen] = useState(false);
  const [cited, setCited] = useState<Citation | null>(null);
  const nextKey = useRef(1);
  const asking = turns.some((t) => t.pending);
  // An answer still streaming after the person opened another conversation: it must neither
  // run beside a new question nor pull the screen back to its own conversation.
  const inFlight = useRef(false);
  // Shown as a Stop button wherever the person is, until the answer ends.
  const [streaming, setStreaming] = useState(false);
  const view = useRef(0);
  const end = useRef<HTMLDivElement>(null);

  // Without ILS Central in reach, the network is probably gone: answer from the documents
  // unless the person chooses otherwise.
  useEffect(() => {
    if (!offlineChosen) setOffline(sync?.online === false);
  }, [sync?.online, offlineChosen]);

  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "end" });
  }, [turns]);

  const open = async (id: string | null) => {
    view.current++;
    setCurrent(id);
    setTurns([]);
    setCited(null);
    setHistory([]);
    setHistoryError(null);
    if (!id) return;
    try {
      setHistory((await api.conversation(id)).messages);
    } catch (e) {
      setHistoryError(api.normaliseError(e));
    }
  };

  const update = (key: number, f: (t: Turn) => Turn) => setTurns((ts) => ts.map((t) => (t.key === key ? f(t) : t)));

  const send = async () => {
    const q = question.trim();
    if (q === "" || asking || inFlight.current) return;
    inFlight.current = true;
    setStreaming(true);
    const mine = view.current;
    const key = nextKey.current++;
    setTurns((ts) => [
      ...ts,
      { key, question: q, citations: [], answerability: null, text: "", outcome: null, model: null, pending: true, error: null },
    ]);
    setQuestion("");
    try {
      const answer = await api.ask(q, current, offline, (event) => {
        if (event.event === "passages") {
          update(key, (t) => ({ ...t, citations: event.citations, answerability: event.answerability }));
        } else if (event.event === "delta") {
          update(key, (t) => ({ ...t, text: t.text + event.text }));
        }
      });
      update(key, (t) => ({
        ...t,
        text: answer.text,
        citations: answer.citations,
        answerability: answer.answerability,
        outcome: answer.outcome,
        model: answer.model,
        pending: false,
      }));
      if (current === null && view.current === mine) setCurrent(answer.conversation);
      convs.reload();
    } catch (e) {
      update(key, (t) => ({ ...t, pending: false, error: api.normaliseError(e) }));
    } finally {
      inFlight.current = false;
      setStreaming(false);
    }
  };

  // What was shown stays, saved as a stopped answer; the engine says so in the outcome.
  const stop = async () => {
    try {
      await api.stopAnswer();
    } catch (e) {
      setHistoryError(api.normaliseError(e));
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const last = turns[turns.length - 1];
  const showOffline = last?.outcome ? passagesOnly(last.outcome) : offline;

  return (
    <section className="screen screen-wide assistant" aria-labelledby="assistant-title">
      <aside className="conversations" aria-label="Conversations">
        <button type="button" className="btn btn-primary btn-block" onClick={() => void open(null)}>
          New conversation
        </button>
        <ErrorBanner error={convs.error} />
        <ul className="conversation-list">
          {(convs.data ?? []).map((c) => (
            <li key={c.id}>
              <button type="button" className={`conversation-item${c.id === current ? " active" : ""}`}
                aria-current={c.id === current ? "true" : undefined} onClick={() => void open(c.id)}>
                <span className="truncate">{c.title}</span>
                <span className="muted small">{dateTime(c.created_at)}</span>
              </button>
            </li>
          ))}
        </ul>
      </aside>

      <div className="chat">
        <h1 id="assistant-title" className="sr-only">Assistant</h1>
        {showOffline && (
          <div className="banner banner-warning" role="status" data-testid="assistant-offline">
            Offline: showing retrieved passages only
          </div>
        )}
        <div className="chat-log" aria-live="polite">
          <ErrorBanner error={historyError} />
          {history.map((m, i) => <HistoryMessage key={i} message={m} onCite={setCited} />)}
          {turns.map((t) => (
            <TurnView key={t.key} turn={t} onCite={setCited} />
          ))}
          {history.length === 0 && turns.length === 0 && (
            <p className="muted chat-empty">
              Ask about the practice's own documents — protocols, product sheets, procedures. Answers cite the passages they use.
            </p>
          )}
          <div ref={end} />
        </div>
        <form className="ask-form" onSubmit={(e) => { e.preventDefault(); void send(); }}>
          <label htmlFor="ask-input" className="sr-only">Your question</label>
          <textarea id="ask-input" rows={2} value={question} onChange={(e) => setQuestion(e.target.value)} onKeyDown={onKeyDown}
            placeholder="Ask a question (Enter sends, Shift+Enter for a new line)" data-testid="ask-input" />
          <div className="ask-actions">
            <label className="check small">
              <input type="checkbox" checked={offline} onChange={(e) => { setOffline(e.target.checked); setOfflineChosen(true); }} />
              Documents only (no model)
            </label>
            {streaming ? (
              <button type="button" className="btn" onClick={() => void stop()} data-testid="ask-stop">
                Stop
              </button>
            ) : (
              <button type="submit" className="btn btn-primary" disabled={question.trim() === ""} data-testid="ask-send">
                Ask
              </button>
            )}
          </div>
        </form>
      </div>

      {cited && (
        <aside className="source-panel" aria-labelledby="source-title" data-testid="source-panel">
          <header className="panel-header">
            <h2 id="source-title">Source [{cited.number}]</h2>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setCited(null)} aria-label="Close the source">
              ✕
            </button>
          </header>
          <p className="source-document">{cited.document}</p>
          <blockquote className="source-excerpt">{cited.excerpt}</blockquote>
        </aside>
      )}
    </section>
  );
}

function AnswerabilityNote({ a }: { a: Answerability | null }) {
  if (!a || a.verdict === "answered") return null;
  return (
    <p className="notice small">
      {a.verdict === "unknown_identifiers"
        ? `The practice's documents never mention ${a.identifiers.join(", ")}.`
        : "Nothing in the practice's documents is close to this question."}
    </p>
  );
}

function TurnView({ turn, onCite }: { turn: Turn; onCite: (c: Citation) => void }) {
  const numbers = useMemo(() => new Set(turn.citations.map((c) => c.number)), [turn.citations]);
  const cite = (n: number) => {
    const c = turn.citations.find((x) => x.number === n);
    if (c) onCite(c);
  };
  return (
    <div className="turn">
      <div className="bubble bubble-user">{turn.question}</div>
      <div className="bubble bubble-assistant">
        <AnswerabilityNote a={turn.answerability} />
        <Sources citations={turn.citations} onCite={onCite} />
        <div data-testid="answer" aria-busy={turn.pending}>
          {turn.text ? <Markdown text={turn.text} onCite={cite} known={numbers} /> : turn.pending ? <p className="muted">Thinking…</p> : null}
        </div>
        {turn.error && <ErrorBanner error={turn.error} />}
        {turn.outcome && OUTCOME_NOTE[turn.outcome] && <p className="muted small">{OUTCOME_NOTE[turn.outcome]}</p>}
        {turn.model && <p className="muted small">Answered by {turn.model}</p>}
      </div>
    </div>
  );
}

function Sources({ citations, onCite }: { citations: Citation[]; onCite: (c: Citation) => void }) {
  if (citations.length === 0) return null;
  return (
    <ol className="citations" aria-label="Sources">
      {citations.map((c) => (
        <li key={c.number}>
          <button type="button" className="citation" data-testid="citation" onClick={() => onCite(c)}>
            <span className="citation-number">[{c.number}]</span>
            <span className="truncate">{c.document}</span>
          </button>
        </li>
      ))}
    </ol>
  );
}

/** The citations an answer showed, as kept with it (none for answers kept before they were). */
export function storedCitations(message: Message): Citation[] {
  const shown = (message.citations as { shown?: unknown } | null)?.shown;
  if (!Array.isArray(shown)) return [];
  return shown.filter(
    (c): c is Citation =>
      typeof c === "object" && c !== null && typeof c.number === "number" && typeof c.document === "string" &&
      typeof c.excerpt === "string",
  );
}

function HistoryMessage({ message, onCite }: { message: Message; onCite: (c: Citation) => void }) {
  const citations = useMemo(() => storedCitations(message), [message]);
  const numbers = useMemo(() => new Set(citations.map((c) => c.number)), [citations]);
  if (message.role === "user") return <div className="bubble bubble-user">{message.content}</div>;
  if (message.role !== "assistant") return null;
  const cite = (n: number) => {
    const c = citations.find((x) => x.number === n);
    if (c) onCite(c);
  };
  const outcome = (message.citations as { outcome?: AnswerOutcome } | null)?.outcome;
  return (
    <div className="bubble bubble-assistant">
      <Sources citations={citations} onCite={onCite} />
      <Markdown text={message.content} onCite={cite} known={numbers} />
      {outcome && OUTCOME_NOTE[outcome] && <p className="muted small">{OUTCOME_NOTE[outcome]}</p>}
      {message.model && <p className="muted small">Answered by {message.model}</p>}
    </div>
  );
}
