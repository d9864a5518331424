import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { sessionFromToken } from "../src/auth/session";
import { authorizeUrl, challengeOf } from "../src/auth/cognito";
import { actionsFor, buildCampaign, idFromName, literal, ruleFromRow, type CampaignForm } from "../src/logic/campaign";
import { parseCustomer, randomCustomer } from "../src/logic/customers";
import { STANDARD_TEMPLATES } from "../src/logic/templates";

const form: CampaignForm = {
  campaignId: "winter",
  name: "Winter",
  templateId: "weekly-offers",
  channel: "email",
  bucket: "exports",
  key: "alpine/customers.jsonl",
  rules: [
    { field: "tier", op: "in", value: "gold, silver" },
    { field: "", op: "equals", value: "" },
  ],
  variants: [
    { id: "A", weight: "1" },
    { id: "B", weight: "3" },
  ],
  holdoutPercent: "10",
  offerSlots: "3",
  schedule: "2026-12-01T09:30",
};

describe("the campaign form", () => {
  test("builds the API's campaign definition; an empty rule row is left out", () => {
    expect(buildCampaign(form)).toEqual({
      ok: true,
      value: {
        campaign_id: "winter",
        name: "Winter",
        template: { id: "weekly-offers" },
        channel: "email",
        audience: { source: { bucket: "exports", key: "alpine/customers.jsonl" }, rules: [{ op: "in", field: "tier", values: ["gold", "silver"] }] },
        variants: [
          { id: "A", weight: 1 },
          { id: "B", weight: 3 },
        ],
        holdout_percent: 10,
        offers: { slots: 3 },
        schedule: "2026-12-01T09:30",
      },
    });
    const now = buildCampaign({ ...form, schedule: "" });
    expect(now.ok && "schedule" in now.value).toBe(false);
    expect(now.ok && "quiet_hours_zone" in now.value).toBe(false);
    const customerZone = buildCampaign({ ...form, customerQuietHours: true });
    expect(customerZone.ok && customerZone.value.quiet_hours_zone).toBe("customer");
  });

  test("each rule kind, and the field at fault named as the API names it", () => {
    expect(ruleFromRow({ field: "points", op: "range", value: "100.." }, 0)).toEqual({
      ok: true,
      value: { op: "range", field: "points", min: 100, max: null },
    });
    expect(ruleFromRow({ field: "last_order_at", op: "recency", value: "30" }, 1)).toEqual({
      ok: true,
      value: { op: "recency", field: "last_order_at", within_days: 30 },
    });
    expect(ruleFromRow({ field: "vip", op: "equals", value: "true" }, 0)).toEqual({ ok: true, value: { op: "equals", field: "vip", value: true } });
    expect(ruleFromRow({ field: "x", op: "recency", value: "soon" }, 2)).toMatchObject({ ok: false, field: "audience.rules[2].within_days" });
    expect(ruleFromRow({ field: "", op: "equals", value: "gold" }, 0)).toMatchObject({ ok: false, field: "audience.rules[0].field" });
    expect(buildCampaign({ ...form, variants: [{ id: "A", weight: "heavy" }] })).toMatchObject({ ok: false, field: "variants[0].weight" });
    expect(literal("007")).toBe(7);
    expect(literal("DE")).toBe("DE");
  });

  test("ids from names, and the actions each state allows", () => {
    expect(idFromName("Winter Sale: 2026!")).toBe("winter-sale-2026");
    expect(actionsFor("DRAFT")).toEqual(["launch", "cancel"]);
    expect(actionsFor("PAUSED")).toEqual(["resume", "cancel"]);
    expect(actionsFor("CANCELLED")).toEqual([]);
  });
});

describe("sample customers", () => {
  test("custom JSON: the preview's shape or a plain object of fields", () => {
    expect(parseCustomer('{"email": "a@b.c", "fields": {"tier": "gold"}}')).toEqual({ ok: true, customer: { email: "a@b.c", fields: { tier: "gold" } } });
    expect(parseCustomer('{"first_name": "Ana"}')).toEqual({ ok: true, customer: { fields: { first_name: "Ana" } } });
    expect(parseCustomer("[1]")).toMatchObject({ ok: false });
    expect(parseCustomer("{")).toMatchObject({ ok: false });
  });

  test("a random one has a name and a tier", () => {
    const customer = randomCustomer(() => 0);
    expect(customer.fields).toMatchObject({ first_name: "Ana", tier: "gold" });
  });
});

describe("sign-in", () => {
  const token = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;

  test("reads the role and retailer from development and Cognito tokens", () => {
    expect(sessionFromToken(token({ sub: "m", role: "marketer", tenant_id: "alpine", exp: 5 }))).toMatchObject({ role: "marketer", tenant: "alpine", expires: 5 });
    expect(sessionFromToken(token({ sub: "o", "custom:role": "operator" }))).toMatchObject({ role: "operator", tenant: null });
    expect(sessionFromToken(token({ sub: "x", role: "boss" }))).toBeNull();
    expect(sessionFromToken("not-a-token")).toBeNull();
  });

  test("the Cognito hosted UI is asked for a code with an S256 challenge (RFC 7636's example)", async () => {
    expect(await challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    const url = new URL(
      authorizeUrl({ kind: "cognito", domain: "https://shop.auth.eu-west-1.amazoncognito.com/", client_id: "abc", redirect_uri: "https://console.example/console/" }, "CH", "ST"),
    );
    expect(url.origin + url.pathname).toBe("https://shop.auth.eu-west-1.amazoncognito.com/oauth2/authorize");
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ response_type: "code", client_id: "abc", code_challenge: "CH", code_challenge_method: "S256", state: "ST" });
  });
});

test("the console offers exactly the standard library's templates (templates/catalog.yaml)", () => {
  const catalog = readFileSync(new URL("../../templates/catalog.yaml", import.meta.url), "utf8");
  const ids = [...catalog.matchAll(/^ {2}([a-z0-9-]+):\s*$/gm)].map((match) => match[1]);
  expect([...STANDARD_TEMPLATES].sort()).toEqual(ids.sort());
});
