#!/usr/bin/env bash
# Creates .venv-contract from infra/requirements-contract.txt (schemathesis). Idempotent: does
# nothing while the venv was installed from the current requirements.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-contract
requirements=infra/requirements-contract.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/st" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi

echo "bootstrap-contract: installing $requirements into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
