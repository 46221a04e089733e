import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { open } from "@tauri-apps/plugin-dialog";
import { KnowledgeBase } from "../screens/KnowledgeBase";
import { PhotoCapture } from "../components/PhotoCapture";
import { answer, callsOf, chooseInDialog } from "./tauri";
import { renderScreen } from "./render";

const report = { files: 2, ingested: [], refused: [], cancelled: false };

describe("Choosing files in the system's dialog", () => {
  it("adds the documents chosen, and nothing when the dialog is closed", async () => {
    answer({ documents: [], ingest: report });
    renderScreen(<KnowledgeBase />);
    const user = userEvent.setup();

    chooseInDialog(null);
    await user.click(screen.getByTestId("kb-pick-files"));
    expect(vi.mocked(open)).toHaveBeenCalledWith(expect.objectContaining({ multiple: true, directory: false }));
    expect(callsOf("ingest")).toHaveLength(0);

    chooseInDialog(["/docs/a.md", "/docs/b.pdf"]);
    await user.click(screen.getByTestId("kb-pick-files"));
    await waitFor(() => expect(callsOf("ingest")).toHaveLength(1));
    expect(callsOf("ingest")[0]).toMatchObject({ paths: ["/docs/a.md", "/docs/b.pdf"] });

    chooseInDialog("/docs/protocols");
    await user.click(screen.getByTestId("kb-pick-folder"));
    await waitFor(() => expect(callsOf("ingest")).toHaveLength(2));
    expect(vi.mocked(open)).toHaveBeenLastCalledWith(expect.objectContaining({ directory: true }));
    expect(callsOf("ingest")[1]).toMatchObject({ paths: ["/docs/protocols"] });
  });

  it("reads the photo chosen", async () => {
    answer({ capture_prescription: () => new Promise(() => undefined) });
    renderScreen(<PhotoCapture onCaptured={() => undefined} />);
    chooseInDialog("/home/ada/Pictures/rx.jpg");
    await userEvent.setup().click(screen.getByTestId("rx-capture-pick"));
    await waitFor(() => expect(callsOf("capture_prescription")).toEqual([{ path: "/home/ada/Pictures/rx.jpg" }]));
    expect((screen.getByTestId("rx-capture-path") as HTMLInputElement).value).toBe("/home/ada/Pictures/rx.jpg");
  });
});
