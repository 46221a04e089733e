import type { FieldError } from "../types";
import { errorsAt } from "../fieldErrors";

/** The engine's errors for one field, under its input. */
export function FieldErrors({
  errors,
  field,
  id,
}: {
  errors: readonly FieldError[];
  field: string;
  id?: string;
}) {
  const mine = errorsAt(errors, field);
  if (mine.length === 0) return null;
  return (
    <div className="field-errors" id={id}>
      {mine.map((e, i) => (
        <p key={`${e.code}-${i}`} className="field-error" data-testid="field-error" data-field={e.field} data-code={e.code}>
          {e.message}
        </p>
      ))}
    </div>
  );
}

/** Errors that belong to no input on the form, listed so that none is silently lost. */
export function OtherErrors({ errors }: { errors: readonly FieldError[] }) {
  if (errors.length === 0) return null;
  return (
    <div className="form-errors" role="alert">
      <p className="form-errors-title">Please check:</p>
      <ul>
        {errors.map((e, i) => (
          <li key={`${e.field}-${e.code}-${i}`} data-testid="field-error" data-field={e.field} data-code={e.code}>
            <code>{e.field}</code> {e.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
