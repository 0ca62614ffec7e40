# csml_mm: two commands. `make demo` runs the main job, `make test` the test suite;
# both set the environment up first (see tools/setup_env.sh for the switches).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/csml/csml_resnet18-w16_1xb64-coslr-12e_digits.py
DEMO_WORK_DIR ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast clean-venv help

help:
	@echo "make setup  - create .venv and install the pinned stack (builds mmcv once, cached)"
	@echo "make demo   - pretrain on the embedded digits data and print kNN top-1 vs random init"
	@echo "make test   - run the whole test suite"

setup:
	@bash tools/setup_env.sh

demo: setup
	@$(PY) tools/demo.py --config $(DEMO_CONFIG) --work-dir $(DEMO_WORK_DIR)

test: setup
	@$(PY) -m pytest tests $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
