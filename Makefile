# ILS — the two commands: `make run` and `make test`. Both install what is missing first and
# are fast when everything is already there.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ils-target
CARGO ?= cargo

.PHONY: run test setup check-toolchain bench bench-gateway bench-node bench-sync fuzz-api lint fmt

## Set up everything and run the main job (ILS Central with a demo tenant, until the desktop app exists).
run: setup
	@scripts/run.sh

## Set up everything and run every test (a throwaway PostgreSQL is started and stopped by the tests).
test: setup
	$(CARGO) test --workspace --locked

## System packages (PostgreSQL, pgvector, build tools), the embedding model (checked against
## models/manifest.toml) and a check of the Rust toolchain.
setup: check-toolchain
	@scripts/setup-system.sh
	@scripts/fetch-model.sh

check-toolchain:
	@scripts/check-toolchain.sh

## The load generator (N tenants × M clients against the server on loopback).
bench: setup
	$(CARGO) bench -p ils-server --bench loadgen --locked

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

## Fuzz the HTTP API from its OpenAPI document (schemathesis) on a throwaway cluster, and
## print which operations were reached.
fuzz-api: setup
	@scripts/fuzz-api.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all
