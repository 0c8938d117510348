# Two entry points: `make demo` runs irqsim's main job, `make test` runs every test.
# Each creates .venv in the checkout and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/irqsim demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2

bench: $(STAMP)
	$(BIN)/python bench/bench_msix.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
