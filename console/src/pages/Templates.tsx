import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, seg } from "../api/client";
import type { AudienceSample, Preview, PreviewRequest, TemplateVariables, TenantWorkspace, TestSent } from "../api/types";
import { CodeEditor } from "../components/CodeEditor";
import { describedBy, Field, ProblemAlert, useLoad } from "../components/common";
import { PreviewPanel, type Timing } from "../components/PreviewPanel";
import { TestSendControl } from "../components/TestSendControl";
import { useApp } from "../context";
import { exportKeyProblem, newSeed, previewCustomer, recentExports } from "../logic/audienceSample";
import { parseCustomer, randomCustomer, type SampleCustomer } from "../logic/customers";
import { STANDARD_TEMPLATES } from "../logic/templates";
import { seedAddresses, testSendBody } from "../logic/testSend";
import {
  apiErrorsByVariable,
  draftFrom,
  fieldsFromSchema,
  initialValues,
  overridesFrom,
  validate,
  type FormValues,
  type VariableField,
} from "../logic/variables";
import { href } from "../router";

/** Typing pauses this long before a preview is asked for; stale answers are dropped. */
export const PREVIEW_DEBOUNCE_MS = 30;

export default function Templates({ tenant, template }: { tenant: string; template?: string }) {
  return (
    <section aria-labelledby="templates-title" className="wide">
      <h1 id="templates-title">Templates</h1>
      <nav aria-label="Templates" className="tabs">
        {STANDARD_TEMPLATES.map((id) => (
          <a key={id} href={href(`/t/${tenant}/templates/${id}`)} aria-current={id === template ? "page" : undefined}>
            {id}
          </a>
        ))}
      </nav>
      {template ? <TemplateEditor tenant={tenant} template={template} key={`${tenant}/${template}`} /> : <p>Pick a template.</p>}
    </section>
  );
}

type CustomerMode = "sample" | "random" | "export" | "custom";

const MODE_LABELS: Record<CustomerMode, string> = {
  sample: "The API's sample",
  random: "Random",
  export: "From an audience export",
  custom: "Custom JSON",
};

