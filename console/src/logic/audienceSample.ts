// A preview customer picked from one of the retailer's audience exports
// (`GET /tenants/{t}/audiences/sample?key=&seed=`), and the exports this tab uploaded, so the
// template page can offer them.

import type { SampleCustomer } from "./customers";

/** Recent upload keys kept per retailer, newest first. */
export const MAX_RECENT_EXPORTS = 5;

const KEY_PREFIX = "storecast.recentExports.";

/** The part of `Storage` the recent list needs (sessionStorage in the browser). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export function recentExports(store: KeyValueStore, tenant: string): string[] {
  try {
    const value: unknown = JSON.parse(store.getItem(KEY_PREFIX + tenant) ?? "[]");
    const prefix = `${tenant}/`;
    return Array.isArray(value)
      ? value.filter((key): key is string => typeof key === "string" && key.startsWith(prefix))
      : [];
  } catch {
    return [];
  }
}

/** Remembers an uploaded export's key first, without repeats, at most [`MAX_RECENT_EXPORTS`]. */
export function rememberExport(store: KeyValueStore, tenant: string, key: string): string[] {
  const keys = [key, ...recentExports(store, tenant).filter((k) => k !== key)].slice(0, MAX_RECENT_EXPORTS);
  store.setItem(KEY_PREFIX + tenant, JSON.stringify(keys));
  return keys;
}

/** A seed for the next pick: "Pick another" asks with a new one. */
export function newSeed(random: () => number = Math.random): number {
  return Math.floor(random() * 2 ** 32);
}

/** Why a key cannot name one of this retailer's exports, or null. */
export function exportKeyProblem(tenant: string, key: string): string | null {
  const trimmed = key.trim();
  if (!trimmed) return "name an export: its key, as the Audiences page shows it";
  if (!trimmed.startsWith(`${tenant}/`)) return `an export of this retailer starts with ${tenant}/`;
  return null;
}

/** The sample's customer as a preview takes it: its `email` and `fields`. */
export function previewCustomer(sample: { email?: string | null; fields: Record<string, unknown> }): SampleCustomer {
  return sample.email ? { email: sample.email, fields: sample.fields } : { fields: sample.fields };
}
