# Two commands: `make demo` (synthetic data -> faces -> ... -> app) and `make test` (the whole suite).
# Each does its own set-up on a fresh machine: venv, pinned pip packages, Debian packages.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo

.PHONY: setup system demo test bench clean

setup: $(STAMP)

# Debian's chromium (browser tests) and postgresql (the API suite also runs on a real server).
system:
	bash scripts/setup-system.sh

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[train,dev,fed]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/neopain demo --out $(DEMO_DIR)

test: setup system
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/train_throughput.py --device cpu --steps 5

clean:
	rm -rf $(VENV) .pytest_cache .cache
