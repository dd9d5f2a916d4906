# The README's two commands stay the truth: `go run ./cmd/kycflow run` and
# `go test -race ./...`. These targets are shortcuts around them.
GO ?= go
PKGS := ./...

.PHONY: run test test-race test-short bench faults fuzz lint golden build ci

run:
	$(GO) run ./cmd/kycflow run

test:
	$(GO) test -race -count=1 $(PKGS)

test-race: test

test-short:
	$(GO) test -short -count=1 $(PKGS)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...

# The end-to-end benchmark and the ingest comparison; pass flags with
# BENCHFLAGS, for example BENCHFLAGS="--json-out bench.json".
bench:
	$(GO) run ./cmd/kycflow bench $(BENCHFLAGS)

# The fault suite alone, with its figures (go test ./... runs it too).
faults:
	$(GO) test -race -count=1 -v ./internal/faultsuite

fuzz:
	./scripts/fuzz.sh 20s

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

golden:
	$(GO) test ./pkg/mapping -update

ci:
	./.ci/run
