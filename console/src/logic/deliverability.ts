// The Deliverability page's reading of `GET /tenants/{t}/deliverability`: each day's rates
// against the thresholds the warm-up judges them by (shared/src/deliverability/warmup/decision.rs,
// `judge`): a day with fewer sends than `min_volume`, or a rate resting on fewer events than
// `min_events`, is not judged; a rate at or above its hold level holds the ladder, at or above its
// step-back level steps it back. The rates themselves come from the API, never computed here.

export interface Thresholds {
  min_volume: number;
  min_events: number;
  hold_bounce_rate: number;
  hold_complaint_rate: number;
  hold_deferral_rate: number;
  step_back_bounce_rate: number;
  step_back_complaint_rate: number;
}

export interface DayLike {
  counts: { sent: number; hard_bounced: number; complained: number };
  deferrals: number;
  bounce_rate: number;
  complaint_rate: number;
  deferral_rate: number;
}

export type RateKind = "bounce" | "complaint" | "deferral";

/** How one rate of a day stands against the thresholds. */
export type Standing = "not judged" | "ok" | "hold" | "step back";

export interface RateStanding {
  kind: RateKind;
  rate: number;
  events: number;
  standing: Standing;
  /** The level it reached (hold or step back), for the flag's text. */
  level?: number;
}

export function percent(rate: number): string {
  return `${(rate * 100).toFixed(2)}%`;
}

/** One day's three rates, each with its standing. */
export function judgeDay(day: DayLike, t: Thresholds): RateStanding[] {
  const rates: [RateKind, number, number, number, number | undefined][] = [
    ["bounce", day.bounce_rate, day.counts.hard_bounced, t.hold_bounce_rate, t.step_back_bounce_rate],
    ["complaint", day.complaint_rate, day.counts.complained, t.hold_complaint_rate, t.step_back_complaint_rate],
    ["deferral", day.deferral_rate, day.deferrals, t.hold_deferral_rate, undefined],
  ];
  return rates.map(([kind, rate, events, hold, stepBack]) => {
    if (day.counts.sent < t.min_volume || events < t.min_events) return { kind, rate, events, standing: "not judged" };
    if (stepBack !== undefined && rate >= stepBack) return { kind, rate, events, standing: "step back", level: stepBack };
    if (rate >= hold) return { kind, rate, events, standing: "hold", level: hold };
    return { kind, rate, events, standing: "ok" };
  });
}

/** The text a flagged rate carries beside its figure (nothing for one that is fine). */
export function flagText(standing: RateStanding): string {
  switch (standing.standing) {
    case "step back":
      return `at or above the step-back level (${percent(standing.level ?? 0)})`;
    case "hold":
      return `at or above the hold level (${percent(standing.level ?? 0)})`;
    default:
      return "";
  }
}

/** The ladder's position: "rung 3 of 34". */
export function rungText(rung: number, topRung: number): string {
  return `rung ${rung} of ${topRung}`;
}
