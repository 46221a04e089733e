// Finding a patient, or adding one.

import { useEffect, useRef, useState } from "react";
import { PatientSearch } from "../components/PatientSearch";
import { PatientForm } from "../components/PatientForm";
import { Dialog } from "../components/Dialog";
import { useNavigate } from "../route";

export function Patients({ focusToken }: { focusToken: number }) {
  const navigate = useNavigate();
  const [adding, setAdding] = useState(false);
  const search = useRef<HTMLInputElement>(null);

  useEffect(() => {
    search.current?.focus();
  }, [focusToken]);

  return (
    <section className="screen" aria-labelledby="patients-title">
      <header className="screen-header">
        <h1 id="patients-title">Patients</h1>
        <button type="button" className="btn btn-primary" onClick={() => setAdding(true)} data-testid="patient-new">
          New patient
        </button>
      </header>
      <PatientSearch ref={search} onOpen={(p) => navigate({ name: "patient", id: p.id })} />
      {adding && (
        <Dialog title="New patient" onClose={() => setAdding(false)} wide>
          <PatientForm
            onCancel={() => setAdding(false)}
            onSaved={(p) => {
              setAdding(false);
              navigate({ name: "patient", id: p.id });
            }}
          />
        </Dialog>
      )}
    </section>
  );
}
