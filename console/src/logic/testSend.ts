// A template's test send: to an address of the retailer's seed list (its settings), with the
// preview's draft values and sample customer (POST .../templates/{template}/test-send).
import type { PreviewRequest, TenantWorkspace, TestSendRequest, TestSent } from "../api/types";

/** The addresses a test send may go to: the retailer's seed list, as the API stored it. */
export function seedAddresses(workspace: TenantWorkspace | undefined): string[] {
  return workspace?.settings?.seed_list ?? [];
}

/** The body of a test send: what the preview shows, mailed to `to`. */
export function testSendBody(to: string, preview: PreviewRequest | null): TestSendRequest {
  const body: TestSendRequest = { to };
  if (preview?.variables && Object.keys(preview.variables).length > 0) body.variables = preview.variables;
  if (preview?.customer) body.customer = preview.customer;
  if (preview?.offers) body.offers = preview.offers;
  return body;
}

/** What the marketer is told once the provider took the message. */
export function sentNotice(sent: TestSent): string {
  return `Sent to ${sent.to}: “${sent.subject}” (provider message id ${sent.provider_message_id}).`;
}
