#!/usr/bin/env bash
# Creates .venv-contract from infra/requirements-contract.txt (schemathesis). Idempotent
# (infra/scripts/venv.sh).
set -euo pipefail
exec "$(dirname "$0")/venv.sh" .venv-contract infra/requirements-contract.txt st