function TemplateEditor({ tenant, template }: { tenant: string; template: string }) {
  const { api } = useApp();
  const base = `/tenants/${seg(tenant)}/templates/${seg(template)}`;
  const loaded = useLoad(() => api.get<TemplateVariables>(`${base}/variables`), base);
  const workspace = useLoad(() => api.get<TenantWorkspace>(`/tenants/${seg(tenant)}`), tenant);
  const variables = loaded.data;
  const fields = useMemo(() => (variables ? fieldsFromSchema(variables) : []), [variables]);
  const [values, setValues] = useState<FormValues>({});
  const [saveError, setSaveError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const [mode, setMode] = useState<CustomerMode>("sample");
  const [random, setRandom] = useState<SampleCustomer>(() => randomCustomer());
  const [customJson, setCustomJson] = useState('{\n  "first_name": "Ana",\n  "tier": "gold"\n}');

  useEffect(() => {
    if (variables) setValues(initialValues(variables));
  }, [variables]);

  const localErrors = validate(fields, values);
  const apiErrors = saveError instanceof ApiError ? apiErrorsByVariable(saveError.problem.errors ?? []) : {};

  const fromExport = useExportSample(tenant);
  const customer = useMemo((): { customer?: SampleCustomer; error?: string } => {
    if (mode === "random") return { customer: random };
    if (mode === "export") return fromExport.sample ? { customer: previewCustomer(fromExport.sample) } : {};
    if (mode === "custom") {
      const parsed = parseCustomer(customJson);
      return parsed.ok ? { customer: parsed.customer } : { error: parsed.reason };
    }
    return {};
  }, [mode, random, customJson, fromExport.sample]);

  const previewRequest: PreviewRequest | null = variables
    ? { variables: draftFrom(fields, values), customer: customer.customer ?? null }
    : null;
  const preview = usePreview(base, previewRequest);

  const setValue = (name: string, value: string | boolean) => {
    preview.typed();
    setValues((current) => ({ ...current, [name]: value }));
  };

  const save = async () => {
    setSaveError(null);
    setNotice("");
    try {
      const saved = await api.put<TemplateVariables>(`${base}/variables`, { variables: overridesFrom(fields, values) });
      loaded.setData(saved);
      setNotice(`Saved: version ${saved.live_version} is live; delivery uses it within a minute.`);
    } catch (caught) {
      setSaveError(caught);
    }
  };

  if (loaded.error) return <ProblemAlert error={loaded.error} context={`Template ${template}`} />;
  if (!variables) return <p aria-live="polite">Loading…</p>;
  const invalid = Object.keys(localErrors).length > 0;
  return (
    <div className="editor">
      <form
        className="variables"
        aria-labelledby="variables-title"
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <h2 id="variables-title">
          {template} <span className="muted">· live version {variables.live_version}</span>
        </h2>
        {fields.map((field) => (
          <VariableInput
            key={field.name}
            field={field}
            value={values[field.name] ?? ""}
            error={localErrors[field.name] ?? apiErrors[field.name]}
            onChange={(value) => setValue(field.name, value)}
          />
        ))}
        <ProblemAlert error={saveError} context="Not saved" />
        <p aria-live="polite" className="notice" data-testid="save-notice">
          {notice}
        </p>
        <div className="sticky-actions">
          <button type="submit" disabled={invalid}>
            Save and publish
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              preview.typed();
              setValues(initialValues(variables));
            }}
          >
            Discard changes
          </button>
        </div>
      </form>
      <div className="previews">
        <fieldset className="customer">
          <legend>Sample customer</legend>
          <div className="row">
            {(Object.keys(MODE_LABELS) as CustomerMode[]).map((choice) => (
              <label key={choice}>
                <input
                  type="radio"
                  name="customer-mode"
                  value={choice}
                  checked={mode === choice}
                  onChange={() => {
                    preview.typed();
                    setMode(choice);
                  }}
                />{" "}
                {MODE_LABELS[choice]}
              </label>
            ))}
            {mode === "random" ? (
              <button
                type="button"
                className="secondary"
                onClick={() => {
                  preview.typed();
                  setRandom(randomCustomer());
                }}
              >
                Another
              </button>
            ) : null}
          </div>
          {mode === "random" ? <code className="muted">{JSON.stringify(random.fields)}</code> : null}
          {mode === "export" ? (
            <ExportSampleControl
              tenant={tenant}
              state={fromExport}
              onPick={(key) => {
                preview.typed();
                void fromExport.pick(key);
              }}
            />
          ) : null}
          {mode === "custom" ? (
            <>
              <CodeEditor
                id="customer-json"
                label="Sample customer (JSON)"
                language="json"
                value={customJson}
                invalid={!!customer.error}
                onChange={(text) => {
                  preview.typed();
                  setCustomJson(text);
                }}
              />
              {customer.error ? <p className="field-error">{customer.error}</p> : null}
            </>
          ) : null}
        </fieldset>
        <PreviewPanel
          preview={preview.preview}
          error={preview.error}
          pending={preview.pending}
          sender={workspace.data?.display_name ?? tenant}
          onShown={preview.shown}
          timing={preview.timing}
        />
        <TestSendControl
          addresses={seedAddresses(workspace.data)}
          seedListHref={href(`/t/${tenant}/seed-list`)}
          send={(to) => api.post<TestSent>(`${base}/test-send`, testSendBody(to, previewRequest))}
        />
      </div>
    </div>
  );
}

