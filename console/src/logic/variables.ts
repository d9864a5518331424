// The variables form, generated from a template's variable schema: one field per variable, with
// the input its type needs, its default, the retailer's value, and the value's check before the
// API checks it again. Pure functions: the page and the unit tests share them.
import type { TemplateVariables, VariableType } from "../api/types";

export type Input = "line" | "multiline" | "url" | "color" | "number" | "checkbox";

export interface VariableField {
  name: string;
  label: string;
  type: VariableType;
  input: Input;
  defaultValue: unknown;
  maxLength: number | null;
  /** Whether the retailer set its own value (else the default is in effect). */
  overridden: boolean;
}

/** What the form holds: text for every input but the checkbox. */
export type FormValue = string | boolean;
export type FormValues = Record<string, FormValue>;

const INPUTS: Record<VariableType, Input> = {
  string: "line",
  text: "multiline",
  url: "url",
  image_url: "url",
  color: "color",
  number: "number",
  boolean: "checkbox",
};

export function fieldsFromSchema(variables: TemplateVariables): VariableField[] {
  return variables.schema.map((spec) => ({
    name: spec.name,
    label: labelFor(spec.name),
    type: spec.type,
    input: INPUTS[spec.type] ?? "line",
    defaultValue: spec.default,
    maxLength: spec.max_length ?? null,
    overridden: Object.prototype.hasOwnProperty.call(variables.overrides ?? {}, spec.name),
  }));
}

/** `subject_line` → "Subject line". */
export function labelFor(name: string): string {
  const words = name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The form's starting values: what is in effect (the retailer's value, else the default). */
export function initialValues(variables: TemplateVariables): FormValues {
  const values: FormValues = {};
  const effective = (variables.effective ?? {}) as Record<string, unknown>;
  for (const spec of variables.schema) {
    const value = spec.name in effective ? effective[spec.name] : spec.default;
    values[spec.name] = spec.type === "boolean" ? Boolean(value) : value == null ? "" : String(value);
  }
  return values;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

/** The form's text as the API's value for the field, or why it is not one. */
export function parseValue(field: VariableField, raw: FormValue): Parsed {
  if (field.type === "boolean") return { ok: true, value: Boolean(raw) };
  const text = String(raw);
  if (field.maxLength !== null && [...text].length > field.maxLength) {
    return { ok: false, reason: `at most ${field.maxLength} characters` };
  }
  switch (field.type) {
    case "number": {
      const trimmed = text.trim();
      const number = Number(trimmed);
      if (trimmed === "" || !Number.isFinite(number)) return { ok: false, reason: "a number" };
      return { ok: true, value: number };
    }
    case "color":
      return /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(text)
        ? { ok: true, value: text }
        : { ok: false, reason: "a colour as #rgb or #rrggbb" };
    case "url":
      return /^https?:\/\/[^\s"'<>]+$/.test(text)
        ? { ok: true, value: text }
        : { ok: false, reason: "an http(s):// address without spaces or quotes" };
    case "image_url":
      return /^https:\/\/[^\s"'<>]+$/.test(text)
        ? { ok: true, value: text }
        : { ok: false, reason: "an https:// address (mail clients block plain http images)" };
    case "string":
      return /[\r\n]/.test(text) ? { ok: false, reason: "one line" } : { ok: true, value: text };
    default:
      return { ok: true, value: text };
  }
}

/** Each field's problem with its value, by name; empty when the form may be sent. */
export function validate(fields: VariableField[], values: FormValues): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const parsed = parseValue(field, values[field.name] ?? "");
    if (!parsed.ok) errors[field.name] = parsed.reason;
  }
  return errors;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The retailer's values to save (`PUT .../variables`): the fields that differ from their
 * default. A field back at its default is left out, so the default follows future catalog
 * changes. Fields that do not parse are left out too (`validate` reports them).
 */
export function overridesFrom(fields: VariableField[], values: FormValues): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  for (const field of fields) {
    const parsed = parseValue(field, values[field.name] ?? "");
    if (parsed.ok && !sameValue(parsed.value, field.defaultValue)) {
      overrides[field.name] = parsed.value;
    }
  }
  return overrides;
}

/**
 * Draft values for a preview: every field that parses, `null` for those back at their default
 * (a draft `null` resets the saved value, as a save would).
 */
export function draftFrom(fields: VariableField[], values: FormValues): Record<string, unknown> {
  const draft: Record<string, unknown> = {};
  for (const field of fields) {
    const parsed = parseValue(field, values[field.name] ?? "");
    if (!parsed.ok) continue;
    draft[field.name] = sameValue(parsed.value, field.defaultValue) ? null : parsed.value;
  }
  return draft;
}

/** The API's field errors (`variables.<name>`) by variable name. */
export function apiErrorsByVariable(errors: { field: string; reason: string }[]): Record<string, string> {
  const byName: Record<string, string> = {};
  for (const error of errors) {
    const name = error.field.startsWith("variables.") ? error.field.slice("variables.".length) : null;
    if (name) byName[name] = byName[name] ? `${byName[name]}; ${error.reason}` : error.reason;
  }
  return byName;
}
