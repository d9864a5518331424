import { useState } from "react";
import { seg } from "../api/client";
import type { DayFigures, DeliverabilityReport, WarmUpReport } from "../api/types";
import { ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";
import { flagText, judgeDay, percent, rungText, type RateStanding, type Thresholds } from "../logic/deliverability";

const DAY_CHOICES = [7, 14, 30, 60];

/** The retailer's warm-up and its daily feedback counts and rates (`GET .../deliverability`). */
export function Deliverability({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const [days, setDays] = useState(14);
  const path = `/tenants/${seg(tenant)}/deliverability`;
  const report = useLoad(() => api.get<DeliverabilityReport>(path, { query: { days } }), `${path}|${days}`);
  const data = report.data;
  return (
    <section aria-labelledby="deliverability-title">
      <h1 id="deliverability-title">Deliverability</h1>
      <p className="hint">
        What the mailbox providers told us about this retailer's mail, day by day (UTC), with the rates the daily warm-up
        decision judges and the levels it judges them by. Suppressions are on their own page.
      </p>
      <ProblemAlert error={report.error} context="Deliverability" />
      {data ? (
        <>
          <WarmUp warmUp={data.warm_up ?? null} />
          <DaysTable report={data} days={days} onDays={setDays} />
        </>
      ) : report.loading ? (
        <p aria-live="polite">Loading…</p>
      ) : null}
    </section>
  );
}

function WarmUp({ warmUp }: { warmUp: WarmUpReport | null }) {
  if (!warmUp) {
    return (
      <div className="card" data-testid="warm-up">
        <h2>Warm-up</h2>
        <p>Not in warm-up: this retailer has no warm-up plan, so no daily cap applies.</p>
      </div>
    );
  }
  const { plan, state } = warmUp;
  return (
    <div className="card" data-testid="warm-up">
      <h2>Warm-up</h2>
      <dl className="facts">
        <dt>Plan</dt>
        <dd>
          {plan.start_cap} a day rising to {plan.target} over {plan.ramp_days} days
        </dd>
        <dt>Where it stands</dt>
        <dd>
          {state
            ? `${rungText(state.rung, warmUp.top_rung)}, ${state.stage.replace("_", " ")} (decided for ${state.day}; ${state.healthy_streak} healthy days in a row)`
            : "no decision yet: the first daily run (just after midnight UTC) starts it"}
        </dd>
        <dt>Today's cap</dt>
        <dd data-testid="today-cap">
          {warmUp.today_cap != null
            ? `${warmUp.today_used} of ${warmUp.today_cap} used`
            : `${warmUp.today_used} used; no cap set yet today`}
        </dd>
      </dl>
      {warmUp.decisions.length > 0 ? (
        <table className="table" data-testid="decisions">
          <caption>The last decisions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">For day</th>
              <th scope="col">Action</th>
              <th scope="col">Rung</th>
              <th scope="col">Cap</th>
              <th scope="col">Reason</th>
              <th scope="col">Sent the day before</th>
            </tr>
          </thead>
          <tbody>
            {warmUp.decisions.map((d) => (
              <tr key={d.day}>
                <th scope="row">{d.day}</th>
                <td>{d.action.replace("_", " ")}</td>
                <td>{d.rung}</td>
                <td>{d.cap}</td>
                <td>{d.reason}</td>
                <td>{d.sent}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

function Rate({ standing }: { standing: RateStanding }) {
  const flag = flagText(standing);
  return (
    <td className={flag ? `rate rate-${standing.standing.replace(" ", "-")}` : "rate"}>
      {percent(standing.rate)}
      {flag ? <span className="rate-flag">, {flag}</span> : null}
      {standing.standing === "not judged" && standing.rate > 0 ? <span className="muted"> (too few to judge)</span> : null}
    </td>
  );
}

function DaysTable({
  report,
  days,
  onDays,
}: {
  report: DeliverabilityReport;
  days: number;
  onDays: (days: number) => void;
}) {
  const t = report.thresholds as Thresholds;
  return (
    <div className="card">
      <h2>Day by day</h2>
      <label htmlFor="deliv-days">Days shown</label>{" "}
      <select id="deliv-days" value={days} onChange={(e) => onDays(Number(e.target.value))}>
        {DAY_CHOICES.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
      <p className="hint">
        The warm-up holds at a bounce rate (hard bounces per send) of {percent(t.hold_bounce_rate)}, a complaint rate
        of {percent(t.hold_complaint_rate)} or a deferral rate (delayed and soft-bounced per send) of{" "}
        {percent(t.hold_deferral_rate)}, and steps back at {percent(t.step_back_bounce_rate)} bounces or{" "}
        {percent(t.step_back_complaint_rate)} complaints. Days under {t.min_volume} sends, and rates resting on fewer
        than {t.min_events} events, are not judged.
      </p>
      <table className="table" data-testid="days">
        <caption>Feedback per UTC day, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Sent</th>
            <th scope="col">Delivered</th>
            <th scope="col">Hard bounces</th>
            <th scope="col">Complaints</th>
            <th scope="col">Deferrals</th>
            <th scope="col">Bounce rate</th>
            <th scope="col">Complaint rate</th>
            <th scope="col">Deferral rate</th>
          </tr>
        </thead>
        <tbody>
          {report.days.map((day: DayFigures) => {
            const [bounce, complaint, deferral] = judgeDay(day, t);
            return (
              <tr key={day.day}>
                <th scope="row">
                  {day.day}
                  {day.day === report.today ? " (today)" : ""}
                </th>
                <td>{day.counts.sent}</td>
                <td>{day.counts.delivered}</td>
                <td>{day.counts.hard_bounced}</td>
                <td>{day.counts.complained}</td>
                <td>{day.deferrals}</td>
                <Rate standing={bounce} />
                <Rate standing={complaint} />
                <Rate standing={deferral} />
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
