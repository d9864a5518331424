// The campaign form's rows as the API's campaign definition: audience rules, variants, holdout
// and schedule. Pure functions, unit-tested.
import type { NewCampaign, SegmentRule } from "../api/types";

export type RuleOp = "equals" | "in" | "range" | "recency";

/** One row of the audience rule builder, as typed. */
export interface RuleRow {
  field: string;
  op: RuleOp;
  /** equals: one value; in: comma-separated values; range: `min..max` (either may be empty); recency: days. */
  value: string;
}

export interface VariantRow {
  id: string;
  weight: string;
}

export interface CampaignForm {
  campaignId: string;
  name: string;
  templateId: string;
  channel: "email" | "push" | "both";
  bucket: string;
  key: string;
  rules: RuleRow[];
  variants: VariantRow[];
  holdoutPercent: string;
  offerSlots: string;
  /** `YYYY-MM-DDTHH:MM` in the retailer's time zone (an `<input type="datetime-local">`), or empty. */
  schedule: string;
  /** Quiet hours kept in each customer's own time zone (`fields.timezone`) instead of the retailer's. */
  customerQuietHours?: boolean;
}

/** A typed value: numbers and booleans as such, anything else as the text. */
export function literal(text: string): string | number | boolean {
  const trimmed = text.trim();
  if (trimmed === "true") return true;
  if (trimmed === "false") return false;
  if (trimmed !== "" && /^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  return trimmed;
}

export type Built<T> = { ok: true; value: T } | { ok: false; field: string; reason: string };

export function ruleFromRow(row: RuleRow, index: number): Built<SegmentRule> {
  const at = `audience.rules[${index}]`;
  const field = row.field.trim();
  if (!field) return { ok: false, field: `${at}.field`, reason: "name the customer field" };
  switch (row.op) {
    case "equals":
      return { ok: true, value: { op: "equals", field, value: literal(row.value) } };
    case "in": {
      const values = row.value.split(",").map((v) => v.trim()).filter((v) => v !== "");
      if (values.length === 0) return { ok: false, field: `${at}.values`, reason: "one value at least" };
      return { ok: true, value: { op: "in", field, values: values.map(literal) } };
    }
    case "range": {
      const [minText = "", maxText = ""] = row.value.split("..");
      const bound = (text: string) => (text.trim() === "" ? null : Number(text.trim()));
      const min = bound(minText);
      const max = bound(maxText);
      if ((min !== null && !Number.isFinite(min)) || (max !== null && !Number.isFinite(max))) {
        return { ok: false, field: `${at}.min`, reason: "bounds are numbers, as min..max" };
      }
      return { ok: true, value: { op: "range", field, min, max } };
    }
    case "recency": {
      const days = Number(row.value.trim());
      if (!Number.isInteger(days) || days < 0) {
        return { ok: false, field: `${at}.within_days`, reason: "a whole number of days" };
      }
      return { ok: true, value: { op: "recency", field, within_days: days } };
    }
  }
}

/** The definition to `POST /tenants/{t}/campaigns`, or the first field at fault. */
export function buildCampaign(form: CampaignForm): Built<NewCampaign> {
  const rules: SegmentRule[] = [];
  for (const [index, row] of form.rules.entries()) {
    if (row.field.trim() === "" && row.value.trim() === "") continue;
    const rule = ruleFromRow(row, index);
    if (!rule.ok) return rule;
    rules.push(rule.value);
  }
  const variants = [];
  for (const [index, row] of form.variants.entries()) {
    const weight = Number(row.weight);
    if (!Number.isInteger(weight) || weight < 0) {
      return { ok: false, field: `variants[${index}].weight`, reason: "a whole number" };
    }
    variants.push({ id: row.id.trim(), weight });
  }
  const holdout = form.holdoutPercent.trim() === "" ? 0 : Number(form.holdoutPercent);
  if (!Number.isFinite(holdout)) return { ok: false, field: "holdout_percent", reason: "a number" };
  const slots = Number(form.offerSlots);
  if (!Number.isInteger(slots)) return { ok: false, field: "offers.slots", reason: "a whole number" };
  const campaign: NewCampaign = {
    campaign_id: form.campaignId.trim(),
    name: form.name.trim(),
    template: { id: form.templateId.trim() },
    channel: form.channel,
    audience: { source: { bucket: form.bucket.trim(), key: form.key.trim() }, rules },
    variants,
    holdout_percent: holdout,
    offers: { slots },
  };
  if (form.schedule.trim() !== "") campaign.schedule = form.schedule.trim().slice(0, 16);
  if (form.customerQuietHours) campaign.quiet_hours_zone = "customer";
  return { ok: true, value: campaign };
}

/** A campaign id from its name: `Winter sale 2026` → `winter-sale-2026`. */
export function idFromName(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64);
}

/** Which of launch, pause, resume, cancel a campaign in `state` allows (docs/campaigns-engine.md). */
export function actionsFor(state: string): ("launch" | "pause" | "resume" | "cancel")[] {
  switch (state) {
    case "DRAFT":
    case "FAILED":
      return ["launch", "cancel"];
    case "SCHEDULED":
      return ["pause", "cancel"];
    case "LAUNCHING":
    case "SENT":
      return ["pause", "cancel"];
    case "PAUSED":
      return ["resume", "cancel"];
    default:
      return [];
  }
}
