# Storecast's entry points. `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
SIZE ?= 2000
STACK := infra/scripts/with-local-stack.sh
DEV := cargo run --quiet -p storecast-dev --

.PHONY: demo test bootstrap lint clippy fmt unit integration template-lint events bench sam-build local-stack

## Runs a demo campaign end to end on the local stack and prints the per-retailer report.
demo: bootstrap
	$(STACK) $(DEV) demo --size $(SIZE) --out out/demo

## The whole suite: format, clippy, unit + integration tests (local endpoint, demo as a test),
## events/ under the Lambda emulator, template lint.
test: fmt clippy integration events template-lint

bootstrap:
	infra/scripts/bootstrap.sh

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

## Unit tests need no endpoint; the integration tests (adapters, events/, demo) get a fresh one.
integration: bootstrap
	$(STACK) cargo test --workspace --all-targets

template-lint:
	infra/scripts/lint-template.sh

## Runs each events/ file through the real bootstrap binaries under the Lambda runtime emulator.
events: bootstrap
	infra/scripts/bootstrap-sam.sh
	cargo build -p rebatch -p deliver -p launch
	$(STACK) infra/scripts/events-under-rie.sh

bench:
	cargo bench -p storecast --bench deliver --bench audience

sam-build:
	infra/scripts/sam-build.sh

## A local endpoint for manual use: prints its URL and waits.
local-stack: bootstrap
	$(STACK) bash -c 'echo "export AWS_ENDPOINT_URL=$$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"; $(DEV) provision; echo "Ctrl-C to stop"; sleep infinity'
