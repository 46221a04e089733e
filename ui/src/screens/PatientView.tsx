// One patient: details (edit), prescriptions (export, print, order, status) and orders.

import { useEffect, useRef, useState } from "react";
import * as api from "../api";
import { useLoad } from "../hooks";
import { useNavigate } from "../route";
import { useNotify } from "../notify";
import { useSession } from "../session";
import { allows, rxNextStatuses } from "../permissions";
import type { OrderRecord, PatientPage, PrescriptionRecord, RxStatus } from "../types";
import { date, fullName, humanise, rxSummary } from "../format";
import { Confirm, Dialog } from "../components/Dialog";
import { PatientForm } from "../components/PatientForm";
import { ExportDialog } from "../components/ExportDialog";
import { ErrorBanner } from "../components/ErrorBanner";
import { OrderForm } from "../components/OrderForm";
import { OrderDetail } from "../components/OrderDetail";
import { OrderStatusBadge } from "../components/OrderStatusBadge";
import { PrintPrescription } from "../components/PrintPrescription";

type Open =
  | { kind: "none" }
  | { kind: "edit" }
  | { kind: "fhir"; rx: PrescriptionRecord; text: string }
  | { kind: "order-new"; rx: PrescriptionRecord }
  | { kind: "order"; order: OrderRecord }
  | { kind: "status"; rx: PrescriptionRecord; to: RxStatus };

const STATUS_VERB: Record<RxStatus, string> = {
  draft: "Make draft",
  active: "Activate",
  cancelled: "Cancel",
  entered_in_error: "Entered in error",
};

