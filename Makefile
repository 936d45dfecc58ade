# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv with pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# compile the timing engine once (numba caches the machine code next to the source)
	$(BIN)/swallowtail kernel --op butterfly --n 16 --rows 1 > /dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/swallowtail demo
	$(BIN)/swallowtail reproduce --quick --out reproduce-out

test: $(STAMP)
	$(BIN)/python -m pytest -x -p no:cacheprovider tests

# style (ruff) and dead code (vulture: its paths and the names used only dynamically are in pyproject.toml
# [tool.vulture] and tools/vulture_whitelist.py)
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/vulture

bench: $(STAMP)
	for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b $$( [ $$b = benchmarks/accuracy_bench.py ] && echo --quick ) || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
