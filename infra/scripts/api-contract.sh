#!/usr/bin/env bash
# The API against its own OpenAPI document: starts the local API (serve-api) on the local stack,
# onboards a retailer with the standard templates and a draft campaign, then runs schemathesis
# over every operation as that retailer's marketer: status codes, content types, headers and
# response bodies must match the document, and no input may cause a server error.
# Run inside the local stack: infra/scripts/with-local-stack.sh infra/scripts/api-contract.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

infra/scripts/bootstrap-contract.sh
cargo build --quiet -p storecast-dev
dev="${CARGO_TARGET_DIR:-target}/debug/storecast-dev"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
log="$(mktemp -t storecast-api-XXXX.log)"

# The handlers are what is checked: no per-retailer limit (it has its own tests), or most of
# the generated requests would be answered 429.
"$dev" serve-api --port "$port" --no-request-limit >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "$base/openapi.json" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.2
done

tenant="contract-shop"
campaign="contract-campaign"
operator="$("$dev" token --role operator)"
marketer="$("$dev" token --role marketer --tenant "$tenant")"
curl -fsS -X PUT "$base/tenants/$tenant" -H "Authorization: Bearer $operator" \
    -H 'Content-Type: application/json' \
    -d "{\"display_name\": \"Contract Shop\", \"slug\": \"$tenant\"}" >/dev/null
"$dev" deploy-templates --tenant "$tenant" >/dev/null
exports="$("$dev" env api | sed -n 's/^EXPORTS_BUCKET=//p')"
curl -fsS -X POST "$base/tenants/$tenant/campaigns" -H "Authorization: Bearer $marketer" \
    -H 'Content-Type: application/json' \
    -d "{\"campaign_id\": \"$campaign\", \"name\": \"Contract\", \"template\": {\"id\": \"weekly-offers\"},
         \"channel\": \"email\", \"audience\": {\"source\": {\"bucket\": \"$exports\", \"key\": \"$tenant/customers.jsonl\"}},
         \"variants\": [{\"id\": \"A\", \"weight\": 1}], \"offers\": {\"slots\": 3}}" >/dev/null

export API_TENANT="$tenant" API_CAMPAIGN="$campaign"
report_dir="${CONTRACT_REPORT_DIR:-out/api-contract}"
mkdir -p "$report_dir"
# positive_data_acceptance is left out: a body can match the document's types and still break a
# business rule (an export outside the retailer's prefix), which is a 422 by design.
contract() {
    local who="$1" token="$2"
    echo "== schemathesis as the $who"
    .venv-contract/bin/st --config-file infra/contract/schemathesis.toml run "$base/openapi.json" \
        -H "Authorization: Bearer $token" \
        --checks all --exclude-checks positive_data_acceptance \
        --max-examples "${CONTRACT_MAX_EXAMPLES:-25}" --seed 1 --workers 1 \
        --phases examples,coverage,fuzzing --warnings off \
        --report junit --report-dir "$report_dir/$who"
}
# The marketer first (the operator's pass may suspend the retailer), then the operator, who alone
# reaches the onboarding routes.
contract marketer "$marketer"
contract operator "$operator"
