# The README's two commands: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision pinned to the builds that install from local disk on the dev machines (and that the
# test suite runs on); pyproject.toml takes open ranges with the oldest supported versions as floors.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test docs install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PINS)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/python -m zoo.demo

# One pytest worker per core (pytest-xdist), a test file per worker so module fixtures train once:
# 6.5 min instead of 11.5 on the 2-core machine.
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The site in site/, strict: a broken link or a page missing from disk fails the build.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

bench: $(VENV)/.installed-dev
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf runs site .pytest_cache
