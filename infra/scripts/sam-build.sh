#!/usr/bin/env bash
# Usage: infra/scripts/sam-build.sh [x86_64|arm64] [more `sam build` arguments...]
#
# Release-builds both functions with `sam build` (BuildMethod rust-cargolambda, a SAM CLI beta
# feature) into .aws-sam/build/{RebatchFunction,DeliverFunction}/bootstrap, with the cargo-lambda
# and zig from .venv-sam. No Docker. x86_64 by default (runs under the local emulator, see
# infra/scripts/rie-invoke.sh); arm64 needs `rustup target add aarch64-unknown-linux-gnu` once.
# Deploy with the same Architecture (docs/deployment.md).
#
# Slow: a release build (thin LTO) of the workspace's dependency tree, and then of each function.
# It is not part of every CI run; the tests build in debug.
set -euo pipefail
cd "$(dirname "$0")/../.."

arch="${1:-x86_64}"
case "$arch" in
x86_64 | arm64) ;;
*)
    echo "usage: $0 [x86_64|arm64] [sam build arguments...]" >&2
    exit 2
    ;;
esac
shift $(($# > 0 ? 1 : 0))

infra/scripts/bootstrap-sam.sh
zig_dir="$(.venv-sam/bin/python -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')"
export PATH="$PWD/.venv-sam/bin:$zig_dir:$PATH"
export SAM_CLI_TELEMETRY=0

# Fails if Cargo.lock is out of date, rather than building something else than what is committed.
cargo fetch --locked

sam build --beta-features --parameter-overrides "Architecture=$arch" "$@"
echo "built for $arch: deploy with Architecture=$arch (samconfig: dev is x86_64, staging and prod arm64)"
