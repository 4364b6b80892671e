# Envoi. `make run` serves a working install; `make test` runs every test.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin/envoi

.PHONY: build run test test-short lint fuzz migrate bench stop services clean

build:
	@echo "build: compiling $(BIN) (the first build downloads the Go modules: a few minutes)" >&2
	@$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/envoi

run: build
	@scripts/run.sh

test:
	@scripts/test.sh

test-short:
	$(GO) test -short -count=1 ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Each fuzz target for a budget of executions (FUZZTIME=50000x by default; a
# duration such as 10s works too). A count, not a duration: Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" when a
# duration ends mid-input (go.dev/issue/75804, fixed in Go 1.27), no crasher written.
FUZZTIME ?= 50000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) ./internal/address
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/token
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyClick$$' -fuzztime $(FUZZTIME) ./internal/token
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyAddress$$' -fuzztime $(FUZZTIME) ./internal/token
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSignup$$' -fuzztime $(FUZZTIME) ./internal/web/public
	$(GO) test -run '^$$' -fuzz '^FuzzWriteQP$$' -fuzztime $(FUZZTIME) ./internal/mail
	$(GO) test -run '^$$' -fuzz '^FuzzQPWriter$$' -fuzztime $(FUZZTIME) ./internal/mail
	$(GO) test -run '^$$' -fuzz '^FuzzDialogue$$' -fuzztime $(FUZZTIME) ./internal/send
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/pow
	$(GO) test -run '^$$' -fuzz '^FuzzImportRow$$' -fuzztime $(FUZZTIME) ./internal/imports
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/bounce
	$(GO) test -run '^$$' -fuzz '^FuzzClassify$$' -fuzztime $(FUZZTIME) ./internal/bounce
	$(GO) test -run '^$$' -fuzz '^FuzzParseStrict$$' -fuzztime $(FUZZTIME) ./internal/bounce
	$(GO) test -run '^$$' -fuzz '^FuzzSES$$' -fuzztime $(FUZZTIME) ./internal/webhook
	$(GO) test -run '^$$' -fuzz '^FuzzSendGrid$$' -fuzztime $(FUZZTIME) ./internal/webhook
	$(GO) test -run '^$$' -fuzz '^FuzzMailgun$$' -fuzztime $(FUZZTIME) ./internal/webhook
	$(GO) test -run '^$$' -fuzz '^FuzzPostmark$$' -fuzztime $(FUZZTIME) ./internal/webhook
	$(GO) test -run '^$$' -fuzz '^FuzzSNSURL$$' -fuzztime $(FUZZTIME) ./internal/webhook

migrate: build
	@eval "$$(scripts/services.sh)"; $(BIN) migrate

# Benchmarks against ../shared/bench (formload, smtpblast, smtpsink); see bench/README.md.
# BENCH_SUBSCRIBERS sets the campaign's audience (default 100000). The last line is
# "campaign: N msgs/s, X cpu-s/1k, M MB peak RSS".
bench: build
	@bench/signup.sh
	@bench/campaign.sh

# Stop the private PostgreSQL/Redis and the mail catcher that run/test started.
stop:
	@scripts/stop.sh

services:
	docker compose up -d postgres redis mailcatcher

clean:
	rm -rf bin
