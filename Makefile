# `make run` and `make test` set up .venv on first use. torch is installed first, pinned to the
# CPU build that lies on these machines' disk: an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check docs bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cockpit presets/cartpole.toml

# Lint, format, types and import layers first (seconds), then the suite on two workers.
test: check
	$(BIN)/python -m pytest -n 2

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/python scripts/config_reference.py
	$(BIN)/python scripts/screenshot.py

bench: $(STAMP)
	$(BIN)/python bench/train_preset.py presets/cartpole.toml --seeds 5

clean:
	rm -rf $(VENV) build *.egg-info
