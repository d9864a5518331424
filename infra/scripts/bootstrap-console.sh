#!/usr/bin/env bash
# Usage: bootstrap-console.sh [--browser]
# The console's tools: the node modules of console/package-lock.json (npm ci) and, with
# --browser, Debian's Chromium for the browser tests (browsers cannot be downloaded here, so never
# a browser build of Playwright's own). Idempotent: does nothing while the modules were installed
# from the current lock file (and Chromium is installed).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number); process.exit(major > 20 || (major === 20 && minor >= 19) ? 0 : 1)' 2>/dev/null; then
    echo "bootstrap-console: Node.js 20.19 or later is needed (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ "${1:-}" == "--browser" && ! -x "$chromium" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "bootstrap-console: installing Debian's chromium" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "bootstrap-console: $chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
        exit 1
    fi
fi

stamp=console/node_modules/.package-lock.sha256
wanted="$(sha256sum console/package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi
echo "bootstrap-console: npm ci in console/" >&2
(cd console && npm ci --no-audit --no-fund --loglevel=error)
echo "$wanted" > "$stamp"
