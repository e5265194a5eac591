# cosem-reader — everything a developer or a new user runs.
# `make demo` and `make test` work on a fresh machine with Python 3.11+ and make:
# they create .venv and install what they need first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

DEMO_CAPTURE := src/cosem_reader/demo/kaifa-ma309m-demo.bin
DEMO_KEY     := 000102030405060708090A0B0C0D0E0F

.PHONY: install generate check-generated test lint demo demo-capture bench fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cosem-reader needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,gurux]'
	@touch $(STAMP)

generate: $(STAMP)
	$(PY) -m codegen.generate

check-generated: $(STAMP)
	$(PY) -m codegen.generate --check

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src codegen tests
	$(VENV)/bin/mypy --strict src codegen

demo: $(STAMP)
	@echo "== cosem-reader read: the daemon on the bundled demo capture (demo data, demo key) =="
	@$(VENV)/bin/cosem-reader read --replay $(DEMO_CAPTURE) --key $(DEMO_KEY) --timezone Europe/Vienna --format line
	@echo
	@echo "== cosem-reader decode --format text: every reading of the same capture =="
	@$(VENV)/bin/cosem-reader decode --format text --timezone Europe/Vienna --key $(DEMO_KEY) $(DEMO_CAPTURE)

# Rewrites the bundled demo capture with the project's own encoder.
demo-capture: $(STAMP)
	$(PY) -m tests.support.make_demo $(DEMO_CAPTURE)

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run.py

# Long fuzz run: 100,000 inputs per target, 1.4 million in all (about 40 minutes).
fuzz: $(STAMP)
	COSEM_READER_FUZZ_EXAMPLES=100000 $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
