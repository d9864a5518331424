#!/usr/bin/env bash
# Creates .venv from infra/requirements.txt: the local AWS endpoint (moto in server mode) and
# cfn-lint. Idempotent (infra/scripts/venv.sh).
set -euo pipefail
exec "$(dirname "$0")/venv.sh" .venv infra/requirements.txt moto_server cfn-lint
