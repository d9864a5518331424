import { useLayoutEffect, useRef } from "react";
import type { Preview } from "../api/types";
import { ProblemAlert } from "./common";

export interface Timing {
  /** From the last keystroke to the preview drawn in both frames, ms. */
  total: number;
  /** The API's round trip, ms. */
  request: number;
}

/** The email at desktop and mobile widths and the push notification as a phone shows it. */
export function PreviewPanel({
  preview,
  error,
  pending,
  sender,
  timing,
  onShown,
}: {
  preview?: Preview;
  error: unknown;
  pending: boolean;
  sender: string;
  timing?: Timing;
  onShown: () => void;
}) {
  const desktop = useRef<HTMLIFrameElement>(null);
  const mobile = useRef<HTMLIFrameElement>(null);
  // The email is written into both frames' documents (parsed at once, no navigation); the frames
  // run no script (sandbox without allow-scripts). The next animation frame is when it shows.
  useLayoutEffect(() => {
    if (!preview) return;
    for (const frame of [desktop.current, mobile.current]) {
      const document = frame?.contentDocument;
      if (!document) continue;
      document.open();
      document.write(preview.html);
      document.close();
    }
    const frame = requestAnimationFrame(() => onShown());
    return () => cancelAnimationFrame(frame);
  }, [preview, onShown]);
  return (
    <section aria-labelledby="preview-title" className="preview-panel">
      <h2 id="preview-title">
        Preview{" "}
        <span className="muted" aria-live="polite" data-testid="preview-status">
          {pending ? "updating…" : timing ? `updated ${Math.round(timing.total)} ms after typing stopped` : ""}
        </span>
      </h2>
      <ProblemAlert error={error} context="Preview" />
      {preview ? (
        <>
          <p className="subject">
            <span className="muted">Subject:</span> <strong data-testid="preview-subject">{preview.subject}</strong>
          </p>
          <div className="devices">
            <figure className="device desktop">
              <figcaption>Email, desktop (640 px)</figcaption>
              <iframe title="Email preview, desktop width" sandbox="allow-same-origin" ref={desktop} data-testid="preview-desktop" />
            </figure>
            <figure className="device mobile">
              <figcaption>Email, mobile (375 px)</figcaption>
              <iframe title="Email preview, mobile width" sandbox="allow-same-origin" ref={mobile} data-testid="preview-mobile" />
            </figure>
            <figure className="device phone">
              <figcaption>Push notification</figcaption>
              <div className="lock-screen">
                <div className="clock" aria-hidden="true">
                  9:41
                </div>
                {preview.push ? (
                  <div className="notification" data-testid="preview-push">
                    <div className="notification-app">
                      <span className="app-icon" aria-hidden="true">
                        {sender.slice(0, 1).toUpperCase()}
                      </span>
                      {sender} <span className="muted">now</span>
                    </div>
                    <div className="notification-title">{preview.push.title}</div>
                    <div className="notification-body">{preview.push.body}</div>
                  </div>
                ) : (
                  <p className="notification muted">This template has no push parts.</p>
                )}
              </div>
            </figure>
          </div>
          <details>
            <summary>Plain-text part</summary>
            <pre className="report">{preview.text}</pre>
          </details>
        </>
      ) : null}
    </section>
  );
}
