"""Pytrees and keyword arguments in every transformation, with JAX's result structure."""

from collections import namedtuple

import numpy as np
import pytest

import ad
from ad.errors import InputTypeError
from ad.tree import flatten, leaf_paths, tree_map, unflatten

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

Pair = namedtuple("Pair", "a b")


def test_flatten_orders_dict_keys_and_round_trips():
    tree = {"b": (1.0, [2.0, None]), "a": Pair(3.0, {"z": 4.0, "y": 5.0})}
    leaves, tdef = flatten(tree)
    assert leaves == [3.0, 5.0, 4.0, 1.0, 2.0]  # sorted keys, as JAX
    assert leaf_paths(tdef) == ["['a'][0]", "['a'][1]['y']", "['a'][1]['z']", "['b'][0]",
                                "['b'][1][0]"]  # fmt: skip
    back = unflatten(tdef, leaves)
    assert back == tree and isinstance(back["a"], Pair) and isinstance(back["b"][1], list)
    assert tree_map(lambda x: 2 * x, tree)["a"].b["y"] == 10.0


def test_flatten_agrees_with_jax_leaf_order():
    tree = {"w": (np.ones(2), np.zeros(3)), "b": [np.ones(1)], "c": {"k": np.ones(4)}}
    ours = [x.shape for x in flatten(tree)[0]]
    theirs = [x.shape for x in jax.tree_util.tree_leaves(tree)]
    assert ours == theirs


def _assert_same(got, want, rtol=1e-10):
    lg, dg = flatten(got)
    lw, dw = flatten(jax.tree_util.tree_map(np.asarray, want))
    assert dg == dw, (dg, dw)
    for a, b in zip(lg, lw):
        np.testing.assert_allclose(np.asarray(a), b, rtol=rtol, atol=1e-12)


def loss(m, p, x, scale=1.0):
    h = m.tanh(p["w"] @ x + p["b"])
    return scale * m.sum(h**2) + m.sum(p["extra"][0] * p["extra"][1])


@pytest.fixture
def params(rng):
    return {
        "w": rng.standard_normal((3, 2)),
        "b": rng.standard_normal(3),
        "extra": (rng.standard_normal(2), rng.standard_normal(2)),
    }


X = np.array([0.4, -0.3])


def test_grad_and_value_and_grad_of_a_dict_with_a_keyword(params, engine):
    f = lambda p, x, scale=1.0: loss(np, p, x, scale)  # noqa: E731
    jf = lambda p, x, scale=1.0: loss(jnp, p, x, scale)  # noqa: E731
    _assert_same(ad.grad(f, engine=engine)(params, X, scale=2.5),
                 jax.grad(jf)(params, X, scale=2.5))  # fmt: skip
    value, g = ad.value_and_grad(f, argnums=(0, 1), engine=engine)(params, X, scale=0.5)
    want_v, want_g = jax.value_and_grad(jf, argnums=(0, 1))(params, X, scale=0.5)
    _assert_same((value, g), (want_v, want_g))


@pytest.mark.parametrize("how", ["jacfwd", "jacrev", "jacobian"])
def test_jacobians_of_tree_in_and_out(how, engine):
    def f(m, t, scale=1.0):
        return {"prod": t[0] * t[1] * scale, "pair": (m.sin(t[0]), m.sum(t[1] ** 2))}

    t = (np.array([0.3, -0.6]), np.array([1.1, 0.2]))
    got = getattr(ad, how)(lambda t, scale=1.0: f(np, t, scale), engine=engine)(t, scale=3.0)
    _assert_same(got, jax.jacfwd(lambda t, scale=1.0: f(jnp, t, scale))(t, scale=3.0))


def test_hessian_of_a_dict_nests_twice(params):
    f = lambda p: loss(np, p, X)  # noqa: E731
    got = ad.hessian(f)(params)
    want = jax.hessian(lambda p: loss(jnp, p, X))(params)
    _assert_same(got, want)
    assert got["w"]["b"].shape == (3, 2, 3)


def test_hvp_with_trees_and_keywords(params, rng):
    v = tree_map(lambda a: rng.standard_normal(np.shape(a)), params)
    got = ad.hvp(lambda p, scale=1.0: loss(np, p, X, scale))(params, v, scale=2.0)
    g = jax.grad(lambda p: loss(jnp, p, X, 2.0))
    want = jax.jvp(g, (params,), (v,))[1]
    _assert_same(got, want)


def test_jvp_and_vjp_with_trees(engine):
    def f(m, d, y):
        return [d["u"] * y, {"s": m.sum(d["v"] ** 2)}]

    d = {"u": np.array([0.5, -1.0]), "v": np.array([0.2, 0.3, 0.4])}
    y = np.array([2.0, 3.0])
    dd = {"u": np.array([1.0, 0.5]), "v": np.array([0.1, -0.2, 0.3])}
    dy = np.array([-1.0, 0.25])
    got = ad.jvp(lambda d, y: f(np, d, y), (d, y), (dd, dy), engine=engine)
    want = jax.jvp(lambda d, y: f(jnp, d, y), (d, y), (dd, dy))
    _assert_same(got, want)

    out, pullback = ad.vjp(lambda d, y: f(np, d, y), d, y, engine=engine)
    ct = [np.array([1.0, -2.0]), {"s": np.array(0.5)}]
    _, jpull = jax.vjp(lambda d, y: f(jnp, d, y), d, y)
    _assert_same(out, f(jnp, d, y))
    _assert_same(pullback(ct), jpull(ct))


def test_trace_flattens_trees_and_passes_keywords():
    g = ad.trace(lambda p, k=1.0: (p["a"] * k, [p["b"]]), {"b": np.ones(2), "a": np.ones(3)}, k=2.0)
    assert [v.shape for v in g.inputs] == [(3,), (2,)]  # leaves in sorted-key order
    assert [v.shape for v in g.outputs] == [(3,), (2,)]


def test_keyword_arguments_are_not_differentiated():
    f = lambda x, w=np.ones(2): np.sum(x * w)  # noqa: E731
    np.testing.assert_allclose(ad.grad(f)(np.ones(2), w=np.array([2.0, 3.0])), [2.0, 3.0])
    np.testing.assert_allclose(
        ad.jacrev(lambda x, c: x * c)(np.ones(2), c=np.array([4.0, 5.0])), np.diag([4.0, 5.0])
    )


def test_errors_name_the_leaf_and_the_structures():
    with pytest.raises(InputTypeError, match=r"argument 0\['n'\]"):
        ad.grad(lambda p: p["x"] * 2)({"x": 1.0, "n": 3})
    _, pullback = ad.vjp(lambda x: (x, 2 * x), np.ones(2))
    with pytest.raises(ValueError, match="structure"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match="tangents have structure"):
        ad.jvp(lambda d: d["a"], ({"a": np.ones(2)},), ({"b": np.ones(2)},))
    with pytest.raises(TypeError, match="tuples"):
        ad.jvp(np.sin, np.ones(2), np.ones(2))


def test_argnums_tuple_over_trees_gives_a_tuple_of_trees():
    f = lambda a, b: np.sum(a["x"] * b[0])  # noqa: E731
    ga, gb = ad.grad(f, argnums=(0, 1))({"x": np.array([1.0, 2.0])}, (np.array([3.0, 4.0]),))
    np.testing.assert_allclose(ga["x"], [3.0, 4.0])
    assert isinstance(gb, tuple) and np.allclose(gb[0], [1.0, 2.0])
