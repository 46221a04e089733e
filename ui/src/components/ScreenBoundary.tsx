// A screen that fails to draw (a fault in its code, or its script not read) is replaced by a
// plain message with "Try again"; the navigation and the rest of the window stay usable, and
// nothing typed elsewhere is lost. Opening another screen (a new `place`) starts afresh.

import { Component, type ReactNode } from "react";

interface Props {
  /** Where the window is; when it changes, a failure shown is forgotten. */
  place: string;
  children: ReactNode;
}

interface State {
  failure: Error | null;
}

export class ScreenBoundary extends Component<Props, State> {
  state: State = { failure: null };

  static getDerivedStateFromError(failure: unknown): State {
    return { failure: failure instanceof Error ? failure : new Error(String(failure)) };
  }

  componentDidCatch(failure: unknown): void {
    console.error("a screen failed to draw", failure);
  }

  componentDidUpdate(before: Props): void {
    if (before.place !== this.props.place && this.state.failure) this.setState({ failure: null });
  }

  render(): ReactNode {
    const { failure } = this.state;
    if (!failure) return this.props.children;
    return (
      <div className="banner banner-error" role="alert" data-testid="screen-failed">
        <span className="banner-text">
          This screen could not be shown ({failure.message}). Nothing has been changed; another screen can be opened
          from the left.
        </span>
        <button type="button" className="btn btn-ghost btn-small" onClick={() => this.setState({ failure: null })}>
          Try again
        </button>
      </div>
    );
  }
}