function VariableInput({
  field,
  value,
  error,
  onChange,
}: {
  field: VariableField;
  value: string | boolean;
  error?: string;
  onChange: (value: string | boolean) => void;
}) {
  const id = `var-${field.name}`;
  const hint = [
    field.maxLength ? `At most ${field.maxLength} characters.` : "",
    `Default: ${typeof field.defaultValue === "string" ? field.defaultValue : JSON.stringify(field.defaultValue)}`,
  ]
    .filter(Boolean)
    .join(" ");
  const described = describedBy(id, true, !!error);
  const common = {
    id,
    "aria-describedby": described,
    "aria-invalid": error ? true : undefined,
    name: field.name,
  };
  let control;
  switch (field.input) {
    case "checkbox":
      control = <input type="checkbox" {...common} checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />;
      break;
    case "multiline":
      control = (
        <CodeEditor id={id} label={field.label} language="html" value={String(value)} describedBy={described} invalid={!!error} onChange={onChange} />
      );
      break;
    case "color":
      control = (
        <div className="row">
          <input {...common} value={String(value)} onChange={(e) => onChange(e.target.value)} size={9} />
          <input
            type="color"
            aria-label={`${field.label} picker`}
            value={/^#[0-9a-f]{6}$/i.test(String(value)) ? String(value) : "#000000"}
            onChange={(e) => onChange(e.target.value)}
          />
        </div>
      );
      break;
    case "number":
      control = <input {...common} inputMode="decimal" value={String(value)} onChange={(e) => onChange(e.target.value)} />;
      break;
    default:
      control = (
        <input
          {...common}
          type={field.input === "url" ? "url" : "text"}
          value={String(value)}
          onChange={(e) => onChange(e.target.value)}
        />
      );
  }
  return (
    <Field label={`${field.label}${field.overridden ? " (your value)" : ""}`} id={id} hint={hint} error={error}>
      {control}
    </Field>
  );
}

/**
 * The preview as you type: each change waits PREVIEW_DEBOUNCE_MS of quiet, then asks the API
 * (cancelling the request still running); `timing` is the time from the last keystroke to the
 * preview drawn, as the frames report it.
 */
/** A customer picked from one of the retailer's exports, and a new seed for "Pick another". */
function useExportSample(tenant: string) {
  const { api } = useApp();
  const [key, setKey] = useState(() => recentExports(sessionStorage, tenant)[0] ?? "");
  const [sample, setSample] = useState<AudienceSample | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [pending, setPending] = useState(false);
  const pick = async (exportKey: string) => {
    setError(null);
    setPending(true);
    try {
      const query = { key: exportKey.trim(), seed: newSeed() };
      setSample(await api.get<AudienceSample>(`/tenants/${seg(tenant)}/audiences/sample`, { query }));
    } catch (caught) {
      setError(caught);
    } finally {
      setPending(false);
    }
  };
  return { key, setKey, sample, error, pending, pick };
}

function ExportSampleControl({
  tenant,
  state,
  onPick,
}: {
  tenant: string;
  state: ReturnType<typeof useExportSample>;
  onPick: (key: string) => void;
}) {
  const problem = exportKeyProblem(tenant, state.key);
  const recent = recentExports(sessionStorage, tenant);
  return (
    <div className="export-sample">
      <Field
        label="Export key"
        id="export-key"
        hint="An upload's key, as the Audiences page shows it"
        error={problem && state.key ? problem : undefined}
      >
        <input
          id="export-key"
          aria-describedby={describedBy("export-key", true, !!(problem && state.key))}
          list="recent-exports"
          value={state.key}
          placeholder={`${tenant}/uploads/…`}
          onChange={(e) => state.setKey(e.target.value)}
        />
      </Field>
      <datalist id="recent-exports">
        {recent.map((key) => (
          <option key={key} value={key} />
        ))}
      </datalist>
      <button type="button" className="secondary" disabled={!!problem || state.pending} onClick={() => onPick(state.key)}>
        {state.sample ? "Pick another" : "Pick a customer"}
      </button>
      <ProblemAlert error={state.error} context="No customer picked" />
      {state.sample ? (
        <p className="muted" data-testid="export-sample">
          Customer <code>{state.sample.customer_id}</code> (line {state.sample.line}, one of {state.sample.rows} rows
          {state.sample.complete ? "" : " in the export's first MiB"}): <code>{JSON.stringify(state.sample.fields)}</code>
        </p>
      ) : null}
    </div>
  );
}

function usePreview(base: string, request: PreviewRequest | null) {
  const { api } = useApp();
  const [preview, setPreview] = useState<Preview>();
  const [error, setError] = useState<unknown>(null);
  const [pending, setPending] = useState(false);
  const [timing, setTiming] = useState<Timing>();
  const lastKey = useRef(performance.now());
  const drawn = useRef<{ typedAt: number; answeredAt: number; subject: string } | null>(null);
  const body = request ? JSON.stringify(request) : null;

  useEffect(() => {
    if (body === null) return;
    const controller = new AbortController();
    const typedAt = lastKey.current;
    setPending(true);
    const timer = setTimeout(async () => {
      try {
        const answer = await api.post<Preview>(`${base}/preview`, JSON.parse(body), { signal: controller.signal });
        drawn.current = { typedAt, answeredAt: performance.now(), subject: answer.subject };
        setPreview(answer);
        setError(null);
      } catch (caught) {
        if (!controller.signal.aborted) setError(caught);
      } finally {
        if (!controller.signal.aborted) setPending(false);
      }
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [api, base, body]);

  const typed = useCallback(() => {
    lastKey.current = performance.now();
  }, []);
  const shown = useCallback(() => {
    const started = drawn.current;
    if (!started) return;
    drawn.current = null;
    const now = performance.now();
    const measured = { total: now - started.typedAt, request: started.answeredAt - started.typedAt - PREVIEW_DEBOUNCE_MS };
    setTiming(measured);
    // For the browser tests: each drawn preview's timing with the subject it drew.
    const log = ((window as unknown as { __previewTimings?: unknown[] }).__previewTimings ??= []);
    log.push({ ...measured, subject: started.subject });
  }, []);
  return { preview, error, pending, timing, typed, shown };
}
