import { useState, type FormEvent } from "react";
import { ApiError, seg } from "../api/client";
import type { CampaignView } from "../api/types";
import { describedBy, Field, ProblemAlert } from "../components/common";
import { useApp } from "../context";
import { buildCampaign, idFromName, type CampaignForm, type RuleOp, type RuleRow } from "../logic/campaign";
import { STANDARD_TEMPLATES } from "../logic/templates";
import { navigate } from "../router";

const OPS: { op: RuleOp; label: string; placeholder: string }[] = [
  { op: "equals", label: "equals", placeholder: "gold" },
  { op: "in", label: "is one of", placeholder: "gold, silver" },
  { op: "range", label: "is between", placeholder: "18..65" },
  { op: "recency", label: "within days", placeholder: "30" },
];

export function CampaignNew({ tenant }: { tenant: string }) {
  const { api, config } = useApp();
  const [form, setForm] = useState<CampaignForm>({
    campaignId: "",
    name: "",
    templateId: "weekly-offers",
    channel: "email",
    bucket: config.exports_bucket,
    key: `${tenant}/customers.jsonl`,
    rules: [{ field: "tier", op: "in", value: "" }],
    variants: [{ id: "A", weight: "1" }],
    holdoutPercent: "10",
    offerSlots: "3",
    schedule: "",
    customerQuietHours: false,
  });
  const [idTouched, setIdTouched] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<CampaignForm>) => setForm((current) => ({ ...current, ...patch }));
  const fieldError = (field: string) =>
    error instanceof ApiError
      ? error
          .fieldErrors(field)
          .map((e) => e.reason)
          .join("; ") || undefined
      : undefined;
  const setRule = (index: number, patch: Partial<RuleRow>) =>
    set({ rules: form.rules.map((rule, i) => (i === index ? { ...rule, ...patch } : rule)) });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const built = buildCampaign(form);
    if (!built.ok) {
      setError(
        new ApiError({
          type: "about:blank",
          title: "Check the form",
          status: 0,
          detail: `${built.field}: ${built.reason}`,
          errors: [{ field: built.field, reason: built.reason }],
          retryable: false,
        }),
      );
      return;
    }
    setBusy(true);
    try {
      const created = await api.post<CampaignView>(`/tenants/${seg(tenant)}/campaigns`, built.value);
      navigate(`/t/${tenant}/campaigns/${created.campaign_id}`);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="new-campaign-title">
      <h1 id="new-campaign-title">New campaign</h1>
      <form onSubmit={submit} className="form" noValidate>
        <fieldset>
          <legend>Campaign</legend>
          <Field label="Name" id="c-name" error={fieldError("name")}>
            <input
              id="c-name"
              value={form.name}
              required
              onChange={(e) =>
                set({ name: e.target.value, ...(idTouched ? {} : { campaignId: idFromName(e.target.value) }) })
              }
            />
          </Field>
          <Field
            label="Campaign id"
            id="c-id"
            hint="Letters, digits, - and _; part of every message's tags."
            error={fieldError("campaign_id")}
          >
            <input
              id="c-id"
              value={form.campaignId}
              required
              aria-describedby={describedBy("c-id", true, !!fieldError("campaign_id"))}
              onChange={(e) => {
                setIdTouched(true);
                set({ campaignId: e.target.value });
              }}
            />
          </Field>
          <Field label="Template" id="c-template" error={fieldError("template.id") ?? fieldError("template")}>
            <input
              id="c-template"
              list="standard-templates"
              value={form.templateId}
              onChange={(e) => set({ templateId: e.target.value })}
            />
            <datalist id="standard-templates">
              {STANDARD_TEMPLATES.map((id) => (
                <option key={id} value={id} />
              ))}
            </datalist>
          </Field>
          <Field label="Channel" id="c-channel">
            <select
              id="c-channel"
              value={form.channel}
              onChange={(e) => set({ channel: e.target.value as "email" | "push" | "both" })}
            >
              <option value="email">Email</option>
              <option value="push">Push</option>
              <option value="both">Email and push</option>
            </select>
          </Field>
        </fieldset>

        <fieldset>
          <legend>Audience</legend>
          <p className="hint">
            The customer export (JSON lines) in the exports bucket under <code>{tenant}/</code>. The API has no
            upload route yet: the export is put there by the retailer's data feed.
          </p>
          <Field label="Exports bucket" id="c-bucket" error={fieldError("audience.source.bucket")}>
            <input id="c-bucket" value={form.bucket} onChange={(e) => set({ bucket: e.target.value })} />
          </Field>
          <Field label="Export key" id="c-key" error={fieldError("audience.source.key") ?? fieldError("audience.source")}>
            <input id="c-key" value={form.key} onChange={(e) => set({ key: e.target.value })} />
          </Field>
          <div role="group" aria-labelledby="rules-label" className="rows">
            <p id="rules-label" className="label">
              Segment rules (every rule must match; none: everyone)
            </p>
            {form.rules.map((rule, index) => (
              <div className="row" key={index} data-testid="rule-row">
                <label className="sr-only" htmlFor={`rule-field-${index}`}>
                  Rule {index + 1} field
                </label>
                <input
                  id={`rule-field-${index}`}
                  placeholder="customer field, e.g. tier"
                  value={rule.field}
                  onChange={(e) => setRule(index, { field: e.target.value })}
                />
                <label className="sr-only" htmlFor={`rule-op-${index}`}>
                  Rule {index + 1} condition
                </label>
                <select
                  id={`rule-op-${index}`}
                  value={rule.op}
                  onChange={(e) => setRule(index, { op: e.target.value as RuleOp })}
                >
                  {OPS.map((op) => (
                    <option key={op.op} value={op.op}>
                      {op.label}
                    </option>
                  ))}
                </select>
                <label className="sr-only" htmlFor={`rule-value-${index}`}>
                  Rule {index + 1} value
                </label>
                <input
                  id={`rule-value-${index}`}
                  placeholder={OPS.find((op) => op.op === rule.op)?.placeholder}
                  value={rule.value}
                  onChange={(e) => setRule(index, { value: e.target.value })}
                />
                <button
                  type="button"
                  className="link"
                  aria-label={`Remove rule ${index + 1}`}
                  onClick={() => set({ rules: form.rules.filter((_, i) => i !== index) })}
                >
                  Remove
                </button>
              </div>
            ))}
            <button type="button" onClick={() => set({ rules: [...form.rules, { field: "", op: "equals", value: "" }] })}>
              Add rule
            </button>
          </div>
        </fieldset>

        <fieldset>
          <legend>Variants and holdout</legend>
          <div role="group" aria-label="Variants" className="rows">
            {form.variants.map((variant, index) => (
              <div className="row" key={index}>
                <label htmlFor={`variant-id-${index}`}>Variant</label>
                <input
                  id={`variant-id-${index}`}
                  value={variant.id}
                  size={6}
                  onChange={(e) =>
                    set({ variants: form.variants.map((v, i) => (i === index ? { ...v, id: e.target.value } : v)) })
                  }
                />
                <label htmlFor={`variant-weight-${index}`}>weight</label>
                <input
                  id={`variant-weight-${index}`}
                  type="number"
                  min={0}
                  value={variant.weight}
                  size={4}
                  onChange={(e) =>
                    set({
                      variants: form.variants.map((v, i) => (i === index ? { ...v, weight: e.target.value } : v)),
                    })
                  }
                />
                {form.variants.length > 1 ? (
                  <button
                    type="button"
                    className="link"
                    aria-label={`Remove variant ${variant.id || index + 1}`}
                    onClick={() => set({ variants: form.variants.filter((_, i) => i !== index) })}
                  >
                    Remove
                  </button>
                ) : null}
              </div>
            ))}
            <button
              type="button"
              onClick={() =>
                set({
                  variants: [...form.variants, { id: String.fromCharCode(65 + form.variants.length), weight: "1" }],
                })
              }
            >
              Add variant
            </button>
          </div>
          <Field label="Holdout (%)" id="c-holdout" hint="A control group, recorded and never sent: 0 to 50." error={fieldError("holdout_percent")}>
            <input
              id="c-holdout"
              type="number"
              min={0}
              max={50}
              step="0.5"
              value={form.holdoutPercent}
              onChange={(e) => set({ holdoutPercent: e.target.value })}
            />
          </Field>
          <Field label="Offer slots" id="c-slots" hint="How many offers each message shows: 1 to 12." error={fieldError("offers.slots")}>
            <input
              id="c-slots"
              type="number"
              min={1}
              max={12}
              value={form.offerSlots}
              onChange={(e) => set({ offerSlots: e.target.value })}
            />
          </Field>
        </fieldset>

        <fieldset>
          <legend>Schedule</legend>
          <Field
            label="Send at (retailer's local time)"
            id="c-schedule"
            hint="Empty: sent when launched. Quiet hours hold a send until they end."
            error={fieldError("schedule")}
          >
            <input
              id="c-schedule"
              type="datetime-local"
              value={form.schedule}
              onChange={(e) => set({ schedule: e.target.value })}
            />
          </Field>
          <Field
            label="Quiet hours in each customer's time zone"
            id="c-quiet-zone"
            hint="Off: the retailer's quiet hours hold the whole send in the retailer's time zone. On: the same hours in each customer's own time zone (their timezone field; the retailer's when missing), so customers who are awake get it now."
            error={fieldError("quiet_hours_zone")}
          >
            <input
              id="c-quiet-zone"
              type="checkbox"
              checked={Boolean(form.customerQuietHours)}
              onChange={(e) => set({ customerQuietHours: e.target.checked })}
            />
          </Field>
        </fieldset>
        <ProblemAlert error={error} context="The campaign was not created" />
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create campaign"}
        </button>
      </form>
    </section>
  );
}
