import { useEffect, useState } from "react";
import { seg } from "../api/client";
import type { CampaignStats, CampaignView, LaunchAccepted } from "../api/types";
import { formatTime, ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";
import { actionsFor } from "../logic/campaign";
import { href } from "../router";

/** How often the stats are read again while the page is open. */
const STATS_EVERY_MS = 2000;

export function CampaignPage({ tenant, campaign }: { tenant: string; campaign: string }) {
  const { api } = useApp();
  const base = `/tenants/${seg(tenant)}/campaigns/${seg(campaign)}`;
  const view = useLoad(() => api.get<CampaignView>(base), base);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [stats, setStats] = useState<CampaignStats>();
  const [statsError, setStatsError] = useState<unknown>(null);
  const [statsAt, setStatsAt] = useState<Date>();

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const fresh = await api.get<CampaignStats>(`${base}/stats`);
        if (stopped) return;
        setStats(fresh);
        setStatsError(null);
        setStatsAt(new Date());
      } catch (caught) {
        if (!stopped) setStatsError(caught);
      }
      if (!stopped) timer = setTimeout(read, STATS_EVERY_MS);
    };
    void read();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, base]);

  // The state in the stats is the freshest: a launch moves on while the page is open.
  const state = stats?.state ?? view.data?.state;

  const act = async (action: string) => {
    setBusy(true);
    setActionError(null);
    try {
      if (action === "launch") {
        await api.post<LaunchAccepted>(`${base}/launch`);
        await view.reload();
      } else {
        view.setData(await api.post<CampaignView>(`${base}/${action}`));
      }
    } catch (caught) {
      setActionError(caught);
    } finally {
      setBusy(false);
    }
  };

  const definition = view.data?.definition;
  return (
    <section aria-labelledby="campaign-title">
      <p>
        <a href={href(`/t/${tenant}/campaigns`)}>← Campaigns</a>
      </p>
      <h1 id="campaign-title">{view.data?.name ?? campaign}</h1>
      <ProblemAlert error={view.error} context="Campaign" />
      {view.data && definition ? (
        <>
          <p>
            <span className={`state state-${(state ?? "").toLowerCase()}`} data-testid="campaign-state">
              {state}
            </span>{" "}
            <span className="muted">
              {definition.channel} · template {definition.template.id}
              {definition.template.version ? ` v${definition.template.version}` : " (live version)"} · created{" "}
              {formatTime(view.data.created_at)}
            </span>
          </p>
          <div className="actions" role="group" aria-label="Campaign actions">
            {actionsFor(state ?? "").map((action) => (
              <button
                type="button"
                key={action}
                disabled={busy}
                className={action === "cancel" ? "danger" : undefined}
                onClick={() => {
                  if (action === "cancel" && !window.confirm("Cancel this campaign? It cannot be resumed.")) return;
                  void act(action);
                }}
              >
                {action[0].toUpperCase() + action.slice(1)}
              </button>
            ))}
          </div>
          <ProblemAlert error={actionError} context="The action was refused" />
          <dl className="facts">
            <dt>Audience</dt>
            <dd>
              <code>
                s3://{definition.audience.source.bucket}/{definition.audience.source.key}
              </code>
            </dd>
            <dt>Rules</dt>
            <dd>{(definition.audience.rules ?? []).length ? <code>{JSON.stringify(definition.audience.rules)}</code> : "everyone"}</dd>
            <dt>Variants</dt>
            <dd>{definition.variants.map((v) => `${v.id} (weight ${v.weight})`).join(", ")}</dd>
            <dt>Holdout</dt>
            <dd>{definition.holdout_percent ?? 0} %</dd>
            <dt>Schedule</dt>
            <dd>{view.data.schedule ?? "when launched"}</dd>
            <dt>Quiet hours</dt>
            <dd>{definition.quiet_hours_zone === "customer" ? "in each customer's time zone" : "in the retailer's time zone"}</dd>
            {view.data.launch ? (
              <>
                <dt>Launch</dt>
                <dd>
                  {view.data.launch.launch_id}, starts {formatTime(view.data.launch.starts_at)}
                  {view.data.launch.failure ? ` · failed: ${view.data.launch.failure}` : ""}
                </dd>
              </>
            ) : null}
          </dl>
        </>
      ) : null}
      <Stats stats={stats} at={statsAt} error={statsError} />
    </section>
  );
}

function Stats({ stats, at, error }: { stats?: CampaignStats; at?: Date; error: unknown }) {
  return (
    <section aria-labelledby="stats-title" className="stats">
      <h2 id="stats-title">Live stats</h2>
      <p className="muted" aria-live="polite">
        {at ? `Updated ${at.toLocaleTimeString()}, every ${STATS_EVERY_MS / 1000} s` : "Reading…"}
      </p>
      <ProblemAlert error={error} context="Stats" />
      {stats ? (
        <>
          <div className="tiles" data-testid="stats">
            <Tile label="Rows read" value={stats.rows} />
            <Tile label="Matched" value={Object.values(stats.matched).reduce((a, b) => a + b, 0)} testid="stat-matched" />
            <Tile label="Held out" value={stats.held_out} />
            <Tile label="Sent" value={stats.delivery.sent} testid="stat-sent" />
            <Tile label="In flight" value={stats.delivery.in_flight} testid="stat-in-flight" />
            <Tile label="Failed" value={stats.delivery.failed} />
            <Tile label="Suppressed at send" value={stats.delivery.suppressed} />
            <Tile label="Capped at send" value={stats.delivery.frequency_capped} />
            <Tile label="Parked" value={stats.delivery.parked} />
          </div>
          <p className="muted">
            Launch chunks: {stats.progress.chunks_done} of {stats.progress.chunks_total} done
            {stats.progress.chunks_failed ? `, ${stats.progress.chunks_failed} failed` : ""}. Matched by variant:{" "}
            {Object.entries(stats.matched)
              .map(([variant, count]) => `${variant} ${count}`)
              .join(", ") || "none yet"}
            .
          </p>
          <p className="muted" data-testid="stat-cost">
            Counted cost: ${stats.cost.usd.toFixed(4)}
            {stats.cost.usd_per_sent != null ? `, $${(stats.cost.usd_per_sent * 1000).toFixed(4)} per 1,000 sent` : ""} (what delivery used, at list prices).
          </p>
          <table className="table compact">
            <caption>Skipped, by reason</caption>
            <tbody>
              {Object.entries(stats.skipped).map(([reason, count]) => (
                <tr key={reason}>
                  <th scope="row">{reason.replace(/_/g, " ")}</th>
                  <td>{count}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table className="table compact">
            <caption>Feedback from the mailbox providers</caption>
            <tbody>
              {Object.entries(stats.feedback).map(([kind, count]) => (
                <tr key={kind}>
                  <th scope="row">{kind.replace(/_/g, " ")}</th>
                  <td>{count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}

function Tile({ label, value, testid }: { label: string; value: number; testid?: string }) {
  return (
    <div className="tile">
      <div className="tile-value" data-testid={testid}>
        {value.toLocaleString()}
      </div>
      <div className="tile-label">{label}</div>
    </div>
  );
}
