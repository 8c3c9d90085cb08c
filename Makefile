# Two commands do everything from a fresh clone:
#   make report   build .venv, install, run the study in events.yaml, write reports/<study>/
#   make test     build .venv, install, run the full test suite
#   make report-sectors   the second study (studies/tokyo-sectors.yaml), written to reports/tokyo-sectors/
# SNAPSHOT defaults to ../shared/prices when it exists; without it prices come from Yahoo Finance.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SNAPSHOT ?= $(if $(wildcard ../shared/prices/manifest.json),$(abspath ../shared/prices),)
EVENTS ?= events.yaml
OUT ?= reports/tariffs-2025
SECTORS_OUT ?= reports/tokyo-sectors
SNAPSHOT_FLAG := $(if $(SNAPSHOT),--snapshot $(SNAPSHOT),)
export EVENTSTUDY_SNAPSHOT := $(SNAPSHOT)

.PHONY: install report report-sectors test lint bench size-power clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,notebooks]"
	touch $@

install: $(BIN)/.installed

report: install
	$(BIN)/eventstudy run $(EVENTS) $(SNAPSHOT_FLAG) --out $(OUT)

report-sectors: install
	$(BIN)/eventstudy run studies/tokyo-sectors.yaml $(SNAPSHOT_FLAG) --out $(SECTORS_OUT)

test: install
	$(BIN)/python -m pytest -n 2

lint: install
	$(BIN)/ruff check eventstudy tests benchmarks

# make bench BENCH_ARGS="--scaling full" for every scaling cell (docs/performance.md)
bench: install
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/bench.py $(SNAPSHOT_FLAG) $(BENCH_ARGS)

size-power: install
	$(BIN)/python benchmarks/size_power.py $(SNAPSHOT_FLAG)

clean:
	rm -rf $(VENV) .pytest_cache reports
