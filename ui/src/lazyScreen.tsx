// A screen whose script is read on first need (React.lazy), and read again after a failure.
// React.lazy keeps a failed load for good, so "Try again" (components/ScreenBoundary.tsx) would
// only show the same failure; here a failed load is replaced by a fresh one before the failure
// reaches the boundary.

import { lazy, type ComponentType, type LazyExoticComponent } from "react";

export function lazyScreen<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  const make = (): LazyExoticComponent<ComponentType<P>> =>
    lazy(() =>
      load().then(
        (component) => ({ default: component }),
        (failure: unknown) => {
          current = make();
          throw failure;
        },
      ),
    );
  let current = make();
  return function Screen(props: P) {
    const Current = current;
    return <Current {...props} />;
  };
}
