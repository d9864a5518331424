import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import type { TenantWorkspace, TestSent } from "../src/api/types";
import { TestSendControl } from "../src/components/TestSendControl";
import { seedAddresses, sentNotice, testSendBody } from "../src/logic/testSend";

const workspace = {
  tenant_id: "alpine",
  slug: "alpine",
  display_name: "Alpine",
  configuration_set: "storecast-alpine",
  ses_tenant: "storecast-alpine",
  from_address: "alpine@mail.example",
  status: "ACTIVE",
  unsubscribe_base_url: "https://api.example/unsubscribe/alpine",
  settings: { timezone: "UTC", brand: {}, seed_list: ["qa@alpine.test", "boss@alpine.test"] },
} as TenantWorkspace;

const never = (): Promise<TestSent> => new Promise(() => {});

describe("test sends", () => {
  test("the addresses offered are the retailer's seed list, none before it is loaded", () => {
    expect(seedAddresses(workspace)).toEqual(["qa@alpine.test", "boss@alpine.test"]);
    expect(seedAddresses(undefined)).toEqual([]);
    expect(seedAddresses({ ...workspace, settings: { timezone: "UTC", brand: {} } } as TenantWorkspace)).toEqual([]);
  });

  test("the body carries the preview's draft values and customer, and only what is set", () => {
    expect(testSendBody("qa@alpine.test", null)).toEqual({ to: "qa@alpine.test" });
    expect(testSendBody("qa@alpine.test", { variables: {}, customer: null })).toEqual({ to: "qa@alpine.test" });
    const customer = { fields: { first_name: "Ana" } };
    expect(testSendBody("qa@alpine.test", { variables: { headline: "Draft" }, customer })).toEqual({
      to: "qa@alpine.test",
      variables: { headline: "Draft" },
      customer,
    });
  });

  test("the notice names the address, the subject sent and the provider's message id", () => {
    const notice = sentNotice({
      provider_message_id: "0100-abc",
      message_id: "4f0c",
      to: "qa@alpine.test",
      subject: "[TEST] Ana, the spring edit",
    });
    expect(notice).toContain("qa@alpine.test");
    expect(notice).toContain("[TEST] Ana, the spring edit");
    expect(notice).toContain("0100-abc");
  });

  test("the control is a labelled select of the seed addresses and a Send test button", () => {
    const html = renderToStaticMarkup(
      createElement(TestSendControl, { addresses: seedAddresses(workspace), send: never }),
    );
    expect(html).toContain('<label for="test-send-to">Send a test to</label>');
    expect(html).toContain('<select id="test-send-to">');
    expect(html).toMatch(/<option value="qa@alpine.test" selected="">qa@alpine.test<\/option>/);
    expect(html).toContain('<option value="boss@alpine.test">boss@alpine.test</option>');
    expect(html).toMatch(/<button type="submit">Send test<\/button>/);
    expect(html).toContain('aria-live="polite"');
  });

  test("without a seed list there is nothing to pick: the control says how to get one", () => {
    const html = renderToStaticMarkup(createElement(TestSendControl, { addresses: [], send: never }));
    expect(html).not.toContain("<select");
    expect(html).not.toContain("<button");
    expect(html).toContain("seed_list");
  });
});
