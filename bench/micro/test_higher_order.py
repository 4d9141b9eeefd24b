"""pytest-benchmark timings of second derivatives on the extended Rosenbrock function
(issue 5), with JAX's in the same run.

What is timed, each end to end from Python as a user calls it (n in ROSENBROCK_N):

- ``primal``: the compiled ``graph(x)`` on the traced graph;
- ``gradient``: ``ad.reverse.gradient(graph, x)`` (recording + adjoint sweep);
- ``hvp``: one forward sweep (p = 1) over the recorded gradient,
  ``ad.forward.jvp(G, x, v)`` with ``G = ad.reverse.gradient_graph(graph, x)``:
  forward over reverse, the Graph lowered once;
- ``hessian[chunk]`` at n = HESSIAN_N: ``ad.forward.jacobian(G, x, chunk)``,
  ceil(n / chunk) sweeps of ``chunk`` directions (``default`` = ``pick_chunk(n)``);
- ``hessian_end_to_end``: ``ad.hessian(f)(x)``, which traces f and its reverse sweep
  again on every call, then lowers the new Graph and sweeps it; ``hessian_trace`` and
  ``hessian_lower`` time its first two stages alone;
- JAX: ``jax.jit(f)``, ``jax.jit(jax.hessian(f))`` and a jitted hvp (``jvp`` of
  ``grad``), float64, compiled before timing, ``block_until_ready`` in the timed call.

``ratios.py`` prints t(hvp) / t(f) (target <= 6), t(hessian) / (n t(f)) and the chunk
comparison from the saved JSON. The process is pinned to one core by ``conftest.py``
before NumPy or JAX is imported; ``test_single_threaded`` records CPU time over wall
time of a large matrix product in both libraries to show it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import ad
from ad.kernels import run
from bench.micro.workload import HESSIAN_N, ROSENBROCK_N, rosenbrock, rosenbrock_point

#: Chunk widths of the Hessian benchmark (None = the default rule, 12 at n = 100).
CHUNKS = (None, 1, 8, 12, 25, 100)


@pytest.fixture(scope="module", params=ROSENBROCK_N, ids=lambda n: f"n={n}")
def rosen(request):
    """(n, graph, gradient graph G, x, v), lowered and run once (compiled, warm)."""
    n = request.param
    x, v = rosenbrock_point(n)
    graph = ad.trace(rosenbrock, x)
    G = ad.reverse.gradient_graph(graph, x)
    graph(x)
    ad.reverse.gradient(graph, x)
    ad.forward.jvp(G, x, v)
    return n, graph, G, x, v


@pytest.fixture(scope="module")
def rosen_hessian():
    """(graph, G, x) at n = HESSIAN_N, with every chunk width's buffer warm."""
    x, _ = rosenbrock_point(HESSIAN_N)
    graph = ad.trace(rosenbrock, x)
    G = ad.reverse.gradient_graph(graph, x)
    for c in CHUNKS:
        ad.forward.jacobian(G, x, chunk=c)
    return graph, G, x


def test_rosenbrock_primal(benchmark, rosen):
    n, graph, G, x, v = rosen
    benchmark.extra_info.update(n=n, what="primal", instructions=len(graph.eqns))
    benchmark(graph, x)


def test_rosenbrock_gradient(benchmark, rosen):
    n, graph, G, x, v = rosen
    benchmark.extra_info.update(n=n, what="gradient")
    benchmark(ad.reverse.gradient, graph, x)


def test_rosenbrock_hvp(benchmark, rosen):
    n, graph, G, x, v = rosen
    Hv = ad.forward.jvp(G, x, v)[1]
    H = ad.forward.jacobian(G, x)
    np.testing.assert_allclose(Hv, H @ v, rtol=1e-12, atol=1e-12 * np.abs(H).max())
    benchmark.extra_info.update(n=n, what="hvp", instructions=len(G.eqns))
    benchmark(ad.forward.jvp, G, x, v)


@pytest.mark.parametrize("chunk", CHUNKS, ids=lambda c: "default" if c is None else str(c))
def test_rosenbrock_hessian(benchmark, rosen_hessian, chunk):
    graph, G, x = rosen_hessian
    from ad.engine import pick_chunk

    width = pick_chunk(HESSIAN_N) if chunk is None else chunk
    benchmark.extra_info.update(n=HESSIAN_N, chunk=width, what="hessian")
    benchmark(ad.forward.jacobian, G, x, chunk)


