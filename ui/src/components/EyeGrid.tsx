// The refraction grid: rows R and L, columns sphere, cylinder, axis, add, prisms (and the
// contact-lens columns), each cell with the engine's errors under it.

import type { FieldError, PrismBase, RxKind } from "../types";
import type { EyeForm } from "../rxForm";
import { errorsAt } from "../fieldErrors";
import { FieldErrors } from "./FieldErrors";

type Eye = "right" | "left";

interface Props {
  kind: RxKind;
  right: EyeForm;
  left: EyeForm;
  errors: readonly FieldError[];
  /** Cells a photo could not be read into, by path (`right.axis`): highlighted for a person to fill in. */
  unread?: ReadonlySet<string>;
  onChange: (eye: Eye, key: keyof EyeForm, value: string, path: string) => void;
}

const H_BASES: PrismBase[] = ["in", "out"];
const V_BASES: PrismBase[] = ["up", "down"];

interface Column {
  key: keyof EyeForm;
  path: string;
  label: string;
  unit?: string;
  placeholder?: string;
  bases?: PrismBase[];
}

function columns(kind: RxKind): Column[] {
  const cols: Column[] = [
    { key: "sphere", path: "sphere", label: "Sphere", unit: "D", placeholder: "−1.25" },
    { key: "cylinder", path: "cylinder", label: "Cylinder", unit: "D", placeholder: "−0.50" },
    { key: "axis", path: "axis", label: "Axis", unit: "°", placeholder: "180" },
    { key: "add", path: "add", label: "Add", unit: "D", placeholder: "+2.00" },
    { key: "prism_h_amount", path: "prism_horizontal.amount", label: "Prism H", unit: "Δ" },
    { key: "prism_h_base", path: "prism_horizontal.base", label: "Base H", bases: H_BASES },
    { key: "prism_v_amount", path: "prism_vertical.amount", label: "Prism V", unit: "Δ" },
    { key: "prism_v_base", path: "prism_vertical.base", label: "Base V", bases: V_BASES },
  ];
  if (kind === "contact_lens") {
    cols.push(
      { key: "power", path: "power", label: "Power", unit: "D" },
      { key: "base_curve", path: "base_curve", label: "Base curve", unit: "mm", placeholder: "8.6" },
      { key: "diameter", path: "diameter", label: "Diameter", unit: "mm", placeholder: "14.2" },
    );
  }
  return cols;
}

/** The test id of a cell: rx-right-sphere, rx-left-prism_h_amount, … */
function testId(eye: Eye, key: keyof EyeForm): string {
  return `rx-${eye}-${key}`;
}

const NONE: ReadonlySet<string> = new Set();

export function EyeGrid({ kind, right, left, errors, unread = NONE, onChange }: Props) {
  const cols = columns(kind);
  const rows: [Eye, string, EyeForm][] = [
    ["right", "R", right],
    ["left", "L", left],
  ];
  return (
    <table className="rx-grid">
      <thead>
        <tr>
          <th scope="col">
            <span className="sr-only">Eye</span>
          </th>
          {cols.map((c) => (
            <th scope="col" key={c.key}>
              {c.label}
              {c.unit && <span className="unit"> {c.unit}</span>}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(([eye, short, values]) => (
          <tr key={eye}>
            <th scope="row" title={eye === "right" ? "Right eye (OD)" : "Left eye (OS)"}>
              {short}
            </th>
            {cols.map((c) => {
              const path = `${eye}.${c.path}`;
              const id = `rx-${eye}-${c.key}`;
              const errorId = `${id}-errors`;
              const invalid = errorsAt(errors, path).length > 0 || (c.key === "sphere" && errorsAt(errors, eye).length > 0);
              const notRead = unread.has(path);
              const label = `${eye === "right" ? "Right" : "Left"} ${c.label.toLowerCase()}`;
              const className = [invalid ? "cell-invalid" : "", notRead ? "cell-unread" : ""].filter(Boolean).join(" ");
              return (
                <td key={c.key} className={className || undefined} data-cell={path}
                  title={notRead ? "Not read from the photo: fill it in from the paper" : undefined}>
                  <label htmlFor={id} className="sr-only">
                    {label}
                    {notRead && ", not read from the photo"}
                  </label>
                  {c.bases ? (
                    <select
                      id={id}
                      value={values[c.key]}
                      onChange={(e) => onChange(eye, c.key, e.target.value, path)}
                      aria-invalid={invalid || undefined}
                      aria-describedby={invalid ? errorId : undefined}
                      data-testid={testId(eye, c.key)}
                    >
                      <option value="">—</option>
                      {c.bases.map((b) => (
                        <option key={b} value={b}>
                          {b}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <input
                      id={id}
                      inputMode="decimal"
                      autoComplete="off"
                      spellCheck={false}
                      placeholder={c.placeholder}
                      value={values[c.key]}
                      onChange={(e) => onChange(eye, c.key, e.target.value, path)}
                      aria-invalid={invalid || undefined}
                      aria-describedby={invalid ? errorId : undefined}
                      data-testid={testId(eye, c.key)}
                    />
                  )}
                  <div id={errorId}>
                    <FieldErrors errors={errors} field={path} />
                    {c.key === "sphere" && <FieldErrors errors={errors} field={eye} />}
                  </div>
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
