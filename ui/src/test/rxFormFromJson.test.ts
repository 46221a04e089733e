import { describe, expect, it } from "vitest";
import { emptyRxForm, hasBothPds, rxFormFromJson, rxPaths, toRxJson } from "../rxForm";

// The fields a photo is read into (ils-core rx/capture.rs FIELDS), with a value of each as the
// capture gives it.
const SAMPLES: Record<string, unknown> = {
  "right.sphere": -2.25,
  "right.cylinder": -0.5,
  "right.axis": 180,
  "right.add": 2,
  "right.prism_horizontal.amount": 1.5,
  "right.prism_horizontal.base": "in",
  "right.prism_vertical.amount": 0.5,
  "right.prism_vertical.base": "up",
  "right.power": -2.5,
  "right.base_curve": 8.6,
  "right.diameter": 14.2,
  "left.sphere": 0,
  "left.cylinder": -1.75,
  "left.axis": 5,
  "left.add": 2.25,
  "left.prism_horizontal.amount": 2,
  "left.prism_horizontal.base": "out",
  "left.prism_vertical.amount": 1,
  "left.prism_vertical.base": "down",
  "left.power": 1.25,
  "left.base_curve": 8.4,
  "left.diameter": 14,
  "pd.binocular_distance": 64,
  "pd.binocular_near": 61,
  "pd.right_distance": 32,
  "pd.left_distance": 31.5,
  "pd.right_near": 30.5,
  "pd.left_near": 30,
  segment_height: 18,
  vertex_distance: 12,
  issue_date: "2026-11-28",
  expiry_date: "2028-11-28",
  prescriber: "J. Patel MCOptom",
  "contact_lens.brand": "Acuvue Oasys",
  "contact_lens.wear_duration": "2 weeks",
};

function at(json: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], json);
}

function withField(json: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const parts = path.split(".");
  let o = json;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]] = value;
  return json;
}

const lensField = (path: string) => /\.(power|base_curve|diameter)$/.test(path) || path.startsWith("contact_lens.");

