# make/bench.mk: BLAS backend detection and throughput benchmarks. Included by the main
# Makefile; it leaves the main Makefile's default goal alone.
#
#   make bench                  model benchmarks, pure Go (gonum), then OpenBLAS if usable,
#                               then ONE merged table (bench-table) of both backends
#   make bench BENCH=TrainStep BENCHTIME=5x BENCHCOUNT=3
#   make bench-gonum | bench-openblas | bench-table
#   make bench-llmc             llm.c's train_gpt2.c at GPT-2 small shape, batch 4, T 256 and 1024,
#                               OMP threads 1 and 2 (LLMC: the binary the README's "llm.c at GPT-2
#                               shape" builds, default /tmp/llmc/bench_gpt2; LLMC_B, LLMC_T,
#                               LLMC_THREADS, LLMC_STEPS), into $(BENCH_OUT)/llmc.txt, which
#                               bench-table prints beside the GPT-2 rows
#   make bench-pipeline         checkpoint save/load through the S3 gateway (3 samples of 3), a 1 GB
#                               trainer checkpoint streamed in and out (2 samples of 2), and
#                               one self-play run (base model + one round, d128 L4) on the local
#                               stack: time in activities vs Temporal-only vs S3, and the CPU of
#                               its Generate shards' sampling and scoring (pprof label phase);
#                               then BenchmarkShardScoring, the same shards' CPU alone and side
#                               by side without the stack (needs make tools; a few minutes)
#
# Results are printed and kept in $(BENCH_OUT)/gonum.txt and openblas.txt (benchstat input);
# the table (cmd/benchtable: medians over BENCHCOUNT runs) in $(BENCH_OUT)/table.md.
#
# Variables for the main Makefile:
#   BLAS_TAGS     "openblas" when OpenBLAS can be linked: ldconfig knows libopenblas.so (the
#                 development link that libopenblas-dev installs), cgo is on and gcc exists.
#                 Else empty. Use it as `go build -tags '$(BLAS_TAGS)'`.
#   OPENBLAS_ENV  environment prefix for running an OpenBLAS build: one OpenBLAS thread
#                 (a second one spins and starves the Go runtime, and one thread keeps
#                 results bit-identical), and OPENBLAS_CORETYPE=SkylakeX when the CPU has
#                 avx512f (Debian's OpenBLAS 0.3.21 detects some AVX-512 server CPUs as
#                 "Prescott" and runs at about half speed). OpenBLAS reads the core type when
#                 the library loads, before any Go code runs, so only the environment can set
#                 it. A value already in the environment wins. Without AVX-512 it stays unset
#                 (SkylakeX kernels would crash); OpenBLAS's own detection is then used and
#                 model.BackendDetail() reports it (e.g. "Zen" on AMD EPYC).

_bench_saved_goal := $(.DEFAULT_GOAL)

GO ?= go
HAVE_OPENBLAS := $(shell ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v gcc >/dev/null && echo yes)
BLAS_TAGS     := $(if $(HAVE_OPENBLAS),openblas,)
HAVE_AVX512F  := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes)
OPENBLAS_ENV  := OPENBLAS_NUM_THREADS=1 $(if $(HAVE_AVX512F),OPENBLAS_CORETYPE=$${OPENBLAS_CORETYPE:-SkylakeX},)

BENCH     ?= .
# The pure-Go backend skips BenchmarkGPT2Small unless BENCH names it: at its ~21 GFLOP/s the
# GPT-2 rows (context 256 and 1024) would take most of an hour.
BENCH_GONUM ?= $(if $(filter .,$(BENCH)),Checkpoint|Sgemm|TrainStep|Generate|LogProbs|BPEEncode|Gelu32|ImportHF,$(BENCH))
BENCHTIME ?= 3x
BENCHCOUNT ?= 1
BENCH_OUT ?= out/bench

# bench_run(env, tags, name, pattern): run the model benchmarks, show them as they come, keep
# a copy, and fail when go test fails (the status survives the pipe through tee in any shell).
define bench_run
	@mkdir -p $(BENCH_OUT)
	@echo "== model benchmarks, backend $(3) -> $(BENCH_OUT)/$(3).txt"
	@{ $(1) $(GO) test $(2) ./model -run '^$$' -bench '$(4)' -benchtime $(BENCHTIME) -count $(BENCHCOUNT) -benchmem -timeout 60m; \
	   echo $$? > $(BENCH_OUT)/.$(3).rc; } | tee $(BENCH_OUT)/$(3).txt; \
	 exit $$(cat $(BENCH_OUT)/.$(3).rc)
