// Field errors from the engine, matched to the inputs by their path (`right.sphere`, `email`).

import type { FieldError } from "./types";
import type { ApiError } from "./api";

export function errorsAt(errors: readonly FieldError[], path: string): FieldError[] {
  return errors.filter((e) => e.field === path);
}

/** The errors no input on the form shows: they are listed at the top, never dropped. */
export function unclaimed(errors: readonly FieldError[], paths: readonly string[]): FieldError[] {
  return errors.filter((e) => !paths.includes(e.field));
}

/**
 * The field errors of a refusal. A few refusals without fields are about one field all the
 * same (a customer number or an e-mail address already taken): they are put under it.
 */
export function fieldErrorsOf(error: ApiError): FieldError[] {
  if (error.fields.length > 0) return error.fields;
  const about: Record<string, string> = {
    "patient.customer_number_taken": "customer_number",
    "user.email_taken": "email",
    "order.reason_required": "reason",
  };
  const field = about[error.code];
  return field ? [{ field, code: error.code, message: error.message }] : [];
}
