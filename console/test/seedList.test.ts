import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import { TestSendControl } from "../src/components/TestSendControl";
import {
  addressProblem,
  MAX_SEED_ADDRESSES,
  parseSeedList,
  seedListApiErrors,
  seedListChanged,
  seedListText,
} from "../src/logic/seedList";

describe("an address, checked as shared/src/domain/address.rs checks it", () => {
  test("plausible addresses pass (the Rust tests' own)", () => {
    for (const address of [
      "ann@example.com",
      "o'brien+news@mail.example.co.uk",
      `${"a".repeat(64)}@example.com`,
      `a@${"b".repeat(248)}.com`,
    ]) {
      expect(addressProblem(address), address).toBeNull();
    }
  });

  test("the ones the API refuses, with its reason", () => {
    const cases: [string, RegExp][] = [
      [`a@${"b".repeat(249)}.com`, /255 octets is over the 254-octet limit/],
      ["ann.example.com", /exactly one '@'/],
      ["ann@x@example.com", /exactly one '@'/],
      ["@example.com", /empty local part/],
      [`${"a".repeat(65)}@example.com`, /over 64 octets/],
      ["ann@localhost", /dotted name/],
      ["ann@example..com", /dotted name/],
      ["ann@example.com.", /dotted name/],
      ["ann smith@example.com", /spaces or control/],
      ["ann@exa\u0000mple.com", /spaces or control/],
    ];
    for (const [address, reason] of cases) {
      expect(addressProblem(address), JSON.stringify(address)).toMatch(reason);
    }
  });
});

describe("the seed list as text, one address a line", () => {
  test("trimmed, lower-cased, blank lines ignored, repeats kept once", () => {
    const parsed = parseSeedList("  QA@Alpine.test \n\nboss@alpine.test\r\nqa@alpine.test\n");
    expect(parsed.addresses).toEqual(["qa@alpine.test", "boss@alpine.test"]);
    expect(parsed.errors).toEqual([]);
    expect(parsed.duplicates).toBe(1);
    expect(parsed.tooMany).toBe(false);
  });

  test("each bad line is named with its line number and the API's reason", () => {
    const parsed = parseSeedList("qa@alpine.test\nnot an address\n\nann@localhost");
    expect(parsed.addresses).toEqual(["qa@alpine.test"]);
    expect(parsed.errors).toEqual([
      { line: 2, address: "not an address", reason: "email address may not contain spaces or control characters" },
      { line: 4, address: "ann@localhost", reason: "email address domain must be a dotted name" },
    ]);
  });

  test("at most 20 distinct addresses; repeats do not count against it", () => {
    const twenty = Array.from({ length: MAX_SEED_ADDRESSES }, (_, i) => `qa${i}@alpine.test`);
    expect(parseSeedList([...twenty, "QA0@alpine.test"].join("\n")).tooMany).toBe(false);
    expect(parseSeedList([...twenty, "one-more@alpine.test"].join("\n")).tooMany).toBe(true);
  });

  test("the stored list round-trips, and a change is seen as one", () => {
    const stored = ["qa@alpine.test", "boss@alpine.test"];
    expect(parseSeedList(seedListText(stored)).addresses).toEqual(stored);
    expect(seedListChanged(stored, parseSeedList("QA@alpine.test\nboss@alpine.test"))).toBe(false);
    expect(seedListChanged(stored, parseSeedList("boss@alpine.test\nqa@alpine.test"))).toBe(true);
    expect(seedListChanged(undefined, parseSeedList(""))).toBe(false);
    expect(seedListChanged([], parseSeedList("qa@alpine.test"))).toBe(true);
    expect(seedListText(undefined)).toBe("");
  });

  test("the API's field errors name the address they are about", () => {
    const sent = ["qa@alpine.test", "x@y.z"];
    expect(
      seedListApiErrors(
        [
          { field: "seed_list[1]", reason: "email address domain must be a dotted name" },
          { field: "seed_list", reason: "at most 20 addresses" },
          { field: "timezone", reason: "unrelated" },
          { field: "seed_list[7]", reason: "past what was sent" },
        ],
        sent,
      ),
    ).toEqual(["x@y.z: email address domain must be a dotted name", "at most 20 addresses", "past what was sent"]);
  });
});

test("the test send control links to where the seed list is edited", () => {
  const never = () => Promise.reject(new Error("not sent"));
  const empty = renderToStaticMarkup(createElement(TestSendControl, { addresses: [], send: never, seedListHref: "#/t/alpine/seed-list" }));
  expect(empty).toContain('<a href="#/t/alpine/seed-list">Seed list</a>');
  const some = renderToStaticMarkup(
    createElement(TestSendControl, { addresses: ["qa@alpine.test"], send: never, seedListHref: "#/t/alpine/seed-list" }),
  );
  expect(some).toContain('<a href="#/t/alpine/seed-list">Edit the seed list</a>');
});
