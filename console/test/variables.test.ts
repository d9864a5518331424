import { describe, expect, test } from "vitest";
import type { TemplateVariables } from "../src/api/types";
import {
  apiErrorsByVariable,
  draftFrom,
  fieldsFromSchema,
  initialValues,
  labelFor,
  overridesFrom,
  parseValue,
  validate,
} from "../src/logic/variables";

const variables: TemplateVariables = {
  template: "weekly-offers",
  live_version: 3,
  schema: [
    { name: "subject_line", type: "string", default: "our spring edit is here", max_length: 20 },
    { name: "intro", type: "text", default: "Longer days.", max_length: null },
    { name: "brand_color", type: "color", default: "#1f4d3a" },
    { name: "logo_url", type: "image_url", default: "https://cdn.example.com/logo.png" },
    { name: "store_url", type: "url", default: "https://www.example.com" },
    { name: "points_multiplier", type: "number", default: 2 },
    { name: "show_incentive", type: "boolean", default: false },
  ],
  defaults: {},
  overrides: { subject_line: "winter is here", points_multiplier: 3 },
  effective: { subject_line: "winter is here", points_multiplier: 3, show_incentive: false },
};

describe("the variables form, from the template's schema", () => {
  const fields = fieldsFromSchema(variables);

  test("one field per variable, with the input its type needs, its default and whether the retailer set it", () => {
    expect(fields.map((f) => [f.name, f.input, f.overridden])).toEqual([
      ["subject_line", "line", true],
      ["intro", "multiline", false],
      ["brand_color", "color", false],
      ["logo_url", "url", false],
      ["store_url", "url", false],
      ["points_multiplier", "number", true],
      ["show_incentive", "checkbox", false],
    ]);
    expect(fields[0]).toMatchObject({ label: "Subject line", defaultValue: "our spring edit is here", maxLength: 20 });
    expect(labelFor("free_shipping-threshold")).toBe("Free shipping threshold");
  });

  test("starts from what is in effect: the retailer's value, else the default", () => {
    expect(initialValues(variables)).toEqual({
      subject_line: "winter is here",
      intro: "Longer days.",
      brand_color: "#1f4d3a",
      logo_url: "https://cdn.example.com/logo.png",
      store_url: "https://www.example.com",
      points_multiplier: "3",
      show_incentive: false,
    });
  });

  test("checks each value against its type before the API does", () => {
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
    expect(parseValue(byName.points_multiplier, "2.5")).toEqual({ ok: true, value: 2.5 });
    expect(parseValue(byName.points_multiplier, "two").ok).toBe(false);
    expect(parseValue(byName.points_multiplier, " ").ok).toBe(false);
    expect(parseValue(byName.brand_color, "#abc")).toEqual({ ok: true, value: "#abc" });
    expect(parseValue(byName.brand_color, "green").ok).toBe(false);
    expect(parseValue(byName.logo_url, "http://cdn.example.com/x.png").ok).toBe(false);
    expect(parseValue(byName.store_url, "http://shop.example.com/a b").ok).toBe(false);
    expect(parseValue(byName.subject_line, "two\nlines").ok).toBe(false);
    expect(parseValue(byName.subject_line, "x".repeat(21))).toEqual({ ok: false, reason: "at most 20 characters" });
    expect(parseValue(byName.subject_line, "é".repeat(20)).ok).toBe(true);
    expect(parseValue(byName.intro, "<b>two</b>\nlines")).toEqual({ ok: true, value: "<b>two</b>\nlines" });
    expect(parseValue(byName.show_incentive, true)).toEqual({ ok: true, value: true });
    expect(validate(fields, { ...initialValues(variables), brand_color: "green", points_multiplier: "x" })).toEqual({
      brand_color: "a colour as #rgb or #rrggbb",
      points_multiplier: "a number",
    });
  });

  test("saves only the values that differ from their defaults, typed", () => {
    const values = { ...initialValues(variables), intro: "Longer days.", show_incentive: true, points_multiplier: "2" };
    expect(overridesFrom(fields, values)).toEqual({ subject_line: "winter is here", show_incentive: true });
  });

  test("previews with drafts: null puts a value back to its default, unparsable ones are left out", () => {
    const values = { ...initialValues(variables), points_multiplier: "2", brand_color: "green" };
    const draft = draftFrom(fields, values);
    expect(draft.points_multiplier).toBeNull();
    expect(draft.subject_line).toBe("winter is here");
    expect("brand_color" in draft).toBe(false);
  });

  test("the API's field errors land on their variables", () => {
    expect(
      apiErrorsByVariable([
        { field: "variables.brand_color", reason: "not a colour" },
        { field: "variables.brand_color", reason: "too long" },
        { field: "variables.nope", reason: "unknown variable" },
        { field: "customer", reason: "ignored here" },
      ]),
    ).toEqual({ brand_color: "not a colour; too long", nope: "unknown variable" });
  });
});
