"""Micro-benchmarks of the compiled sweeps (issue 3); not part of ``make test``.

Run single-threaded, pinned to one core, and print the ratios against the targets::

    taskset -c 0 .venv/bin/python -m pytest bench/micro --benchmark-json=/tmp/micro.json
    .venv/bin/python -m bench.micro.ratios /tmp/micro.json

The process pins itself to one core here as well (os.sched_setaffinity), before NumPy
or Numba start any thread. Absolute times on a shared machine drift; the ratios to
the primal sweep, measured in the same run, are what the targets are about.
"""

from __future__ import annotations

import os
import time

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bench.micro.workload import random_workload  # noqa: E402


@pytest.fixture(autouse=True)
def cpu_share(request):
    """Record CPU time / wall time of each benchmark test as ``extra_info["cpu_share"]``.

    Pinned to one core, the process can use at most 1.0 of it; a lower share means
    another process ran on the core meanwhile, and ``ratios.py`` flags that benchmark.
    """
    if "benchmark" not in request.fixturenames:
        yield
        return
    bench = request.getfixturevalue("benchmark")
    c0, w0 = time.process_time(), time.perf_counter()
    yield
    bench.extra_info["cpu_share"] = (time.process_time() - c0) / (time.perf_counter() - w0)


@pytest.fixture(scope="session")
def workload():
    """(graph, program, workspace, x) for n = 10, m = 1, T = 100,000, lowered, with
    the inputs loaded into the workspace, and warmed up."""
    import ad
    from ad.kernels import run

    g = random_workload(10, 1)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 10)
    prog = run.compile(g)
    # load every sweep (from the disk cache) before anything is timed: a first call
    # inside pytest-benchmark's calibration made it pick 7 rounds for test_forward_sweep
    g(x)
    ad.forward.jvp(g, x, np.ones(10))
    ad.reverse.gradient(g, x)
    ws = prog.acquire()
    prog.load(ws, [x])
    return g, prog, ws, x
