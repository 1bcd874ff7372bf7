# pullheal — build, test and run the local test bed.
GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN           := bin/pullheal
FUZZTIME      ?= 3s
PKGS          := ./...

.PHONY: all build test unit fuzz e2e bench lint demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pullheal

# The one command CI runs: unit tests with the race detector, a short run of
# every fuzz target, then the end-to-end suite against the built binary.
test: unit fuzz e2e

unit:
	$(GO) test -race -count=1 $(PKGS)

# Each fuzz target runs briefly; go test -fuzz takes one target per package run.
fuzz:
	@set -e; for spec in $$($(GO) run ./internal/tools/fuzztargets); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		echo "fuzz $$pkg $$fn"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

e2e: build
	$(GO) test -race -count=1 -tags e2e ./e2e/...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./e2e/...
	$(GO) run $(STATICCHECK) $(PKGS)

demo: build
	./$(BIN) demo

clean:
	rm -rf bin
