#!/usr/bin/env bash
# Creates .venv from infra/requirements.txt: the local AWS endpoint (moto in server mode) and
# cfn-lint. Idempotent: does nothing while the venv was installed from the current requirements.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv
requirements=infra/requirements.txt
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/moto_server" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi

echo "bootstrap: installing $requirements into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
