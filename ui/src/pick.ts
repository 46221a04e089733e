// Files and folders chosen in the system's own dialog (tauri-plugin-dialog). Outside Tauri (a
// plain browser) there is no dialog: nothing is chosen.

import { open } from "@tauri-apps/plugin-dialog";

export type PickKind = "documents" | "folder" | "photo";

const FILTERS: Record<Exclude<PickKind, "folder">, { name: string; extensions: string[] }[]> = {
  documents: [{ name: "Documents (.txt, .md, .pdf)", extensions: ["txt", "md", "markdown", "pdf"] }],
  photo: [{ name: "Photos (JPEG, PNG, WebP)", extensions: ["jpg", "jpeg", "png", "webp"] }],
};

const TITLES: Record<PickKind, string> = {
  documents: "Add documents to the knowledge base",
  folder: "Add a folder of documents to the knowledge base",
  photo: "Choose a photo of the paper prescription",
};

/** The paths chosen (absolute); none when the person closes the dialog. */
export async function pick(kind: PickKind): Promise<string[]> {
  const chosen = await open({
    title: TITLES[kind],
    multiple: kind === "documents",
    directory: kind === "folder",
    filters: kind === "folder" ? undefined : FILTERS[kind],
  });
  if (chosen === null) return [];
  return Array.isArray(chosen) ? chosen : [chosen];
}
