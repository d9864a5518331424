// Sample customers for the preview: a random one, or the marketer's JSON.
const FIRST_NAMES = ["Ana", "Ben", "Chiara", "Dmitri", "Elif", "Farah", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Luis"];
const TIERS = ["gold", "silver", "bronze"];
const CITIES = ["Hamburg", "Madrid", "Boston", "Lyon", "Porto", "Oslo"];

export interface SampleCustomer {
  email?: string;
  fields: Record<string, unknown>;
}

export function randomCustomer(random: () => number = Math.random): SampleCustomer {
  const pick = <T,>(list: T[]) => list[Math.floor(random() * list.length)];
  const first = pick(FIRST_NAMES);
  return {
    email: `${first.toLowerCase()}@example.com`,
    fields: {
      first_name: first,
      tier: pick(TIERS),
      city: pick(CITIES),
      points: Math.floor(random() * 5000),
    },
  };
}

export type ParsedCustomer = { ok: true; customer: SampleCustomer } | { ok: false; reason: string };

/**
 * The marketer's JSON as a preview customer: `{"email"?, "fields": {...}}`, or a plain object of
 * fields (`{"first_name": "Ana"}`), the way an export row's attributes look.
 */
export function parseCustomer(text: string): ParsedCustomer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "a JSON object of the customer's fields" };
  }
  const object = value as Record<string, unknown>;
  if (typeof object.fields === "object" && object.fields !== null && !Array.isArray(object.fields)) {
    if (object.email !== undefined && typeof object.email !== "string") {
      return { ok: false, reason: "email is a string" };
    }
    return { ok: true, customer: { email: object.email as string | undefined, fields: object.fields as Record<string, unknown> } };
  }
  return { ok: true, customer: { fields: object } };
}
