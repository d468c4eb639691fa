# Watcher: two commands set up a fresh machine.
#   make run   runs the whole fleet locally against the built-in target farm
#   make test  vet, lint and every test (starts its own PostgreSQL and pgbouncer)

SHELL := /bin/bash
GO ?= go
BIN := bin
FUNCTIONS := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(BIN)/tools/golangci-lint
RUN_FOR ?= 3m
DEMO ?= 200
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: all build watcher functions run test vet lint unit fuzz bench synth fmt clean

all: build

build: functions watcher

watcher:
	$(GO) build -o $(BIN)/watcher ./local

# Lambda bootstraps for provided.al2023 on arm64.
functions:
	@for f in $(FUNCTIONS); do \
		echo "build $(BIN)/$$f/bootstrap"; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o $(BIN)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

run: watcher
	$(BIN)/watcher run --demo $(DEMO) --for $(RUN_FOR)

test: vet lint build unit fuzz

vet:
	$(GO) vet ./...

$(GOLANGCI):
	GOBIN=$(abspath $(BIN)/tools) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

unit:
	$(GO) test -count=1 ./...

# A short run of every fuzz target (go test -fuzz takes one target per
# run). Found crashers land in the package's testdata/fuzz and then run as
# regression cases in every go test. A count, not a duration: Go 1.26's
# fuzz coordinator can fail a duration run at its deadline with "context
# deadline exceeded" and no input (golang/go#75804, fixed in Go 1.27).
# FUZZTIME=2000000x for a longer hunt.
FUZZTIME ?= 20000x
FUZZ_TARGETS := internal/endpointfile:FuzzParse internal/endpointfile:FuzzCheckURL internal/regex:FuzzCompile \
	internal/addrpolicy:FuzzPolicyCheck internal/addrpolicy:FuzzPolicyControl

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./$$pkg || exit 1; \
	done

# Issue 4's benchmark: the planner and writer micro-benchmarks, then both
# workloads through the project and the floor, each run in a child pinned to
# one core (about 9 minutes with the defaults). Not part of make test.
# BENCH_FLAGS="--window 10s --warmup 3s" for a quick look; --runs 2 to repeat.
BENCH_FLAGS ?=
BENCH_DIR := .watcher/bench

bench: watcher
	@mkdir -p $(BENCH_DIR)
	set -o pipefail; $(GO) test -run '^$$' -bench 'BenchmarkPlan100k|BenchmarkWriterVsCopy' -benchtime 5x -cpu 1 \
		./internal/plan ./internal/store | tee $(BENCH_DIR)/micro.txt
	$(BIN)/watcher bench --micro $(BENCH_DIR)/micro.txt $(BENCH_FLAGS)

# Issue 11's sandbox: the real probe bootstrap (built for this machine) under
# the Runtime Interface Emulator, in a cgroup v1 group sized as a Lambda
# function (CPU quota memory/1,769 of a vCPU, memory limit, RLIMIT_NOFILE
# 1,024), per memory size and shard size, against the farm in its own
# process; then shards whose every target hangs (18 to 20 minutes). Needs
# root and cgroup v1. Not part of make test.
# SANDBOX_FLAGS=--quick for a smoke run of 1 to 3 minutes.
SANDBOX_FLAGS ?=
SANDBOX_BIN := $(BENCH_DIR)/sandbox
.PHONY: bench-sandbox

bench-sandbox: watcher
	@mkdir -p $(SANDBOX_BIN)
	GOOS=linux GOARCH=$$($(GO) env GOHOSTARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
		-o $(SANDBOX_BIN)/bootstrap ./functions/probe
	CGO_ENABLED=0 $(GO) build -o $(SANDBOX_BIN)/aws-lambda-rie github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
	$(BIN)/watcher bench sandbox --bootstrap $(SANDBOX_BIN)/bootstrap --rie $(SANDBOX_BIN)/aws-lambda-rie $(SANDBOX_FLAGS)

# Issue 12's ingest benchmark: 10,000 endpoints every 5 s (2,000 rows/s)
# through store.WriteChecks into a PostgreSQL whose processes live in a
# cgroup v1 memory group of 1 GiB (page cache included; shared_buffers 256MB,
# fsync on), once the live partition is bulk-loaded to 3 GiB, for each order
# of the unique key (about ten minutes a key order; the live partition alone is 3 GiB of disk). Needs root and
# cgroup v1. Not part of make test. Fails when the stored rate falls below
# the offered rate. INGEST_FLAGS="--key time-first --for 2m" for a shorter look.
INGEST_FLAGS ?=
.PHONY: bench-ingest

bench-ingest: watcher
	@mkdir -p $(BENCH_DIR)
	set -o pipefail; $(BIN)/watcher bench ingest $(INGEST_FLAGS) | tee $(BENCH_DIR)/ingest.txt

# cdk.out for the example configuration (two probe regions and one
# intranet), offline: no AWS account is needed to synthesize.
synth: functions
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON="$$(cat infra/example.context.json)" $(GO) run ./infra

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) cdk.out .watcher
