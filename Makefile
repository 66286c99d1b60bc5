# sluice — make help lists the targets.
SHELL := /bin/bash
SLUICE_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export SLUICE_TEST_POSTGRES
FUZZTIME ?= 10s
BENCHTIME ?= 3s
BENCH_DURATION ?= 10s

.PHONY: help test lint peers bench bench-store fuzz dist
# The release that make dist stamps into the binary (main.version) and the
# tarball's name: the checkout's tag or commit unless given.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Where make dist writes sluice-$(VERSION)-linux-amd64.tar.gz.
DISTDIR ?= dist
DISTNAME = sluice-$(VERSION)-linux-amd64

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

dist: ## build $(DISTDIR)/sluice-$(VERSION)-linux-amd64.tar.gz: the binary (version from VERSION), the systemd units, the example configuration and the docs, laid out to unpack at / (docs/operations.md, "Deploy")
	@case "$(VERSION)" in *[!A-Za-z0-9._+-]*|"") echo "VERSION $(VERSION): letters, digits and . _ + - only" >&2; exit 1;; esac
	rm -rf "$(DISTDIR)/$(DISTNAME)" && mkdir -p "$(DISTDIR)/$(DISTNAME)"
	cd "$(DISTDIR)/$(DISTNAME)" && mkdir -p usr/local/bin etc/systemd/system etc/sluice usr/local/share/doc/sluice
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o "$(DISTDIR)/$(DISTNAME)/usr/local/bin/sluice" ./cmd/sluice
	install -m 0644 packaging/systemd/sluice.service packaging/systemd/sluice.socket "$(DISTDIR)/$(DISTNAME)/etc/systemd/system/"
	install -m 0644 packaging/sluice.yml "$(DISTDIR)/$(DISTNAME)/etc/sluice/sluice.yml"
	install -m 0644 README.md docs/*.md docs/openapi.yaml "$(DISTDIR)/$(DISTNAME)/usr/local/share/doc/sluice/"
	mkdir -p "$(DISTDIR)/$(DISTNAME)/usr/local/share/doc/sluice/prometheus" && install -m 0644 docs/prometheus/*.yml "$(DISTDIR)/$(DISTNAME)/usr/local/share/doc/sluice/prometheus/"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$$(git log -1 --format=%ct 2>/dev/null || echo 0)" \
	  -C "$(DISTDIR)" -czf "$(DISTDIR)/$(DISTNAME).tar.gz" "$(DISTNAME)"
	rm -rf "$(DISTDIR)/$(DISTNAME)"
	@echo "$(DISTDIR)/$(DISTNAME).tar.gz"
