// The practice's documents: added by dropping files or folders on the window, choosing them in
// the system's dialog or typing a path, with progress and a cancel; listed and removed; searched.

import { useEffect, useRef, useState, type FormEvent } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import { useNotify } from "../notify";
import type { IngestReport, KbDocument } from "../types";
import { fraction, onIngestEvent, startProgress, type IngestProgress } from "../ingest";
import { bytes, dateTime } from "../format";
import { ErrorBanner } from "../components/ErrorBanner";
import { Confirm } from "../components/Dialog";
import { listenForDrops } from "../drops";
import { pick } from "../pick";

export function KnowledgeBase() {
  const [path, setPath] = useState("");
  const [progress, setProgress] = useState<IngestProgress | null>(null);
  const [running, setRunning] = useState(false);
  const [report, setReport] = useState<IngestReport | null>(null);
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const [dragging, setDragging] = useState(false);
  const [deleting, setDeleting] = useState<KbDocument | null>(null);
  const docs = useLoad("documents", api.documents);
  const { showInfo } = useNotify();
  const runningRef = useRef(false);

  const add = async (paths: string[]) => {
    const list = paths.map((p) => p.trim()).filter((p) => p !== "");
    if (list.length === 0 || runningRef.current) return;
    runningRef.current = true;
    setRunning(true);
    setFailure(null);
    setReport(null);
    setProgress(startProgress());
    try {
      const done = await api.ingest(list, (event) => setProgress((p) => onIngestEvent(p ?? startProgress(), event)));
      setReport(done);
      setPath("");
    } catch (e) {
      setFailure(api.normaliseError(e));
    } finally {
      runningRef.current = false;
      setRunning(false);
      docs.reload();
    }
  };
  const addRef = useRef(add);
  addRef.current = add;

  useEffect(() => {
    let unlisten: (() => void) | null = null;
    let gone = false;
    void listenForDrops((paths, over) => {
      setDragging(over);
      if (paths) void addRef.current(paths);
    }).then((u) => {
      if (gone) u();
      else unlisten = u;
    });
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);

  const cancel = async () => {
    try {
      await api.cancelIngest();
    } catch (e) {
      setFailure(api.normaliseError(e));
    }
  };

  const remove = async (doc: KbDocument) => {
    setDeleting(null);
    try {
      await api.deleteDocument(doc.id);
      showInfo(`Removed ${doc.title}.`);
      docs.reload();
    } catch (e) {
      setFailure(api.normaliseError(e));
    }
  };

  const choose = async (kind: "documents" | "folder") => {
    try {
      const chosen = await pick(kind);
      if (chosen.length > 0) await add(chosen);
    } catch (e) {
      setFailure(api.normaliseError(e));
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void add([path]);
  };

  const refused = report?.refused ?? progress?.refused ?? [];
  return (
    <section className="screen" aria-labelledby="kb-title">
      <header className="screen-header">
        <h1 id="kb-title">Knowledge base</h1>
      </header>
      <div className={`drop-zone${dragging ? " dragging" : ""}`}>
        <p>
          <strong>Drop files or folders anywhere on this window</strong> to add them (.txt, .md, .pdf), choose them, or
          type a path:
        </p>
        <form className="inline-form" onSubmit={submit}>
          <label htmlFor="kb-path" className="sr-only">
            File or folder path
          </label>
          <input id="kb-path" value={path} onChange={(e) => setPath(e.target.value)} placeholder="/home/practice/Documents/protocols"
            data-testid="kb-path" spellCheck={false} autoComplete="off" />
          <button type="submit" className="btn btn-primary" disabled={running || path.trim() === ""} data-testid="kb-add">
            Add
          </button>
        </form>
        <div className="button-row">
          <button type="button" className="btn" disabled={running} onClick={() => void choose("documents")} data-testid="kb-pick-files">
            Choose files…
          </button>
          <button type="button" className="btn" disabled={running} onClick={() => void choose("folder")} data-testid="kb-pick-folder">
            Choose a folder…
          </button>
        </div>
      </div>
      <ErrorBanner error={failure} onDismiss={() => setFailure(null)} />
      {progress && (running || report) && (
        <div className="ingest-progress" data-testid="kb-progress">
          <progress max={1} value={report ? 1 : fraction(progress)} aria-label="Adding documents" />
          <p role="status" className="small">
            {report
              ? report.cancelled
                ? `Cancelled: ${report.ingested.length} of ${report.files} files were added before; nothing of the one in progress.`
                : `Done: ${report.ingested.length} of ${report.files} files added${report.refused.length ? `, ${report.refused.length} refused` : ""}.`
              : progress.index < 0
                ? "Looking for files…"
                : `File ${progress.index + 1} of ${progress.files}: ${progress.current}${progress.chunksTotal ? ` (${progress.chunksDone}/${progress.chunksTotal} passages)` : ""}`}
          </p>
          {running && (
            <button type="button" className="btn" onClick={() => void cancel()} data-testid="kb-cancel">
              Cancel
            </button>
          )}
        </div>
      )}
      {refused.length > 0 && (
        <section className="panel" aria-labelledby="refused-title">
          <h2 id="refused-title">Not added</h2>
          <ul className="plain-list">
            {refused.map((r, i) => (
              <li key={`${r.file}-${i}`} data-testid="kb-refused">
                <code>{r.file}</code> — {r.message}
              </li>
            ))}
          </ul>
        </section>
      )}

      <DocumentSearch />

      <section className="panel" aria-labelledby="docs-title">
        <header className="panel-header">
          <h2 id="docs-title">Documents</h2>
          <span className="muted">{docs.data ? `${docs.data.length} documents` : ""}</span>
        </header>
        <ErrorBanner error={docs.error} />
        {docs.data && docs.data.length === 0 && <p className="muted">No documents yet.</p>}
        {docs.data && docs.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Source</th>
                <th scope="col">Passages</th>
                <th scope="col">Size</th>
                <th scope="col">Updated</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {docs.data.map((d) => (
                <tr key={d.id} data-testid="kb-doc">
                  <td>{d.title}<span className="badge">{d.format}</span></td>
                  <td className="cell-source" title={d.source}>{d.source}</td>
                  <td>{d.chunks}</td>
                  <td>{bytes(d.byte_size)}</td>
                  <td>{dateTime(d.updated_at)}</td>
                  <td>
                    <button type="button" className="btn btn-small btn-quiet" onClick={() => setDeleting(d)}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {deleting && (
        <Confirm title="Remove document" text={`Remove “${deleting.title}” from the knowledge base?`} confirmLabel="Remove" danger
          onCancel={() => setDeleting(null)} onConfirm={() => void remove(deleting)} />
      )}
    </section>
  );
}

function DocumentSearch() {
  const [query, setQuery] = useState("");
  const q = query.trim();
  const hits = useLoad(q === "" ? null : q, (text) => api.searchDocuments(text, 10), 250);
  return (
    <section className="panel" aria-labelledby="kb-search-title">
      <h2 id="kb-search-title">Search the documents</h2>
      <label htmlFor="kb-search" className="sr-only">
        Search the documents
      </label>
      <input id="kb-search" type="search" className="search-input" value={query} onChange={(e) => setQuery(e.target.value)}
        placeholder="e.g. progressive lens fitting height" data-testid="kb-search" />
      <ErrorBanner error={q === "" ? null : hits.error} />
      {q !== "" && hits.data && (
        <ol className="hits">
          {hits.data.length === 0 && <li className="muted">Nothing found.</li>}
          {hits.data.map((h) => (
            <li key={h.chunk_id} className="hit" data-testid="kb-hit">
              <div className="hit-head">
                <strong>{h.title || h.source}</strong>
                {h.heading && <span className="muted"> › {h.heading}</span>}
                <span className="hit-score" title="Relevance (higher is better)">{h.score.toFixed(3)}</span>
              </div>
              <p className="hit-text">{h.text}</p>
              <p className="muted small truncate">{h.source}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
