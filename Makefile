# Two entry points: `make demo` runs irqsim's main job, `make test` runs every test.
# Each creates .venv in the checkout and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz fuzz-dumps clean

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
	rm -rf $(VENV) build *.egg-info src/*.egg-info
