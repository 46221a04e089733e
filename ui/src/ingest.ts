// The knowledge base's ingest progress, folded from the `ingest` channel's events.

import type { DocumentProgress, IngestEvent, Refused } from "./types";

export interface IngestProgress {
  files: number;
  /** The file being read (from 0), -1 before the first. */
  index: number;
  current: string;
  chunksDone: number;
  chunksTotal: number;
  finished: number;
  refused: Refused[];
}

export const startProgress = (): IngestProgress => ({
  files: 0,
  index: -1,
  current: "",
  chunksDone: 0,
  chunksTotal: 0,
  finished: 0,
  refused: [],
});

export function onIngestEvent(p: IngestProgress, e: IngestEvent): IngestProgress {
  switch (e.event) {
    case "found":
      return { ...p, files: e.files };
    case "file":
      return { ...p, index: e.index, current: e.path, chunksDone: 0, chunksTotal: 0 };
    case "refused":
      return { ...p, refused: [...p.refused, { file: e.file, code: e.code, message: e.message }] };
    case "document":
      return onProgress(p, e.progress);
    default:
      return p;
  }
}

function onProgress(p: IngestProgress, e: DocumentProgress): IngestProgress {
  switch (e.event) {
    case "started":
      return { ...p, chunksDone: 0, chunksTotal: e.chunks };
    case "embedded":
      return { ...p, chunksDone: e.done, chunksTotal: e.total };
    case "finished":
      return { ...p, finished: p.finished + 1, chunksDone: p.chunksTotal };
  }
}

/** How far the whole ingest is, 0–1: whole files done plus the share of the current one. */
export function fraction(p: IngestProgress): number {
  if (p.files <= 0 || p.index < 0) return 0;
  const within = p.chunksTotal > 0 ? p.chunksDone / p.chunksTotal : 0;
  return Math.min(1, (p.index + within) / p.files);
}
