#!/usr/bin/env bash
# Usage: venv.sh VENV REQUIREMENTS EXECUTABLE...
# Creates the virtualenv VENV from the pinned REQUIREMENTS file. Idempotent: does nothing while
# every EXECUTABLE is in VENV/bin and the venv was installed from the current requirements;
# otherwise (re)creates it in place. Every bootstrap script of the project is one call of this.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="$1"
requirements="$2"
shift 2
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

whole=1
for executable in "$@"; do
    [[ -x "$venv/bin/$executable" ]] || whole=0
done
if [[ "$whole" == 1 && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    exit 0
fi

echo "bootstrap: installing $requirements into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
