# SPACE: self-play fine-tuning on Temporal + S3.
#
#   make tools       build bin/temporal and bin/versitygw (from tools/*/go.mod) if missing
#   make up / down   start / stop the local stack in the background (writes .data/stack.env)
#   make test        all tests, integration tests included (needs make tools)
#   make test-short  unit tests only (-short)
#   make space       build bin/space (starter) and bin/space-worker (worker)
#   make worker      run a worker against the local stack
#   make demo        run the end-to-end demo
#   make gpt2-small  a GPT-2-small-shaped model (124M) imported, fine-tuned one SPACE round with a
#                    kill -9 and resume, exported and sampled, on the local stack (about 15 min);
#                    table in .data/gpt2small/results.md
#   make scaling     a round trained on 1 worker vs over K workers (DiLoCo), workers pinned to one core
#                    each: wall times, Temporal and S3 per outer step, quality with paired CIs, 5 seeds;
#                    table in .data/scaling/results.md (SCALING_ARGS=-quick: a tiny check)
#   make chaos       long e2e chaos test (kill -9, Temporal/S3 restarts); table in .data/chaos.md
#   make chaos-net   e2e network faults through toxiproxy (latency, bandwidth, cuts, stalls, partition);
#                    table in .data/chaos-net.md
#   make gpt2tok     regenerate model/testdata/gpt2tok (GPT-2 tokenizer vectors; needs node and npm)
#   make wordnet-data  the wordnet task's full data (apt: wordnet-base, dict-gcide) in .data/wordnet
#   make fmt vet clean
#
# OpenBLAS: when libopenblas is installed (and cgo works), builds and tests use -tags openblas
# with OPENBLAS_NUM_THREADS=1, and OPENBLAS_CORETYPE=SkylakeX on AVX-512 machines (Debian's
# OpenBLAS otherwise runs them as "Prescott", at half speed). `make BLAS_TAGS=` turns it off.

SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
DATA  ?= .data

# make/bench.mk (the bench target) may define BLAS_TAGS itself; the defaults below apply
# only where it does not.
-include make/bench.mk

HAVE_OPENBLAS := $(shell ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v gcc >/dev/null && echo yes)
ifeq ($(HAVE_OPENBLAS),yes)
BLAS_TAGS ?= openblas
export OPENBLAS_NUM_THREADS ?= 1
ifneq ($(shell grep -m1 -ow avx512f /proc/cpuinfo 2>/dev/null),)
export OPENBLAS_CORETYPE ?= SkylakeX
endif
endif
TAGS := $(if $(strip $(BLAS_TAGS)),-tags '$(strip $(BLAS_TAGS))')

.PHONY: tools up down status test test-short space worker demo gpt2-small scaling fmt vet clean

tools: $(BIN)/temporal $(BIN)/versitygw

# Built only if missing (a cold build of the Temporal CLI takes about 4 minutes).
$(BIN)/temporal:
	cd tools/temporal && GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal

$(BIN)/versitygw:
	cd tools/versitygw && GOBIN=$(BIN) $(GO) install github.com/versity/versitygw/cmd/versitygw

$(BIN)/devstack: FORCE
	$(GO) build -o $@ ./cmd/devstack

up: tools $(BIN)/devstack
	$(BIN)/devstack up -dir $(DATA)

down: $(BIN)/devstack
	$(BIN)/devstack down -dir $(DATA)

status: $(BIN)/devstack
	$(BIN)/devstack status -dir $(DATA)

test: tools
	$(GO) test $(TAGS) ./... -count=1 -timeout 25m

test-short:
	$(GO) test $(TAGS) -short ./... -count=1 -timeout 10m

space: $(BIN)/space $(BIN)/space-worker

# The commit goes in by -ldflags too: with -buildvcs=false (GOFLAGS) Go records none.
$(BIN)/space: FORCE
	$(GO) build $(TAGS) -ldflags "-X main.commit=$$(git rev-parse HEAD 2>/dev/null)" -o $@ ./starter

$(BIN)/space-worker: FORCE
	$(GO) build $(TAGS) -o $@ ./worker

# The worker and the demo read the stack's settings from $(DATA)/stack.env when present.
STACK_ENV = if [ -f $(DATA)/stack.env ]; then source $(DATA)/stack.env; fi;

worker: $(BIN)/space-worker
	$(STACK_ENV) $(BIN)/space-worker

# The HF folder is made once by cmd/hfinit (random weights: no Hub access here); put a real
# transformers GPT-2 folder there (or run cmd/gpt2small -hf DIR) to use real weights.
scaling: tools space
	$(GO) run $(TAGS) ./cmd/scaling -dir $(DATA)/scaling $(SCALING_ARGS)

gpt2-small: tools space
	@test -f $(DATA)/gpt2small/hf/config.json || $(GO) run ./cmd/hfinit --out $(DATA)/gpt2small/hf
	$(GO) run $(TAGS) ./cmd/gpt2small -dir $(DATA)/gpt2small

demo: tools
	@$(GO) run $(TAGS) ./cmd/demo

gpt2tok:
	node model/testdata/gpt2tok/gen.mjs
.PHONY: gpt2tok

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet $(TAGS) ./...

clean:
	-$(MAKE) down
	rm -rf $(DATA) $(BIN)/space $(BIN)/space-worker $(BIN)/devstack
	$(GO) clean -testcache

.PHONY: FORCE
FORCE:

