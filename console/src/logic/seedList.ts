// The retailer's seed list (settings `seed_list`): the only addresses a template's test send may
// go to. Edited as text, one address a line, checked here as the API checks it
// (shared/src/onboarding/settings.rs: trimmed and lower-cased, duplicates dropped, at most 20,
// each a plausible address as shared/src/domain/address.rs has it), then sent whole with
// `PATCH /tenants/{t}` (`{"seed_list": [...]}`).
import type { FieldError } from "../api/types";

/** `MAX_SEED_ADDRESSES` in shared/src/domain/tenant.rs. */
export const MAX_SEED_ADDRESSES = 20;
const MAX_EMAIL_OCTETS = 254;
const MAX_LOCAL_PART_OCTETS = 64;

/** Why the API would refuse `address` (already trimmed), or `null`; the API's own wording. */
export function addressProblem(address: string): string | null {
  const octets = new TextEncoder().encode(address).length;
  if (octets > MAX_EMAIL_OCTETS) {
    return `email address of ${octets} octets is over the ${MAX_EMAIL_OCTETS}-octet limit`;
  }
  // Rust's char::is_whitespace and is_control: Unicode White_Space and Cc.
  if (/[\s\p{Cc}]/u.test(address)) return "email address may not contain spaces or control characters";
  const at = address.indexOf("@");
  if (at < 0 || address.indexOf("@", at + 1) >= 0) return "email address needs exactly one '@'";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length === 0 || new TextEncoder().encode(local).length > MAX_LOCAL_PART_OCTETS) {
    return `email address has an empty local part or one over ${MAX_LOCAL_PART_OCTETS} octets`;
  }
  if (!domain.includes(".") || domain.split(".").some((label) => label === "")) {
    return "email address domain must be a dotted name";
  }
  return null;
}

export interface SeedLineError {
  /** 1-based line of the text. */
  line: number;
  address: string;
  reason: string;
}

export interface ParsedSeedList {
  /** What would be stored: trimmed, lower-cased, first occurrence kept. */
  addresses: string[];
  /** Lines the API would refuse. */
  errors: SeedLineError[];
  /** Over the limit (after duplicates are dropped). */
  tooMany: boolean;
  /** Lines dropped as repeats of an earlier one. */
  duplicates: number;
}

/** The text of the editor (one address a line; blank lines ignored) as the API would take it. */
export function parseSeedList(text: string): ParsedSeedList {
  const addresses: string[] = [];
  const errors: SeedLineError[] = [];
  let duplicates = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const address = raw.trim().toLowerCase();
    if (address === "") return;
    const reason = addressProblem(address);
    if (reason) {
      errors.push({ line: index + 1, address: raw.trim(), reason });
    } else if (addresses.includes(address)) {
      duplicates += 1;
    } else {
      addresses.push(address);
    }
  });
  return { addresses, errors, tooMany: addresses.length > MAX_SEED_ADDRESSES, duplicates };
}

/** The editor's text for a stored list. */
export function seedListText(addresses: string[] | undefined): string {
  return (addresses ?? []).join("\n");
}

/**
 * The API's field errors of a refused PATCH, with the address each names (`seed_list[2]` is the
 * third address sent; `seed_list` the list as a whole).
 */
export function seedListApiErrors(errors: FieldError[], sent: string[]): string[] {
  return errors
    .filter((error) => error.field === "seed_list" || error.field.startsWith("seed_list["))
    .map((error) => {
      const index = /^seed_list\[(\d+)\]$/.exec(error.field);
      const address = index ? sent[Number(index[1])] : undefined;
      return address ? `${address}: ${error.reason}` : error.reason;
    });
}

/** Whether the text would change the stored list. */
export function seedListChanged(stored: string[] | undefined, parsed: ParsedSeedList): boolean {
  const before = stored ?? [];
  return before.length !== parsed.addresses.length || before.some((address, i) => address !== parsed.addresses[i]);
}
