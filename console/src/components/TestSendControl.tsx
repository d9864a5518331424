import { useState } from "react";
import type { TestSent } from "../api/types";
import { sentNotice } from "../logic/testSend";
import { ProblemAlert } from "./common";

/**
 * "Send test": a select of the retailer's seed addresses and a button; the answer (the provider's
 * message id) or the API's problem is shown beside it.
 */
export function TestSendControl({
  addresses,
  send,
  seedListHref,
}: {
  addresses: string[];
  send: (to: string) => Promise<TestSent>;
  /** Where the seed list is edited (the Seed list page). */
  seedListHref?: string;
}) {
  const [to, setTo] = useState(addresses[0] ?? "");
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState("");
  const [error, setError] = useState<unknown>(null);
  const chosen = addresses.includes(to) ? to : (addresses[0] ?? "");

  const submit = async () => {
    setBusy(true);
    setNotice("");
    setError(null);
    try {
      setNotice(sentNotice(await send(chosen)));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="test-send"
      aria-labelledby="test-send-title"
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <h3 id="test-send-title">Send test</h3>
      {addresses.length === 0 ? (
        <p className="muted" data-testid="no-seed-list">
          The seed list is empty: add test addresses to the retailer's settings (<code>seed_list</code>) to send a test
          {seedListHref ? (
            <>
              {" "}
              on the <a href={seedListHref}>Seed list</a> page
            </>
          ) : null}
          .
        </p>
      ) : (
        <div className="row">
          <label htmlFor="test-send-to">Send a test to</label>
          <select id="test-send-to" value={chosen} onChange={(event) => setTo(event.target.value)}>
            {addresses.map((address) => (
              <option key={address} value={address}>
                {address}
              </option>
            ))}
          </select>
          <button type="submit" disabled={busy}>
            {busy ? "Sending…" : "Send test"}
          </button>
          {seedListHref ? <a href={seedListHref}>Edit the seed list</a> : null}
        </div>
      )}
      <p aria-live="polite" className="notice" data-testid="test-send-notice">
        {notice}
      </p>
      <ProblemAlert error={error} context="Test not sent" />
    </form>
  );
}
