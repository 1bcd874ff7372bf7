# pullheal — build, test and run the local test bed.
GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN           := bin/pullheal
FUZZTIME      ?= 30s
PKGS          := ./...

# What the binary says it is (pullheal --version, pullheal_build_info), and
# the commit's time, which is every timestamp in the image. Computed once;
# override on the command line (make image VERSION=v1.2.3).
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
endif
ifndef COMMIT
COMMIT := $(shell c=$$(git rev-parse HEAD 2>/dev/null) || c=unknown; [ $$c = unknown ] || git diff --quiet HEAD 2>/dev/null || c=$$c-dirty; echo $$c)
endif
ifndef SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
BUILDINFO     := github.com/pullheal/pullheal/internal/buildinfo
LDFLAGS       := -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT)
IMAGE_DIR     := bin/image
IMAGE_SOURCE  ?= https://github.com/pullheal/pullheal
CA_BUNDLE     ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: all build test unit fuzz e2e e2e-moto infra bench lint demo clean image push

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pullheal

# The one command CI runs. It is deterministic: unit tests with the race
# detector (every fuzz target's seed corpus runs as a plain test, no
# exploration), then the end-to-end suites against the built binary: on
# the local test bed, and on moto and docker-registry (docs/moto.md); then
# the infrastructure checks.
test: unit e2e e2e-moto infra

unit:
	$(GO) test -race -count=1 $(PKGS)

# Exploration, never part of `make test`: each target runs for FUZZTIME
# (go test -fuzz takes one target per package run). A crasher it finds is
# written under the package's testdata/fuzz/ and must be fixed and committed,
# so that it becomes part of the seed corpus `make test` runs.
fuzz:
	@set -e; for spec in $$($(GO) run ./internal/tools/fuzztargets); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		echo "fuzz $$pkg $$fn"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

e2e: build
	$(GO) test -race -count=1 -tags e2e ./e2e/...

# The agent against peers written by others: moto_server and Debian's
# docker-registry must be on PATH; the suite fails, never skips, without them.
e2e-moto: build
	$(GO) test -race -count=1 -parallel 8 -tags e2emoto ./e2e/moto/...

# Offline checks of deploy/: terraform fmt, validate and test (mocked AWS
# provider) for the module and its examples, and cfn-lint on the stack.
infra:
	./deploy/check.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./e2e/...
	$(GO) vet -tags e2emoto ./e2e/moto/...
	$(GO) run $(STATICCHECK) $(PKGS)
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

demo: build
	./$(BIN) demo

# The container image, linux/amd64 + linux/arm64, as an OCI image layout in
# bin/image; no Docker daemon. Reproducible: the same commit (and CA bundle
# and Go version) gives the same index digest. See docs/image.md.
image: $(CA_BUNDLE)
	$(GO) run ./internal/tools/buildimage -out $(IMAGE_DIR) -version $(VERSION) -commit $(COMMIT) \
		-created $(SOURCE_DATE_EPOCH) -source $(IMAGE_SOURCE) -ca-bundle $(CA_BUNDLE)

# Debian's CA bundle, which the image carries; installed when missing.
$(CA_BUNDLE):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates

# Pushes bin/image (make image first): make push IMAGE=REGISTRY/REPOSITORY:TAG
push:
	@test -n "$(IMAGE)" || { echo "make push: set IMAGE=REGISTRY/REPOSITORY:TAG" >&2; exit 2; }
	$(GO) run ./internal/tools/pushimage -layout $(IMAGE_DIR) $(IMAGE)

clean:
	rm -rf bin