# Comparison of SFT (n, 4n), SPIN and SPACE (mu 1, 3) from one pre-trained base, settings
# chosen on a validation split (docs/compare.md). Each starts a fresh stack in $(DATA)/compare
# and writes the report to out/compare/cmp-TASK/ (quick: out/compare/quick-TASK/).
#   make compare TASK=markov|arith     the full comparison (search on 2 seeds, then 5 rounds x 5 seeds)
#   make compare-quick TASK=markov     1 seed, 2 rounds, no search (well under a minute)
#   make compare-sftnorm               SFT(n), SFT(4n) with the old and new SFT losses side by side on markov
#   make compare TASK=wordnet          WordNet glosses (make wordnet-data first for the full data)
#   make compare-paper TASK=markov|arith  the paper's regime (base SFT'd on 16n target pairs, 7 arms,
#                                      10 rounds of 96 steps, forgetting; 23 min to hours: `make compare-plan
#                                      PRESET=paper TASK=...` prints its optimizer steps)
TASK ?= markov
.PHONY: compare compare-quick compare-sftnorm compare-paper compare-spec compare-plan
compare: tools
	$(GO) run $(TAGS) ./cmd/compare --task $(TASK) --dir $(DATA)/compare

compare-quick: tools
	$(GO) run $(TAGS) ./cmd/compare --task $(TASK) --quick --dir $(DATA)/compare

compare-sftnorm: tools
	$(GO) run $(TAGS) ./cmd/compare --task markov --arms sft-norm --dir $(DATA)/compare
# The wordnet task (tasks.WordNet): WordNet 3.0 glosses, the base pre-trained on GCIDE. The
# full data come from Debian's packages (apt needs root, or sudo, and Debian's mirror) and are
# converted by cmd/dictjsonl to $(DATA)/wordnet/{wordnet,gcide}.jsonl, where a worker started
# in this folder (make worker, make compare) finds them; without them the task uses the sample
# committed in tasks/testdata/wordnet. wordnet-sample regenerates that sample and its verbatim
# source excerpt (dataset/dict/testdata) from the installed packages.
#   make wordnet-data && make compare TASK=wordnet
WORDNET_PKGS := wordnet-base dict-gcide
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: wordnet-data wordnet-sample wordnet-pkgs
wordnet-pkgs:
	@if [ ! -f /usr/share/wordnet/data.noun ] || [ ! -f /usr/share/dictd/gcide.index ]; then \
		$(SUDO) apt-get install -y $(WORDNET_PKGS) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y $(WORDNET_PKGS); }; fi

wordnet-data: wordnet-pkgs
	$(GO) run ./cmd/dictjsonl -out $(DATA)/wordnet

wordnet-sample: wordnet-pkgs
	$(GO) run ./cmd/dictjsonl -sample 200 -raw dataset/dict/testdata -out tasks/testdata/wordnet
compare-paper: tools
	$(GO) run $(TAGS) ./cmd/compare --task $(TASK) --preset paper --dir $(DATA)/compare

# A comparison from a spec file (compare.Spec), e.g. the committed ones:
#   make compare-spec SPEC=docs/img/compare/fresh-arith/spec.json
compare-spec: tools
	@test -n "$(SPEC)" || { echo "SPEC=path/to/spec.json is required (e.g. docs/img/compare/fresh-markov/spec.json)"; exit 2; }
	$(GO) run $(TAGS) ./cmd/compare --spec $(SPEC) --dir $(DATA)/compare

PRESET ?= default
compare-plan:
	$(GO) run $(TAGS) ./cmd/compare --task $(TASK) --preset $(PRESET) --plan

# Chaos: the long version of e2e's TestChaos (4 rounds, a kill -9 of the worker at seeded random
# moments of every generation, training and evaluation, Temporal and S3 gateway restarts), with
# its fault table written to $(DATA)/chaos.md. `make test` runs the short version.
#   make chaos [CHAOS_SEED=n]
CHAOS_SEED ?= 1
.PHONY: chaos
chaos: tools
	@mkdir -p $(DATA)
	$(GO) test $(TAGS) ./e2e -run '^TestChaos$$' -count=1 -v -timeout 30m \
		-args -chaos.long -chaos.seed $(CHAOS_SEED) -chaos.table $(abspath $(DATA))/chaos.md

# Network faults: e2e's TestNetChaos puts toxiproxy (in-process, loopback) between the worker
# and S3 and between the worker and Temporal, and injects latency, a bandwidth cap, connections
# cut mid-transfer, stalled reads, a partition, S3 503/500 answers and corrupted reads;
# TestHungWorker (SIGSTOP, takeover, SIGCONT); TestBigTransferResets (300 MiB up and down, cut
# mid-transfer); TestDiskFull (the gateway's tmpfs filled during saves, a full worker TMPDIR:
# needs root for mount); TestUpgrade (a worker built from an older commit replaced mid-run by
# this tree's: needs the git history). The fault tables go to $(DATA)/chaos-net.md.
#   make chaos-net [CHAOS_SEED=n]
.PHONY: chaos-net
chaos-net: tools
	@mkdir -p $(DATA)
	$(GO) test $(TAGS) ./e2e -run '^(TestNetChaos|TestHungWorker|TestBigTransferResets|TestDiskFull|TestUpgrade)$$' -count=1 -v -timeout 45m \
		-args -e2e.net -chaos.seed $(CHAOS_SEED) -net.table $(abspath $(DATA))/chaos-net.md
