import { useState } from "react";
import { seg } from "../api/client";
import type { CampaignPage } from "../api/types";
import { formatTime, ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";
import { href } from "../router";

export function Campaigns({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const [cursor, setCursor] = useState<string | undefined>();
  const [previous, setPrevious] = useState<(string | undefined)[]>([]);
  const page = useLoad(
    () => api.get<CampaignPage>(`/tenants/${seg(tenant)}/campaigns`, { query: { limit: 25, cursor } }),
    `${tenant}|${cursor ?? ""}`,
  );
  return (
    <section aria-labelledby="campaigns-title">
      <div className="title-row">
        <h1 id="campaigns-title">Campaigns</h1>
        <a className="button" href={href(`/t/${tenant}/campaigns/new`)}>
          New campaign
        </a>
      </div>
      <ProblemAlert error={page.error} context="Campaigns" />
      {page.loading && !page.data ? <p aria-live="polite">Loading…</p> : null}
      {page.data ? (
        page.data.campaigns.length === 0 ? (
          <p>No campaigns yet.</p>
        ) : (
          <table className="table" data-testid="campaigns">
            <thead>
              <tr>
                <th scope="col">Campaign</th>
                <th scope="col">State</th>
                <th scope="col">Template</th>
                <th scope="col">Channel</th>
                <th scope="col">Schedule</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {page.data.campaigns.map((campaign) => (
                <tr key={campaign.campaign_id}>
                  <td>
                    <a href={href(`/t/${tenant}/campaigns/${campaign.campaign_id}`)}>{campaign.name}</a>
                    <div className="muted">{campaign.campaign_id}</div>
                  </td>
                  <td>
                    <span className={`state state-${campaign.state.toLowerCase()}`}>{campaign.state}</span>
                  </td>
                  <td>{campaign.definition.template.id}</td>
                  <td>{campaign.definition.channel}</td>
                  <td>{campaign.schedule ?? "at launch"}</td>
                  <td>{formatTime(campaign.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <div className="pager">
        {previous.length > 0 ? (
          <button
            type="button"
            onClick={() => {
              setCursor(previous[previous.length - 1]);
              setPrevious(previous.slice(0, -1));
            }}
          >
            Newer
          </button>
        ) : null}
        {page.data?.next_cursor ? (
          <button
            type="button"
            onClick={() => {
              setPrevious([...previous, cursor]);
              setCursor(page.data?.next_cursor ?? undefined);
            }}
          >
            Older
          </button>
        ) : null}
      </div>
    </section>
  );
}
