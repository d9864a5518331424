#!/usr/bin/env bash
# Checks template.yaml three ways, offline, and fails if any of them fails:
#   1. cfn-lint on the SAM template (cfn-lint 1.58 no longer runs the SAM translator: it checks SAM
#      resources against a SAM schema, which misses misspelt event properties, for one);
#   2. `sam validate` (the SAM translator's checks of SAM properties, which cfn-lint does not make)
#      and `sam validate --lint` (cfn-lint as the SAM CLI runs it);
#   3. the template transformed to plain CloudFormation by aws-sam-translator, then cfn-lint on
#      that: this is what CloudFormation will deploy, including the generated roles, policies and
#      event source mappings;
#   4. the IaC scanners the field runs (docs/deployment.md, "Checking the template"): the AWS
#      Serverless Rules for cfn-lint, and checkov on the SAM template, every finding fixed or
#      skipped on its resource with a reason (`# checkov:skip=CKV_...:reason`; cfn-lint's
#      ignore_checks metadata with a comment); then checkov's IAM and permission checks on the
#      transformed template, for the roles and permissions SAM generates.
# Uses .venv (cfn-lint), .venv-sam (SAM CLI and translator) and .venv-scan (checkov, the serverless
# rules), creating them if absent.
set -euo pipefail
template="$(realpath "${1:-$(dirname "$0")/../../template.yaml}")"
cd "$(dirname "$0")/../.."

if [[ ! -x .venv/bin/cfn-lint ]]; then
    infra/scripts/bootstrap.sh # creates .venv from infra/requirements.txt
fi
infra/scripts/bootstrap-sam.sh
infra/scripts/bootstrap-scan.sh

# Nothing here talks to AWS; the SAM CLI and boto still want a region and credentials to exist.
# (`sam validate` would ask IAM only to resolve a managed policy given by name: use ARNs.)
export AWS_ACCESS_KEY_ID=lint AWS_SECRET_ACCESS_KEY=lint AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
export SAM_CLI_TELEMETRY=0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=0
step() {
    local name="$1"
    shift
    echo "== $name"
    if "$@" 2>&1; then
        echo "-- $name: ok"
    else
        echo "-- $name: FAILED"
        failed=1
    fi
}

transform() {
    .venv-sam/bin/python - "$template" "$work/transformed.json" <<'PY'
import json
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform


class OfflinePolicyLoader:
    """Resolves managed policy names without IAM; only called for names the template uses."""

    ARNS = {
        name: f"arn:aws:iam::aws:policy/{path}{name}"
        for path, name in [
            ("service-role/", "AWSLambdaBasicExecutionRole"),
            ("", "AWSXrayWriteOnlyAccess"),
        ]
    }

    def load(self):
        return self.ARNS


source, target = sys.argv[1], sys.argv[2]
with open(source, encoding="utf-8") as f:
    sam = yaml_parse(f.read())
# `sam package` replaces local code paths with S3 locations; stand in for it.
for resource in sam.get("Resources", {}).values():
    properties = resource.get("Properties") or {}
    if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
        properties["CodeUri"] = "s3://storecast-artifacts/function.zip"
try:
    cfn = transform(sam, {}, OfflinePolicyLoader())
except InvalidDocumentException as error:
    for cause in error.causes:
        print(f"{source}: {cause.message}", file=sys.stderr)
    sys.exit(1)
with open(target, "w", encoding="utf-8") as f:
    json.dump(cfn, f, indent=1)
print(f"{source}: {len(cfn['Resources'])} CloudFormation resources")
PY
}

lint_transformed() {
    transform && .venv/bin/cfn-lint "$work/transformed.json"
}

step "cfn-lint $template" .venv/bin/cfn-lint "$template"
step "sam validate" .venv-sam/bin/sam validate --region us-east-1 --template-file "$template"
step "sam validate --lint" .venv-sam/bin/sam validate --lint --region us-east-1 --template-file "$template"
step "aws-sam-translator, then cfn-lint" lint_transformed

# Every checkov skip carries its reason: `# checkov:skip=CKV_AWS_1:why` (checkov takes a bare ID).
skips_have_reasons() {
    local bare
    bare="$(grep -nE 'checkov:skip=[A-Z0-9_]+ *(:\s*)?$' "$template" || true)"
    if [[ -n "$bare" ]]; then
        echo "$template: checkov skips without a reason:"
        echo "$bare"
        return 1
    fi
    echo "$template: $(grep -c 'checkov:skip=' "$template") checkov skips, each with a reason"
}

# checkov's own skip comments live in the SAM template; the transformed JSON cannot carry them, and
# each of its other findings is the same decision on the resource SAM generated it from. So on the
# transformed template only the checks the SAM scan cannot make: the IAM roles and policies SAM
# generates for the functions (CKV_AWS_60-63, 107-111) and the Lambda permissions it adds
# (CKV_AWS_364). A failure there is a new finding: nothing is skipped.
transformed_checks=CKV_AWS_60,CKV_AWS_61,CKV_AWS_62,CKV_AWS_63,CKV_AWS_107,CKV_AWS_108,CKV_AWS_109,CKV_AWS_110,CKV_AWS_111,CKV_AWS_364
checkov_transformed() {
    if [[ ! -s "$work/transformed.json" ]]; then
        echo "no transformed template (the translator step failed)"
        return 1
    fi
    .venv-scan/bin/checkov --file "$work/transformed.json" --framework cloudformation \
        --check "$transformed_checks" --skip-download --compact --quiet
}

step "cfn-lint with the AWS Serverless Rules" .venv-scan/bin/cfn-lint "$template" --append-rules cfn_lint_serverless.rules
step "checkov skips have reasons" skips_have_reasons
# --skip-download: offline, no platform account; the checks are the ones installed with checkov.
step "checkov" .venv-scan/bin/checkov --file "$template" --framework cloudformation --skip-download --compact --quiet
step "checkov on the transformed template (IAM, permissions)" checkov_transformed

exit "$failed"
