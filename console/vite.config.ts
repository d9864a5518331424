import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Served under /console/ beside the API (locally by `storecast-dev serve-api`; in AWS by
// CloudFront), so every asset URL is relative to that base.
export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` against `make serve-api`: the API and the sign-in on the same origin.
    proxy: Object.fromEntries(
      ["/tenants", "/local", "/openapi.json", "/console/config.json"].map((path) => [
        path,
        process.env.STORECAST_API ?? "http://127.0.0.1:8787",
      ]),
    ),
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
