import { describe, expect, test, vi } from "vitest";
import { ApiClient, ApiError, problemFrom, type Fetch } from "../src/api/client";

function answer(status: number, body: string, contentType = "application/problem+json"): Response {
  return new Response(status === 204 ? null : body, { status, headers: { "Content-Type": contentType } });
}

function client(response: Response | Error, onUnauthorized = () => {}) {
  const fetch = vi.fn<Fetch>(async () => {
    if (response instanceof Error) throw response;
    return response;
  });
  return { fetch, api: new ApiClient("https://api.example", () => "token-1", fetch, onUnauthorized) };
}

const forbidden = {
  type: "https://storecast.dev/problems/forbidden",
  title: "Forbidden",
  status: 403,
  detail: "a marketer of alpine may not reach harbor",
  retryable: false,
};

describe("the API client", () => {
  test("sends the bearer token and JSON, and reads JSON back", async () => {
    const { api, fetch } = client(answer(201, '{"campaign_id": "winter"}', "application/json"));
    await expect(api.post("/tenants/alpine/campaigns", { name: "Winter" })).resolves.toEqual({ campaign_id: "winter" });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("https://api.example/tenants/alpine/campaigns");
    expect(init.method).toBe("POST");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer token-1");
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
    expect(init.body).toBe('{"name":"Winter"}');
  });

  test("leaves empty query parameters out", async () => {
    const { api, fetch } = client(answer(200, '{"campaigns": []}', "application/json"));
    await api.get("/tenants/alpine/campaigns", { query: { limit: 25, cursor: undefined } });
    expect(fetch.mock.calls[0][0]).toBe("https://api.example/tenants/alpine/campaigns?limit=25");
  });

  test("an error answer is the API's problem details, fields and all", async () => {
    const invalid = {
      type: "https://storecast.dev/problems/invalid-field",
      title: "Unprocessable Entity",
      status: 422,
      detail: "variants[1].weight: invalid type",
      errors: [{ field: "variants[1].weight", reason: "invalid type" }],
      retryable: false,
    };
    const { api } = client(answer(422, JSON.stringify(invalid)));
    const error = await api.post("/x", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).problem).toEqual(invalid);
    expect((error as ApiError).fieldErrors("variants[1].weight")).toEqual([{ field: "variants[1].weight", reason: "invalid type" }]);
    expect((error as ApiError).message).toBe("422 Unprocessable Entity: variants[1].weight: invalid type");
  });

  test("a 403 is shown as the API said it", async () => {
    const { api } = client(answer(403, JSON.stringify(forbidden)));
    await expect(api.get("/tenants/harbor/campaigns")).rejects.toMatchObject({ status: 403, problem: forbidden });
  });

  test("a 401 ends the session", async () => {
    const ended = vi.fn();
    const { api } = client(answer(401, JSON.stringify({ ...forbidden, status: 401, title: "Unauthorized" })), ended);
    await expect(api.get("/tenants/alpine")).rejects.toBeInstanceOf(ApiError);
    expect(ended).toHaveBeenCalledOnce();
  });

  test("an answer that is no problem (a proxy's page) still becomes one, with its status", async () => {
    const { api } = client(answer(502, "<html>Bad gateway</html>", "text/html"));
    const error = (await api.get("/x").catch((e: unknown) => e)) as ApiError;
    expect(error.problem).toMatchObject({ status: 502, title: "Bad Gateway", detail: "<html>Bad gateway</html>", retryable: true });
    expect(problemFrom(404, "application/json", "not json")).toMatchObject({ status: 404, title: "Not Found" });
    expect(problemFrom(500, "application/json", "")).toMatchObject({ detail: "The API answered 500 without details." });
  });

  test("a network failure is a problem with status 0 that may be retried", async () => {
    const { api } = client(new TypeError("Failed to fetch"));
    const error = (await api.get("/x").catch((e: unknown) => e)) as ApiError;
    expect(error.problem).toMatchObject({ status: 0, title: "The API could not be reached", detail: "Failed to fetch", retryable: true });
  });

  test("an aborted request stays an abort, for the preview to drop", async () => {
    const { api } = client(new DOMException("aborted", "AbortError"));
    await expect(api.get("/x")).rejects.toMatchObject({ name: "AbortError" });
  });

  test("204 answers nothing; a 200 that is not JSON is an error", async () => {
    await expect(client(answer(204, "")).api.delete("/tenants/alpine/suppressions/a%40b.c")).resolves.toBeUndefined();
    await expect(client(answer(200, "<html>", "text/html")).api.get("/x")).rejects.toMatchObject({ status: 502 });
  });

  test("a CSV body is sent as it is", async () => {
    const { api, fetch } = client(answer(200, "{}", "application/json"));
    await api.request("POST", "/import", { rawBody: "a@b.c\n", contentType: "text/csv" });
    expect(fetch.mock.calls[0][1].body).toBe("a@b.c\n");
    expect((fetch.mock.calls[0][1].headers as Record<string, string>)["Content-Type"]).toBe("text/csv");
  });
});
