// "Capture from a photo" on the prescription form: the path of a photo of a paper prescription,
// typed or dropped on the window, read by the practice's vision model (`capture_prescription`)
// into a draft. Nothing is saved here: a readable draft is handed to the form to fill it in.

import { useEffect, useRef, useState, type FormEvent } from "react";
import * as api from "../api";
import type { Captured } from "../types";
import { ErrorBanner } from "./ErrorBanner";
import { listenForDrops } from "../drops";
import { pick } from "../pick";

const OPEN_KEY = "ils.rxCapture.open";
const IMAGE = /\.(jpe?g|png|webp)$/i;

/** Whether a dropped file's name says it is a photo the engine reads (JPEG, PNG or WebP). */
export function isImagePath(path: string): boolean {
  return IMAGE.test(path.trim());
}

const fileName = (path: string) => path.split(/[\\/]/).filter(Boolean).pop() ?? path;

function readOpen(): boolean {
  try {
    return localStorage.getItem(OPEN_KEY) !== "closed";
  } catch {
    return true;
  }
}

function saveOpen(open: boolean): void {
  try {
    if (open) localStorage.removeItem(OPEN_KEY);
    else localStorage.setItem(OPEN_KEY, "closed");
  } catch {
    // Storage may be unavailable; the section is open or closed for this run.
  }
}

interface Message {
  tone: "info" | "warning";
  text: string;
}

export function PhotoCapture({ onCaptured }: { onCaptured: (captured: Captured) => void }) {
  const [open, setOpen] = useState(readOpen);
  const [path, setPath] = useState("");
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<api.ApiError | null>(null);
  const [message, setMessage] = useState<Message | null>(null);
  const [dragging, setDragging] = useState(false);
  const busyRef = useRef(false);
  const alive = useRef(true);
  const onCapturedRef = useRef(onCaptured);
  onCapturedRef.current = onCaptured;

  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);

  const read = async (photo: string, note: Message | null = null) => {
    const p = photo.trim();
    if (p === "" || busyRef.current) return;
    busyRef.current = true;
    setBusy(true);
    setFailure(null);
    setMessage(note);
    try {
      const captured = await api.capturePrescription(p);
      if (!alive.current) return;
      if (!captured.reply_readable) {
        setMessage({
          tone: "warning",
          text: `The photo could not be read: ${captured.model || "the model"} gave back no prescription. The form is unchanged; try a sharper, well-lit photo of the whole page, or enter the prescription by hand.`,
        });
      } else {
        onCapturedRef.current(captured);
      }
    } catch (e) {
      if (alive.current) setFailure(api.normaliseError(e));
    } finally {
      busyRef.current = false;
      if (alive.current) setBusy(false);
    }
  };
  const choose = async () => {
    try {
      const [photo] = await pick("photo");
      if (photo === undefined) return;
      setPath(photo);
      await read(photo);
    } catch (e) {
      if (alive.current) setFailure(api.normaliseError(e));
    }
  };

  const readRef = useRef(read);
  readRef.current = read;

  const toggle = (next: boolean) => {
    setOpen(next);
    saveOpen(next);
  };

  // Files dropped on the window while the form is open: the first photo among them is read.
  useEffect(() => {
    let unlisten: (() => void) | null = null;
    let gone = false;
    void listenForDrops((paths, over) => {
      setDragging(over);
      if (over) setOpen(true);
      if (!paths || paths.length === 0) return;
      const photos = paths.filter(isImagePath);
      if (photos.length === 0) {
        setFailure(null);
        setMessage({
          tone: "warning",
          text:
            paths.length === 1
              ? `${fileName(paths[0])} is not a photo: drop a JPEG, PNG or WebP image of the prescription.`
              : `None of the ${paths.length} files dropped is a photo: drop a JPEG, PNG or WebP image of the prescription.`,
        });
        return;
      }
      if (busyRef.current) {
        setMessage({ tone: "warning", text: "A photo is being read; drop the next one when it is done." });
        return;
      }
      setOpen(true);
      setPath(photos[0]);
      const note: Message | null =
        paths.length > 1 ? { tone: "info", text: `Only one photo is read at a time: ${fileName(photos[0])}.` } : null;
      void readRef.current(photos[0], note);
    }).then((u) => {
      if (gone) u();
      else unlisten = u;
    });
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void read(path);
  };

  return (
    <details
      className={`rx-capture drop-zone${dragging ? " dragging" : ""}`}
      open={open}
      onToggle={(e) => {
        const now = e.currentTarget.open;
        if (now !== open) toggle(now);
      }}
      aria-busy={busy || undefined}
      data-testid="rx-capture-section"
    >
      <summary>Capture from a photo</summary>
      <p className="small muted">
        Drop a photo of the paper prescription (JPEG, PNG or WebP) on this window, choose it, or type its path. The practice's
        vision model reads it into the form below; nothing is saved until you check it and press Save.
      </p>
      <form className="inline-form" onSubmit={submit}>
        <label htmlFor="rx-capture-path" className="sr-only">
          Path of the photo
        </label>
        <input
          id="rx-capture-path"
          value={path}
          onChange={(e) => setPath(e.target.value)}
          placeholder="/home/practice/Pictures/prescription.jpg"
          spellCheck={false}
          autoComplete="off"
          data-testid="rx-capture-path"
        />
        <button type="submit" className="btn" disabled={busy || path.trim() === ""} data-testid="rx-capture">
          {busy ? "Reading…" : "Read photo"}
        </button>
        <button type="button" className="btn" disabled={busy} onClick={() => void choose()} data-testid="rx-capture-pick">
          Choose photo…
        </button>
      </form>
      {busy && (
        <p className="small muted" role="status" data-testid="rx-capture-busy">
          <span className="spinner" aria-hidden="true" /> Reading the photo… this can take a minute.
        </p>
      )}
      {message && (
        <p className={`small ${message.tone === "warning" ? "notice" : "muted"}`} role="status" data-testid="rx-capture-message"
          data-tone={message.tone}>
          {message.text}
        </p>
      )}
      <ErrorBanner error={failure} onDismiss={() => setFailure(null)} />
    </details>
  );
}
