import { useEffect, useState, type FormEvent } from "react";
import { ApiError, seg } from "../api/client";
import type { TenantListPage, TenantRequest, TenantWorkspace } from "../api/types";
import { Field, ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";
import { href, navigate } from "../router";

export function Retailers({ selected }: { selected?: string }) {
  const [open, setOpen] = useState("");
  return (
    <section aria-labelledby="retailers-title">
      <h1 id="retailers-title">Retailers</h1>
      <div className="split">
        <div className="card">
          <form
            onSubmit={(event) => {
              event.preventDefault();
              if (open.trim()) navigate(`/retailers/${open.trim()}`);
            }}
          >
            <Field label="Open a retailer (tenant id)" id="open-tenant">
              <input id="open-tenant" value={open} onChange={(e) => setOpen(e.target.value)} />
            </Field>
            <button type="submit">Open</button>
          </form>
          <RetailerList selected={selected} />
        </div>
        <div>{selected ? <Retailer tenant={selected} key={selected} /> : <Onboard />}</div>
      </div>
    </section>
  );
}

/** Every onboarded retailer (`GET /tenants`), a page at a time, with its status and warm-up. */
function RetailerList({ selected }: { selected?: string }) {
  const { api } = useApp();
  const [pages, setPages] = useState<TenantListPage[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const load = async (after?: string) => {
    setBusy(true);
    setError(null);
    try {
      const page = await api.get<TenantListPage>("/tenants", { query: { after, limit: 50 } });
      setPages((loaded) => (after ? [...loaded, page] : [page]));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load();
    // Again when another retailer is opened: one may just have been onboarded or suspended.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selected]);
  const tenants = pages.flatMap((page) => page.tenants);
  const next = pages.at(-1)?.next_after;
  return (
    <>
      <h2 id="all-retailers">All retailers</h2>
      <ProblemAlert error={error} context="Retailers" />
      <table className="table" aria-labelledby="all-retailers" data-testid="retailer-list">
        <thead>
          <tr>
            <th scope="col">Retailer</th>
            <th scope="col">Status</th>
            <th scope="col">Warm-up</th>
          </tr>
        </thead>
        <tbody>
          {tenants.map((tenant) => (
            <tr key={tenant.tenant_id}>
              <td>
                <a
                  href={href(`/retailers/${tenant.tenant_id}`)}
                  aria-current={tenant.tenant_id === selected ? "page" : undefined}
                >
                  {tenant.display_name}
                </a>{" "}
                <span className="hint">{tenant.tenant_id}</span>
              </td>
              <td>
                <span className={`state state-${tenant.status.toLowerCase()}`}>{tenant.status}</span>
              </td>
              <td>
                {tenant.settings?.warmup
                  ? `${tenant.settings.warmup.start_cap} to ${tenant.settings.warmup.target} a day`
                  : "none"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!busy && tenants.length === 0 && !error ? <p>No retailer onboarded yet.</p> : null}
      {next ? (
        <button type="button" disabled={busy} onClick={() => void load(next)}>
          More retailers
        </button>
      ) : null}
    </>
  );
}

function Retailer({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const workspace = useLoad(async () => {
    return api.get<TenantWorkspace>(`/tenants/${seg(tenant)}`);
  }, tenant);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = async (action: "suspend" | "reinstate") => {
    setBusy(true);
    setError(null);
    try {
      workspace.setData(await api.post<TenantWorkspace>(`/tenants/${seg(tenant)}/${action}`));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const data = workspace.data;
  return (
    <article className="card" aria-labelledby="retailer-title">
      <h2 id="retailer-title">{data?.display_name ?? tenant}</h2>
      <ProblemAlert error={workspace.error} context={`Retailer ${tenant}`} />
      {workspace.error instanceof ApiError && workspace.error.status === 404 ? (
        <p>
          <a href={href("/retailers")}>Onboard it</a>
        </p>
      ) : null}
      {data ? (
        <>
          <p>
            Status:{" "}
            <span className={`state state-${data.status.toLowerCase()}`} data-testid="retailer-status">
              {data.status}
            </span>
          </p>
          <dl className="facts">
            <dt>Tenant id</dt>
            <dd>{data.tenant_id}</dd>
            <dt>From address</dt>
            <dd>{data.from_address}</dd>
            <dt>Configuration set</dt>
            <dd>{data.configuration_set}</dd>
            <dt>SES tenant</dt>
            <dd>{data.ses_tenant}</dd>
            <dt>Time zone</dt>
            <dd>{data.settings?.timezone ?? "UTC"}</dd>
            <dt>Quiet hours</dt>
            <dd>
              {data.settings?.quiet_hours
                ? `${data.settings.quiet_hours.start_hour}:00 to ${data.settings.quiet_hours.end_hour}:00`
                : "none"}
            </dd>
            <dt>Frequency cap</dt>
            <dd>
              {data.settings?.frequency_cap
                ? `${data.settings.frequency_cap.max_messages} in ${data.settings.frequency_cap.window_days} days`
                : "none"}
            </dd>
            <dt>Warm-up</dt>
            <dd>
              {data.settings?.warmup
                ? `${data.settings.warmup.start_cap} a day rising to ${data.settings.warmup.target} over ${data.settings.warmup.ramp_days} days`
                : "none"}{" "}
              <a
                href={href(`/t/${data.tenant_id}/deliverability`)}
                aria-label={`Warm-up state and rates of ${data.display_name}`}
              >
                State and rates
              </a>
            </dd>
            <dt>Seed list (test sends)</dt>
            <dd>
              {data.settings?.seed_list?.length ? data.settings.seed_list.join(", ") : "none"}{" "}
              <a href={href(`/t/${data.tenant_id}/seed-list`)} aria-label={`Edit the seed list of ${data.display_name}`}>
                Edit
              </a>
            </dd>
          </dl>
          <div className="actions" role="group" aria-label="Retailer actions">
            {data.status === "ACTIVE" ? (
              <button type="button" className="danger" disabled={busy} onClick={() => void act("suspend")}>
                Suspend sending
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => void act("reinstate")}>
                Reinstate
              </button>
            )}
            <a className="button secondary" href={href(`/t/${tenant}/campaigns`)}>
              Its campaigns
            </a>
            <a className="button secondary" href={href(`/t/${tenant}/templates`)}>
              Its templates
            </a>
          </div>
          <ProblemAlert error={error} context="The action was refused" />
        </>
      ) : null}
    </article>
  );
}

function Onboard() {
  const { api } = useApp();
  const [tenant, setTenant] = useState("");
  const [request, setRequest] = useState({ display_name: "", slug: "", timezone: "Europe/Berlin" });
  const [quiet, setQuiet] = useState({ on: false, start: "21", end: "8" });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body: TenantRequest = {
      display_name: request.display_name.trim(),
      slug: (request.slug || tenant).trim(),
      settings: {
        timezone: request.timezone.trim() || undefined,
        quiet_hours: quiet.on ? { start_hour: Number(quiet.start), end_hour: Number(quiet.end) } : null,
      },
    };
    try {
      await api.put<TenantWorkspace>(`/tenants/${seg(tenant.trim())}`, body);
      navigate(`/retailers/${tenant.trim()}`);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} className="card form" aria-labelledby="onboard-title">
      <h2 id="onboard-title">Onboard a retailer</h2>
      <p className="hint">
        Creates its own SES configuration set, SES tenant and from-address. Onboarding an existing retailer again
        updates it.
      </p>
      <Field label="Tenant id" id="ob-tenant">
        <input id="ob-tenant" value={tenant} required onChange={(e) => setTenant(e.target.value)} />
      </Field>
      <Field label="Display name (the sender's name)" id="ob-name">
        <input
          id="ob-name"
          value={request.display_name}
          required
          onChange={(e) => setRequest({ ...request, display_name: e.target.value })}
        />
      </Field>
      <Field label="Slug (from-address local part)" id="ob-slug" hint="Defaults to the tenant id; cannot change later.">
        <input id="ob-slug" value={request.slug} placeholder={tenant} onChange={(e) => setRequest({ ...request, slug: e.target.value })} />
      </Field>
      <Field label="Time zone (IANA)" id="ob-tz">
        <input id="ob-tz" value={request.timezone} onChange={(e) => setRequest({ ...request, timezone: e.target.value })} />
      </Field>
      <div className="field">
        <label>
          <input type="checkbox" checked={quiet.on} onChange={(e) => setQuiet({ ...quiet, on: e.target.checked })} /> Quiet
          hours
        </label>
        {quiet.on ? (
          <div className="row">
            <label htmlFor="ob-quiet-start">from</label>
            <input id="ob-quiet-start" type="number" min={0} max={23} value={quiet.start} onChange={(e) => setQuiet({ ...quiet, start: e.target.value })} />
            <label htmlFor="ob-quiet-end">to</label>
            <input id="ob-quiet-end" type="number" min={0} max={23} value={quiet.end} onChange={(e) => setQuiet({ ...quiet, end: e.target.value })} />
          </div>
        ) : null}
      </div>
      <ProblemAlert error={error} context="The retailer was not onboarded" />
      <button type="submit" disabled={busy}>
        {busy ? "Onboarding…" : "Onboard"}
      </button>
    </form>
  );
}
