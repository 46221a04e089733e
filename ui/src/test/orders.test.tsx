import { describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { orderActions } from "../permissions";
import { OrderDetail } from "../components/OrderDetail";
import { toOrderJson, orderDefaults } from "../components/OrderForm";
import type { BoardColumn, BoardOrder, OrderRecord, PrescriptionRecord, Role } from "../types";
import { Orders, PER_COLUMN } from "../screens/Orders";
import { answer, callsOf } from "./tauri";
import { ABILITIES, renderScreen } from "./render";

const order = (status: OrderRecord["status"]): OrderRecord => ({
  id: "o1",
  order_number: "L000001",
  status,
  remake_of: null,
  remake_reason: null,
  data: {
    patient_id: "p1",
    prescription_id: "rx1",
    lens_type: "single_vision",
    material: "CR-39",
    coatings: [],
    tint: null,
    frame: { brand: null, model: null, colour: null, box_a: null, box_b: null, dbl: null, ed: null },
    measurements: {
      right_pd: null, left_pd: null, right_near_pd: null, left_near_pd: null,
      right_segment_height: null, left_segment_height: null, right_oc_height: null, left_oc_height: null,
    },
    promised_date: null,
    notes: null,
  },
  created_by: null,
  created_at: "2026-12-01T10:00:00Z",
  updated_at: "2026-12-01T10:00:00Z",
});

describe("orderActions (ils-core abilities for the role)", () => {
  it.each<[OrderRecord["status"], Role | null, string[], string[]]>([
    ["draft", "ecp", ["submit", "cancel"], []],
    ["submitted", "ecp", ["cancel"], ["start_production"]],
    ["submitted", "lab_tech", ["start_production", "cancel"], []],
    ["in_production", "ecp", [], ["send_to_quality_check", "cancel"]],
    ["in_production", "lab_tech", ["send_to_quality_check", "cancel"], []],
    ["quality_check", "lab_tech", ["ship", "cancel"], []],
    ["shipped", "ecp", ["deliver"], []],
    ["delivered", "ecp", ["remake"], []],
    ["delivered", "lab_tech", [], ["remake"]],
    ["cancelled", "platform_admin", [], []],
    ["draft", "company_admin", [], ["submit", "cancel"]],
    ["submitted", null, [], []],
  ])("%s for %s", (status, role, mine, others) => {
    expect(orderActions(status, role === null ? null : ABILITIES[role])).toEqual({ mine, others });
  });
});

describe("OrderDetail", () => {
  it("offers the moves of the status and sends the note with the action", async () => {
    answer({
      order_timeline: [
        { id: "e1", order_id: "o1", action: "create", from_status: null, to_status: "draft", note: null, actor: "u1", at: "2026-12-01T10:00:00Z" },
      ],
      transition_order: { order: { ...order("cancelled"), updated_at: "2026-12-01T11:00:00Z" }, remake: null },
    });
    const onChanged = vi.fn();
    renderScreen(<OrderDetail order={order("draft")} onClose={() => undefined} onChanged={onChanged} />);
    expect(screen.getByTestId("order-action-submit")).toBeTruthy();
    expect(screen.getByTestId("order-action-cancel")).toBeTruthy();
    await screen.findByText(/Create/);
    const u = userEvent.setup();
    await u.type(screen.getByTestId("order-note"), "Patient changed their mind");
    await u.click(screen.getByTestId("order-action-cancel"));
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
    expect(callsOf("transition_order")[0]).toEqual({ id: "o1", action: "cancel", note: "Patient changed their mind" });
    expect(screen.getByTestId("order-detail").querySelector('[data-testid="order-status"]')?.textContent).toBe("cancelled");
  });

  it("shows a missing reason under the note", async () => {
    answer({
      order_timeline: [],
      transition_order: () => {
        throw { code: "order.reason_required", message: "Say why the order is cancelled", fields: [{ field: "reason", code: "order.reason_required", message: "Say why the order is cancelled" }] };
      },
    });
    renderScreen(<OrderDetail order={order("draft")} onClose={() => undefined} onChanged={() => undefined} />);
    await userEvent.setup().click(screen.getByTestId("order-action-cancel"));
    const error = await screen.findByText("Say why the order is cancelled");
    expect(error.getAttribute("data-field")).toBe("reason");
    expect(screen.queryByTestId("error-banner")).toBeNull();
  });
});

describe("toOrderJson", () => {
  const rx: PrescriptionRecord = {
    id: "rx1",
    patient_id: "p1",
    created_by: null,
    created_at: "",
    updated_at: "",
    data: {
      kind: "spectacle",
      status: "active",
      right: { sphere: -1, cylinder: null, axis: null, add: 2, prism_horizontal: null, prism_vertical: null, power: null, base_curve: null, diameter: null },
      left: { sphere: -1, cylinder: null, axis: null, add: 2, prism_horizontal: null, prism_vertical: null, power: null, base_curve: null, diameter: null },
      pd: { binocular_distance: 63, binocular_near: null, right_distance: null, left_distance: null, right_near: null, left_near: null },
      segment_height: 19,
      vertex_distance: null,
      issue_date: "2026-11-01",
      expiry_date: null,
      prescriber: "Dr Smith",
      notes: null,
      contact_lens: null,
    },
  };

  it("carries per-eye PDs measured on the prescription as they are", () => {
    const measured = { ...rx, data: { ...rx.data, pd: { ...rx.data.pd, right_distance: 31, left_distance: 32.5 } } };
    const v = orderDefaults(measured);
    expect(v.measurements.right_pd).toBe("31");
    expect(v.measurements.left_pd).toBe("32.5");
  });

  it("starts from the prescription and leaves empty fields out", () => {
    const v = orderDefaults(rx);
    expect(v.lens_type).toBe("progressive");
    // A binocular PD is not split into halves: per-eye PDs are measured, not derived.
    expect(v.measurements.right_pd).toBe("");
    expect(v.measurements.left_pd).toBe("");
    v.material = "1.6 MR-8";
    v.coatings = ["anti-reflective"];
    v.otherCoatings = "hydrophobic, ";
    v.frame.box_a = "52";
    const json = toOrderJson("p1", "rx1", v);
    expect(json).toEqual({
      patient_id: "p1",
      prescription_id: "rx1",
      lens_type: "progressive",
      material: "1.6 MR-8",
      coatings: ["anti-reflective", "hydrophobic"],
      frame: { box_a: 52 },
      measurements: { right_segment_height: 19, left_segment_height: 19 },
    });
  });
});

describe("Orders board", () => {
  const column = (status: OrderRecord["status"], total: number, orders: BoardOrder[] = []): BoardColumn => ({ status, total, orders });
  const grace = { id: "p1", customer_number: "C-1042", first_name: "Grace", last_name: "Hopper" };

  it("names whose order it is, marks the overdue, and says when a column shows only the newest", async () => {
    answer({
      order_board: ({ overdue_only }: Record<string, unknown>) => ({
        per_column: PER_COLUMN,
        overdue_total: 1,
        columns: overdue_only
          ? [column("draft", 1, [{ order: order("draft"), overdue: true, patient: grace }])]
          : [
              column("draft", 1, [{ order: order("draft"), overdue: true, patient: grace }]),
              column("delivered", 1432, [{ order: { ...order("delivered"), id: "o2", order_number: "L000002" }, overdue: false, patient: null }]),
            ],
      }),
    });
    renderScreen(<Orders />);
    const names = await screen.findAllByTestId("order-patient");
    expect(names.map((n) => n.textContent)).toEqual(["Hopper, Grace (C-1042)"]);
    expect(screen.getByTestId("orders-capped").textContent).toContain("1,432 delivered");
    expect(document.querySelectorAll(".order-card.overdue")).toHaveLength(1);
    expect(callsOf("order_board")[0]).toEqual({ per_column: PER_COLUMN, overdue_only: false });

    await userEvent.setup().click(screen.getByLabelText(/Only overdue \(1\)/));
    await waitFor(() => expect(callsOf("order_board").at(-1)).toEqual({ per_column: PER_COLUMN, overdue_only: true }));
    await waitFor(() => expect(screen.queryByTestId("orders-capped")).toBeNull());
    expect(screen.getAllByTestId("order-row")).toHaveLength(1);
  });
});
