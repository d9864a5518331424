#!/usr/bin/env bash
# Creates .venv-sam from infra/requirements-sam.txt: the SAM CLI (validate, build, and the Lambda
# Runtime Interface Emulator it ships), cargo-lambda and zig for `sam build`. Idempotent
# (infra/scripts/venv.sh).
set -euo pipefail
exec "$(dirname "$0")/venv.sh" .venv-sam infra/requirements-sam.txt python sam
