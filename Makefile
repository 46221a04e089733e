# ILS — the two commands: `make run` and `make test`. Both install what is missing first and
# are fast when everything is already there.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ils-target
CARGO ?= cargo

.PHONY: run central test test-citus setup setup-citus setup-desktop package check-toolchain bench bench-limiter bench-scale bench-gateway bench-node bench-sync bench-desktop fuzz-api lint fmt

## Set up everything and start ILS Desktop, the practice's app (offline on its own SQLite until
## it is connected to ILS Central). Without a display it says so and names the alternatives.
run: setup
	@scripts/run-desktop.sh

## ILS Central, the multi-practice service, on a local PostgreSQL with a demo practice.
central: setup
	@scripts/run.sh

## Set up everything and run every test: the Rust workspace (a throwaway PostgreSQL is started
## and stopped by the tests; the desktop app is driven in a real window under Xvfb) and the
## interface's component tests (Vitest).
test: setup
	$(CARGO) test --workspace --locked
	cd ui && npm test --silent

## The ILS Central API suite on Citus: a coordinator and two workers on loopback (started by
## the tests), the schema distributed by company_id: every API test, among them cross-tenant
## access, row-level security on every shard, pooled connections, clinical flows, erasure, the
## assistant, the knowledge base, sync and accounts (docs/citus.md).
test-citus: setup setup-citus
	ILS_TESTKIT_CITUS=1 $(CARGO) test -p ils-server --test api --locked

## System packages (PostgreSQL, pgvector, Redis, build tools; WebKitGTK, Xvfb and the WebDriver parts
## for the desktop app), the interface's npm packages and build, the embedding model (checked
## against models/manifest.toml) and a check of the Rust toolchain.
setup: check-toolchain
	@scripts/setup-system.sh
	@scripts/setup-desktop.sh
	@scripts/fetch-model.sh

## Citus, the distributed PostgreSQL (from Citus's apt package where one is offered, else built
## from CITUS_SOURCE, by default ../shared/vendor/citus). Not part of `setup`: plain PostgreSQL
## runs everything in `make test`. See scripts/setup-citus.sh and docs/citus.md.
setup-citus:
	@scripts/setup-citus.sh

## The installable app: a .deb and an AppImage under $(CARGO_TARGET_DIR)/release/bundle/.
package: setup
	@scripts/package.sh

check-toolchain:
	@scripts/check-toolchain.sh

## The load generator (N tenants × M clients against the server on loopback).
bench: setup
	$(CARGO) bench -p ils-server --bench loadgen --locked

## What the rate limit shared by several replicas (Redis) costs a request, against the
## in-process limiter and a bare Redis round trip. See crates/ils-server/benches/limiter.rs.
bench-limiter: setup
	$(CARGO) bench -p ils-server --bench limiter --locked

## The clinic mix against one replica, one with Redis, three with Redis directly and behind
## nginx (installed by the script), then one and three replicas on Citus (a coordinator and two
## workers), with the CPU each request costs and an estimate for N machines. See
## crates/ils-server/benches/scale.rs.
bench-scale: setup setup-citus
	@scripts/bench-scale.sh

## The AI gateway: ILS Central's assistant against a local provider server, side by side with
## LiteLLM's proxy (a venv made once under ~/.cache), retrieval-augmented chat against the
## embedding ceiling, and the 100-user load target. See crates/ils-server/benches/gateway.rs.
bench-gateway: setup
	@scripts/bench-gateway.sh

## The desktop engine's benchmarks: embedding speed side by side with sentence-transformers
## (which needs a ~4.8 GB Python environment, made once under ~/.cache), search latency over
## 10k and 100k chunks, ingest throughput.
bench-node: setup
	@scripts/bench-node.sh

## Sync: a new device's initial sync of 1,000,000 records, steady push, and how soon a change
## on one device is applied on another (long poll). See tests/benches/sync.rs.
bench-sync: setup
	$(CARGO) bench -p ils-e2e --bench sync --locked

## The desktop app: cold start to an interactive patient list, idle memory before and after
## the model loads, bundle size, and patient search per keystroke over 10,000 patients.
bench-desktop: setup
	@scripts/bench-desktop.sh

## Fuzz the HTTP API from its OpenAPI document (schemathesis) on a throwaway cluster, and
## print which operations were reached.
fuzz-api: setup
	@scripts/fuzz-api.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all
