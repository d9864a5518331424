// The retailer's seed list: the only addresses a template's test send may go to (settings
// `seed_list`, at most 20). Read with `GET /tenants/{t}`, written whole with `PATCH /tenants/{t}`,
// which marketers may do for their own retailer.
import { useEffect, useState, type FormEvent } from "react";
import { ApiError, seg } from "../api/client";
import type { TenantPatch, TenantWorkspace } from "../api/types";
import { describedBy, ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";
import {
  MAX_SEED_ADDRESSES,
  parseSeedList,
  seedListApiErrors,
  seedListChanged,
  seedListText,
} from "../logic/seedList";
import { href } from "../router";

export function SeedList({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const path = `/tenants/${seg(tenant)}`;
  const workspace = useLoad(() => api.get<TenantWorkspace>(path), path);
  const stored = workspace.data?.settings?.seed_list;
  const [text, setText] = useState("");
  const [saveError, setSaveError] = useState<unknown>(null);
  const [sent, setSent] = useState<string[]>([]);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (workspace.data) setText(seedListText(workspace.data.settings?.seed_list));
  }, [workspace.data]);

  const parsed = parseSeedList(text);
  const changed = workspace.data ? seedListChanged(stored, parsed) : false;
  const invalid = parsed.errors.length > 0 || parsed.tooMany;
  const apiErrors = saveError instanceof ApiError ? seedListApiErrors(saveError.problem.errors ?? [], sent) : [];

  const save = async (event: FormEvent) => {
    event.preventDefault();
    if (invalid) return;
    setSaveError(null);
    setNotice("");
    setBusy(true);
    const body: TenantPatch = { seed_list: parsed.addresses };
    setSent(parsed.addresses);
    try {
      const updated = await api.patch<TenantWorkspace>(path, body);
      workspace.setData(updated);
      const count = updated.settings?.seed_list?.length ?? 0;
      setNotice(count === 0 ? "Saved: the seed list is empty; test sends are off." : `Saved: ${count} of ${MAX_SEED_ADDRESSES} addresses.`);
    } catch (caught) {
      setSaveError(caught);
    } finally {
      setBusy(false);
    }
  };

  const hasError = invalid || apiErrors.length > 0;
  return (
    <section aria-labelledby="seed-title">
      <h1 id="seed-title">Seed list</h1>
      <p className="hint">
        The only addresses a template's test send may go to (<a href={href(`/t/${tenant}/templates`)}>Templates</a>, Send
        test): your team's own inboxes, at most {MAX_SEED_ADDRESSES}. Stored in lower case, each once.
      </p>
      <ProblemAlert error={workspace.error} context="Retailer" />
      {workspace.data ? (
        <form className="card" onSubmit={save} noValidate>
          <div className={`field${hasError ? " field-invalid" : ""}`}>
            <label htmlFor="seed-list">Seed addresses (one a line)</label>
            <textarea
              id="seed-list"
              rows={Math.min(Math.max(parsed.addresses.length + parsed.errors.length + 2, 5), MAX_SEED_ADDRESSES + 2)}
              cols={48}
              spellCheck={false}
              value={text}
              aria-invalid={hasError ? true : undefined}
              aria-describedby={describedBy("seed-list", true, hasError)}
              onChange={(event) => {
                setText(event.target.value);
                setNotice("");
                setSaveError(null);
              }}
            />
            <p className="hint" id="seed-list-hint" data-testid="seed-count" aria-live="polite">
              {parsed.addresses.length} of {MAX_SEED_ADDRESSES} addresses
              {parsed.duplicates > 0 ? `; ${parsed.duplicates} repeated, kept once` : ""}.
            </p>
            {hasError ? (
              <div className="field-error" id="seed-list-error" role="alert" data-testid="seed-errors">
                <ul>
                  {parsed.tooMany ? (
                    <li>
                      {parsed.addresses.length} addresses: at most {MAX_SEED_ADDRESSES}.
                    </li>
                  ) : null}
                  {parsed.errors.map((error) => (
                    <li key={error.line}>
                      Line {error.line} ({error.address}): {error.reason}
                    </li>
                  ))}
                  {apiErrors.map((reason, index) => (
                    <li key={`api-${index}`}>{reason}</li>
                  ))}
                </ul>
              </div>
            ) : null}
          </div>
          {saveError && apiErrors.length === 0 ? <ProblemAlert error={saveError} context="Not saved" /> : null}
          <p aria-live="polite" className="notice" data-testid="seed-notice">
            {notice}
          </p>
          <div className="row">
            <button type="submit" disabled={busy || invalid || !changed}>
              Save seed list
            </button>
            <button
              type="button"
              className="secondary"
              disabled={!changed}
              onClick={() => {
                setText(seedListText(stored));
                setSaveError(null);
              }}
            >
              Discard changes
            </button>
          </div>
        </form>
      ) : workspace.error ? null : (
        <p aria-live="polite">Loading…</p>
      )}
    </section>
  );
}
