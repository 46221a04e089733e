// Text the practice takes elsewhere (FHIR JSON, a DCS record): shown, copied, or saved as a file.

import { useEffect, useMemo, useState } from "react";
import { Dialog } from "./Dialog";

export function ExportDialog({
  title,
  text,
  fileName,
  mimeType,
  onClose,
}: {
  title: string;
  text: string;
  fileName: string;
  mimeType: string;
  onClose: () => void;
}) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const url = useMemo(() => {
    if (typeof URL.createObjectURL !== "function") return null;
    return URL.createObjectURL(new Blob([text], { type: mimeType }));
  }, [text, mimeType]);
  useEffect(() => () => {
    if (url) URL.revokeObjectURL(url);
  }, [url]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  };

  return (
    <Dialog
      title={title}
      onClose={onClose}
      wide
      testId="export-dialog"
      footer={
        <>
          <span className="muted" role="status">
            {copied === "yes" ? "Copied to the clipboard" : copied === "failed" ? "Could not copy; select the text instead" : ""}
          </span>
          <button type="button" className="btn" onClick={copy} data-testid="export-copy">
            Copy
          </button>
          {url && (
            <a className="btn btn-primary" href={url} download={fileName} data-testid="export-download">
              Download {fileName}
            </a>
          )}
        </>
      }
    >
      <pre className="export-text" tabIndex={0} data-testid="export-text">
        {text}
      </pre>
    </Dialog>
  );
}
