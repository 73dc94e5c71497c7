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
# about 6 min on the 2-core machine (8.2 min before the success-path commands ran in-process; 11.5 on one worker).
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The site in site/, strict: a broken link or a page missing from disk fails the build.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

# Every script in benchmarks/ at a budget that fits the whole in 30 minutes on 2 CPU cores, each printing its
# table and its time. A script's own defaults (its docstring) are the full measurements that docs/results.md
# and docs/benchmarks.md report; quality.py's full run (the results table, hours) is
# `python benchmarks/quality.py`, here only its smoke budget. tests/test_benchmarks.py checks that every
# script is listed.
BENCH_RUNS := \
	"throughput.py --families autoencoder vae dcgan wgan_gp pix2pix --repeats 1 --steps 20 --warmup 3 --epochs 6" \
	"dcgan_throughput.py --repeats 1 --steps 10" \
	"export_speed.py --repeats 3" \
	"fid_cost.py --epochs 2 --limit-batches 20" \
	"gan_fid.py --steps 150" \
	"one_class_digits.py --digits 0 3 --epochs 15" \
	"denoising_digits.py --epochs 3" \
	"reduction_digits.py --epochs 3" \
	"augmentation_digits.py --epochs 3 dcgan=2 --steps 400 --seeds 1" \
	"super_resolution_digits.py --steps 200" \
	"quality.py --quick"

bench: $(VENV)/.installed-dev
	@start=$$(date +%s); for run in $(BENCH_RUNS); do \
		began=$$(date +%s); echo "== benchmarks/$$run"; $(BIN)/python benchmarks/$$run || exit 1; \
		echo "== benchmarks/$$run: $$(( $$(date +%s) - began )) s"; done; \
	echo "make bench: $$(( $$(date +%s) - start )) s in all (budget: 1800 s on 2 CPU cores)"

clean:
	rm -rf runs site .pytest_cache
