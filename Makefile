# Two entry points: `make demo` runs irqsim's main job, `make test` runs every test.
# Each creates .venv in the checkout and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz fuzz-dumps clean compiled test-compiled bench-compiled native \
	guest-native test-slow bench-native

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/irqsim demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2

bench: $(STAMP)
	$(BIN)/python bench/bench_msix.py

# The slow tests, deselected by default (pytest -m slow): kvm-unit-tests apic.flat in its
# upstream configurations (docs/guest.md), minutes each on a shared machine.
test-slow: $(STAMP)
	$(BIN)/pytest -n 2 -m slow

# The guest front-end's native hooks (docs/guest.md "Speed"), built ahead; run-guest builds
# them at first use anyway, and falls back to the Python block hook without a C compiler.
guest-native: $(STAMP)
	$(BIN)/python -c "import sys; from irqsim.guest import native; \
		p = native.build(quiet=False); print(p or 'no C compiler'); sys.exit(p is None)"

# Optional: the engine's heap functions in C (src/irqsim/sim/_nheap.c; needs a C compiler and
# the Python headers), built into the source tree so the plain package uses them; without
# them the engine uses heapq, with the same results. make compiled builds them too.
native: $(STAMP)
	$(BIN)/python bench/build_native.py

# Optional: the hot path compiled by mypyc from the same source (needs a C compiler; the
# dev extra brings mypyc). It goes to build/compiled; PYTHONPATH=build/compiled uses it.
COMPILED := build/compiled
COMPILED_TESTS := tests/unit/test_compiled.py tests/unit/test_engine.py tests/golden \
	tests/unit/test_nheap.py tests/unit/test_native_engine.py \
	tests/unit/test_cpu_counts.py tests/unit/test_workload_sources.py tests/unit/test_testbench.py \
	tests/unit/test_nmi.py \
	tests/scenarios/test_folding.py tests/scenarios/test_software_clock.py \
	tests/scenarios/test_seed_flow.py tests/scenarios/test_posted_ordering.py \
	tests/scenarios/test_mechanism_scenarios.py tests/scenarios/test_smp_ipi.py \
	tests/unit/test_engine_vec.py tests/unit/test_sections.py tests/unit/test_hot_path.py \
	tests/scenarios/test_net_busypoll.py tests/scenarios/test_net_napi.py \
	tests/scenarios/test_net_numa.py tests/scenarios/test_net_tx.py tests/scenarios/test_nic10g.py \
	tests/scenarios/test_experiment_keys.py tests/unit/test_softirq.py tests/unit/test_dim.py \
	tests/unit/test_moderation.py tests/unit/test_config_space.py tests/guest/test_guest.py \
	tests/unit/test_system_memory.py tests/unit/test_done_instants.py \
	tests/unit/test_rules.py tests/unit/test_trace_kinds.py
$(COMPILED)/.built: $(STAMP) $(wildcard src/irqsim/*/*.py) src/irqsim/sim/_nheap.c \
		bench/build_compiled.py bench/build_native.py bench/pgo_train.py
	$(BIN)/python bench/build_compiled.py --out $(COMPILED)
	touch $@

compiled: $(COMPILED)/.built

# The tests that exercise the hot path, against the compiled modules (same results).
test-compiled: $(COMPILED)/.built
	IRQSIM_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED) $(BIN)/pytest -n 2 -p no:cacheprovider \
		$(COMPILED_TESTS)

bench-compiled: $(COMPILED)/.built
	PYTHONPATH=$(COMPILED) $(BIN)/python bench/bench_msix.py

# The prototype native engine (bench/native/cengine.c) against the plain and compiled engine:
# instructions per event under callgrind (needs valgrind and a C compiler).
bench-native: $(STAMP)
	PYTHONPATH=src $(BIN)/python bench/bench_native.py

# Long guest-operation fuzz (docs/reliability.md): IRQSIM_FUZZ_OPS operations (default 10
# million), IRQSIM_FUZZ_SEED; prints operations, crashes and ledger violations.
IRQSIM_FUZZ_OPS ?= 10000000
IRQSIM_FUZZ_SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/long_fuzz.py --ops $(IRQSIM_FUZZ_OPS) --seed $(IRQSIM_FUZZ_SEED)

# Coverage-guided fuzz of the dump readers with atheris (optional, installed here only).
FUZZ_SECONDS ?= 120
fuzz-dumps: $(STAMP)
	$(BIN)/pip install --quiet -e '.[fuzz]'
	$(BIN)/python tests/fuzz/atheris_dumps.py tests/fuzz/corpus/dumps \
		-max_total_time=$(FUZZ_SECONDS) -max_len=8192

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/irqsim/sim/_nheap*.so