def test_hessian_end_to_end(benchmark):
    """ad.hessian(f)(x): trace f and its reverse sweep, lower, then the chunked sweeps."""
    x, _ = rosenbrock_point(HESSIAN_N)
    hess = ad.hessian(rosenbrock)
    H = hess(x)
    graph = ad.trace(rosenbrock, x)
    np.testing.assert_allclose(H, ad.forward.jacobian(ad.reverse.gradient_graph(graph, x), x))
    benchmark.extra_info.update(n=HESSIAN_N, what="hessian end to end")
    benchmark(hess, x)


def test_hessian_trace(benchmark):
    """The first stage of ad.hessian alone: tracing f and its (reference) reverse sweep."""
    x, _ = rosenbrock_point(HESSIAN_N)
    grad_f = ad.jacrev(rosenbrock, engine="reference")
    benchmark.extra_info.update(n=HESSIAN_N, what="hessian trace")
    G = benchmark(ad.trace, grad_f, x)
    benchmark.extra_info.update(nodes=len(G.eqns))


def test_hessian_lower(benchmark):
    """The second stage of ad.hessian alone: lowering + validating a new gradient Graph."""
    x, _ = rosenbrock_point(HESSIAN_N)
    grad_f = ad.jacrev(rosenbrock, engine="reference")

    def fresh_graph():
        return (ad.trace(grad_f, x),), {}

    benchmark.extra_info.update(n=HESSIAN_N, what="hessian lower")
    benchmark.pedantic(run.compile, setup=fresh_graph, rounds=200, warmup_rounds=5)


# -- JAX, the reference peer, on the same inputs in the same run ----------------------


@pytest.fixture(scope="module")
def jax_fns():
    """Jitted f, hvp (jvp of grad) and Hessian in float64."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(x):
        return rosenbrock(x, jnp)

    def hvp(x, v):
        return jax.jvp(jax.grad(f), (x,), (v,))[1]

    return jax, jax.jit(f), jax.jit(hvp), jax.jit(jax.hessian(f))


@pytest.fixture(scope="module", params=ROSENBROCK_N, ids=lambda n: f"n={n}")
def jax_point(request, jax_fns):
    jax = jax_fns[0]
    x, v = rosenbrock_point(request.param)
    return request.param, jax.device_put(x), jax.device_put(v), x, v


def test_jax_rosenbrock_primal(benchmark, jax_fns, jax_point):
    _, f, _, _ = jax_fns
    n, xj, vj, x, v = jax_point
    assert float(f(xj)) == pytest.approx(float(rosenbrock(x)), rel=1e-13)
    benchmark.extra_info.update(n=n, what="jax primal")
    benchmark(lambda: f(xj).block_until_ready())


def test_jax_rosenbrock_hvp(benchmark, jax_fns, jax_point):
    _, _, hvp, _ = jax_fns
    n, xj, vj, x, v = jax_point
    G = ad.reverse.gradient_graph(ad.trace(rosenbrock, x), x)
    np.testing.assert_allclose(np.asarray(hvp(xj, vj)), ad.forward.jvp(G, x, v)[1], rtol=1e-11)
    benchmark.extra_info.update(n=n, what="jax hvp")
    benchmark(lambda: hvp(xj, vj).block_until_ready())


def test_jax_rosenbrock_hessian(benchmark, jax_fns):
    jax, _, _, hess = jax_fns
    x, _ = rosenbrock_point(HESSIAN_N)
    xj = jax.device_put(x)
    G = ad.reverse.gradient_graph(ad.trace(rosenbrock, x), x)
    np.testing.assert_allclose(np.asarray(hess(xj)), ad.forward.jacobian(G, x), rtol=1e-12)
    benchmark.extra_info.update(n=HESSIAN_N, what="jax hessian")
    benchmark(lambda: hess(xj).block_until_ready())


def test_single_threaded(benchmark, jax_fns):
    """CPU time / wall time of a 1500 x 1500 matrix product, NumPy and JAX (1.0 = one core)."""
    jax = jax_fns[0]
    a = np.random.default_rng(0).standard_normal((1500, 1500))
    aj = jax.device_put(a)
    (aj @ aj).block_until_ready()

    def cpu_over_wall(fn):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(3):
            fn()
        return (time.process_time() - c0) / (time.perf_counter() - w0)

    ratios = {
        "numpy_cpu_over_wall": cpu_over_wall(lambda: a @ a),
        "jax_cpu_over_wall": cpu_over_wall(lambda: (aj @ aj).block_until_ready()),
    }
    benchmark.extra_info.update(what="threads", **ratios)
    benchmark(time.process_time)
    assert max(ratios.values()) < 1.3, ratios
