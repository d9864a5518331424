// The one way the console talks to the API: bearer token, JSON in and out, and every error as
// the API's problem details (RFC 9457), or one made up here with the same shape when the answer
// is not one (a network failure, a proxy's HTML page).
import type { FieldError, Problem } from "./types";

export class ApiError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = "ApiError";
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }

  /** The reasons the API gave for one field (`variables.subject_line`, `variants[1].weight`). */
  fieldErrors(field: string): FieldError[] {
    return (this.problem.errors ?? []).filter((error) => error.field === field);
  }
}

const STATUS_TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The problem an error answer carries, or one describing it when it carries none. */
export function problemFrom(status: number, contentType: string | null, body: string): Problem {
  const title = STATUS_TITLES[status] ?? `HTTP ${status}`;
  if (contentType && /json/i.test(contentType)) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (isProblem(parsed)) {
        return { ...parsed, status: parsed.status || status };
      }
    } catch {
      // Not JSON after all: described below.
    }
  }
  const text = body.trim().slice(0, 300);
  return {
    type: "about:blank",
    title,
    status,
    detail: text || `The API answered ${status} without details.`,
    retryable: status === 429 || status >= 502,
  };
}

function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.title === "string" && typeof candidate.detail === "string";
}

/** A failure to reach the API at all (offline, refused, CORS). */
export function networkProblem(error: unknown): Problem {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    type: "about:blank",
    title: "The API could not be reached",
    status: 0,
    detail: reason,
    retryable: true,
  };
}

export interface RequestOptions {
  body?: unknown;
  /** For bodies that are not JSON (a CSV import): sent as they are. */
  rawBody?: string;
  contentType?: string;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal;
}

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly token: () => string | null,
    private readonly fetchImpl: Fetch = (input, init) => fetch(input, init),
    /** Told of a 401: the session is over. */
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) {
      body = options.rawBody;
      headers["Content-Type"] = options.contentType ?? "text/plain";
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        body,
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(networkProblem(error));
    }
    const text = await response.text();
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(problemFrom(response.status, response.headers.get("Content-Type"), text));
    }
    if (response.status === 204 || text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(problemFrom(502, null, `The API answered ${response.status} with a body that is not JSON.`));
    }
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request("GET", path, options);
  }
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request("POST", path, { ...options, body });
  }
  put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request("PUT", path, { ...options, body });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request("PATCH", path, { body, contentType: "application/merge-patch+json" });
  }
  delete<T>(path: string): Promise<T> {
    return this.request("DELETE", path);
  }

  private url(path: string, query?: RequestOptions["query"]): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== "") search.set(key, String(value));
    }
    const suffix = search.size > 0 ? `?${search}` : "";
    return `${this.base}${path}${suffix}`;
  }
}

/** A path segment, encoded (an address with `+` or `@` in a suppression route). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
