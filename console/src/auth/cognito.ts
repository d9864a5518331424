// Sign-in against the Cognito hosted UI with PKCE (authorization code, S256): the ID token's
// `custom:role` and `custom:tenant_id` are what the API's authorizer reads.
import type { SignInConfig } from "../config";

type Cognito = Extract<SignInConfig, { kind: "cognito" }>;
const VERIFIER = "storecast.pkce.verifier";
const STATE = "storecast.pkce.state";

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function authorizeUrl(config: Cognito, challenge: string, state: string): string {
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: "openid email profile",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  });
  return `${config.domain.replace(/\/$/, "")}/oauth2/authorize?${query}`;
}

/** Off to the hosted UI; it comes back to `redirect_uri` with `?code=…&state=…`. */
export async function startSignIn(config: Cognito): Promise<void> {
  const verifier = randomVerifier();
  const state = randomVerifier();
  sessionStorage.setItem(VERIFIER, verifier);
  sessionStorage.setItem(STATE, state);
  window.location.assign(authorizeUrl(config, await challengeOf(verifier), state));
}

/** The ID token for the code the hosted UI sent back, or null when this is no such return. */
export async function finishSignIn(config: Cognito, search: string): Promise<string | null> {
  const query = new URLSearchParams(search);
  const code = query.get("code");
  if (!code) return null;
  const verifier = sessionStorage.getItem(VERIFIER);
  if (!verifier || query.get("state") !== sessionStorage.getItem(STATE)) {
    throw new Error("The sign-in came back without the state this tab sent: sign in again.");
  }
  sessionStorage.removeItem(VERIFIER);
  sessionStorage.removeItem(STATE);
  const response = await fetch(`${config.domain.replace(/\/$/, "")}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: config.redirect_uri,
      code_verifier: verifier,
    }),
  });
  if (!response.ok) throw new Error(`Cognito refused the sign-in: HTTP ${response.status}`);
  const tokens = (await response.json()) as { id_token?: string };
  if (!tokens.id_token) throw new Error("Cognito answered without an ID token.");
  return tokens.id_token;
}
