# One virtualenv, created on first use. `make demo` builds a bundle; `make test` runs everything CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test quick lint types pytest bench bench-validate bench-archive bench-progress clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job: validate every example profile, then build the Windows one into ./out/.
demo: $(STAMP)
	$(BIN)/osbundle validate profiles/
	SOURCE_DATE_EPOCH=1700000000 $(BIN)/osbundle build profiles/windows-2016-datacenter -o out --force
	$(BIN)/osbundle verify out/20231114221320_Custom-2016-datacenter-profile.tar.gz

lint: $(STAMP)
	$(BIN)/ruff check osbundle tests bench
	$(BIN)/ruff format --check osbundle tests bench

types: $(STAMP)
	$(BIN)/mypy --strict

pytest: $(STAMP)
	$(BIN)/pytest -q --run-slow

# Everything CI runs: lint, types, the whole test suite including slow tests.
test: lint types pytest

# Fast inner loop: no slow tests.
quick: $(STAMP)
	$(BIN)/pytest -q -x

bench: bench-validate bench-archive bench-progress

bench-validate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/validate_bench.py

bench-archive: $(STAMP)
	$(BIN)/python bench/archive_bench.py

bench-progress: $(STAMP)
	$(BIN)/python bench/progress_overhead.py

clean:
	rm -rf $(VENV) out dist build .pytest_cache .mypy_cache .ruff_cache
