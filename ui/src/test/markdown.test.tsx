import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Markdown, markerNumbers } from "../components/Markdown";

describe("Markdown", () => {
  it("drops raw HTML, images and links (link text stays)", () => {
    const text = [
      "Fit **progressives** at pupil centre.",
      "",
      "<script>alert(1)</script><b>bold html</b><img src=x onerror=alert(1)>",
      "",
      "![a diagram](https://example.com/x.png) See [the guide](https://evil.example/steal) and <https://auto.example>.",
    ].join("\n");
    const { container } = render(<Markdown text={text} />);
    expect(container.querySelector("strong")?.textContent).toBe("progressives");
    expect(container.querySelector("script")).toBeNull();
    expect(container.querySelector("b")).toBeNull();
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("a")).toBeNull();
    expect(container.textContent).not.toContain("alert");
    expect(container.textContent).not.toContain("bold html");
    expect(container.textContent).toContain("the guide");
    expect(container.innerHTML).not.toContain("evil.example");
    expect(container.innerHTML).not.toContain("example.com/x.png");
  });

  it("turns citation markers into buttons that open the passage", async () => {
    const onCite = vi.fn();
    render(<Markdown text="Use a 19 mm fitting height [1]. See also [2, 3] and `code [4]`." onCite={onCite} known={new Set([1, 2, 3, 4])} />);
    const refs = screen.getAllByTestId("citation-ref");
    expect(refs.map((r) => r.textContent)).toEqual(["[1]", "[2]", "[3]"]);
    await userEvent.setup().click(refs[1]);
    expect(onCite).toHaveBeenCalledWith(2);
  });

  it("leaves markers of passages it was not given as text", () => {
    render(<Markdown text="As noted [7]." onCite={() => undefined} known={new Set([1])} />);
    expect(screen.queryAllByTestId("citation-ref")).toHaveLength(0);
    expect(screen.getByText("[7]")).toBeTruthy();
  });

  it("reads marker ranges", () => {
    expect(markerNumbers("1-3")).toEqual([1, 2, 3]);
    expect(markerNumbers("2, 5")).toEqual([2, 5]);
  });
});
