# csml_mm: two commands. `make demo` runs the main job, `make test` the test suite;
# both set the environment up first (see tools/setup_env.sh for the switches).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/wcl/wcl_resnet18-w16_1xb128-coslr-7e_fmnist.py
# used when Fashion-MNIST is not installed (no root / no apt-get)
DEMO_FALLBACK_CONFIG ?= configs/csml/csml_resnet18-w16_1xb64-coslr-12e_digits.py
DEMO_WORK_DIR ?= work_dirs/demo
PYTEST_ARGS ?=

.PHONY: setup setup-det setup-lite demo test test-fast lint format bench-quality bench-speed bench-transfer bench-own-data clean-venv help

help:
	@echo "make setup  - create .venv with the main job's stack (mmcv-lite: no build; about 3-5 min)"
	@echo "make setup-det - add detection: mmcv's compiled ops (built once, cached) and mmdet"
	@echo "make setup-lite - back to the main job's stack (removes the compiled mmcv and mmdet)"
	@echo "make demo   - pretrain on Fashion-MNIST and print kNN top-1 vs random init (5-12 min)"
	@echo "make test   - run the whole test suite (what CI runs)"
	@echo "make test-fast - the unit tier: tests without the slow marker (no training runs, no child processes)"
	@echo "make lint   - ruff format --check and ruff check over the tree"
	@echo "make format - ruff format and the safe ruff fixes, in place"
	@echo "make bench-quality - the quality table (docs/results/quality.md); hours on a CPU, resumable"
	@echo "make bench-speed - step time, runner vs plain PyTorch, every method (docs/results/speed.md); SPEED_ARGS=--quick for seconds"
	@echo "make bench-transfer - the transfer table (docs/results/transfer.md); hours on a CPU, resumable"
	@echo "make bench-own-data - the small _folder recipes on real clip art (docs/results/own_data.md); needs openclipart-png, about 1.5 h on 2 cores"

setup:
	@bash tools/setup_env.sh

setup-det:
	@bash tools/setup_env.sh det

setup-lite:
	@bash tools/setup_env.sh lite

demo: setup
	@$(PY) tools/demo.py --config $(DEMO_CONFIG) --fallback-config $(DEMO_FALLBACK_CONFIG) \
		--work-dir $(DEMO_WORK_DIR)

BENCH_ARGS ?=
bench-quality: setup
	@$(PY) tools/benchmarks/bench_quality.py $(BENCH_ARGS)

SPEED_ARGS ?=
bench-speed: setup
	@$(PY) tools/benchmarks/bench_speed.py $(SPEED_ARGS)

TRANSFER_ARGS ?=
bench-transfer: setup-det
	@$(PY) tools/benchmarks/bench_transfer.py $(TRANSFER_ARGS)

bench-own-data: setup
	@PYTHON=$(PY) bash tools/benchmarks/own_data_walkthrough.sh
	@$(PY) tools/benchmarks/report_own_data.py

test: setup-det
	@$(PY) -m pytest tests $(PYTEST_ARGS)

# the unit tier, on the same stack as make test
test-fast: setup-det
	@$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

# ruff comes with the environment (requirements/pins.txt); set it up only when it is missing
$(VENV)/bin/ruff:
	@bash tools/setup_env.sh

lint: $(VENV)/bin/ruff
	@$(VENV)/bin/ruff format --check --diff .
	@$(VENV)/bin/ruff check .

format: $(VENV)/bin/ruff
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
