"""The problem families: exact T, structure of random graphs, closed-form Jacobians."""

import numpy as np
import pytest

import ad
from bench import problems
from bench.problems import random as rnd
from bench.tools import central_differences


def _flat(J, m, n):
    return np.reshape(np.asarray(J), (m, n))


@pytest.mark.parametrize("n,m,T", [(1, 1, 1), (2, 1, 3), (5, 3, 20), (16, 8, 500), (64, 4, 300)])
def test_random_graph_has_exactly_T_arithmetic_ops(n, m, T):
    g = rnd.random_graph(n, m, T, seed=3)
    arith = [e for e in g.eqns if e.prim.name != "gather"]
    assert len(arith) == T
    assert {e.prim.name for e in arith} <= {
        "add",
        "sub",
        "mul",
        "sin",
        "cos",
        "tanh",
        "integer_pow",
    }
    assert all(e.params.get("n", 2) == 2 for e in arith if e.prim.name == "integer_pow")
    assert len(g) == T + n + (m > 1)
    assert g.n_in == n and g.n_out == m


def test_random_T_is_unchanged_as_n_and_m_change():
    sizes = {
        len([e for e in rnd.random_graph(n, m, 2000, 0).eqns if e.prim.name != "gather"])
        for n in (1, 8, 64)
        for m in (1, 8, 64)
    }
    assert sizes == {2000}


def _dependencies(g):
    """For each variable id, the set of input entries it depends on (structurally)."""
    (x,) = g.inputs
    dep = {}
    for e in g.eqns:
        if e.prim.name == "gather" and e.inputs[0].id == x.id:
            dep[e.outputs[0].id] = {int(e.params["idx"])}
        else:
            dep[e.outputs[0].id] = set().union(*(dep.get(v.id, set()) for v in e.inputs))
    return dep, g.eqns


@pytest.mark.parametrize("n,m,T", [(1, 1, 10), (7, 5, 100), (33, 9, 1000)])
def test_random_every_input_read_and_every_output_depends_on_every_input(n, m, T):
    g = rnd.random_graph(n, m, T, seed=1)
    dep, eqns = _dependencies(g)
    prog = rnd.random_program(n, m, T, seed=1)
    last = [n + T - m + k for k in range(m)]  # value ids of the outputs in the program
    arith_out = [e.outputs[0].id for e in eqns if e.prim.name != "gather"]
    unpack = [e.outputs[0].id for e in eqns[:n]]
    ids = unpack + arith_out
    for k in last:
        assert dep[ids[k]] == set(range(n))
    read = set(prog.a.tolist()) | set(prog.b.tolist())
    assert set(range(n)) <= read


@pytest.mark.parametrize("T", [20, 1000, 20000])
def test_random_values_bounded_and_jacobian_alive(T):
    p = rnd.make(6, 4, T, seed=2)
    prog = p.notes["program"]
    x = p.args[0]
    vals = [x[k] for k in range(prog.n)]
    for code, i, j in zip(prog.op.tolist(), prog.a.tolist(), prog.b.tolist()):
        u = vals[i]
        if code in (rnd.ADD, rnd.SUB, rnd.MUL, rnd.SQUARE):
            assert abs(u) <= 1.0 and (j < 0 or abs(vals[j]) <= 1.0)
        v = vals[j] if j >= 0 else None
        vals.append(
            [
                u + (v or 0),
                u - (v or 0),
                u * (v if v is not None else 1),
                u * u,
                np.sin(u),
                np.cos(u),
                np.tanh(u),
            ][code]
        )
    assert max(abs(v) for v in vals) <= 2.0
    J = p.flat_jacobian()
    assert np.isfinite(J).all() and np.abs(J).max() > 1e-3


def test_random_rejects_too_small_T_and_is_seeded():
    with pytest.raises(ValueError, match="too small"):
        rnd.random_graph(10, 5, 10, 0)
    a, b = rnd.random_program(8, 3, 100, 4), rnd.random_program(8, 3, 100, 4)
    assert (a.op == b.op).all() and (a.a == b.a).all() and (a.b == b.b).all()
    assert not (rnd.random_program(8, 3, 100, 5).op == a.op).all()


def test_random_graph_matches_its_numpy_interpreter_and_complex_step():
    p = rnd.make(9, 4, 400, seed=0)
    env = ad.reference.evaluate(p.graph, p.args)
    np.testing.assert_allclose(env[p.graph.outputs[0].id], p.f(*p.args), rtol=1e-14)
    J = _flat(ad.reverse.jacobian(p.graph, p.args[0], engine="reference"), 4, 9)
    np.testing.assert_allclose(J, p.flat_jacobian(), rtol=1e-10, atol=1e-13)


CELLS = [
    ("linear", 12, 5),
    ("linear", 7, 30),
    ("mlp", 6, 3),
    ("rosenbrock", 9, 1),
    ("seminar:quadratic", 8, 1),
    ("seminar:cubic_norm", 8, 1),
    ("seminar:trace_inv", 9, 1),
    ("seminar:logdet", 16, 1),
]


@pytest.mark.parametrize("family,n,m", CELLS)
def test_closed_form_matches_both_modes_and_finite_differences(family, n, m):
    try:
        p = problems.make(family, n, m, 0, seed=1)
    except problems.seminar.UnavailableError as err:
        pytest.skip(str(err))
    J = p.flat_jacobian()
    assert J.shape == (m, n)
    for api in (ad.forward, ad.reverse):
        got = _flat(api.jacobian(p.graph, p.args[0], engine="reference"), m, n)
        np.testing.assert_allclose(got, J, rtol=1e-10, atol=1e-10)
    fd = central_differences(p.f, p.args[0], m)
    np.testing.assert_allclose(fd, J, rtol=1e-5, atol=1e-5)
    y = ad.reference.evaluate(p.graph, p.args)[p.graph.outputs[0].id]
    np.testing.assert_allclose(y, p.f(*p.args), rtol=1e-12)


def test_jax_versions_agree_with_numpy():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for family, n, m in CELLS + [("random", 5, 3)]:
        p = problems.make(family, n, m, 40, seed=2)
        np.testing.assert_allclose(np.asarray(p.jax_f(p.args[0])), p.f(*p.args), rtol=1e-10)
