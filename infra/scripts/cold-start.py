#!/usr/bin/env python3
# Measures a Lambda bootstrap binary's cold start on this machine: the time from spawning the
# process to its first `GET /2018-06-01/runtime/invocation/next`, i.e. until it has read its
# settings, built its SDK clients and starts polling for its first event. Each run serves a
# minimal Lambda Runtime API on 127.0.0.1 (a free port, in a thread) that never answers /next,
# then kills the process. Prints each run, the median, and a last line `median_ms=<x>`.
# Python 3 standard library only.
#
# Usage: infra/scripts/cold-start.py BINARY [-n RUNS] [--env KEY=VALUE]... [--env-file FILE]
#
# The process gets a clean environment (PATH only; --inherit-env passes this script's), the
# Lambda-like defaults below unless given, then --env-file's lines, then the --env options (the
# last one wins). Set AWS_ENDPOINT_URL and the function's own settings with --env/--env-file.
import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

NEXT_PATH = "/2018-06-01/runtime/invocation/next"


def lambda_defaults(binary):
    name = os.path.basename(binary)
    if name == "bootstrap":  # cargo lambda's target/lambda/<function>/bootstrap
        name = os.path.basename(os.path.dirname(os.path.abspath(binary))) or name
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def parse_assignment(text, where):
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        sys.exit(f"cold-start: {where}: expected KEY=VALUE, got {text!r}")
    return key, value


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            key, value = parse_assignment(line, f"{path}:{number}")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[key] = value
    return env


class RuntimeApi(http.server.ThreadingHTTPServer):
    """Records when the first /next arrives and holds that request open until released."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.first_next = None  # time.monotonic() of the first /next
        self.polled = threading.Event()
        self.release = threading.Event()
        self.other_requests = []  # (method, path, body) of anything else, e.g. /init/error


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        now = time.monotonic()
        server = self.server
        if self.path.split("?", 1)[0] == NEXT_PATH:
            if server.first_next is None:
                server.first_next = now
                server.polled.set()
            # No event is ever delivered: keep the connection until the run ends.
            server.release.wait()
            self.close_connection = True
            return
        self.record_other()

    def do_POST(self):
        self.record_other()

    def record_other(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.other_requests.append((self.command, self.path, body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def tail(path, limit=8000):
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "…" + text[-limit:]


def one_run(binary, env, timeout):
    server = RuntimeApi()
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}")
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(
            [binary], env=run_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        try:
            deadline = start + timeout
            while not server.polled.wait(0.005):
                if process.poll() is not None or time.monotonic() >= deadline:
                    break
            if server.first_next is not None:
                return (server.first_next - start) * 1000.0
            if process.poll() is not None:
                reason = f"exited with status {process.returncode} before polling"
            else:
                reason = f"did not poll {NEXT_PATH} within {timeout:g} s"
            print(f"cold-start: {binary} {reason}", file=sys.stderr)
            for method, path, body in server.other_requests:
                print(f"--- it sent {method} {path}: {body.decode('utf-8', 'replace')}",
                      file=sys.stderr)
            process.kill()
            process.wait()
            err.flush()
            print("--- its stderr:", file=sys.stderr)
            print(tail(err.name), file=sys.stderr)
            out.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            if stdout:
                print("--- its stdout (logs):", file=sys.stderr)
                print(stdout[-8000:], file=sys.stderr)
            return None
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            server.release.set()
            server.shutdown()
            server.server_close()


def main():
    parser = argparse.ArgumentParser(
        description="Time a Lambda bootstrap from spawn to its first /invocation/next poll."
    )
    parser.add_argument("binary", help="path to the bootstrap binary")
    parser.add_argument("-n", "--runs", type=int, default=5, help="number of runs (default 5)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a variable for the function (repeatable; wins over --env-file)")
    parser.add_argument("--env-file", action="append", default=[], metavar="FILE",
                        help="a file of KEY=VALUE lines (blank lines and # comments skipped)")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds to wait for the first poll in each run (default 20)")
    parser.add_argument("--inherit-env", action="store_true",
                        help="start from this script's environment instead of PATH only")
    args = parser.parse_args()

    binary = os.path.abspath(args.binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        sys.exit(f"cold-start: {args.binary} is not an executable file")
    if args.runs < 1:
        sys.exit("cold-start: --runs must be at least 1")

    env = dict(os.environ) if args.inherit_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    given = {}
    for path in args.env_file:
        given.update(read_env_file(path))
    for assignment in args.env:
        key, value = parse_assignment(assignment, "--env")
        given[key] = value
    for key, value in lambda_defaults(binary).items():
        if key not in given and not (args.inherit_env and key in env):
            env[key] = value
    env.update(given)

    results = []
    for run in range(1, args.runs + 1):
        ms = one_run(binary, env, args.timeout)
        if ms is None:
            sys.exit(1)
        results.append(ms)
        print(f"run {run}: {ms:.1f} ms", flush=True)
    median = statistics.median(results)
    print(f"{os.path.basename(binary)}: {len(results)} runs, min {min(results):.1f} ms, "
          f"median {median:.1f} ms, max {max(results):.1f} ms")
    print(f"median_ms={median:.1f}")


if __name__ == "__main__":
    main()
