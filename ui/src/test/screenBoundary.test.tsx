import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import { Suspense } from "react";
import { ScreenBoundary } from "../components/ScreenBoundary";
import { lazyScreen } from "../lazyScreen";

let failing = true;
function Flaky() {
  if (failing) throw new Error("its script could not be read");
  return <p data-testid="screen-ok">Orders</p>;
}

describe("ScreenBoundary", () => {
  it("shows why a screen failed, keeps the rest of the window, and can try again", () => {
    const quiet = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const window = (place: string) => (
      <div>
        <nav data-testid="nav">Patients</nav>
        <ScreenBoundary place={place}>
          <Flaky />
        </ScreenBoundary>
      </div>
    );
    const { rerender } = render(window("orders"));
    expect(screen.getByTestId("screen-failed").textContent).toContain("its script could not be read");
    expect(screen.getByTestId("nav").textContent).toBe("Patients");
    failing = false;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(screen.getByTestId("screen-ok").textContent).toBe("Orders");

    // Failing again, then another screen opened: it is drawn afresh.
    failing = true;
    rerender(window("kb"));
    expect(screen.getByTestId("screen-failed")).toBeTruthy();
    failing = false;
    rerender(window("orders"));
    expect(screen.getByTestId("screen-ok").textContent).toBe("Orders");
    quiet.mockRestore();
  });
});

describe("lazyScreen", () => {
  it("reads a screen's script again after it could not be read, when asked to try again", async () => {
    const quiet = vi.spyOn(console, "error").mockImplementation(() => undefined);
    let readable = false;
    let reads = 0;
    const Orders = lazyScreen(async () => {
      reads += 1;
      if (!readable) throw new Error("the script could not be read");
      return function OrdersScreen({ title }: { title: string }) {
        return <p data-testid="lazy-ok">{title}</p>;
      };
    });
    render(
      <ScreenBoundary place="orders">
        <Suspense fallback={<p>Opening…</p>}>
          <Orders title="Orders" />
        </Suspense>
      </ScreenBoundary>,
    );
    expect((await screen.findByTestId("screen-failed")).textContent).toContain("the script could not be read");
    const failedReads = reads;
    readable = true;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect((await screen.findByTestId("lazy-ok")).textContent).toBe("Orders");
    expect(reads).toBe(failedReads + 1);
    quiet.mockRestore();
  });
});
