import { describe, expect, it } from "vitest";
import * as api from "../api";
import { ApiError, normaliseError } from "../api";
import { answer, callsOf, mockInvoke } from "./tauri";

describe("normaliseError", () => {
  it("keeps the engine's code, message and field errors", () => {
    const e = normaliseError({
      code: "rx.axis_out_of_range",
      message: "Axis must be 1–180, got 190",
      fields: [{ field: "right.axis", code: "rx.axis_out_of_range", message: "Axis must be 1–180, got 190" }],
    });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe("rx.axis_out_of_range");
    expect(e.message).toBe("Axis must be 1–180, got 190");
    expect(e.fields).toEqual([{ field: "right.axis", code: "rx.axis_out_of_range", message: "Axis must be 1–180, got 190" }]);
  });

  it("gives an engine error without fields an empty list (the engine omits it)", () => {
    const e = normaliseError({ code: "patient.not_found", message: "patient not found" });
    expect(e.fields).toEqual([]);
  });

  it("drops field entries that are not field errors", () => {
    const e = normaliseError({ code: "x", message: "y", fields: [{ field: "a" }, null, { field: "b", code: "c", message: "d" }] });
    expect(e.fields.map((f) => f.field)).toEqual(["b"]);
  });

  it("reads a plain string rejection as unreadable arguments", () => {
    const e = normaliseError("invalid args `id` for command `patient_page`: missing field");
    expect(e.code).toBe("ipc.invalid_arguments");
    expect(e.message).toContain("invalid args");
  });

  it("names a JavaScript failure (no Tauri) as the IPC being unavailable", () => {
    const e = normaliseError(new TypeError("window.__TAURI_INTERNALS__ is undefined"));
    expect(e.code).toBe("ipc.unavailable");
  });

  it("never throws on odd values", () => {
    expect(normaliseError(undefined).code).toBe("internal");
    expect(normaliseError(42).message).toBe("42");
  });
});

describe("command wrappers", () => {
  it("reject with ApiError when the engine refuses", async () => {
    mockInvoke.mockRejectedValueOnce({ code: "auth.forbidden", message: "not allowed" });
    await expect(api.patientPage("p1")).rejects.toMatchObject({ code: "auth.forbidden", message: "not allowed" });
    mockInvoke.mockRejectedValueOnce("missing field `id`");
    await expect(api.patientPage("p1")).rejects.toMatchObject({ code: "ipc.invalid_arguments" });
  });

  it("send the Rust parameters' snake_case names", async () => {
    answer({ add_prescription: {}, transition_order: {}, audit_entries: [], search_patients: [] });
    await api.addPrescription("p1", { kind: "spectacle" });
    await api.transitionOrder("o1", "cancel", "wrong frame");
    await api.auditEntries("e1", 10);
    await api.searchPatients({ name_prefix: "Ada" }, 50);
    expect(callsOf("add_prescription")[0]).toEqual({ patient_id: "p1", input: { kind: "spectacle" } });
    expect(callsOf("transition_order")[0]).toEqual({ id: "o1", action: "cancel", note: "wrong frame" });
    expect(callsOf("audit_entries")[0]).toEqual({ entity_id: "e1", limit: 10 });
    expect(callsOf("search_patients")[0]).toMatchObject({ query: { name_prefix: "Ada" }, limit: 50 });
  });

  it("stream ingest events through a channel passed as on_event", async () => {
    const seen: unknown[] = [];
    mockInvoke.mockImplementationOnce(async (_cmd: string, args?: unknown) => {
      const channel = (args as { on_event: { onmessage: (m: unknown) => void } }).on_event;
      channel.onmessage({ event: "found", files: 2 });
      return { files: 2, ingested: [], refused: [], cancelled: false };
    });
    const report = await api.ingest(["/docs"], (e) => seen.push(e));
    expect(report.files).toBe(2);
    expect(seen).toEqual([{ event: "found", files: 2 }]);
    expect(mockInvoke.mock.calls[0][0]).toBe("ingest");
    expect((mockInvoke.mock.calls[0][1] as { paths: string[] }).paths).toEqual(["/docs"]);
  });
});
