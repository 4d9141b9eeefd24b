# admodes: `make test` and `make bench` each set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test bench bench-quick bench-sparse bench-micro check-perf generate lint format clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# the cost model's constants are fitted first, on this machine, and used by the whole run
CAL := $(CURDIR)/reports/cost_calibration.json

bench: $(STAMP)
	$(PY) -m bench calibrate --out reports
	AD_COST_CALIBRATION=$(CAL) $(PY) -m bench sweep
	AD_COST_CALIBRATION=$(CAL) $(PY) -m bench plot
	AD_COST_CALIBRATION=$(CAL) $(PY) -m bench report

bench-quick: $(STAMP)
	$(PY) -m bench sweep --quick --out reports/quick
	$(PY) -m bench plot --out reports/quick
	$(PY) -m bench report --out reports/quick

# the sparse family (coloured Jacobians, JAX, asdex, sparsejac, scipy) into reports/sparse/
SPARSE_CAL := $(CURDIR)/reports/sparse/cost_calibration.json

bench-sparse: $(STAMP)
	$(PY) -m bench calibrate --out reports/sparse
	AD_COST_CALIBRATION=$(SPARSE_CAL) $(PY) -m bench sweep --problems sparse --engines sparse --out reports/sparse
	AD_COST_CALIBRATION=$(SPARSE_CAL) $(PY) -m bench plot --out reports/sparse
	AD_COST_CALIBRATION=$(SPARSE_CAL) $(PY) -m bench report --out reports/sparse

# micro-benchmarks of the sweeps, saved under reports/micro/ for `pytest --benchmark-compare`
bench-micro: $(STAMP)
	$(PY) -m pytest bench/micro -p no:cacheprovider --benchmark-storage=file://reports/micro \
		--benchmark-autosave --benchmark-json=reports/micro/latest.json
	$(PY) -m bench.micro.ratios reports/micro/latest.json

check-perf: $(STAMP)
	$(PY) -m bench check

# rewrite ad/kernels/sweeps.py from the instruction table (after adding a kernel entry)
generate: $(STAMP)
	$(PY) -m ad.kernels.generate

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build *.egg-info
