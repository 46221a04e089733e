import { describe, expect, it } from "vitest";
import { date, dateTime, time } from "../format";

describe("dates in the reader's locale", () => {
  it("read as the browser's own locale formatting would", () => {
    const day = new Date(Date.UTC(2024, 2, 5));
    expect(date("2024-03-05")).toBe(
      day.toLocaleDateString(undefined, { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" }),
    );
    const moment = "2024-03-05T14:07:00Z";
    expect(dateTime(moment)).toBe(new Date(moment).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    expect(time(moment)).toBe(new Date(moment).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }));
    // The same formatter serves every row.
    expect(date("1990-12-31")).toBe(
      new Date(Date.UTC(1990, 11, 31)).toLocaleDateString(undefined, {
        timeZone: "UTC",
        year: "numeric",
        month: "short",
        day: "numeric",
      }),
    );
  });

  it("leaves what is not a date as it came, and nothing as nothing", () => {
    expect(date("not a date")).toBe("not a date");
    expect(date(null)).toBe("");
    expect(dateTime("garbage")).toBe("garbage");
    expect(time("garbage")).toBe("");
  });
});