endef

LLMC         ?= /tmp/llmc/bench_gpt2
LLMC_B       ?= 4
LLMC_T       ?= 256 1024
LLMC_THREADS ?= 1 2
LLMC_STEPS   ?= 3

.PHONY: bench bench-gonum bench-openblas bench-table bench-pipeline bench-llmc

bench: bench-gonum bench-openblas
	@$(MAKE) --no-print-directory bench-table

# bench-table: one table from the two runs' outputs (either may be missing).
bench-table:
	@echo "== merged table -> $(BENCH_OUT)/table.md"
	@$(GO) run ./cmd/benchtable $(BENCH_OUT)/gonum.txt $(BENCH_OUT)/openblas.txt $(BENCH_OUT)/llmc.txt | tee $(BENCH_OUT)/table.md

bench-gonum:
	$(call bench_run,,,gonum,$(BENCH_GONUM))

bench-openblas:
ifeq ($(BLAS_TAGS),openblas)
	$(call bench_run,$(OPENBLAS_ENV),-tags openblas,openblas,$(BENCH))
else
	@echo "== OpenBLAS not usable (needs libopenblas-dev, cgo and gcc): skipping the openblas benchmarks"
endif

bench-llmc:
	@test -x '$(LLMC)' || { echo "bench-llmc: $(LLMC) is not there: build it as the README's \"llm.c at GPT-2 shape\" says, or set LLMC=path"; exit 1; }
	@mkdir -p $(BENCH_OUT)
	@{ for t in $(LLMC_T); do for th in $(LLMC_THREADS); do OMP_NUM_THREADS=$$th '$(LLMC)' $(LLMC_B) $$t $(LLMC_STEPS) || exit 1; done; done; \
	   echo $$? > $(BENCH_OUT)/.llmc.rc; } | tee $(BENCH_OUT)/llmc.txt; \
	 exit $$(cat $(BENCH_OUT)/.llmc.rc)

bench-pipeline:
	@mkdir -p $(BENCH_OUT)
	@{ $(OPENBLAS_ENV) $(GO) test $(if $(BLAS_TAGS),-tags $(BLAS_TAGS)) ./internal/pipelinebench -run '^$$' -bench CheckpointS3 -benchtime 3x -count 3 -timeout 30m && \
	   $(OPENBLAS_ENV) $(GO) test $(if $(BLAS_TAGS),-tags $(BLAS_TAGS)) ./internal/pipelinebench -run '^$$' -bench StreamCheckpoint1GB -benchtime 2x -count 2 -timeout 30m && \
	   $(OPENBLAS_ENV) $(GO) test $(if $(BLAS_TAGS),-tags $(BLAS_TAGS)) ./internal/pipelinebench -run '^$$' -bench PipelineRound -benchtime 1x -timeout 30m \
	     -cpuprofile $(abspath $(BENCH_OUT))/pipeline.cpu -o $(abspath $(BENCH_OUT))/pipelinebench.test && \
	   echo "CPU seconds of the run's Generate phases (pprof label phase, both shards):" && \
	   $(GO) tool pprof -tags $(abspath $(BENCH_OUT))/pipelinebench.test $(abspath $(BENCH_OUT))/pipeline.cpu 2>/dev/null | sed -n '/^ phase:/,/^$$/p' && \
	   $(OPENBLAS_ENV) $(GO) test $(if $(BLAS_TAGS),-tags $(BLAS_TAGS)) ./internal/pipelinebench -run '^$$' -bench ShardScoring -benchtime 3x -timeout 30m; \
	   echo $$? > $(BENCH_OUT)/.pipeline.rc; } 2>&1 | grep -v ' DEBUG ' | tee $(BENCH_OUT)/pipeline.txt; \
	 exit $$(cat $(BENCH_OUT)/.pipeline.rc)

.DEFAULT_GOAL := $(_bench_saved_goal)