export function PatientView({ id }: { id: string }) {
  const { data, error, loading, reload } = useLoad(id, api.patientPage);
  const [open, setOpen] = useState<Open>({ kind: "none" });
  const [printing, setPrinting] = useState<PrescriptionRecord | null>(null);
  // One status change at a time: a second click while the first runs would be refused by the
  // engine and its error would replace the notice of the change that did happen.
  const changing = useRef(false);
  const { showError, showInfo } = useNotify();
  const { user, info } = useSession();
  const navigate = useNavigate();
  const close = () => setOpen({ kind: "none" });

  // Print once the print-only copy of the prescription is in the page.
  useEffect(() => {
    if (!printing) return;
    const done = () => setPrinting(null);
    window.addEventListener("afterprint", done);
    const timer = setTimeout(() => {
      try {
        window.print();
      } catch {
        // Some webviews have no print dialog; nothing else to do.
      }
    }, 0);
    return () => {
      clearTimeout(timer);
      window.removeEventListener("afterprint", done);
    };
  }, [printing]);

  if (error) return <ErrorBanner error={error} />;
  if (!data) return <p className="muted" aria-busy={loading}>Loading the patient…</p>;
  const page: PatientPage = data;
  const p = page.patient.data;

  const exportFhir = async (rx: PrescriptionRecord) => {
    try {
      const fhir = await api.prescriptionFhir(rx.id);
      setOpen({ kind: "fhir", rx, text: JSON.stringify(fhir, null, 2) });
    } catch (e) {
      showError(e);
    }
  };

  const setStatus = async (rx: PrescriptionRecord, to: RxStatus) => {
    close();
    if (changing.current) return;
    changing.current = true;
    try {
      await api.setPrescriptionStatus(rx.id, to);
      showInfo(`The prescription is now ${humanise(to).toLowerCase()}.`);
      reload();
    } catch (e) {
      showError(e);
    } finally {
      changing.current = false;
    }
  };

  // Actions are offered to every role; the engine refuses what a role may not do, and says so.
  // Status changes are the exception: they are offered to those who write prescriptions.
  const canWriteRx = allows(user.abilities, "prescriptions:write");

  return (
    <section className="screen patient-page" data-testid="patient-page" aria-labelledby="patient-name">
      <header className="screen-header">
        <div>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => navigate({ name: "patients" })}>
            ← Patients
          </button>
          <h1 id="patient-name" data-testid="patient-name">
            {fullName(p)}
          </h1>
          <p className="muted">
            {p.customer_number} · born {date(p.date_of_birth)}
          </p>
        </div>
        <div className="header-actions">
          <button type="button" className="btn" onClick={() => navigate({ name: "activity", entityId: page.patient.id })}>
            Activity
          </button>
          <button type="button" className="btn" onClick={() => setOpen({ kind: "edit" })} data-testid="patient-edit">
            Edit details
          </button>
        </div>
      </header>

      <dl className="details">
        <div><dt>E-mail</dt><dd>{p.email ?? "—"}</dd></div>
        <div><dt>Phone</dt><dd>{p.phone ?? "—"}</dd></div>
        <div><dt>Address</dt><dd className="pre-line">{p.address ?? "—"}</dd></div>
        <div><dt>Notes</dt><dd className="pre-line">{p.notes ?? "—"}</dd></div>
      </dl>

      <section className="panel" aria-labelledby="rx-title">
        <header className="panel-header">
          <h2 id="rx-title">Prescriptions</h2>
          <button type="button" className="btn btn-primary" data-testid="rx-new"
            onClick={() => navigate({ name: "rx-new", patientId: page.patient.id })}>
            New prescription
          </button>
        </header>
        {page.prescriptions.length === 0 ? (
          <p className="muted">No prescriptions yet.</p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Issued</th>
                <th scope="col">Prescriber</th>
                <th scope="col">Status</th>
                <th scope="col">Prescription</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {page.prescriptions.map((rx) => (
                <tr key={rx.id} data-testid="rx-row" data-rx-id={rx.id}>
                  <td>{date(rx.data.issue_date)}</td>
                  <td>{rx.data.prescriber}</td>
                  <td>
                    <span className={`badge badge-rx-${rx.data.status}`} data-testid="rx-status">{rx.data.status}</span>
                    {rx.data.kind === "contact_lens" && <span className="badge">contact lens</span>}
                  </td>
                  <td className="rx-summary">{rxSummary(rx.data)}</td>
                  <td className="row-actions">
                    <div>
                    {rx.data.status === "active" && rx.data.kind === "spectacle" && (
                      <button type="button" className="btn btn-small" data-testid="rx-order"
                        onClick={() => setOpen({ kind: "order-new", rx })}>
                        Order
                      </button>
                    )}
                    <button type="button" className="btn btn-small" data-testid="rx-fhir" onClick={() => void exportFhir(rx)}>
                      FHIR
                    </button>
                    <button type="button" className="btn btn-small" data-testid="rx-print" onClick={() => setPrinting(rx)}>
                      Print
                    </button>
                    {canWriteRx &&
                      rxNextStatuses(rx.data.status, user.abilities).map((to) => (
                        <button key={to} type="button" className={`btn btn-small${to === "active" ? "" : " btn-quiet"}`}
                          data-testid={`rx-status-${to}`}
                          onClick={() => (to === "active" ? void setStatus(rx, to) : setOpen({ kind: "status", rx, to }))}>
                          {STATUS_VERB[to]}
                        </button>
                      ))}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="panel" aria-labelledby="orders-title">
        <header className="panel-header">
          <h2 id="orders-title">Orders</h2>
        </header>
        {page.orders.length === 0 ? (
          <p className="muted">No orders yet.</p>
        ) : (
          <ul className="order-list">
            {page.orders.map((o) => (
              <li key={o.id}>
                <button type="button" className="order-row" data-testid="order-row" data-order-id={o.id}
                  onClick={() => setOpen({ kind: "order", order: o })}>
                  <span className="order-number">{o.order_number}</span>
                  <OrderStatusBadge status={o.status} />
                  <span>{humanise(o.data.lens_type)} · {o.data.material}</span>
                  <span className="muted">{o.data.promised_date ? `promised ${date(o.data.promised_date)}` : ""}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>

      {open.kind === "edit" && (
        <Dialog title="Edit patient" onClose={close} wide>
          <PatientForm patient={page.patient} onCancel={close} onSaved={() => { close(); reload(); }} />
        </Dialog>
      )}
      {open.kind === "fhir" && (
        <ExportDialog title="FHIR VisionPrescription" text={open.text} mimeType="application/fhir+json"
          fileName={`prescription-${open.rx.data.issue_date}-${p.customer_number}.json`} onClose={close} />
      )}
      {open.kind === "order-new" && (
        <Dialog title="New order" onClose={close} wide>
          <OrderForm patientId={page.patient.id} prescription={open.rx} 
            onCancel={close}
            onSaved={(o) => {
              reload();
              setOpen({ kind: "order", order: o });
            }} />
        </Dialog>
      )}
      {open.kind === "order" && (
        <OrderDetail order={open.order} onClose={close} onChanged={reload} />
      )}
      {open.kind === "status" && (
        <Confirm
          title={STATUS_VERB[open.to]}
          text={`Mark the prescription of ${date(open.rx.data.issue_date)} as ${humanise(open.to).toLowerCase()}? This cannot be undone.`}
          confirmLabel={STATUS_VERB[open.to]}
          danger
          onCancel={close}
          onConfirm={() => void setStatus(open.rx, open.to)}
        />
      )}
      {printing && <PrintPrescription patient={page.patient} rx={printing} practice={info.engine.practice?.name ?? ""} />}
    </section>
  );
}
