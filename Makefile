# Two commands from a fresh clone: `make demo` and `make test`. Everything installs from uv.lock into .venv.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile every installed module once at install: where PYTHONDONTWRITEBYTECODE is set, nothing is ever cached,
# and each command would compile spaCy, Prefect and the rest again on start (~0.7 s of `pantau classify` alone).
export UV_COMPILE_BYTECODE := 1

.PHONY: install demo test lint bench clean docs

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.synced ## set up .venv from the lock file

demo: install ## replay the sample data through one nightly run and show the review queue
	$(VENV)/bin/pantau demo

lint: install ## ruff and the import-layer contract
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: lint ## run the whole test suite (lint and layer contract included)
	$(VENV)/bin/pytest

bench: install ## print the benchmark table
	$(VENV)/bin/python -m tests.benchmarks

clean:
	rm -rf $(VENV) $(TOOLS) data bench-data .pytest_cache

docs: install ## regenerate the README's settings table and CLI reference
	$(VENV)/bin/python -m tests.docs
