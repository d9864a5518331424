import { describe, expect, test } from "vitest";
import { ApiError } from "../src/api/client";
import {
  describeSourceError,
  MAX_SNIPPET_BYTES,
  offsetOf,
  snippetNameProblem,
  snippetSourceProblem,
  sourceErrors,
  splitCompilerMessage,
  startingSource,
} from "../src/logic/snippets";

describe("snippet names, as the API checks them (1 to 64 of a-z, 0-9, _ and -)", () => {
  test("names the API takes", () => {
    for (const name of ["footer", "promo_line", "x", "winter-2026", "a".repeat(64)]) {
      expect(snippetNameProblem(name), name).toBeNull();
    }
  });
  test("names it refuses, each with its reason", () => {
    expect(snippetNameProblem("")).toMatch(/name/);
    expect(snippetNameProblem("a".repeat(65))).toMatch(/At most 64/);
    for (const name of ["Footer", "promo line", "promo.line", "ünder", "../x", "a/b"]) {
      expect(snippetNameProblem(name), name).toMatch(/a-z/);
    }
  });
});

test("a source over 32 KiB (in UTF-8 bytes) is refused before it is sent", () => {
  expect(snippetSourceProblem("x".repeat(MAX_SNIPPET_BYTES))).toBeNull();
  expect(snippetSourceProblem("x".repeat(MAX_SNIPPET_BYTES + 1))).toMatch(/32769 bytes/);
  // 2 bytes each: half as many characters reach the limit.
  expect(snippetSourceProblem("é".repeat(MAX_SNIPPET_BYTES / 2 + 1))).toMatch(/at most 32768/);
});

describe("a refused save: the compiler's line and column", () => {
  const refused = new ApiError({
    type: "https://storecast.dev/problems/template-error",
    title: "Unprocessable Entity",
    status: 422,
    detail: "the request has invalid fields",
    retryable: false,
    errors: [
      { field: "source", reason: "unexpected end of filter", line: 2, column: 25 },
      { field: "name", reason: "not this one" },
    ],
  });

  test("only the source's errors, with line and column", () => {
    expect(sourceErrors(refused)).toEqual([{ line: 2, column: 25, reason: "unexpected end of filter" }]);
    expect(describeSourceError(sourceErrors(refused)[0])).toBe("Line 2, column 25: unexpected end of filter");
  });

  test("an error without a place is shown as its reason; other failures are no source errors", () => {
    const missing = new ApiError({
      type: "about:blank",
      title: "Unprocessable Entity",
      status: 422,
      detail: "x",
      retryable: false,
      errors: [{ field: "source", reason: "the snippet `fotter` does not exist", line: null, column: null }],
    });
    expect(sourceErrors(missing)).toEqual([{ line: undefined, column: undefined, reason: "the snippet `fotter` does not exist" }]);
    expect(describeSourceError(sourceErrors(missing)[0])).toBe("the snippet `fotter` does not exist");
    expect(describeSourceError({ line: 3, reason: "r" })).toBe("Line 3: r");
    expect(sourceErrors(new Error("offline"))).toEqual([]);
    expect(sourceErrors(new ApiError({ type: "about:blank", title: "Forbidden", status: 403, detail: "no", retryable: false }))).toEqual([]);
  });

  test("a 1-based line and column become the editor's offset, clamped into the source", () => {
    const source = "line one\n{{ customer.first_name | }}\nend";
    expect(offsetOf(source, 1, 1)).toBe(0);
    expect(offsetOf(source, 2, 1)).toBe(9);
    expect(source.slice(offsetOf(source, 2, 4))).toMatch(/^customer/);
    expect(offsetOf(source, 2)).toBe(9);
    expect(offsetOf(source, 3, 99)).toBe(source.length);
    expect(offsetOf(source, 9, 1)).toBe(source.lastIndexOf("end"));
    expect(offsetOf(source, 0, 0)).toBe(0);
  });
});

test("an editor starts from the saved source, else a copy of the library's, once both are loaded", () => {
  const library = { source: "{{ retailer.name }}" };
  expect(startingSource(undefined, library)).toBeUndefined();
  expect(startingSource(null, undefined)).toBeUndefined();
  expect(startingSource({ source: "mine" }, library)).toBe("mine");
  expect(startingSource({ source: "" }, library)).toBe("");
  expect(startingSource(null, library)).toBe("{{ retailer.name }}");
  expect(startingSource(null, null)).toBe("");
});

test("the Liquid parser's multi-line message: what is wrong, and the excerpt with its caret", () => {
  const reason = " --> 2:13\n  |\n2 | <p>{{ 'x' | }}</p>\n  |             ^---\n  |\n  = expected Identifier";
  expect(splitCompilerMessage(reason)).toEqual({
    summary: "expected Identifier",
    excerpt: "2 | <p>{{ 'x' | }}</p>\n  |             ^---",
  });
  expect(describeSourceError({ line: 2, column: 13, reason })).toBe("Line 2, column 13: expected Identifier");
  // A one-line message is its own summary.
  expect(splitCompilerMessage("the snippet `fotter` does not exist")).toEqual({ summary: "the snippet `fotter` does not exist" });
  // Text before the arrow is kept in front of the note.
  expect(splitCompilerMessage("liquid syntax error\n --> 1:1\n1 | x\n  = unexpected").summary).toBe("liquid syntax error: unexpected");
});
