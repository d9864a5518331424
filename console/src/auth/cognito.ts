// Sign-in against the Cognito hosted UI: the authorization code flow with PKCE (RFC 7636, S256),
// for the stack's public app client (no secret in the browser). The console keeps the ID token:
// it is the token whose `aud` is the app client, which the API's JWT authorizer names as its
// audience, and the one carrying `custom:role` and `custom:tenant_id` (Cognito's access tokens
// carry neither attribute).
import type { SignInConfig } from "../config";

export type Cognito = Extract<SignInConfig, { kind: "cognito" }>;
/** What the flow keeps between leaving for the hosted UI and coming back: this tab only. */
export type FlowStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;
type Fetch = (input: string, init: RequestInit) => Promise<Response>;

const VERIFIER = "storecast.pkce.verifier";
const STATE = "storecast.pkce.state";

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** 32 random bytes: a 43-character verifier (RFC 7636 asks for 43 to 128). */
export function randomVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function base(config: Cognito): string {
  return config.domain.replace(/\/$/, "");
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
  return `${base(config)}/oauth2/authorize?${query}`;
}

/** Cognito's sign-out: ends the hosted UI's own session too, then comes back to the console. */
export function signOutUrl(config: Cognito): string {
  const query = new URLSearchParams({ client_id: config.client_id, logout_uri: config.redirect_uri });
  return `${base(config)}/logout?${query}`;
}

/** Where to send the browser to sign in; the verifier and state wait in `storage`. */
export async function beginSignIn(config: Cognito, storage: FlowStorage): Promise<string> {
  const verifier = randomVerifier();
  const state = randomVerifier();
  storage.setItem(VERIFIER, verifier);
  storage.setItem(STATE, state);
  return authorizeUrl(config, await challengeOf(verifier), state);
}

export class SignInError extends Error {}

/**
 * The ID token for the code the hosted UI sent back in `search`, or null when this page load is
 * no such return. The state must be the one this tab sent (so no other site can sign the user in
 * as someone else), and the verifier is used once.
 */
export async function completeSignIn(
  config: Cognito,
  search: string,
  storage: FlowStorage,
  fetcher: Fetch = (input, init) => fetch(input, init),
): Promise<string | null> {
  const query = new URLSearchParams(search);
  const refused = query.get("error");
  if (refused) {
    throw new SignInError(`Sign-in refused: ${query.get("error_description") ?? refused}`);
  }
  const code = query.get("code");
  if (!code) return null;
  const verifier = storage.getItem(VERIFIER);
  const state = storage.getItem(STATE);
  storage.removeItem(VERIFIER);
  storage.removeItem(STATE);
  if (!verifier || !state || query.get("state") !== state) {
    throw new SignInError("The sign-in came back without the state this tab sent: sign in again.");
  }
  const response = await fetcher(`${base(config)}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: config.redirect_uri,
      code_verifier: verifier,
    }).toString(),
  });
  if (!response.ok) throw new SignInError(`Cognito refused the sign-in: HTTP ${response.status}`);
  const tokens = (await response.json()) as { id_token?: string };
  if (!tokens.id_token) throw new SignInError("Cognito answered without an ID token.");
  return tokens.id_token;
}

/** Off to the hosted UI; it comes back to `redirect_uri` with `?code=…&state=…`. */
export async function startSignIn(config: Cognito): Promise<void> {
  window.location.assign(await beginSignIn(config, sessionStorage));
}

export function finishSignIn(config: Cognito, search: string): Promise<string | null> {
  return completeSignIn(config, search, sessionStorage);
}
