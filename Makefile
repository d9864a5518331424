# Storecast's entry points. `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
SIZE ?= 700
STACK := infra/scripts/with-local-stack.sh
DEV := cargo run --quiet -p storecast-dev --
CONSOLE_DIST := console/dist/index.html

.PHONY: demo pipeline-demo serve-api api-contract test bootstrap lint layout clippy fmt unit integration template-lint events bench sam-build local-stack console console-build console-unit console-e2e bootstrap-console

## The demo through the marketer API on the local stack (SIZE customers per retailer), ending
## with the per-retailer report read from the campaigns' stats.
## SERVE=8787 keeps the API and the console serving after the report, with the demo's retailers.
demo: bootstrap $(CONSOLE_DIST)
	$(STACK) $(DEV) demo --size $(SIZE) --out out/demo $(if $(SERVE),--then-serve $(SERVE))

## The delivery pipeline's own demo (redeliveries, malformed records, a paused campaign, a
## misconfigured and an unknown retailer).
pipeline-demo: bootstrap
	$(STACK) $(DEV) pipeline-demo --size 2000 --out out/pipeline-demo

## The marketer API on http://127.0.0.1:8787 with the pipeline behind it (see docs/api.md), and
## the console beside it on http://127.0.0.1:8787/console/ (docs/console.md).
serve-api: bootstrap $(CONSOLE_DIST)
	$(STACK) $(DEV) serve-api --port 8787

## schemathesis against the running API and its OpenAPI document.
api-contract: bootstrap
	$(STACK) infra/scripts/api-contract.sh

## The whole suite: format, clippy, unit + integration tests (local endpoint, demos as tests),
## the API against its OpenAPI document (schemathesis), events/ under the Lambda emulator, template
## lint, and the console (build, size budget, unit tests, browser tests).
test: fmt layout clippy integration api-contract events template-lint console

bootstrap:
	infra/scripts/bootstrap.sh

fmt:
	cargo fmt --all -- --check

## The workspace, then each function crate alone: its own features only, as `sam build` builds
## it, so a function that needs a feature it does not enable (or names `storecast::testing`)
## fails here.
clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	for function in rebatch deliver launch scheduler api ses-events warmup score-sync score-refresh delta-optimizer; do cargo clippy -p $$function -- -D warnings || exit 1; done

## One home per capability, no oversized file or function, no module cycle (docs/architecture.md).
layout:
	python3 infra/scripts/check-layout.py

## Unit tests need no endpoint; the integration tests (adapters, events/, both demos) get a fresh
## one.
integration: bootstrap
	$(STACK) bash -c '.venv/bin/python infra/scripts/moto_rollback_test.py && cargo test --workspace --all-targets'

template-lint:
	infra/scripts/lint-template.sh

## Runs each events/ file through the real bootstrap binaries under the Lambda runtime emulator.
events: bootstrap
	infra/scripts/bootstrap-sam.sh
	cargo build -p rebatch -p deliver -p launch -p api
	$(STACK) infra/scripts/events-under-rie.sh

## In process: deliver hot path, audience evaluation, template preview, the standard templates
## side by side with Shopify's Ruby Liquid (Debian's ruby-liquid + ruby-liquid-c, YJIT), the
## availability decision.
## Then the template deploy
## to the local stack (100 templates x 350 retailers).
bench: bootstrap
	infra/scripts/bootstrap-ruby-liquid.sh
	cargo bench -p storecast --bench deliver --bench audience --bench preview --bench liquid_reference --bench simulation --bench availability --bench availability_optimizer --bench availability_sync
	$(STACK) cargo bench -p storecast-dev --bench deploy

sam-build:
	infra/scripts/sam-build.sh

## A local endpoint for manual use: prints its URL and waits.
local-stack: bootstrap
	$(STACK) bash -c 'echo "export AWS_ENDPOINT_URL=$$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"; $(DEV) provision; echo "Ctrl-C to stop"; sleep infinity'

## The console (docs/console.md): its tools (Debian's Chromium, npm ci), the build with its
## script size budget, the unit tests (Vitest) and the browser tests against the local stack.
console: console-build console-unit console-e2e

bootstrap-console:
	infra/scripts/bootstrap-console.sh

console-build: bootstrap-console
	cd console && npm run --silent build && npm run --silent size

## Built again only when a source changed (what serve-api and the demo need).
$(CONSOLE_DIST): console/package-lock.json console/index.html console/vite.config.ts $(shell find console/src -type f 2>/dev/null)
	$(MAKE) console-build

console-unit: bootstrap-console
	cd console && npx vitest run

console-e2e: bootstrap $(CONSOLE_DIST)
	infra/scripts/bootstrap-console.sh --browser
	cargo build --quiet -p storecast-dev
	$(STACK) node --test console/e2e/console.test.mjs
