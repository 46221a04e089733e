import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { FirstRun } from "../screens/FirstRun";
import { INFO } from "./render";
import { answer, callsOf } from "./tauri";

const fresh = { ...INFO, engine: { ...INFO.engine, practice: null, user: null } };

describe("FirstRun", () => {
  it("creates an offline practice with its administrator", async () => {
    const user = { id: "u1", email: "ada@example.org", first_name: "Ada", last_name: "Lovelace", role: "company_admin", status: "active", created_at: "" };
    answer({ create_practice: { practice: { company_id: "c1", name: "Harley Street Optics", time_zone: "Europe/London" }, user } });
    const onDone = vi.fn();
    render(<FirstRun info={fresh} onDone={onDone} />);
    const u = userEvent.setup();
    await u.click(screen.getByTestId("first-run-offline"));
    const tz = screen.getByTestId("practice-tz") as HTMLInputElement;
    expect(tz.value).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    await u.type(screen.getByTestId("practice-name"), "Harley Street Optics");
    await u.clear(tz);
    await u.type(tz, "Europe/London");
    await u.type(screen.getByTestId("admin-first-name"), "Ada");
    await u.type(screen.getByTestId("admin-last-name"), "Lovelace");
    await u.type(screen.getByTestId("admin-email"), "ada@example.org");
    await u.click(screen.getByTestId("first-run-submit"));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith(user));
    expect(callsOf("create_practice")).toEqual([
      {
        input: {
          name: "Harley Street Optics",
          time_zone: "Europe/London",
          admin: { email: "ada@example.org", first_name: "Ada", last_name: "Lovelace", role: "company_admin" },
        },
      },
    ]);
  });

  it("shows the engine's field errors under their inputs", async () => {
    answer({
      create_practice: () => {
        throw {
          code: "user.email_invalid",
          message: "invalid",
          fields: [{ field: "admin.email", code: "user.email_invalid", message: "admin.email is not an e-mail address" }],
        };
      },
    });
    const onDone = vi.fn();
    render(<FirstRun info={fresh} onDone={onDone} />);
    const u = userEvent.setup();
    await u.click(screen.getByTestId("first-run-offline"));
    await u.type(screen.getByTestId("practice-name"), "X");
    await u.click(screen.getByTestId("first-run-submit"));
    const error = await screen.findByText("admin.email is not an e-mail address");
    expect(error.getAttribute("data-field")).toBe("admin.email");
    expect(screen.getByTestId("admin-email").getAttribute("aria-invalid")).toBe("true");
    expect(onDone).not.toHaveBeenCalled();
  });
});
