import { useId, type InputHTMLAttributes } from "react";
import type { FieldError } from "../types";
import { errorsAt } from "../fieldErrors";
import { FieldErrors } from "./FieldErrors";

interface Props extends Omit<InputHTMLAttributes<HTMLInputElement | HTMLTextAreaElement>, "onChange"> {
  label: string;
  /** The engine's path for this field, e.g. `first_name`. */
  field: string;
  value: string;
  onChange: (value: string) => void;
  errors?: readonly FieldError[];
  testId?: string;
  hint?: string;
  multiline?: boolean;
  /** A photo could not be read into this field: highlighted for a person to fill in. */
  unread?: boolean;
}

/** A labelled input whose engine errors are shown under it and announced with it. */
export function TextField({
  label,
  field,
  value,
  onChange,
  errors = [],
  testId,
  hint,
  multiline,
  unread,
  className,
  ...rest
}: Props) {
  const id = useId();
  const errorId = `${id}-errors`;
  const hintId = `${id}-hint`;
  const invalid = errorsAt(errors, field).length > 0;
  const describedBy = [hint ? hintId : null, invalid ? errorId : null].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: field,
    value,
    "aria-invalid": invalid || undefined,
    "aria-describedby": describedBy,
    "data-testid": testId,
  };
  return (
    <div className={`field ${unread ? "field-unread " : ""}${className ?? ""}`}
      title={unread ? "Not read from the photo: fill it in from the paper" : undefined}>
      <label htmlFor={id}>
        {label}
        {unread && <span className="sr-only">, not read from the photo</span>}
      </label>
      {multiline ? (
        <textarea
          {...(rest as InputHTMLAttributes<HTMLTextAreaElement>)}
          {...common}
          rows={3}
          onChange={(e) => onChange(e.target.value)}
        />
      ) : (
        <input {...rest} {...common} onChange={(e) => onChange(e.target.value)} />
      )}
      {hint && (
        <p className="field-hint" id={hintId}>
          {hint}
        </p>
      )}
      <FieldErrors errors={errors} field={field} id={errorId} />
    </div>
  );
}
