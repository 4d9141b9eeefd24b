"""Compiled sweeps equal the reference interpreters on hypothesis-generated graphs."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kernel_checks import check_against_reference
from kernel_graphs import BUILDERS, build_graph, inputs

import ad
from ad.errors import DegenerateDerivativeError
from ad.kernels.table import LOWERINGS

TESTED = sorted(set(BUILDERS) & set(LOWERINGS))


@st.composite
def programs(draw):
    k = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(TESTED), min_size=k, max_size=k))
    picks = draw(
        st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=k, max_size=k)
    )
    return names, picks, draw(st.integers(0, 2**16))


def differentiable(graph: ad.Graph, args: list) -> bool:
    """False where the reference interpreter refuses the derivative: a random program
    reaches eigh at a matrix with repeated eigenvalues through sub(x, x) and the like,
    where the eigenvectors have no derivative (tests/primitives/test_linalg.py checks
    both engines raise at such points)."""
    try:
        ad.forward.jacobian(graph, tuple(args), engine="reference")
    except DegenerateDerivativeError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_kernels_match_reference_on_random_graphs(prog):
    names, picks, seed = prog
    graph = build_graph(names, picks, seed)
    assume(differentiable(graph, inputs(seed)))
    check_against_reference(graph, inputs(seed), seed)


@settings(max_examples=10, deadline=None)
@given(programs(), st.integers(0, 2**16))
def test_replay_at_new_inputs_equals_tracing_there(prog, seed2):
    """A graph recorded at x0 and run at x1 gives what a graph recorded at x1 gives."""
    names, picks, seed = prog
    graph = build_graph(names, picks, seed)
    x0, x1 = inputs(seed), inputs(seed2)
    graph(*x0)  # record at x0 first
    fresh = build_graph(names, picks, seed)
    assume(differentiable(fresh, x1))
    for mode in (ad.forward, ad.reverse):
        got = mode.jacobian(graph, tuple(x1), engine="compiled")
        want = mode.jacobian(fresh, tuple(x1), engine="reference")
        for g, w in zip(got, want):
            for gg, ww in zip(g, w):
                np.testing.assert_allclose(gg, ww, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(graph(*x1)[0], fresh(*x1)[0], rtol=1e-12)


def test_replay_of_a_traced_function_matches_retracing():
    def f(x):
        return np.sum(np.tanh(x) * np.sin(x[::-1]) ** 2) + np.max(x) * x[0]

    x0 = np.linspace(-1, 1, 13)
    x1 = np.cos(np.arange(13.0))
    g0 = ad.trace(f, x0)
    g1 = ad.trace(f, x1)
    np.testing.assert_allclose(g0(x1), f(x1), rtol=1e-13)
    np.testing.assert_allclose(
        ad.reverse.gradient(g0, x1, engine="compiled"),
        ad.reverse.gradient(g1, x1, engine="reference"),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        ad.forward.jacobian(g0, x1, chunk=5, engine="compiled"),
        ad.reverse.gradient(g1, x1, engine="reference"),
        rtol=1e-12,
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_kernels_match_reference_on_the_random_scalar_program(seed):
    """The benchmark's workload (scalar fast paths, one-entry gathers), small T."""
    from bench.problems.random import random_graph

    graph = random_graph(n=13, m=4, T=400, seed=seed)
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, 13)
    check_against_reference(graph, [x], seed)
