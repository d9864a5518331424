// Who is signed in: the bearer token and what its claims say (role and retailer), kept for the
// tab's life in sessionStorage. The claims are read to shape the pages only; the API decides.
export type Role = "marketer" | "operator" | "data_scientist" | "service";

export interface Session {
  token: string;
  role: Role;
  tenant: string | null;
  subject: string;
  /** Epoch seconds. */
  expires: number;
}

const KEY = "storecast.session";

/** The session a token describes. Reads `role`/`tenant_id`, or Cognito's `custom:` ones. */
export function sessionFromToken(token: string): Session | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  let claims: Record<string, unknown>;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
    claims = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return null;
  }
  const role = (claims.role ?? claims["custom:role"]) as string | undefined;
  const tenant = (claims.tenant_id ?? claims["custom:tenant_id"]) as string | undefined;
  if (!role || !["marketer", "operator", "data_scientist", "service"].includes(role)) return null;
  return {
    token,
    role: role as Role,
    tenant: tenant ?? null,
    subject: String(claims.sub ?? ""),
    expires: Number(claims.exp ?? 0),
  };
}

export function loadSession(now = Date.now() / 1000): Session | null {
  const token = sessionStorage.getItem(KEY);
  if (!token) return null;
  const session = sessionFromToken(token);
  if (!session || session.expires <= now) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return session;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, session.token);
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
