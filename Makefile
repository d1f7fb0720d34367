# Rallypoint: the commands a developer and CI run. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
LOCAL := deploy/local

# cargo-nextest when installed (parallel, per-test timeouts), else cargo test. nextest
# does not run doctests, so they run on their own after it.
ifeq ($(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes),yes)
TEST_RUNNER := $(CARGO) nextest run --workspace $(if $(CI),--profile ci,)
DOC_TESTS := $(CARGO) test --workspace --doc
else
TEST_RUNNER := $(CARGO) test --workspace
DOC_TESTS := true
endif

.PHONY: help build test lint fmt run up down status bench bench-quick bench-peer deploy-check fuzz sdk schema

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build every service binary
	$(CARGO) build --workspace --bins

test: ## run every test against a real Redis Cluster and PostgreSQL (started here unless RALLYPOINT_REDIS__URLS / DATABASE_URL are set)
	@echo "==> building the workspace and its tests (the first build takes a few minutes)"
	$(CARGO) build --workspace --bins --tests
	@echo "==> doctests"
	$(DOC_TESTS)
	$(LOCAL)/sdk.sh test
	$(LOCAL)/test-stack.sh -- $(TEST_RUNNER)
	deploy/check.sh

sdk: ## the TypeScript SDK (sdk/typescript): npm ci from its lock file when needed, type-check, build, bundle the web lobby
	$(LOCAL)/sdk.sh build

schema: ## after changing a wire type in proto: rewrite proto/schema/protocol.json and the TypeScript SDK's generated types (commit both)
	RALLYPOINT_SCHEMA_WRITE=1 $(CARGO) test -q -p proto --test wire schema
	$(LOCAL)/sdk.sh types

deploy-check: ## check the deploy files offline: ECS task definitions against botocore's model, compose and Terraform syntax, every variable they set against the services' --check-config, the drain arithmetic, names derived from var.name, no guests, and checkov over the Terraform
	$(CARGO) build --workspace --bins
	deploy/check.sh

bench: ## release build of the whole stack under the load generator (connections, fan-out, whispers, matchmaking) and two focused benchmarks; writes bench/results/<date>.md and .json (several minutes)
	$(LOCAL)/bench.sh

bench-quick: ## the same pipeline at tiny sizes: checks that make bench works (its report stays in .run/bench-quick/)
	$(LOCAL)/bench.sh --quick

bench-peer: ## Rallypoint side by side with Socket.IO 4.8 + its sharded Redis adapter (Node.js, installed from bench/peer's lock file): fan-out rates at p99 < 10 ms, CPU per delivery, memory per connection; writes bench/results/<date>-peer.md (about 10 minutes)
	$(LOCAL)/bench_peer.sh

# Inputs per fuzz campaign (make fuzz FUZZ_CASES=...); `make test` runs each with 300.
FUZZ_CASES ?= 200000
FUZZ_REPORT := .run/fuzz/report.txt

fuzz: ## bad input by the million: every decoder a stranger can reach (client frames in JSON and MessagePack, JWTs and guest names, join tokens, game-server and operator HTTP bodies, PROXY protocol headers) gets FUZZ_CASES arbitrary and mutated inputs per campaign (default 200,000; a few minutes); prints how many it tried
	@mkdir -p $(dir $(FUZZ_REPORT)) && rm -f $(FUZZ_REPORT)
	@echo "==> $(FUZZ_CASES) inputs per campaign (crates/fuzz)"
	RALLYPOINT_FUZZ_CASES=$(FUZZ_CASES) RALLYPOINT_FUZZ_REPORT=$(CURDIR)/$(FUZZ_REPORT) $(CARGO) nextest run -p fuzz --no-fail-fast
	@awk '{ n = $$NF; $$NF = ""; printf "  %-52s %9d inputs\n", $$0, n; total += n } END { printf "fuzz: %d inputs over %d campaigns: no panic, every answer as documented\n", total, NR }' $(FUZZ_REPORT)

lint: ## formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

run: ## build and run the whole platform in the foreground (2 gateways, 2 matchmakers, 2 pools, a cache-warmer, 4 simulated game servers); Ctrl-C stops it
	$(LOCAL)/stack.sh run

up: ## the same as `make run`, in the background; returns once every part answers ready
	$(LOCAL)/stack.sh up

down: ## stop what `make up` (or `make run`) started
	$(LOCAL)/stack.sh down

status: ## is the local stack running?
	$(LOCAL)/stack.sh status
	$(LOCAL)/redis-cluster.sh status || true
	$(LOCAL)/postgres.sh status || true
