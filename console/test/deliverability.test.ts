import { describe, expect, test } from "vitest";
import { flagText, judgeDay, percent, rungText, type Thresholds } from "../src/logic/deliverability";

// WarmupThresholds::default() in shared/src/deliverability/warmup/decision.rs.
const T: Thresholds = {
  min_volume: 50,
  min_events: 3,
  hold_bounce_rate: 0.02,
  hold_complaint_rate: 0.0005,
  hold_deferral_rate: 0.05,
  step_back_bounce_rate: 0.04,
  step_back_complaint_rate: 0.0008,
};

function day(sent: number, hard: number, complained: number, deferrals: number) {
  const r = (n: number) => (sent === 0 ? 0 : n / sent);
  return {
    counts: { sent, hard_bounced: hard, complained },
    deferrals,
    bounce_rate: r(hard),
    complaint_rate: r(complained),
    deferral_rate: r(deferrals),
  };
}

describe("a day's rates against the warm-up's thresholds", () => {
  test("a healthy day is ok on every rate", () => {
    expect(judgeDay(day(10_000, 30, 3, 100), T).map((s) => s.standing)).toEqual(["ok", "ok", "ok"]);
  });

  test("at the hold level holds, at the step-back level steps back", () => {
    const [bounce, complaint, deferral] = judgeDay(day(10_000, 200, 8, 500), T);
    expect(bounce.standing).toBe("hold");
    expect(flagText(bounce)).toBe("at or above the hold level (2.00%)");
    expect(complaint.standing).toBe("step back");
    expect(flagText(complaint)).toBe("at or above the step-back level (0.08%)");
    expect(deferral.standing).toBe("hold");
    expect(judgeDay(day(10_000, 400, 0, 0), T)[0].standing).toBe("step back");
  });

  test("too few sends or too few events are not judged, however high the rate", () => {
    expect(judgeDay(day(49, 20, 20, 20), T).map((s) => s.standing)).toEqual(["not judged", "not judged", "not judged"]);
    const [bounce, complaint] = judgeDay(day(600, 2, 1, 0), T);
    expect(complaint.rate).toBeGreaterThan(T.step_back_complaint_rate);
    expect(complaint.standing).toBe("not judged");
    expect(bounce.standing).toBe("not judged");
    expect(flagText(complaint)).toBe("");
  });

  test("figures read as the warm-up's reasons write them", () => {
    expect(percent(0.03)).toBe("3.00%");
    expect(percent(0.0005)).toBe("0.05%");
    expect(rungText(3, 34)).toBe("rung 3 of 34");
  });
});
