#!/usr/bin/env bash
# Creates .venv-sam from infra/requirements-sam.txt: the SAM CLI (validate, build, and the Lambda
# Runtime Interface Emulator it ships), cargo-lambda and zig for `sam build`.
# Idempotent: does nothing while the venv is whole and was installed from the current requirements
# file; otherwise (re)creates it in place.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-sam
requirements=infra/requirements-sam.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -x "$venv/bin/sam" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi

echo "bootstrap-sam: installing $requirements into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
