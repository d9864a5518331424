// The console's script sizes after `vite build`, gzip-compressed (level 9, as CDNs serve them):
// every chunk, and what the first load fetches (index.html's module script and the chunks it
// preloads). Fails when the first load is over the budget (issue 12: 300 KB of compressed script).
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BUDGET_BYTES = 300 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const firstLoad = new Set(
  [...html.matchAll(/(?:src|href)="\/console\/(assets\/[^"]+\.(?:js|css))"/g)].map((match) => match[1]),
);
const gzip = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;

let first = 0;
const rows = readdirSync(join(dist, "assets"))
  .filter((name) => name.endsWith(".js") || name.endsWith(".css"))
  .map((name) => {
    const file = `assets/${name}`;
    const raw = readFileSync(join(dist, file)).length;
    const compressed = gzip(file);
    const initial = firstLoad.has(file);
    if (initial && file.endsWith(".js")) first += compressed;
    return { file, raw, compressed, initial };
  })
  .sort((a, b) => b.compressed - a.compressed);

for (const row of rows) {
  console.log(
    `${row.file.padEnd(40)} ${kb(row.raw).padStart(10)} raw ${kb(row.compressed).padStart(10)} gzip ${row.initial ? "first load" : "on demand"}`,
  );
}
console.log(`first load: ${kb(first)} of compressed script (budget ${kb(BUDGET_BYTES)})`);
if (first === 0) {
  console.error("bundle-size: found no script in dist/index.html");
  process.exit(1);
}
if (first > BUDGET_BYTES) {
  console.error("bundle-size: the first load is over budget");
  process.exit(1);
}
