// The one prescription the print stylesheet shows (everything else is hidden when printing).

import type { PatientRecord, PrescriptionRecord, EyeRx } from "../types";
import { date, dioptres, fullName, humanise, millimetres } from "../format";

function prism(p: EyeRx["prism_horizontal"]): string {
  return p ? `${dioptres(p.amount).replace("+", "")} ${p.base}` : "";
}

export function PrintPrescription({
  patient,
  rx,
  practice,
}: {
  patient: PatientRecord;
  rx: PrescriptionRecord;
  practice: string;
}) {
  const d = rx.data;
  const eyes: [string, EyeRx][] = [
    ["R", d.right],
    ["L", d.left],
  ];
  // Every PD recorded, each as it was written: none is dropped because its partner is missing.
  const mm = (v: number | null) => (v === null ? null : `${v.toFixed(1)} mm`);
  const pd = [
    mm(d.pd.binocular_distance) && `distance ${mm(d.pd.binocular_distance)}`,
    mm(d.pd.binocular_near) && `near ${mm(d.pd.binocular_near)}`,
    mm(d.pd.right_distance) && `R ${mm(d.pd.right_distance)}`,
    mm(d.pd.left_distance) && `L ${mm(d.pd.left_distance)}`,
    mm(d.pd.right_near) && `R near ${mm(d.pd.right_near)}`,
    mm(d.pd.left_near) && `L near ${mm(d.pd.left_near)}`,
  ]
    .filter(Boolean)
    .join(" · ");
  return (
    <article className="print-only" aria-hidden="true">
      <h1>{practice}</h1>
      <h2>{humanise(d.kind)} prescription</h2>
      {d.status !== "active" && (
        // A prescription that is not active must never pass for one on paper.
        <p className="print-void" data-testid="print-void">
          NOT VALID — this prescription is {humanise(d.status).toLowerCase()}
        </p>
      )}
      <p>
        <strong>{fullName(patient.data)}</strong> · {patient.data.customer_number} · born {date(patient.data.date_of_birth)}
      </p>
      <table className="print-table">
        <thead>
          <tr>
            <th />
            <th>Sphere</th>
            <th>Cylinder</th>
            <th>Axis</th>
            <th>Add</th>
            <th>Prism H</th>
            <th>Prism V</th>
            {d.kind === "contact_lens" && (
              <>
                <th>Power</th>
                <th>Base curve</th>
                <th>Diameter</th>
              </>
            )}
          </tr>
        </thead>
        <tbody>
          {eyes.map(([label, e]) => (
            <tr key={label}>
              <th>{label}</th>
              <td>{dioptres(e.sphere)}</td>
              <td>{dioptres(e.cylinder)}</td>
              <td>{e.axis ?? ""}</td>
              <td>{dioptres(e.add)}</td>
              <td>{prism(e.prism_horizontal)}</td>
              <td>{prism(e.prism_vertical)}</td>
              {d.kind === "contact_lens" && (
                <>
                  <td>{dioptres(e.power)}</td>
                  <td>{millimetres(e.base_curve)}</td>
                  <td>{millimetres(e.diameter)}</td>
                </>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        {pd && <>PD {pd} · </>}
        {d.segment_height !== null && <>Segment height {millimetres(d.segment_height)} · </>}
        {d.vertex_distance !== null && <>Vertex {millimetres(d.vertex_distance)}</>}
      </p>
      {d.kind === "contact_lens" && d.contact_lens && (d.contact_lens.brand || d.contact_lens.wear_duration) && (
        <p data-testid="print-contact-lens">
          {d.contact_lens.brand && <>Lens {d.contact_lens.brand}</>}
          {d.contact_lens.brand && d.contact_lens.wear_duration && " · "}
          {d.contact_lens.wear_duration && <>Wear {d.contact_lens.wear_duration}</>}
        </p>
      )}
      <p>
        Issued {date(d.issue_date)} by {d.prescriber}
        {d.expiry_date && <> · valid until {date(d.expiry_date)}</>}
      </p>
      {d.notes && <p className="pre-line">{d.notes}</p>}
    </article>
  );
}
