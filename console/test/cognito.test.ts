import { describe, expect, test } from "vitest";
import { beginSignIn, completeSignIn, signOutUrl, SignInError, type Cognito, type FlowStorage } from "../src/auth/cognito";

const config: Cognito = {
  kind: "cognito",
  domain: "https://shop.auth.eu-west-1.amazoncognito.com",
  client_id: "client-1",
  redirect_uri: "https://d1.cloudfront.net/console/",
};

function memoryStorage(): FlowStorage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

interface Call {
  url: string;
  init: RequestInit;
}

function tokenEndpoint(status: number, body: unknown): { calls: Call[]; fetcher: (url: string, init: RequestInit) => Promise<Response> } {
  const calls: Call[] = [];
  return {
    calls,
    fetcher: async (url, init) => {
      calls.push({ url, init });
      return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    },
  };
}

async function leave(storage: FlowStorage): Promise<URL> {
  return new URL(await beginSignIn(config, storage));
}

describe("Cognito hosted UI sign-in (authorization code + PKCE)", () => {
  test("leaving keeps a fresh verifier and state in the tab and sends their S256 challenge", async () => {
    const storage = memoryStorage();
    const url = await leave(storage);
    const verifier = storage.items.get("storecast.pkce.verifier")!;
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get("state")).toBe(storage.items.get("storecast.pkce.state"));
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("code_challenge")).not.toBe(verifier);
    expect(url.searchParams.get("redirect_uri")).toBe(config.redirect_uri);
    const again = await leave(memoryStorage());
    expect(again.searchParams.get("state")).not.toBe(url.searchParams.get("state"));
  });

  test("the code that comes back is exchanged with the verifier for the ID token, once", async () => {
    const storage = memoryStorage();
    const state = (await leave(storage)).searchParams.get("state")!;
    const verifier = storage.items.get("storecast.pkce.verifier")!;
    const endpoint = tokenEndpoint(200, { id_token: "ID.TOKEN.X", access_token: "ACCESS" });

    const token = await completeSignIn(config, `?code=C0DE&state=${state}`, storage, endpoint.fetcher);

    expect(token).toBe("ID.TOKEN.X");
    expect(endpoint.calls).toHaveLength(1);
    expect(endpoint.calls[0].url).toBe("https://shop.auth.eu-west-1.amazoncognito.com/oauth2/token");
    expect(endpoint.calls[0].init.method).toBe("POST");
    expect(Object.fromEntries(new URLSearchParams(String(endpoint.calls[0].init.body)))).toEqual({
      grant_type: "authorization_code",
      client_id: "client-1",
      code: "C0DE",
      redirect_uri: config.redirect_uri,
      code_verifier: verifier,
    });
    expect(storage.items.size).toBe(0);
    await expect(completeSignIn(config, `?code=C0DE&state=${state}`, storage, endpoint.fetcher)).rejects.toThrow(SignInError);
    expect(endpoint.calls).toHaveLength(1);
  });

  test("a return with another state is refused without asking Cognito", async () => {
    const storage = memoryStorage();
    await leave(storage);
    const endpoint = tokenEndpoint(200, { id_token: "ID" });
    await expect(completeSignIn(config, "?code=C&state=forged", storage, endpoint.fetcher)).rejects.toThrow(/state/);
    expect(endpoint.calls).toHaveLength(0);
  });

  test("an ordinary page load is no return; Cognito's errors and refusals are shown", async () => {
    const storage = memoryStorage();
    const endpoint = tokenEndpoint(400, { error: "invalid_grant" });
    expect(await completeSignIn(config, "", storage, endpoint.fetcher)).toBeNull();
    await expect(
      completeSignIn(config, "?error=access_denied&error_description=User+is+disabled", storage, endpoint.fetcher),
    ).rejects.toThrow("Sign-in refused: User is disabled");
    const state = (await leave(storage)).searchParams.get("state")!;
    await expect(completeSignIn(config, `?code=C&state=${state}`, storage, endpoint.fetcher)).rejects.toThrow("HTTP 400");
    const noId = tokenEndpoint(200, { access_token: "A" });
    const state2 = (await leave(storage)).searchParams.get("state")!;
    await expect(completeSignIn(config, `?code=C&state=${state2}`, storage, noId.fetcher)).rejects.toThrow(/ID token/);
  });

  test("signing out ends the hosted UI's session and comes back to the console", () => {
    const url = new URL(signOutUrl(config));
    expect(url.origin + url.pathname).toBe("https://shop.auth.eu-west-1.amazoncognito.com/logout");
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: "client-1", logout_uri: config.redirect_uri });
  });
});
