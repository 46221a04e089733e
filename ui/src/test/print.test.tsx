import { describe, expect, it } from "vitest";
import { render } from "@testing-library/react";
import { PrintPrescription } from "../components/PrintPrescription";
import type { PatientRecord, PrescriptionRecord } from "../types";

const patient = {
  id: "p1",
  data: { customer_number: "C-1", first_name: "Grace", last_name: "Hopper", date_of_birth: "1956-12-09", email: null, phone: null, address: null, notes: null },
} as unknown as PatientRecord;

const eye = { sphere: -1.25, cylinder: null, axis: null, add: null, prism_horizontal: null, prism_vertical: null, power: null, base_curve: null, diameter: null };

function rx(status: string, pd: Record<string, number | null>): PrescriptionRecord {
  return {
    id: "rx1",
    patient_id: "p1",
    data: {
      kind: "spectacle", status, right: eye, left: eye,
      pd: { binocular_distance: null, binocular_near: null, right_distance: null, left_distance: null, right_near: null, left_near: null, ...pd },
      segment_height: null, vertex_distance: null, issue_date: "2026-11-20", expiry_date: null, prescriber: "Dr Jane Smith", notes: null, contact_lens: null,
    },
    created_by: null, created_at: "2026-11-20T10:00:00Z", updated_at: "2026-11-20T10:00:00Z",
  } as unknown as PrescriptionRecord;
}

describe("PrintPrescription", () => {
  it("marks a prescription that is not active as not valid on paper", () => {
    const { container, rerender } = render(<PrintPrescription patient={patient} rx={rx("cancelled", {})} practice="Harbour Optics" />);
    expect(container.querySelector('[data-testid="print-void"]')?.textContent).toContain("NOT VALID");
    expect(container.textContent).toContain("cancelled");
    rerender(<PrintPrescription patient={patient} rx={rx("active", {})} practice="Harbour Optics" />);
    expect(container.querySelector('[data-testid="print-void"]')).toBeNull();
  });

  it("prints every PD recorded, even one eye's alone and the near PD", () => {
    const { container } = render(
      <PrintPrescription patient={patient} rx={rx("active", { binocular_near: 60, right_distance: 31.5 })} practice="Harbour Optics" />,
    );
    expect(container.textContent).toContain("near 60.0 mm");
    expect(container.textContent).toContain("R 31.5 mm");
  });

  it("prints a contact-lens prescription's lens, wear and per-eye lens values", () => {
    const base = rx("active", {});
    const lens = { ...eye, power: -1.5, base_curve: 8.6, diameter: 14.2 };
    const cl = {
      ...base,
      data: { ...base.data, kind: "contact_lens", right: lens, left: lens, contact_lens: { brand: "Acuvue Oasys", wear_duration: "2 weeks" } },
    } as unknown as PrescriptionRecord;
    const { container } = render(<PrintPrescription patient={patient} rx={cl} practice="Harbour Optics" />);
    expect(container.querySelector('[data-testid="print-contact-lens"]')?.textContent).toBe("Lens Acuvue Oasys · Wear 2 weeks");
    expect(container.textContent).toContain("Base curve");
    expect(container.textContent).toContain("14.2");
    const { container: spectacles } = render(<PrintPrescription patient={patient} rx={base} practice="Harbour Optics" />);
    expect(spectacles.querySelector('[data-testid="print-contact-lens"]')).toBeNull();
  });
});
