// The assistant's answer as Markdown, sanitised: raw HTML is dropped (skipHtml), images are
// not rendered, links show their text only (nothing in an answer can load or open anything),
// and citation markers like [1] or [2, 3] become buttons that open the cited passage.

import type { ComponentProps, ReactNode } from "react";
import ReactMarkdown, { type Components } from "react-markdown";

/** The few mdast shapes the citation plugin touches. */
interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
  data?: Record<string, unknown>;
}

const MARKER = /\[(\d{1,3}(?:\s*[,\u2013-]\s*\d{1,3})*)\]/g;

/** The numbers of a marker's inside: `2, 3` → [2, 3]; `1-3` → [1, 2, 3]. */
export function markerNumbers(inside: string): number[] {
  const out: number[] = [];
  for (const part of inside.split(",")) {
    const range = part.split(/[\u2013-]/).map((s) => parseInt(s.trim(), 10));
    if (range.length === 2 && range[0] <= range[1] && range[1] - range[0] < 20) {
      for (let n = range[0]; n <= range[1]; n++) out.push(n);
    } else if (!Number.isNaN(range[0])) {
      out.push(range[0]);
    }
  }
  return out;
}

function citationNode(n: number): MdNode {
  return {
    type: "text",
    value: `[${n}]`,
    data: { hName: "sup", hProperties: { className: ["citation-ref"], dataCitation: String(n) } },
  };
}

function splitText(value: string): MdNode[] | null {
  const out: MdNode[] = [];
  let last = 0;
  for (const match of value.matchAll(MARKER)) {
    const at = match.index ?? 0;
    if (at > last) out.push({ type: "text", value: value.slice(last, at) });
    for (const n of markerNumbers(match[1])) out.push(citationNode(n));
    last = at + match[0].length;
  }
  if (out.length === 0) return null;
  if (last < value.length) out.push({ type: "text", value: value.slice(last) });
  return out;
}

function walk(node: MdNode) {
  if (!node.children) return;
  // Code keeps its brackets as written.
  if (node.type === "code" || node.type === "inlineCode") return;
  const next: MdNode[] = [];
  for (const child of node.children) {
    if (child.type === "text" && typeof child.value === "string" && !child.data) {
      const parts = splitText(child.value);
      if (parts) {
        next.push(...parts);
        continue;
      }
    }
    walk(child);
    next.push(child);
  }
  node.children = next;
}

function remarkCitations() {
  return (tree: MdNode) => walk(tree);
}

interface Props {
  text: string;
  /** Opens a cited passage; without it markers are plain text. */
  onCite?: (n: number) => void;
  /** The numbers of the passages this answer was given (others are shown, not clickable). */
  known?: ReadonlySet<number>;
}

export function Markdown({ text, onCite, known }: Props) {
  const components: Components = {
    a: ({ children }: { children?: ReactNode }) => <span className="md-link-text">{children}</span>,
    sup: (props: ComponentProps<"sup"> & { node?: unknown; "data-citation"?: string }) => {
      const n = Number(props["data-citation"]);
      if (!Number.isFinite(n) || n <= 0) return <sup>{props.children}</sup>;
      if (!onCite || (known && !known.has(n))) {
        return <sup className="citation-ref citation-ref-static">[{n}]</sup>;
      }
      return (
        <sup className="citation-ref">
          <button
            type="button"
            className="citation-ref-button"
            data-testid="citation-ref"
            aria-label={`Show source ${n}`}
            onClick={() => onCite(n)}
          >
            [{n}]
          </button>
        </sup>
      );
    },
  };
  return (
    <div className="markdown">
      <ReactMarkdown
        skipHtml
        disallowedElements={["img"]}
        remarkPlugins={[remarkCitations]}
        components={components}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
}
