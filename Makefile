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
	$(BIN)/python -m zoo.commands.demo

# One pytest worker per core (pytest-xdist), a test file per worker so module fixtures train once:
# about 7 min on the 2-core machine (8.2 min before the success-path commands ran in-process; 11.5 on one worker).
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The site in site/, strict: a broken link or a page missing from disk fails the build.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

# Every script in benchmarks/ (helpers without a __main__ are skipped) with its default budget, each
# printing its table and its time; the whole is meant to fit in 30 minutes on 2 CPU cores.
bench: $(VENV)/.installed-dev
	@start=$$(date +%s); for script in $$(grep -l '^if __name__ == "__main__":' benchmarks/*.py); do \
		began=$$(date +%s); echo "== $$script"; $(BIN)/python $$script || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - began )) s"; done; \
	echo "make bench: $$(( $$(date +%s) - start )) s in all (budget: 1800 s on 2 CPU cores)"

clean:
	rm -rf runs site .pytest_cache
