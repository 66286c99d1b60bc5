# sluice — make help lists the targets.
SHELL := /bin/bash
SLUICE_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export SLUICE_TEST_POSTGRES
FUZZTIME ?= 10s
BENCHTIME ?= 3s
BENCH_DURATION ?= 10s

.PHONY: help test lint peers bench bench-store fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

test: lint peers ## run every test under the race detector (PostgreSQL from SLUICE_TEST_POSTGRES)
	go test -race -count=1 ./...

peers: internal/testutil/npmpeers/node_modules/.package-lock.json ## install the protocol peers the tests start from npm (kinesalite, dynalite, …) into internal/testutil/npmpeers, from its lock file

internal/testutil/npmpeers/node_modules/.package-lock.json: internal/testutil/npmpeers/package-lock.json
	cd internal/testutil/npmpeers && npm ci --ignore-scripts --no-audit --no-fund

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: ## sluice bench suite: the standard scenarios against baselines of the same run, BENCH_DURATION each (default 10s)
	go run ./cmd/sluice bench suite --duration $(BENCH_DURATION) --postgres "$(SLUICE_TEST_POSTGRES)"

bench-store: ## store benchmarks (go test -bench): embedded and PostgreSQL, with the raw COPY baseline
	go test -p 1 -run '^$$' -bench . -benchtime $(BENCHTIME) . ./sqlite/ ./postgres/

fuzz: ## run each fuzz target for FUZZTIME (default 10s)
	@.ci/fuzz $(FUZZTIME)

.PHONY: reliability
RELIABILITY_FUZZTIME ?= 1m
reliability: ## crash, outage, overload, disk-full and bad-client scenarios against the real binary (SLUICE_RELIABILITY=full: full version), then every fuzz target for RELIABILITY_FUZZTIME (default 1m)
	@status=0; SLUICE_RELIABILITY=$${SLUICE_RELIABILITY:-short} go test -p 1 -count=1 -v -timeout 90m ./reliability/ || status=$$?; \
	  $(MAKE) --no-print-directory fuzz FUZZTIME=$(RELIABILITY_FUZZTIME) && exit $$status
