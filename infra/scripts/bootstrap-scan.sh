#!/usr/bin/env bash
# Creates .venv-scan from infra/requirements-scan.txt (checkov, cfn-lint with the serverless
# rules). Idempotent: does nothing while the venv is whole and was installed from the current
# requirements file; otherwise (re)creates it in place.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-scan
requirements=infra/requirements-scan.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/checkov" && -x "$venv/bin/cfn-lint" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi

echo "bootstrap-scan: installing $requirements into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
