import { describe, expect, test } from "vitest";
import {
  exportKeyProblem,
  MAX_RECENT_EXPORTS,
  newSeed,
  previewCustomer,
  recentExports,
  rememberExport,
  type KeyValueStore,
} from "../src/logic/audienceSample";

class MemoryStore implements KeyValueStore {
  values = new Map<string, string>();
  getItem(key: string) {
    return this.values.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.values.set(key, value);
  }
}

describe("recent exports", () => {
  test("newest first, without repeats, bounded, per retailer", () => {
    const store = new MemoryStore();
    for (let i = 0; i < MAX_RECENT_EXPORTS + 2; i++) rememberExport(store, "alpine", `alpine/uploads/${i}.jsonl`);
    rememberExport(store, "alpine", "alpine/uploads/3.jsonl");
    rememberExport(store, "harbor", "harbor/uploads/h.jsonl");
    const keys = recentExports(store, "alpine");
    expect(keys).toHaveLength(MAX_RECENT_EXPORTS);
    expect(keys[0]).toBe("alpine/uploads/3.jsonl");
    expect(keys.filter((k) => k === "alpine/uploads/3.jsonl")).toHaveLength(1);
    expect(keys).not.toContain("alpine/uploads/0.jsonl");
    expect(recentExports(store, "harbor")).toEqual(["harbor/uploads/h.jsonl"]);
  });

  test("a garbled or foreign entry is ignored", () => {
    const store = new MemoryStore();
    store.setItem("storecast.recentExports.alpine", "not json");
    expect(recentExports(store, "alpine")).toEqual([]);
    store.setItem("storecast.recentExports.alpine", JSON.stringify(["harbor/x.jsonl", 3, "alpine/a.jsonl"]));
    expect(recentExports(store, "alpine")).toEqual(["alpine/a.jsonl"]);
  });
});

describe("sample customers", () => {
  test("a key outside the retailer's prefix is refused before asking", () => {
    expect(exportKeyProblem("alpine", "")).toMatch(/name an export/);
    expect(exportKeyProblem("alpine", "harbor/a.jsonl")).toMatch(/alpine\//);
    expect(exportKeyProblem("alpine", "alpine/uploads/a.jsonl")).toBeNull();
  });

  test("seeds are whole numbers that differ", () => {
    expect(newSeed(() => 0.5)).toBe(2 ** 31);
    expect(newSeed(() => 0)).not.toBe(newSeed(() => 0.25));
    expect(Number.isInteger(newSeed())).toBe(true);
  });

  test("the preview takes the sample's email and fields", () => {
    expect(previewCustomer({ email: "a@x.test", fields: { first_name: "A" } })).toEqual({
      email: "a@x.test",
      fields: { first_name: "A" },
    });
    expect(previewCustomer({ email: null, fields: {} })).toEqual({ fields: {} });
  });
});
