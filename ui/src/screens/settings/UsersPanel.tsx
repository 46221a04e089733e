// The practice's users on this computer, and adding one (administrators).

import { useState, type FormEvent } from "react";
import * as api from "../../api";
import { useLoad, useSubmit } from "../../hooks";
import type { Role } from "../../types";
import { unclaimed } from "../../fieldErrors";
import { TextField } from "../../components/TextField";
import { FieldErrors, OtherErrors } from "../../components/FieldErrors";
import { ErrorBanner } from "../../components/ErrorBanner";
import { fullName, humanise } from "../../format";
import { useNotify } from "../../notify";

/** The roles a practice gives its own users (never platform_admin; see store/practice.rs). */
const ASSIGNABLE: Role[] = ["ecp", "lab_tech", "engineer", "company_admin"];
const ROLE_LABEL: Record<Role, string> = {
  ecp: "Eye-care professional",
  lab_tech: "Lab technician",
  engineer: "Engineer",
  company_admin: "Administrator",
  platform_admin: "Platform administrator",
};

export function UsersPanel() {
  const list = useLoad("users", api.users);
  const [email, setEmail] = useState("");
  const [firstName, setFirstName] = useState("");
  const [lastName, setLastName] = useState("");
  const [role, setRole] = useState<Role>("ecp");
  const { busy, errors, failure, run } = useSubmit();
  const { showInfo } = useNotify();

  const add = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const user = await api.addUser({ email: email.trim(), first_name: firstName.trim(), last_name: lastName.trim(), role });
      showInfo(`${fullName(user)} can now sign in on this computer.`);
      setEmail("");
      setFirstName("");
      setLastName("");
      list.reload();
    });
  };

  return (
    <>
      {list.error ? (
        <p className="muted">{list.error.code === "auth.forbidden" ? "Only administrators see the list of users." : list.error.message}</p>
      ) : (
        <table className="table">
          <thead>
            <tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Status</th></tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((u) => (
              <tr key={u.id}>
                <td>{fullName(u)}</td>
                <td>{u.email}</td>
                <td>{ROLE_LABEL[u.role] ?? humanise(u.role)}</td>
                <td>{u.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="form" onSubmit={add} data-testid="user-form">
        <h3>Add a user</h3>
        <ErrorBanner error={failure} />
        <OtherErrors errors={unclaimed(errors, ["email", "first_name", "last_name", "role"])} />
        <div className="row-4">
          <TextField label="First name" field="first_name" testId="user-first-name" value={firstName} onChange={setFirstName} errors={errors} required />
          <TextField label="Last name" field="last_name" testId="user-last-name" value={lastName} onChange={setLastName} errors={errors} required />
          <TextField label="E-mail" field="email" testId="user-email" type="email" value={email} onChange={setEmail} errors={errors} required />
          <div className="field">
            <label htmlFor="new-user-role">Role</label>
            <select id="new-user-role" data-testid="user-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ASSIGNABLE.map((r) => (
                <option key={r} value={r}>{ROLE_LABEL[r]}</option>
              ))}
            </select>
            <FieldErrors errors={errors} field="role" />
          </div>
        </div>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="user-add">
            {busy ? "Adding…" : "Add user"}
          </button>
        </div>
      </form>
    </>
  );
}
