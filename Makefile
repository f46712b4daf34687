# iovmodel: `make demo` and `make test` work on a machine with only Python 3.11 and make.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lab bench paper clean venv

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@# build the simulator's kernels ahead of time (numba.pycc; needs a C compiler) and fill
	@# numba's JIT cache, the fallback: the first iov.simulate() of a process then only loads
	@# them (iovmodel.solve.sim.precompile, iovmodel.solve.sim.aot)
	$(PY) -c "import iovmodel.solve.sim as s, iovmodel.solve.sim.aot as a; t = s.precompile(); print(f'simulator kernels compiled in {t:.1f} s ({a.engine_kind()} kernels in use)')"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/iovmodel report

test: $(STAMP)
	$(VENV)/bin/ruff check iovmodel tests benchmarks paper
	$(PY) -m pytest -n 2 -q -m "not kvm"
	@# the /dev/kvm timing tests run alone: a second worker's load would distort their clocks
	$(PY) -m pytest -q -m kvm

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/bench_analytic.py
	$(PY) benchmarks/bench_sim.py
	$(PY) benchmarks/bench_layered.py --quick
	$(PY) benchmarks/bench_p01.py

paper: $(STAMP)
	$(PY) paper/build.py --overwrite

clean:
	rm -rf $(VENV) out build *.egg-info
