# cosem-reader — everything a developer or a new user runs.
# `make demo` and `make test` work on a fresh machine with Python 3.11+ and make:
# they create .venv and install what they need first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Two stamps: the run-time install is all `make demo` needs; the test and lint
# tools come with the dev stamp.
RUN_STAMP := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

.PHONY: install generate check-generated test lint demo demo-capture dist image image-test \
	bench fuzz clean

install: $(STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cosem-reader needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,gurux]'
	@touch $(RUN_STAMP) $(STAMP)

generate: $(STAMP)
	$(PY) -m codegen.generate

check-generated: $(STAMP)
	$(PY) -m codegen.generate --check

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src codegen tests ha-addon
	$(VENV)/bin/mypy --strict src codegen ha-addon/cosem-reader/run.py

demo: $(RUN_STAMP)
	@echo "== cosem-reader read --demo: the daemon on the bundled demo capture (demo data, demo key) =="
	@$(VENV)/bin/cosem-reader read --demo --format line
	@echo
	@echo "== cosem-reader decode --demo --format text: every reading of the same capture =="
	@$(VENV)/bin/cosem-reader decode --demo --format text

# The sdist and the wheel in dist/, checked as PyPI would check them.
dist: $(RUN_STAMP)
	$(PY) -m pip install --quiet build twine
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

# Rewrites the bundled demo capture with the project's own encoder.
demo-capture: $(STAMP)
	$(PY) -m tests.support.make_demo src/cosem_reader/demo/kaifa-ma309m-demo.bin

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run.py

# Long fuzz run: 100,000 inputs per target, 1.4 million in all (about 40 minutes).
fuzz: $(STAMP)
	COSEM_READER_FUZZ_EXAMPLES=100000 $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
