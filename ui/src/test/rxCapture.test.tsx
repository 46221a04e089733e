import { describe, expect, it, vi } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { PrescriptionForm } from "../screens/PrescriptionForm";
import { isImagePath } from "../components/PhotoCapture";
import type { Captured, RxCheck } from "../types";
import { answer, callsOf, deferred } from "./tauri";
import { renderScreen } from "./render";

// The window's drag-and-drop, driven by the tests: every listener the screen registers.
type DropPayload = { type: "enter" | "over" | "leave" } | { type: "drop"; paths: string[] };
const drops = vi.hoisted(() => ({ listeners: [] as ((e: { payload: unknown }) => void)[], unlistened: 0 }));
vi.mock("@tauri-apps/api/webview", () => ({
  getCurrentWebview: () => ({
    onDragDropEvent: async (h: (e: { payload: unknown }) => void) => {
      drops.listeners.push(h);
      return () => {
        drops.listeners = drops.listeners.filter((l) => l !== h);
        drops.unlistened++;
      };
    },
  }),
}));
const drop = (payload: DropPayload) => act(() => drops.listeners.forEach((l) => l({ payload })));

const CAPTURED: Captured = {
  capture_id: "cap-1",
  prescription: {
    kind: "spectacle",
    right: { sphere: -2.25, cylinder: -0.5, add: 2 },
    left: { sphere: 0, add: 2, prism_horizontal: { amount: 1, base: "in" } },
    pd: { binocular_distance: 64 },
    issue_date: "2026-11-28",
  },
  unread: ["right.axis", "prescriber"],
  problems: [
    { field: "prescriber", code: "input.required", message: "prescriber is required (text)" },
    { field: "right.axis", code: "rx.axis_required", message: "An axis is needed with a cylinder" },
  ],
  reply_readable: true,
  model: "llava:13b",
  provider: "ollama",
};

const value = (testId: string) => (screen.getByTestId(testId) as HTMLInputElement).value;
const cellOf = (path: string) => document.querySelector(`td[data-cell="${path}"]`)!;

describe("isImagePath", () => {
  it("takes JPEG, PNG and WebP photos by their names", () => {
    expect(isImagePath("/home/a/rx.JPG")).toBe(true);
    expect(isImagePath("C:\\scans\\rx.jpeg")).toBe(true);
    expect(isImagePath("/a/b.png")).toBe(true);
    expect(isImagePath("/a/b.webp")).toBe(true);
    expect(isImagePath("/a/b.pdf")).toBe(false);
    expect(isImagePath("/a/png")).toBe(false);
  });
});

