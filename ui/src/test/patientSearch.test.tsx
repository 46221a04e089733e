import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, act } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { PatientSearch, findPatients, looksLikeCustomerNumber } from "../components/PatientSearch";
import type { PatientRecord } from "../types";
import { callsOf, deferred, mockInvoke } from "./tauri";

function patient(id: string, first: string, last: string, number = `C-${id}`): PatientRecord {
  return {
    id,
    data: {
      customer_number: number,
      first_name: first,
      last_name: last,
      date_of_birth: "1984-03-07",
      email: null,
      phone: null,
      address: null,
      notes: null,
    },
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    deleted_at: null,
  };
}

const names = () => screen.queryAllByTestId("patient-row").map((r) => r.textContent);

describe("looksLikeCustomerNumber", () => {
  it.each([
    ["C-1042", true],
    ["1042", true],
    ["AB-CD", true],
    ["Ada", false],
    ["Lovelace", false],
    ["Ada Lovelace", false],
  ])("%s → %s", (text, expected) => {
    expect(looksLikeCustomerNumber(text)).toBe(expected);
  });
});

describe("findPatients", () => {
  it("also searches by customer number when the text looks like one, without duplicates", async () => {
    const ada = patient("1", "Ada", "Lovelace", "C-1042");
    mockInvoke.mockImplementation(async (_c: string, args?: unknown) => {
      const q = (args as { query: Record<string, string> }).query;
      return q.customer_number === "C-1042" ? [ada] : [ada];
    });
    const found = await findPatients("C-1042");
    expect(found.map((p) => p.id)).toEqual(["1"]);
    const queries = callsOf("search_patients").map((a) => a.query);
    expect(queries).toContainEqual({ name_prefix: "C-1042" });
    expect(queries).toContainEqual({ customer_number: "C-1042" });
  });

  it("with two words, searches the first and keeps patients whose names begin with both", async () => {
    mockInvoke.mockResolvedValue([patient("1", "Ada", "Lovelace"), patient("2", "Ada", "Byron")]);
    const found = await findPatients("ada love");
    expect(found.map((p) => p.id)).toEqual(["1"]);
    expect(callsOf("search_patients")[0].query).toEqual({ name_prefix: "ada" });
  });
});

describe("PatientSearch", () => {
  it("waits for typing to pause, then searches once with the whole text", async () => {
    mockInvoke.mockResolvedValue([]);
    render(<PatientSearch onOpen={() => undefined} />);
    await waitFor(() => expect(callsOf("search_patients")).toHaveLength(1)); // the initial list
    const user = userEvent.setup();
    await user.type(screen.getByTestId("patient-search"), "Lov");
    await waitFor(() => expect(callsOf("search_patients")).toHaveLength(2));
    await new Promise((r) => setTimeout(r, 200));
    const queries = callsOf("search_patients").map((a) => a.query);
    expect(queries).toEqual([{}, { name_prefix: "Lov" }]);
  });

  it("never shows an older answer after a newer one", async () => {
    const first = deferred<PatientRecord[]>();
    const second = deferred<PatientRecord[]>();
    mockInvoke.mockImplementation(async (_c: string, args?: unknown) => {
      const q = (args as { query: Record<string, string> }).query;
      if (!q.name_prefix) return [];
      return q.name_prefix === "Lo" ? first.promise : second.promise;
    });
    render(<PatientSearch onOpen={() => undefined} />);
    const user = userEvent.setup();
    const input = screen.getByTestId("patient-search");
    await user.type(input, "Lo");
    await waitFor(() => expect(callsOf("search_patients").some((a) => (a.query as { name_prefix?: string }).name_prefix === "Lo")).toBe(true));
    await user.type(input, "v");
    await waitFor(() => expect(callsOf("search_patients").some((a) => (a.query as { name_prefix?: string }).name_prefix === "Lov")).toBe(true));
    // The newer search answers first, then the older one arrives late.
    await act(async () => second.resolve([patient("1", "Ada", "Lovelace")]));
    await waitFor(() => expect(names()).toHaveLength(1));
    await act(async () => first.resolve([patient("2", "Lola", "Logan"), patient("3", "Lou", "Long")]));
    await new Promise((r) => setTimeout(r, 50));
    expect(names()).toHaveLength(1);
    expect(names()[0]).toContain("Lovelace");
  });

  it("moves through the results with the arrow keys and opens one with Enter", async () => {
    const list = [patient("1", "Ada", "Lovelace"), patient("2", "Grace", "Hopper"), patient("3", "Mary", "Somerville")];
    mockInvoke.mockResolvedValue(list);
    const onOpen = vi.fn();
    render(<PatientSearch onOpen={onOpen} />);
    await waitFor(() => expect(names()).toHaveLength(3));
    const input = screen.getByTestId("patient-search");
    const user = userEvent.setup();
    await user.click(input);
    await user.keyboard("{ArrowDown}{ArrowDown}{ArrowDown}{ArrowUp}");
    const rows = screen.getAllByTestId("patient-row");
    expect(rows[1].getAttribute("aria-selected")).toBe("true");
    expect(input.getAttribute("aria-activedescendant")).toBe(rows[1].id);
    await user.keyboard("{Enter}");
    expect(onOpen).toHaveBeenCalledTimes(1);
    expect(onOpen.mock.calls[0][0].id).toBe("2");
  });

  it("opens a patient on click", async () => {
    mockInvoke.mockResolvedValue([patient("9", "Ada", "Lovelace")]);
    const onOpen = vi.fn();
    render(<PatientSearch onOpen={onOpen} />);
    const row = await screen.findByTestId("patient-row");
    await userEvent.setup().click(row);
    expect(onOpen.mock.calls[0][0].id).toBe("9");
  });
});
