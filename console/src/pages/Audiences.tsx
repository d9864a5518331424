import { useRef, useState, type FormEvent } from "react";
import { seg } from "../api/client";
import type { AudienceCheck, UploadTarget } from "../api/types";
import { Field, ProblemAlert } from "../components/common";
import { useApp } from "../context";
import { rememberExport } from "../logic/audienceSample";
import { isGzip, putFile } from "../logic/upload";

type Step = "idle" | "uploading" | "checking" | "done";

/**
 * Audience upload: an upload URL from the API (`POST .../audiences/uploads`), the file put there
 * straight from the browser with its progress, then the parse report of what was uploaded
 * (`GET .../audiences/report`), read as a launch reads it.
 */
export function Audiences({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const [file, setFile] = useState<File | null>(null);
  const [step, setStep] = useState<Step>("idle");
  const [progress, setProgress] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [report, setReport] = useState<AudienceCheck | null>(null);
  const cancel = useRef<AbortController | null>(null);
  const base = `/tenants/${seg(tenant)}/audiences`;

  const upload = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setError(null);
    setReport(null);
    setProgress(0);
    setStep("uploading");
    cancel.current = new AbortController();
    try {
      const target = await api.post<UploadTarget>(`${base}/uploads`, { gzip: isGzip(file.name) });
      await putFile(target, file, setProgress, cancel.current.signal);
      setStep("checking");
      setReport(await api.get<AudienceCheck>(`${base}/report`, { query: { key: target.key } }));
      // The template page offers this tab's uploads as the exports a preview customer comes from.
      rememberExport(sessionStorage, tenant, target.key);
      setStep("done");
    } catch (caught) {
      setError(caught);
      setStep("idle");
    }
  };

  const busy = step === "uploading" || step === "checking";
  return (
    <section aria-labelledby="audiences-title">
      <h1 id="audiences-title">Audiences</h1>
      <form className="card form" onSubmit={upload} aria-describedby="audience-format">
        <p id="audience-format" className="hint">
          A customer export: one JSON object a line (<code>id</code>, <code>email</code>, <code>consent</code>,{" "}
          <code>attributes</code>, <code>candidates</code>…), gzip-compressed if its name ends in <code>.gz</code>.
          It goes under this retailer's own folder of the exports bucket, where campaigns read their audience.
        </p>
        <Field label="Customer export (JSON lines)" id="audience-file">
          <input
            id="audience-file"
            type="file"
            accept=".jsonl,.ndjson,.json,.gz,application/x-ndjson,application/gzip"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            disabled={busy}
          />
        </Field>
        <button type="submit" disabled={!file || busy}>
          Upload and check
        </button>
        {step === "uploading" ? (
          <button type="button" className="link" onClick={() => cancel.current?.abort()}>
            Cancel
          </button>
        ) : null}
        {step !== "idle" ? (
          <p>
            <label htmlFor="audience-progress">Uploaded </label>
            <progress id="audience-progress" max={1} value={progress} data-testid="upload-progress" />{" "}
            <span aria-live="polite">
              {Math.round(progress * 100)} %{step === "checking" ? ", reading it…" : ""}
            </span>
          </p>
        ) : null}
      </form>
      <ProblemAlert error={error} context="Upload" />
      {report ? <Report report={report} /> : null}
    </section>
  );
}

function Report({ report }: { report: AudienceCheck }) {
  return (
    <article className="card" aria-labelledby="report-title" data-testid="audience-report">
      <h2 id="report-title">What the export holds</h2>
      <dl className="facts">
        <dt>Campaign audience source</dt>
        <dd>
          <code>{report.bucket}</code> / <code data-testid="report-key">{report.key}</code>
        </dd>
        <dt>Rows</dt>
        <dd data-testid="report-rows">{report.rows}</dd>
        <dt>Reachable by email</dt>
        <dd>{report.email_reachable}</dd>
        <dt>Reachable by push</dt>
        <dd>{report.push_reachable}</dd>
        <dt>Malformed</dt>
        <dd data-testid="report-malformed">{report.malformed}</dd>
      </dl>
      {report.complete ? null : (
        <p className="hint" role="status">
          Only the first {report.lines} lines were read (the check's limit); the counts are theirs.
        </p>
      )}
      {report.malformed_rows.length > 0 ? (
        <table className="table" data-testid="malformed-rows">
          <caption>
            Malformed rows{report.malformed > report.malformed_rows.length ? ` (the first ${report.malformed_rows.length})` : ""}:
            a launch leaves them out and counts them
          </caption>
          <thead>
            <tr>
              <th scope="col">Line</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {report.malformed_rows.map((row) => (
              <tr key={row.line}>
                <td>{row.line}</td>
                <td>{row.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </article>
  );
}
