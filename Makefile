# Watcher: two commands set up a fresh machine.
#   make run   runs the whole fleet locally against the built-in target farm
#   make test  vet, lint and every test (starts its own PostgreSQL and pgbouncer)

SHELL := /bin/bash
GO ?= go
BIN := bin
FUNCTIONS := $(notdir $(wildcard functions/*))
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(BIN)/tools/golangci-lint
RUN_FOR ?= 3m
DEMO ?= 200
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: all build watcher functions run test vet lint unit synth fmt clean

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

test: vet lint build unit

vet:
	$(GO) vet ./...

$(GOLANGCI):
	GOBIN=$(abspath $(BIN)/tools) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

unit:
	$(GO) test -count=1 ./...

# cdk.out for the example configuration (two probe regions and one
# intranet), offline: no AWS account is needed to synthesize.
synth: functions
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON="$$(cat infra/example.context.json)" $(GO) run ./infra

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) cdk.out .watcher