describe("rxFormFromJson", () => {
  it("round-trips a whole spectacle draft: toRxJson gives back every field read", () => {
    const draft = {
      kind: "spectacle",
      right: { sphere: -2.25, cylinder: -0.5, axis: 180, add: 2, prism_horizontal: { amount: 1, base: "in" } },
      left: { sphere: 0, add: 2 },
      pd: { binocular_distance: 64 },
      issue_date: "2026-11-28",
      prescriber: "J. Patel MCOptom",
    };
    const form = rxFormFromJson(draft);
    expect(form.right.sphere).toBe("-2.25");
    expect(form.left.sphere).toBe("0");
    expect(form.right.prism_h_base).toBe("in");
    expect(form.pdMode).toBe("binocular");
    // A draft has no status: the form's default is added, nothing else.
    expect(toRxJson(form)).toEqual({ ...draft, status: "active" });
  });

  it("round-trips a contact-lens prescription with per-eye PDs, prisms and every text field", () => {
    const rx = {
      kind: "contact_lens",
      status: "draft",
      right: { sphere: -3, power: -2.75, base_curve: 8.6, diameter: 14.2, prism_vertical: { amount: 0.5, base: "up" } },
      left: { sphere: -2.5, cylinder: -0.75, axis: 90, power: -2.25, base_curve: 8.6, diameter: 14.2 },
      pd: { right_distance: 32, left_distance: 31.5, right_near: 30, left_near: 29.5 },
      segment_height: 18,
      vertex_distance: 12,
      issue_date: "2026-11-28",
      expiry_date: "2027-11-28",
      prescriber: "Dr Jane Smith",
      notes: "Trial pair first",
      contact_lens: { brand: "Acuvue Oasys", wear_duration: "2 weeks" },
    };
    const form = rxFormFromJson(rx, "2026-12-02");
    expect(form.pdMode).toBe("monocular");
    expect(form.kind).toBe("contact_lens");
    expect(toRxJson(form)).toEqual(rx);
  });

  it("keeps each field a capture reads, one at a time", () => {
    for (const [path, value] of Object.entries(SAMPLES)) {
      const json = withField({ kind: lensField(path) ? "contact_lens" : "spectacle" }, path, value);
      const back = toRxJson(rxFormFromJson(json));
      expect(at(back, path), path).toEqual(value);
    }
  });

  it("is undone by toRxJson the other way round too", () => {
    const form = emptyRxForm("2026-11-02");
    form.kind = "contact_lens";
    form.right = { ...form.right, sphere: "-1.25", cylinder: "-0.5", axis: "180", power: "-1.5" };
    form.left = { ...form.left, sphere: "2", prism_h_amount: "1", prism_h_base: "out" };
    form.pd.binocular_distance = "63.5";
    form.prescriber = "Dr Smith";
    form.brand = "Biofinity";
    expect(rxFormFromJson(toRxJson(form))).toEqual(form);
  });

  it("leaves what was not read empty, the issue date too unless today is given", () => {
    const form = rxFormFromJson({ kind: "spectacle", right: { sphere: -1 } });
    expect(form.issue_date).toBe("");
    expect(form.prescriber).toBe("");
    expect(form.left.sphere).toBe("");
    expect(form.right.axis).toBe("");
    expect(rxFormFromJson({}, "2026-12-02").issue_date).toBe("2026-12-02");
    expect(rxFormFromJson({ issue_date: "2026-11-01" }, "2026-12-02").issue_date).toBe("2026-11-01");
    expect(toRxJson(form)).toEqual({ kind: "spectacle", status: "active", right: { sphere: -1 }, left: {} });
  });

  it("tells the kind from the contact-lens fields when it was not read, and copes with nonsense", () => {
    expect(rxFormFromJson({ right: { sphere: -1, base_curve: 8.6 } }).kind).toBe("contact_lens");
    expect(rxFormFromJson({ contact_lens: { brand: "Dailies" } }).kind).toBe("contact_lens");
    expect(rxFormFromJson({ right: { sphere: -1 } }).kind).toBe("spectacle");
    expect(rxFormFromJson({ kind: "spectacle", right: { power: -1 } }).kind).toBe("spectacle");
    expect(rxFormFromJson(null)).toEqual(emptyRxForm(""));
    expect(rxFormFromJson({ right: "x", pd: [1], status: "cancelled" })).toEqual(emptyRxForm(""));
    // Text in a number's place is kept as it is, so the engine names it.
    expect(rxFormFromJson({ right: { axis: "ninety" } }).right.axis).toBe("ninety");
  });

  it("uses the binocular PD when both were read, keeping the per-eye ones in the form", () => {
    const json = { pd: { binocular_distance: 64, right_distance: 32 } };
    const form = rxFormFromJson(json);
    expect(form.pdMode).toBe("binocular");
    expect(form.pd.right_distance).toBe("32");
    expect(hasBothPds(json)).toBe(true);
    expect(hasBothPds({ pd: { right_distance: 32 } })).toBe(false);
  });
});

describe("rxPaths", () => {
  it("names only the cells shown for a kind and PD mode", () => {
    const spectacle = rxPaths("spectacle", "binocular");
    expect(spectacle).toContain("right.axis");
    expect(spectacle).toContain("pd.binocular_distance");
    expect(spectacle).not.toContain("right.power");
    expect(spectacle).not.toContain("contact_lens.brand");
    expect(spectacle).not.toContain("pd.right_distance");
    const lens = rxPaths("contact_lens", "monocular");
    expect(lens).toContain("left.diameter");
    expect(lens).toContain("pd.right_near");
    expect(lens).not.toContain("pd.binocular_near");
    expect(rxPaths()).toEqual(expect.arrayContaining([...spectacle, ...lens]));
  });
});
