import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";

/** An error as the API described it: status, title, detail, and each field at fault. */
export function ProblemAlert({ error, context }: { error: unknown; context?: string }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    const problem = error.problem;
    return (
      <div className="problem" role="alert" data-testid="problem" data-status={problem.status}>
        <p className="problem-title">
          {context ? `${context}: ` : ""}
          {problem.status > 0 ? <strong>{problem.status} </strong> : null}
          {problem.title}
        </p>
        <p className="problem-detail">{problem.detail}</p>
        {problem.errors && problem.errors.length > 0 ? (
          <ul className="problem-fields">
            {problem.errors.map((field, index) => (
              <li key={index}>
                <code>{field.field}</code>
                {field.line != null ? ` (line ${field.line}${field.column != null ? `, column ${field.column}` : ""})` : ""}:{" "}
                {field.reason}
              </li>
            ))}
          </ul>
        ) : null}
        {problem.retryable ? <p className="problem-hint">This may succeed if you try again shortly.</p> : null}
        {problem.type && problem.type !== "about:blank" ? <p className="problem-type">{problem.type}</p> : null}
      </div>
    );
  }
  return (
    <div className="problem" role="alert" data-testid="problem">
      <p className="problem-title">{context ? `${context}: ` : ""}Something went wrong</p>
      <p className="problem-detail">{error instanceof Error ? error.message : String(error)}</p>
    </div>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (data: T) => void;
}

/** Data from the API for a page, loaded again when `key` changes (and on `reload`). */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const latest = useRef(load);
  latest.current = load;
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const value = await latest.current();
      if (mine === generation.current) {
        setData(value);
        setError(null);
      }
    } catch (caught) {
      if (mine === generation.current) setError(caught);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    setData(undefined);
    void reload();
  }, [key, reload]);
  return { data, error, loading, reload, setData };
}

/** A labelled form control; `error` is announced with it. */
export function Field({
  label,
  id,
  hint,
  error,
  children,
}: {
  label: string;
  id: string;
  hint?: ReactNode;
  error?: string;
  children: ReactNode;
}) {
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint ? (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={`${id}-error`} role="status">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function describedBy(id: string, hint: boolean, error: boolean): string | undefined {
  const ids = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean);
  return ids.length > 0 ? ids.join(" ") : undefined;
}

export function formatTime(epochSecondsOrIso: number | string | null | undefined): string {
  if (epochSecondsOrIso == null || epochSecondsOrIso === "") return "";
  const date =
    typeof epochSecondsOrIso === "number" ? new Date(epochSecondsOrIso * 1000) : new Date(epochSecondsOrIso);
  return Number.isNaN(date.getTime()) ? String(epochSecondsOrIso) : date.toLocaleString();
}
