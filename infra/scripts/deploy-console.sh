#!/usr/bin/env bash
# Usage: deploy-console.sh [--stack NAME] [--region REGION] [--skip-build]
# Deploys the console (docs/deployment.md, "Deploying the console") to a stack made from
# template.yaml: builds console/dist, writes its runtime configuration (dist/config.json: the
# API's URL, the Cognito hosted sign-in domain, the app client id, the redirect URI, the region,
# the exports bucket) from the stack's outputs, uploads the files to the console bucket under
# console/ with their cache headers, and invalidates what is not content-hashed.
#   - assets/* (names carry a content hash): "public, max-age=31536000, immutable"
#   - index.html, config.json and any other unhashed file: "no-cache" (revalidated every time)
# Hashed assets go up first, so no index.html ever names an asset that is not there yet; the
# previous builds' assets stay (a tab still open on one loads its lazy chunks from them).
# Needs the AWS CLI with credentials for the stack's account, and Node.js for the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

stack="storecast-dev"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --stack) stack="$2"; shift 2 ;;
        --region) region="$2"; shift 2 ;;
        --skip-build) build=0; shift ;;
        *) echo "deploy-console: unknown argument $1" >&2; exit 2 ;;
    esac
done

output() {
    aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
bucket="$(output ConsoleBucketName)"
distribution="$(output ConsoleDistributionId)"
console_url="$(output ConsoleUrl)"
api_url="$(output MarketerApiUrl)"
exports_bucket="$(output ExportsBucketName)"
sign_in_domain="$(output SignInDomain)"
client_id="$(output ConsoleClientId)"
for name in bucket distribution console_url api_url exports_bucket; do
    if [[ -z "${!name}" || "${!name}" == "None" ]]; then
        echo "deploy-console: stack $stack in $region has no output for $name (deployed from this template.yaml?)" >&2
        exit 1
    fi
done
if [[ -z "$sign_in_domain" || "$sign_in_domain" == "None" || -z "$client_id" || "$client_id" == "None" ]]; then
    # JwtIssuer set: the stack has no user pool, and the console signs in with Cognito only.
    echo "deploy-console: stack $stack has no SignInDomain/ConsoleClientId outputs (JwtIssuer is set); the console signs in with the stack's own Cognito user pool only" >&2
    exit 1
fi

if [[ "$build" == 1 ]]; then
    infra/scripts/bootstrap-console.sh
    (cd console && npm run --silent build && npm run --silent size)
fi
dist=console/dist
[[ -f "$dist/index.html" ]] || { echo "deploy-console: no $dist/index.html (build first)" >&2; exit 1; }

# Written beside the build, not into it: console/dist stays the same for the local server.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
API_URL="$api_url" SIGN_IN_DOMAIN="$sign_in_domain" CLIENT_ID="$client_id" \
    REDIRECT_URI="$console_url" REGION="$region" EXPORTS_BUCKET="$exports_bucket" \
    node -e '
const env = process.env;
const config = {
  api_base: env.API_URL.replace(/\/$/, ""),
  region: env.REGION,
  sign_in: { kind: "cognito", domain: env.SIGN_IN_DOMAIN, client_id: env.CLIENT_ID, redirect_uri: env.REDIRECT_URI },
  exports_bucket: env.EXPORTS_BUCKET,
};
require("fs").writeFileSync(process.argv[1], JSON.stringify(config, null, 2) + "\n");
' "$work/config.json"
echo "deploy-console: config.json:" >&2
cat "$work/config.json" >&2

target="s3://$bucket/console"
aws s3 sync "$dist/assets" "$target/assets" --region "$region" \
    --cache-control "public, max-age=31536000, immutable"
aws s3 sync "$dist" "$target" --region "$region" --exclude "assets/*" --exclude config.json \
    --cache-control "no-cache"
aws s3 cp "$work/config.json" "$target/config.json" --region "$region" \
    --cache-control "no-cache" --content-type application/json
aws cloudfront create-invalidation --distribution-id "$distribution" \
    --paths "/" "/console/" "/console/index.html" "/console/config.json" \
    --query "Invalidation.Id" --output text
echo "deploy-console: the console is at $console_url" >&2