describe("Capture from a photo", () => {
  it("fills the grid from the photo as a draft: the model named, unread cells highlighted, problems under their cells", async () => {
    const reading = deferred<Captured>();
    // The live check stays unanswered: what is shown is the capture's own judgement.
    answer({
      capture_prescription: () => reading.promise,
      check_prescription: () => new Promise<RxCheck>(() => undefined),
      add_prescription: { id: "rx1" },
    });
    const { navigate } = renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    expect(screen.getByTestId("rx-capture")).toHaveProperty("disabled", true);
    await user.type(screen.getByTestId("rx-capture-path"), "/home/ada/Pictures/rx.jpg");
    await user.click(screen.getByTestId("rx-capture"));

    // Busy while the model reads.
    expect(callsOf("capture_prescription")).toEqual([{ path: "/home/ada/Pictures/rx.jpg" }]);
    expect(screen.getByTestId("rx-capture").textContent).toBe("Reading…");
    expect(screen.getByTestId("rx-capture")).toHaveProperty("disabled", true);
    expect(screen.getByTestId("rx-capture-busy")).toBeTruthy();
    expect(screen.queryByTestId("rx-capture-draft")).toBeNull();
    await act(async () => reading.resolve(CAPTURED));

    const notice = await screen.findByTestId("rx-capture-draft");
    expect(notice.textContent).toContain("llava:13b");
    expect(notice.textContent).toContain("Check every value against the paper before saving");
    expect(screen.getByTestId("rx-capture-unread").textContent).toContain("Not read: right.axis, prescriber");
    expect(screen.queryByTestId("rx-capture-busy")).toBeNull();
    expect(screen.getByTestId("rx-capture").textContent).toBe("Read photo");

    // The grid and the fields, as read.
    expect(value("rx-right-sphere")).toBe("-2.25");
    expect(value("rx-right-cylinder")).toBe("-0.5");
    expect(value("rx-right-axis")).toBe("");
    expect(value("rx-right-add")).toBe("2");
    expect(value("rx-left-sphere")).toBe("0");
    expect(value("rx-left-prism_h_amount")).toBe("1");
    expect(value("rx-left-prism_h_base")).toBe("in");
    expect(value("rx-pd")).toBe("64");
    expect(value("rx-issue-date")).toBe("2026-11-28");
    expect(value("rx-prescriber")).toBe("");

    // What was not read is highlighted, and only that.
    expect(cellOf("right.axis").classList.contains("cell-unread")).toBe(true);
    expect(cellOf("right.sphere").classList.contains("cell-unread")).toBe(false);
    expect(document.querySelectorAll(".cell-unread")).toHaveLength(1);
    expect(screen.getByTestId("rx-prescriber").closest(".field")!.classList.contains("field-unread")).toBe(true);
    expect(screen.getByTestId("rx-pd").closest(".field")!.classList.contains("field-unread")).toBe(false);

    // The problems, under their cells as a check's would be ("required" included).
    const axisError = within(cellOf("right.axis") as HTMLElement).getByTestId("field-error");
    expect(axisError.getAttribute("data-field")).toBe("right.axis");
    expect(axisError.textContent).toContain("axis is needed");
    expect(screen.getByTestId("rx-right-axis").getAttribute("aria-invalid")).toBe("true");
    const prescriberError = screen.getAllByTestId("field-error").find((e) => e.getAttribute("data-field") === "prescriber");
    expect(prescriberError?.textContent).toContain("prescriber is required");

    // Nothing saved by the capture; filling a cell in takes its highlight away.
    expect(callsOf("add_prescription")).toHaveLength(0);
    await user.type(screen.getByTestId("rx-right-axis"), "180");
    expect(cellOf("right.axis").classList.contains("cell-unread")).toBe(false);
    await user.type(screen.getByTestId("rx-prescriber"), "Dr Smith");
    expect(screen.getByTestId("rx-prescriber").closest(".field")!.classList.contains("field-unread")).toBe(false);

    // Save sends the corrected draft through the ordinary path.
    await user.click(screen.getByTestId("rx-save"));
    await waitFor(() => expect(navigate).toHaveBeenCalledWith({ name: "patient", id: "p1" }));
    expect(callsOf("add_prescription")[0]).toEqual({
      patient_id: "p1",
      input: {
        kind: "spectacle",
        status: "draft",
        right: { sphere: -2.25, cylinder: -0.5, axis: 180, add: 2 },
        left: { sphere: 0, add: 2, prism_horizontal: { amount: 1, base: "in" } },
        pd: { binocular_distance: 64 },
        issue_date: "2026-11-28",
        prescriber: "Dr Smith",
      },
    });
  });

  it("then keeps the engine's check current as the draft is corrected", async () => {
    answer({
      capture_prescription: CAPTURED,
      check_prescription: { errors: [], transposed: null },
    });
    renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-capture-path"), "/tmp/rx.png{Enter}");
    await screen.findByTestId("rx-capture-draft");
    // The draft's values are checked by the engine, and its answer replaces the draft's problems.
    await waitFor(() => expect(callsOf("check_prescription").length).toBeGreaterThan(0));
    expect(callsOf("check_prescription").at(-1)!.input).toMatchObject({ right: { sphere: -2.25, cylinder: -0.5 } });
    await waitFor(() => expect(screen.queryAllByTestId("field-error")).toHaveLength(0));
  });

  it("leaves the form as it was when the model's reply could not be read", async () => {
    answer({
      check_prescription: { errors: [], transposed: null },
      capture_prescription: {
        ...CAPTURED,
        prescription: {},
        unread: ["kind", "right.sphere", "left.sphere", "issue_date", "prescriber"],
        problems: [{ field: "kind", code: "input.required", message: "kind is required" }],
        reply_readable: false,
      },
    });
    renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-right-sphere"), "-1.00");
    await user.type(screen.getByTestId("rx-prescriber"), "Dr Smith");
    const issued = value("rx-issue-date");
    await user.type(screen.getByTestId("rx-capture-path"), "/tmp/blurred.jpg");
    await user.click(screen.getByTestId("rx-capture"));

    const message = await screen.findByTestId("rx-capture-message");
    expect(message.textContent).toContain("could not be read");
    expect(message.textContent).toContain("unchanged");
    expect(callsOf("capture_prescription")).toHaveLength(1);
    expect(value("rx-right-sphere")).toBe("-1.00");
    expect(value("rx-prescriber")).toBe("Dr Smith");
    expect(value("rx-issue-date")).toBe(issued);
    expect(screen.queryByTestId("rx-capture-draft")).toBeNull();
    expect(document.querySelectorAll(".cell-unread, .field-unread")).toHaveLength(0);
    expect(screen.queryAllByTestId("field-error").map((e) => e.getAttribute("data-field"))).not.toContain("kind");
  });

  it("shows the engine's refusal in a banner and leaves the form as it was", async () => {
    answer({
      check_prescription: { errors: [], transposed: null },
      capture_prescription: () => {
        throw {
          code: "ai.unavailable",
          message: "No vision model could read the photo (no model configured); enter the prescription by hand",
        };
      },
    });
    renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-left-sphere"), "+0.75");
    await user.type(screen.getByTestId("rx-capture-path"), "/tmp/rx.jpg");
    await user.click(screen.getByTestId("rx-capture"));

    const banner = await screen.findByTestId("error-banner");
    expect(banner.textContent).toContain("No vision model could read the photo");
    expect(banner.textContent).toContain("ai.unavailable");
    expect(value("rx-left-sphere")).toBe("+0.75");
    expect(value("rx-right-sphere")).toBe("");
    expect(screen.queryByTestId("rx-capture-draft")).toBeNull();
    // The person may try again.
    expect(screen.getByTestId("rx-capture")).toHaveProperty("disabled", false);
  });

  it("reads a photo dropped on the window while the form is open, and refuses other files", async () => {
    answer({
      check_prescription: () => new Promise<RxCheck>(() => undefined),
      capture_prescription: CAPTURED,
    });
    const { unmount } = renderScreen(<PrescriptionForm patientId="p1" />);
    await waitFor(() => expect(drops.listeners).toHaveLength(1));

    drop({ type: "enter" });
    expect(screen.getByTestId("rx-capture-section").classList.contains("dragging")).toBe(true);
    drop({ type: "drop", paths: ["/home/ada/Documents/referral.pdf"] });
    expect(screen.getByTestId("rx-capture-section").classList.contains("dragging")).toBe(false);
    expect(screen.getByTestId("rx-capture-message").textContent).toContain("referral.pdf is not a photo");
    expect(callsOf("capture_prescription")).toHaveLength(0);

    drop({ type: "drop", paths: ["/home/ada/Pictures/rx.webp"] });
    await screen.findByTestId("rx-capture-draft");
    expect(callsOf("capture_prescription")).toEqual([{ path: "/home/ada/Pictures/rx.webp" }]);
    expect(value("rx-capture-path")).toBe("/home/ada/Pictures/rx.webp");
    expect(value("rx-right-sphere")).toBe("-2.25");

    // Closing the form stops listening.
    unmount();
    expect(drops.listeners).toHaveLength(0);
  });

  it("lists a problem on a cell the form does not show at the top, never drops it", async () => {
    answer({
      check_prescription: () => new Promise<RxCheck>(() => undefined),
      capture_prescription: {
        ...CAPTURED,
        prescription: { ...CAPTURED.prescription, right: { sphere: -1, power: -1.25 } },
        unread: [],
        problems: [{ field: "right.power", code: "rx.contact_lens_field_on_spectacles", message: "Power belongs to contact lenses" }],
      },
    });
    renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-capture-path"), "/tmp/rx.jpg");
    await user.click(screen.getByTestId("rx-capture"));
    await screen.findByTestId("rx-capture-draft");
    expect(screen.getByTestId("rx-capture-draft").textContent).toContain("Every field on the paper was read");
    expect(screen.queryByTestId("rx-right-power")).toBeNull();
    const error = screen.getByTestId("field-error");
    expect(error.getAttribute("data-field")).toBe("right.power");
    expect(error.closest(".form-errors")).toBeTruthy();
  });

  it("asks before a photo's reading replaces values typed meanwhile", async () => {
    answer({ check_prescription: { errors: [], transposed: null }, capture_prescription: CAPTURED });
    renderScreen(<PrescriptionForm patientId="p1" />);
    const user = userEvent.setup();
    await user.type(screen.getByTestId("rx-right-sphere"), "-1.00");
    await user.type(screen.getByTestId("rx-capture-path"), "/tmp/rx.jpg{Enter}");

    // Offered, not applied: what was typed stays until the person chooses.
    await screen.findByTestId("rx-capture-offer");
    expect(value("rx-right-sphere")).toBe("-1.00");
    expect(screen.queryByTestId("rx-capture-draft")).toBeNull();
    await user.click(screen.getByTestId("rx-capture-keep"));
    expect(screen.queryByTestId("rx-capture-offer")).toBeNull();
    expect(value("rx-right-sphere")).toBe("-1.00");

    // Read again, and this time used.
    await user.click(screen.getByTestId("rx-capture"));
    await user.click(await screen.findByTestId("rx-capture-replace"));
    expect(value("rx-right-sphere")).toBe("-2.25");
    expect(screen.getByTestId("rx-capture-draft")).toBeTruthy();
    expect(screen.queryByTestId("rx-capture-offer")).toBeNull();
  });
});
