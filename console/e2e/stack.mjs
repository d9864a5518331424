// The local stack for the browser tests: the marketer API with the console beside it
// (`storecast-dev serve-api` on a free port, the pipeline running behind it), on the local AWS
// endpoint that infra/scripts/with-local-stack.sh started (AWS_ENDPOINT_URL). Also what CI/CD and
// a retailer's data feed do outside the console: deploy the standard templates, put an audience
// export in the exports bucket.
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const root = resolve(new URL("../..", import.meta.url).pathname);

export function devTool() {
  const target = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, "target");
  const binary = process.env.STORECAST_DEV ?? join(target, "debug", "storecast-dev");
  if (!existsSync(binary)) throw new Error(`${binary} is missing: cargo build -p storecast-dev`);
  return binary;
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on("error", fail);
  });
}

/** serve-api on a free port; answers its base URL and a stop function. */
export async function startApi() {
  if (!process.env.AWS_ENDPOINT_URL) {
    throw new Error("AWS_ENDPOINT_URL is not set: run under infra/scripts/with-local-stack.sh (make console-e2e)");
  }
  const port = await freePort();
  const log = [];
  const server = spawn(devTool(), ["serve-api", "--port", String(port)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (chunk) => log.push(String(chunk)));
  server.stderr.on("data", (chunk) => log.push(String(chunk)));
  const base = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 300; attempt++) {
    if (server.exitCode !== null) throw new Error(`serve-api stopped:\n${log.join("")}`);
    try {
      const response = await fetch(`${base}/console/config.json`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((wait) => setTimeout(wait, 200));
  }
  return {
    base,
    log,
    stop: () => server.kill("SIGTERM"),
  };
}

/** The standard templates to one retailer, as CI/CD publishes them. */
export function deployTemplates(tenant) {
  execFileSync(devTool(), ["deploy-templates", "--tenant", tenant], { cwd: root, stdio: "pipe" });
}

/** An export of `size` customers: a third each gold, silver, bronze; every seventh without consent. */
export function audienceRows(tenant, size) {
  const rows = [];
  for (let i = 0; i < size; i++) {
    rows.push(
      JSON.stringify({
        id: `${tenant}-${i}`,
        // The SES mailbox simulator's success address: the local stack publishes its Send and
        // Delivery events, so the day's feedback counters (the Deliverability page) count them.
        email: `success+${tenant}-${i}@simulator.amazonses.com`,
        consent: { email: i % 7 !== 3 },
        attributes: { first_name: `Customer${i}`, tier: ["gold", "silver", "bronze"][i % 3] },
        candidates: [0, 1, 2].map((c) => ({
          item_id: `sku-${(i + c) % 11}`,
          title: `Pick ${(i + c) % 11}`,
          url: `https://shop.example/p/${(i + c) % 11}`,
          price: 20 + c,
          currency: "EUR",
          score: 1 - c / 10,
        })),
      }),
    );
  }
  return rows.join("\n") + "\n";
}

/** Puts the export where the campaign reads it (with the local endpoint's boto3). */
export function uploadAudience(bucket, key, body) {
  const python = join(root, ".venv", "bin", "python");
  execFileSync(
    python,
    [
      "-c",
      "import sys, boto3; boto3.client('s3').put_object(Bucket=sys.argv[1], Key=sys.argv[2], Body=sys.stdin.buffer.read())",
      bucket,
      key,
    ],
    { input: body, stdio: ["pipe", "pipe", "pipe"] },
  );
}

/** Debian's Chromium, headless, with a fresh profile and nothing reaching out to the network. */
export async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "storecast-chromium-"));
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1920, height: 1080 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
