# edge-deblur: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-all lint format models bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/edge-deblur demo --out demo-out --force

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: venv lint
	$(BIN)/python -m pytest -m "not slow" -q

test-all: venv lint
	$(BIN)/python -m pytest -q

# Retrain and reconvert the bundled models from ../shared/data (hours on 2 cores; resumable).
models: venv
	bash benchmarks/scripts/make_models.sh

clean:
	rm -rf demo-out .pytest_cache build *.egg-info
