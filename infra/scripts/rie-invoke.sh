#!/usr/bin/env bash
# Usage: infra/scripts/rie-invoke.sh BINARY EVENT_FILE...
#
# Runs a built Lambda bootstrap under the Lambda Runtime Interface Emulator that the SAM CLI
# ships as a host binary (no Docker), posts each event file to it and prints each response on
# stdout; the emulator's and the function's logs go to stderr. The function gets this script's
# environment (set AWS_REGION, credentials, endpoint and the function's variables yourself).
# Exits non-zero if the emulator answers with an error status, or the function with an error
# (a JSON object with errorType and errorMessage), for any event.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 BINARY EVENT_FILE..." >&2
    exit 2
fi
binary="$(realpath "$1")"
shift
if [[ ! -x "$binary" ]]; then
    echo "rie-invoke: $binary is not an executable" >&2
    exit 2
fi

for event in "$@"; do
    if [[ ! -r "$event" ]]; then
        echo "rie-invoke: cannot read $event" >&2
        exit 2
    fi
done

repo="$(cd "$(dirname "$0")/../.." && pwd)"
"$repo/infra/scripts/bootstrap-sam.sh"
python="$repo/.venv-sam/bin/python"

case "$(uname -m)" in
x86_64) arch=x86_64 ;;
aarch64 | arm64) arch=arm64 ;;
*) echo "rie-invoke: no emulator for $(uname -m)" >&2; exit 2 ;;
esac
rie="$("$python" -c 'import pathlib, samcli, sys; print(pathlib.Path(samcli.__file__).parent / "local/rapid" / ("aws-lambda-rie-" + sys.argv[1]))' "$arch")"

# Two free loopback ports: the invoke API we post to, and the runtime API the function polls
# (the emulator's default runtime port, 9001, is often taken).
read -r invoke_port runtime_port < <("$python" -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
')

# Its own session, so that stopping it also stops the runtime process it started.
setsid "$rie" \
    --runtime-interface-emulator-address "127.0.0.1:$invoke_port" \
    --runtime-api-address "127.0.0.1:$runtime_port" \
    "$binary" >&2 &
rie_pid=$!
trap 'kill -TERM -- "-$rie_pid" 2>/dev/null || true; wait "$rie_pid" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$invoke_port") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$rie_pid" 2>/dev/null; then
        echo "rie-invoke: the emulator exited before listening" >&2
        exit 1
    fi
    sleep 0.1
done

url="http://127.0.0.1:$invoke_port/2015-03-31/functions/function/invocations"
response="$(mktemp)"
trap 'rm -f "$response"; kill -TERM -- "-$rie_pid" 2>/dev/null || true; wait "$rie_pid" 2>/dev/null || true' EXIT

failed=0
for event in "$@"; do
    status="$(curl -sS -o "$response" -w '%{http_code}' -X POST --data-binary "@$event" "$url")" || status=000
    cat "$response"
    echo
    if [[ "$status" != 200 ]]; then
        echo "rie-invoke: $event: emulator error, HTTP $status" >&2
        failed=1
    elif "$python" -c '
import json, sys
try:
    body = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(1)
sys.exit(0 if isinstance(body, dict) and "errorType" in body and "errorMessage" in body else 1)
' "$response"; then
        echo "rie-invoke: $event: function error" >&2
        failed=1
    else
        echo "rie-invoke: $event: ok" >&2
    fi
done
exit "$failed"
