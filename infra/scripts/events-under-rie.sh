#!/usr/bin/env bash
# Posts every events/ file to the real `bootstrap` binaries running under the Lambda Runtime
# Interface Emulator (the host binary the SAM CLI ships): the same binary and event that
# `sam local invoke -e` runs, without Docker. Needs the local endpoint (run it through
# with-local-stack.sh) and debug builds of the functions (cargo build -p rebatch -p deliver -p launch -p api).
set -euo pipefail
cd "$(dirname "$0")/../.."

dev() { cargo run --quiet -p storecast-dev -- "$@"; }
dev seed >/dev/null

failed=0
for function in rebatch deliver launch; do
    binary="target/debug/$function"
    [[ -x "$binary" ]] || { echo "events-under-rie: build $binary first" >&2; exit 2; }
    responses="$(mktemp)"
    (
        while IFS= read -r line; do export "$line"; done < <(dev env "$function")
        export AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO
        infra/scripts/rie-invoke.sh "$binary" events/"$function"/*.json
    ) >"$responses" || failed=1
    while IFS= read -r response; do
        [[ -z "$response" ]] && continue
        if [[ "$response" != '{"batchItemFailures":[]}' ]]; then
            echo "events-under-rie: $function answered $response" >&2
            failed=1
        fi
    done <"$responses"
    echo "events-under-rie: $function: $(grep -c batchItemFailures "$responses") events answered" >&2
    rm -f "$responses"
done
# The API: each file's name ends with the HTTP status the function must answer.
binary=target/debug/api
[[ -x "$binary" ]] || { echo "events-under-rie: build $binary first" >&2; exit 2; }
for event in events/api/*.json; do
    expected="$(basename "$event" .json)"
    expected="${expected##*-}"
    response="$(
        while IFS= read -r line; do export "$line"; done < <(dev env api)
        export AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO
        infra/scripts/rie-invoke.sh "$binary" "$event"
    )" || failed=1
    status="$(python3 -c 'import json, sys; print(json.loads(sys.stdin.read() or "{}").get("statusCode"))' <<<"$response")"
    if [[ "$status" != "$expected" ]]; then
        echo "events-under-rie: api answered $status to $event (expected $expected): $response" >&2
        failed=1
    fi
done
echo "events-under-rie: api: $(ls events/api/*.json | wc -l) events answered" >&2
exit "$failed"
