#!/usr/bin/env bash
# Creates .venv-scan from infra/requirements-scan.txt (checkov, cfn-lint with the serverless
# rules). Idempotent (infra/scripts/venv.sh).
set -euo pipefail
exec "$(dirname "$0")/venv.sh" .venv-scan infra/requirements-scan.txt checkov cfn-lint
