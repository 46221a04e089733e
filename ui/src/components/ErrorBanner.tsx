import type { ApiError } from "../api";

/** A refusal that is about no one field, shown where it happened. */
export function ErrorBanner({ error, onDismiss }: { error: ApiError | null; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div className="banner banner-error" role="alert" data-testid="error-banner">
      <span className="banner-text">{error.message}</span>
      <code className="banner-code">{error.code}</code>
      {onDismiss && (
        <button type="button" className="btn btn-ghost btn-small" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
