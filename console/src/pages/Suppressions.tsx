import { useState, type FormEvent } from "react";
import { seg } from "../api/client";
import type { ImportReport, Suppression, SuppressionListPage } from "../api/types";
import { Field, formatTime, ProblemAlert, useLoad } from "../components/common";
import { useApp } from "../context";

export function Suppressions({ tenant }: { tenant: string }) {
  const { api } = useApp();
  const base = `/tenants/${seg(tenant)}/suppressions`;
  const [after, setAfter] = useState<string | undefined>();
  const [earlier, setEarlier] = useState<(string | undefined)[]>([]);
  const page = useLoad(() => api.get<SuppressionListPage>(base, { query: { after, limit: 50 } }), `${base}|${after ?? ""}`);
  const [address, setAddress] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const [report, setReport] = useState<ImportReport>();

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const added = await api.put<Suppression>(`${base}/${seg(address.trim())}`);
      setNotice(`${added.address} is suppressed.`);
      setAddress("");
      await page.reload();
    } catch (caught) {
      setError(caught);
    }
  };
  const remove = async (entry: Suppression) => {
    setError(null);
    try {
      await api.delete(`${base}/${seg(entry.address)}`);
      setNotice(`${entry.address} was removed from the list.`);
      await page.reload();
    } catch (caught) {
      setError(caught);
    }
  };
  const importCsv = async (file: File) => {
    setError(null);
    setReport(undefined);
    try {
      setReport(await api.request<ImportReport>("POST", `${base}/import`, { rawBody: await file.text(), contentType: "text/csv" }));
      await page.reload();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="suppressions-title">
      <h1 id="suppressions-title">Suppressions</h1>
      <p className="hint">
        Addresses this retailer never sends to: bounces, complaints and unsubscribes are added by delivery; you add and
        remove the manual ones.
      </p>
      <div className="split">
        <form onSubmit={add} className="card">
          <Field label="Address to suppress" id="sup-address">
            <input
              id="sup-address"
              type="email"
              value={address}
              required
              onChange={(e) => setAddress(e.target.value)}
            />
          </Field>
          <button type="submit">Suppress</button>
        </form>
        <div className="card">
          <Field label="Import a CSV of addresses (at most 5,000 rows)" id="sup-import">
            <input
              id="sup-import"
              type="file"
              accept=".csv,text/csv"
              onChange={(e) => {
                const file = e.target.files?.[0];
                if (file) void importCsv(file);
              }}
            />
          </Field>
          {report ? (
            <pre className="report" aria-live="polite">
              {JSON.stringify(report, null, 2)}
            </pre>
          ) : null}
        </div>
      </div>
      <p aria-live="polite" className="notice">
        {notice}
      </p>
      <ProblemAlert error={error} />
      <ProblemAlert error={page.error} context="Suppressions" />
      {page.data ? (
        page.data.entries.length === 0 ? (
          <p>The list is empty.</p>
        ) : (
          <table className="table" data-testid="suppressions">
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">Reason</th>
                <th scope="col">Since</th>
                <th scope="col">Detail</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.data.entries.map((entry) => (
                <tr key={entry.address}>
                  <td>{entry.address}</td>
                  <td>{entry.reason}</td>
                  <td>{formatTime(entry.since)}</td>
                  <td>{entry.detail ?? ""}</td>
                  <td>
                    <button type="button" className="link" aria-label={`Remove ${entry.address}`} onClick={() => void remove(entry)}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <div className="pager">
        {earlier.length > 0 ? (
          <button
            type="button"
            onClick={() => {
              setAfter(earlier[earlier.length - 1]);
              setEarlier(earlier.slice(0, -1));
            }}
          >
            Previous page
          </button>
        ) : null}
        {page.data?.next_after ? (
          <button
            type="button"
            onClick={() => {
              setEarlier([...earlier, after]);
              setAfter(page.data?.next_after ?? undefined);
            }}
          >
            Next page
          </button>
        ) : null}
      </div>
    </section>
  );
}
