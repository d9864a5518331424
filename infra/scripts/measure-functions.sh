#!/usr/bin/env bash
# Usage: infra/scripts/measure-functions.sh [--no-build] [RUNS]
#
# The figures docs/architecture.md keeps for each function binary: the wall time of
# `make sam-build` (x86_64; each function built in its own crate, with its own features), each
# bootstrap's size, and each function's cold start (median of RUNS, default 5: process start until
# it polls the runtime API for its first event, with its clients built;
# infra/scripts/cold-start.py). Each function gets its environment as template.yaml
# declares it (`storecast-dev env`), pointed at an address where nothing listens: clients are
# built at init, never called.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=1
if [[ "${1:-}" == "--no-build" ]]; then
    build=0
    shift
fi
runs="${1:-5}"
functions=(rebatch deliver launch scheduler api ses-events warmup)

if ((build)); then
    start=$(date +%s)
    infra/scripts/sam-build.sh x86_64
    echo "make sam-build: $(($(date +%s) - start)) s"
fi

env_file="$(mktemp)"
trap 'rm -f "$env_file"' EXIT
printf '%-10s %12s %10s %14s\n' function bytes MiB "cold start ms"
for function in "${functions[@]}"; do
    binary=".aws-sam/build/${function^}Function/bootstrap"
    cargo run --quiet -p storecast-dev -- env "$function" >"$env_file"
    echo "AWS_ENDPOINT_URL=http://127.0.0.1:9" >>"$env_file"
    median=$(python3 infra/scripts/cold-start.py "$binary" -n "$runs" --env-file "$env_file" | sed -n 's/^median_ms=//p')
    bytes=$(stat -c %s "$binary")
    printf '%-10s %12s %10.2f %14s\n' "$function" "$bytes" "$(awk "BEGIN {print $bytes / 1048576}")" "$median"
done
