#!/usr/bin/env bash
# Runs a command against a fresh local AWS endpoint: moto in server mode on a free 127.0.0.1 port,
# stopped when the command ends. The command sees AWS_ENDPOINT_URL and dummy credentials, so the
# real SDK clients talk to it. An endpoint already named by AWS_ENDPOINT_URL is used as it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
    exec "$@"
fi

"$root/infra/scripts/bootstrap.sh"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="${TMPDIR:-/tmp}/storecast-moto-$port.log"
# moto's request recorder writes to a file: keep it out of the working tree.
export MOTO_RECORDER_FILEPATH="${TMPDIR:-/tmp}/storecast-moto-$port.recording"
# moto_server.py is moto_server with a transaction rollback that does not copy whole tables.
"$root/.venv/bin/python" "$root/infra/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$MOTO_RECORDER_FILEPATH"' EXIT

for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "with-local-stack: moto did not start; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
echo "with-local-stack: moto on $AWS_ENDPOINT_URL (log: $log)" >&2
"$@"
