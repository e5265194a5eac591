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
	$(VENV)/bin/mypy --strict src codegen tests ha-addon/cosem-reader/run.py
	$(VENV)/bin/lint-imports

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

# The image and the add-on image, built on a Debian stand-in for their base images
# (no registry needed; packaging/container/standin-base.sh), then run against a pty
# meter and a broker. Needs podman, runc and debootstrap (apt-get install podman runc
# debootstrap). runc, not crun: Debian 12's crun refuses hosts with hybrid cgroups.
# The ulimits: without CAP_SYS_RESOURCE podman's default limits cannot be set.
PODMAN          ?= podman --runtime runc
PODMAN_RUN_OPTS ?= --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
STANDIN_BASE    := localhost/cosem-reader-standin-base:bookworm
ADDON           := ha-addon/cosem-reader

image-test: $(STAMP)
	packaging/container/standin-base.sh $(STANDIN_BASE)
	$(PODMAN) build --build-arg BASE=$(STANDIN_BASE) -t localhost/cosem-reader:test .
	rm -f $(ADDON)/wheels/*.whl
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(ADDON)/wheels .
	$(PODMAN) build --build-arg BUILD_FROM=$(STANDIN_BASE) -t localhost/cosem-reader-addon:test $(ADDON)
	rm -f $(ADDON)/wheels/*.whl
	COSEM_READER_TEST_IMAGE=localhost/cosem-reader:test \
	COSEM_READER_TEST_ADDON_IMAGE=localhost/cosem-reader-addon:test \
	COSEM_READER_TEST_PODMAN="$(PODMAN)" COSEM_READER_TEST_RUN_OPTIONS="$(PODMAN_RUN_OPTS)" \
	$(PY) -m pytest -q -rs -k image tests/packaging/test_packaging.py tests/packaging/test_addon.py

# Rewrites the bundled demo capture with the project's own encoder.
demo-capture: $(STAMP)
	$(PY) -m tests.support.make_demo src/cosem_reader/demo/kaifa-ma309m-demo.bin

# BENCH_ARGS picks what runs, e.g. `make bench BENCH_ARGS="--only bigcapture --big-mb 50"`.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

# Long fuzz run: 100,000 inputs per target, 1.4 million in all (about 40 minutes).
fuzz: $(STAMP)
	COSEM_READER_FUZZ_EXAMPLES=100000 $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		$(ADDON)/wheels/*.whl
