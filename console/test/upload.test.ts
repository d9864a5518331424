import { describe, expect, test } from "vitest";
import { isGzip, putFile, UploadFailed, type UploadRequest } from "../src/logic/upload";

class FakeRequest implements UploadRequest {
  opened: [string, string] | null = null;
  headers: Record<string, string> = {};
  sent: Blob | null = null;
  aborted = false;
  status = 0;
  upload: UploadRequest["upload"] = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  open(method: string, url: string) {
    this.opened = [method, url];
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: Blob) {
    this.sent = body;
  }
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
}

const target = { url: "http://s3.test/exports/alpine/uploads/x.jsonl?X-Amz-Signature=s", method: "PUT", content_type: "application/x-ndjson" };

describe("putting an export to its presigned URL", () => {
  test("sends the file as signed, reports progress, and resolves on the store's 200", async () => {
    const fake = new FakeRequest();
    const progress: number[] = [];
    const file = new Blob(["{\"id\": \"c1\"}\n"]);
    const done = putFile(target, file, (f) => progress.push(f), undefined, () => fake);
    expect(fake.opened).toEqual(["PUT", target.url]);
    expect(fake.headers).toEqual({ "Content-Type": "application/x-ndjson" });
    expect(fake.sent).toBe(file);
    fake.upload.onprogress?.({ loaded: 5, total: 10, lengthComputable: true });
    fake.upload.onprogress?.({ loaded: 5, total: 0, lengthComputable: false });
    fake.status = 200;
    fake.onload?.();
    await done;
    expect(progress).toEqual([0.5, 0, 1]);
  });

  test("a refusal, a network failure and a cancel are errors that say which", async () => {
    const refused = new FakeRequest();
    const a = putFile(target, new Blob(["x"]), () => {}, undefined, () => refused);
    refused.status = 403;
    refused.onload?.();
    await expect(a).rejects.toThrow(UploadFailed);
    await expect(a).rejects.toThrow("HTTP 403");

    const unreachable = new FakeRequest();
    const b = putFile(target, new Blob(["x"]), () => {}, undefined, () => unreachable);
    unreachable.onerror?.();
    await expect(b).rejects.toThrow(/network or CORS/);

    const cancelled = new FakeRequest();
    const controller = new AbortController();
    const c = putFile(target, new Blob(["x"]), () => {}, controller.signal, () => cancelled);
    controller.abort();
    await expect(c).rejects.toMatchObject({ name: "AbortError" });
    expect(cancelled.aborted).toBe(true);
  });

  test("gzip is read from the file name", () => {
    expect(isGzip("customers.jsonl.gz")).toBe(true);
    expect(isGzip("customers.JSONL.GZ")).toBe(true);
    expect(isGzip("customers.jsonl")).toBe(false);
  });
});
