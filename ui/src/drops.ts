// Files dropped on the window, as Tauri reports them (absolute paths). Outside Tauri (a plain
// browser, the tests) nothing is ever dropped.

import { getCurrentWebview } from "@tauri-apps/api/webview";

/** `paths` on a drop (with `over` false), null while files are dragged over (true) or away (false). */
export type DropListener = (paths: string[] | null, over: boolean) => void;

/** Listens for files dragged over and dropped on the window; resolves to the function that stops. */
export async function listenForDrops(on: DropListener): Promise<() => void> {
  try {
    return await getCurrentWebview().onDragDropEvent((event) => {
      const p = event.payload;
      if (p.type === "enter" || p.type === "over") on(null, true);
      else if (p.type === "leave") on(null, false);
      else if (p.type === "drop") on(p.paths, false);
    });
  } catch {
    return () => undefined;
  }
}
