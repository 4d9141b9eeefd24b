"""pytest-benchmark timings of each sweep on the random T = 100,000 scalar program.

Kernel-level benchmarks call the Numba sweeps on the lowered program directly (the
quantity the per-op targets are about); the API-level ones go through ``ad`` as a
user would. ``ratios.py`` turns the saved JSON into the table of ratios vs targets.
"""

from __future__ import annotations

import numpy as np
import pytest

import ad
from ad.kernels.sweeps import forward_sweep, primal_sweep, reverse_sweep
from bench.micro.workload import T, random_workload


def _seeded(prog, ws, p):
    """The partials buffer with the input rows seeded by the first p unit vectors."""
    P = ws.duals("forward", p)
    off, size, _ = prog.inputs[0]
    P[off : off + size] = 0.0
    for r in range(min(p, size)):
        P[off + r, r] = 1.0
    return P


def test_primal_sweep(benchmark, workload):
    g, prog, ws, x = workload
    benchmark.extra_info.update(T=T, what="primal")
    args = (prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, ws.work, True)
    benchmark(primal_sweep, *args)


@pytest.mark.parametrize("p", [1, 32])
def test_forward_sweep(benchmark, workload, p):
    g, prog, ws, x = workload
    P = _seeded(prog, ws, p)
    benchmark.extra_info.update(T=T, p=p, what="forward")
    args = (prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, P, ws.work)
    benchmark(forward_sweep, *args)


@pytest.mark.parametrize("q", [1, 32])
def test_gradient_record_and_adjoint(benchmark, workload, q):
    """One recording sweep plus one adjoint sweep with q cotangents."""
    g, prog, ws, x = workload
    A = ws.duals("reverse", q)
    out = prog.outputs[0][0]

    def record_and_pull_back():
        primal_sweep(prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, ws.work, True)
        A.fill(0.0)
        A[out] = 1.0
        return reverse_sweep(
            prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, A, ws.work
        )

    benchmark.extra_info.update(T=T, q=q, what="gradient")
    benchmark(record_and_pull_back)


def test_api_gradient_end_to_end(benchmark, workload):
    """ad.reverse.gradient on the lowered graph (every call records and pulls back)."""
    g, prog, ws, x = workload
    benchmark.extra_info.update(T=T, what="api gradient")
    benchmark(ad.reverse.gradient, g, x, engine="compiled")


@pytest.mark.parametrize("n, m", [(100, 1), (1, 100)])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_chunk_1(benchmark, n, m, mode):
    """Full Jacobian, one direction per sweep: n x O(T) forward vs m x O(T) reverse
    (the reverse Jacobian records once per call, then runs m adjoint sweeps)."""
    g = random_workload(n, m)
    x = np.random.default_rng(1).uniform(-1.0, 1.0, n)
    engine = ad.forward if mode == "forward" else ad.reverse
    engine.jacobian(g, x, chunk=1, engine="compiled")  # lower and warm up
    benchmark.extra_info.update(T=T, n=n, m=m, mode=mode, what="jacobian")
    benchmark.pedantic(
        engine.jacobian, args=(g, x), kwargs={"chunk": 1, "engine": "compiled"}, rounds=5,
        warmup_rounds=1,
    )  # fmt: skip


def test_tiny_gradient_end_to_end(benchmark):
    """A compiled gradient of a T < 10 function on a lowered graph, end to end."""
    x = np.array([0.3, 0.7])
    g = ad.trace(lambda x: np.sin(x[0]) * x[1] + np.tanh(x[1]), x)
    assert len(g) < 10
    ad.reverse.gradient(g, x, engine="compiled")
    benchmark.extra_info.update(nodes=len(g), what="tiny gradient")
    benchmark(ad.reverse.gradient, g, x, engine="compiled")


def test_tape_memory(benchmark, workload):
    """Tape bytes over 8 x (number of scalar values); recorded, not timed."""
    g, prog, ws, x = workload
    values = sum(v.size for v in g.variables())
    ratio = ad.reverse.tape_bytes(g) / (8 * values)
    benchmark.extra_info.update(
        tape_bytes=ad.reverse.tape_bytes(g), scalar_values=values, ratio=ratio, what="tape"
    )
    benchmark(ad.reverse.tape_bytes, g)
    assert ratio <= 1.5
