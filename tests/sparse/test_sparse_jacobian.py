"""Sparse Jacobians and Hessians equal the dense ones to 1e-12 on every family, in
every mode, on both engines, with one sweep or many; plans are cached and re-checked;
the cost model chooses and explains."""

import numpy as np
import pytest
import scipy.sparse as sp

import ad
from ad.errors import NonScalarOutputError
from ad.sparse import api, compress
from bench.problems import sparse as family

MODES = ("forward", "reverse", "colored_forward", "colored_reverse", "auto")


def assert_close(J, dense):
    assert isinstance(J, sp.csr_array) and J.shape == np.shape(dense)
    np.testing.assert_allclose(J.toarray(), dense, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", family.VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_sparse_jacobian_equals_the_dense_one_on_every_family(variant, mode, engine):
    p = family.make(36, 36, 0, 3, variant)
    x = p.args[0]
    G = p.notes["jacobian_graph"]
    dense = ad.forward.jacobian(G, x, engine="reference")
    J = api.JacobianPlan(G)(x, mode, engine)
    assert_close(J, dense)
    np.testing.assert_allclose(
        J.toarray(), p.notes["sparse_jacobian"](x).toarray(), rtol=1e-12, atol=1e-9
    )


@pytest.mark.parametrize("variant", ["banded3", "laplace2d", "arrowhead"])
def test_function_api_matches_jax_style_dense_jacobians(variant, rng):
    n = 25
    f = family.TABLE[variant][0]
    x = rng.uniform(-1, 1, n)
    for mode in MODES:
        assert_close(ad.sparse_jacobian(f, x, mode), ad.jacfwd(f)(x))


def test_sparse_hessian_equals_the_dense_hessian(engine, rng):
    x = rng.uniform(-1.5, 1.5, 40)
    H = ad.sparse_hessian(family.rosenbrock, x, engine=engine)
    assert_close(H, ad.hessian(family.rosenbrock, engine=engine)(x))
    assert (H != H.T).nnz == 0
    assert_close(ad.sparse_hessian(family.rosenbrock, x, method="dense"), H.toarray())


def test_sparse_hessian_of_a_quadratic_form_with_a_sparse_matrix(rng):
    n = 30
    A = sp.random_array((n, n), density=0.08, rng=rng).toarray()
    A = A + A.T + np.diag(rng.uniform(1, 2, n))
    f = lambda x: 0.5 * x @ (A @ x) + np.sum(np.cos(x))
    x = rng.standard_normal(n)
    H = ad.sparse_hessian(f, x)
    assert_close(H, A - np.diag(np.cos(x)))
    np.testing.assert_array_equal(
        ad.hessian_sparsity(f, x).toarray(), (A != 0) | np.eye(n, dtype=bool)
    )


def test_many_sweeps_give_the_same_jacobian(monkeypatch, rng):
    p = family.make(49, 49, 0, 1, "laplace2d")
    x = p.args[0]
    dense = ad.forward.jacobian(p.graph, x)
    for width in (1, 2, 3):
        for mode in ("forward", "reverse"):
            colors = api.jacobian_plan(p.graph).coloring("column" if mode == "forward" else "row")
            plan = api.jacobian_plan(p.graph)
            comp = compress.jacobian_compression(
                p.graph, plan.rows, plan.cols, colors.colors, mode, width
            )
            assert comp.sweeps == -(-colors.n_colors // width)
            data = comp.run([x])
            assert_close(api._new_csr(plan._proto, data), dense)
    # memory caps: one direction per sweep, seeds rebuilt at every call
    monkeypatch.setattr(compress, "MAX_SWEEP_BYTES", 1)
    monkeypatch.setattr(compress, "MAX_SEED_BYTES", 1)
    plan = api.JacobianPlan(p.graph)
    comp = plan.compression("colored_forward")
    assert comp.width == 1 and comp.sweeps == 5 and comp.chunks[0].seeds is None
    assert_close(plan(x, "colored_forward"), dense)
    assert_close(plan(x, "colored_reverse"), dense)


def test_several_inputs_and_outputs_at_graph_level(rng):
    def f(a, b):
        return a[1:] * b[:-1], np.sin(a) + b**2

    a, b = rng.standard_normal(6), rng.standard_normal(6)
    g = ad.trace(f, a, b)
    J = ad.sparse.jacobian(g, (a, b))
    blocks = ad.jacfwd(f, argnums=(0, 1))(a, b)
    dense = np.block([[blocks[0][0], blocks[0][1]], [blocks[1][0], blocks[1][1]]])
    assert_close(J, dense)
    for mode in MODES:
        assert_close(ad.sparse.jacobian(g, (a, b), mode), dense)


def test_plans_are_cached_and_reused_while_the_trace_is_the_same(rng):
    api._CACHE.clear()
    f = lambda x: np.tanh(x[1:] - x[:-1]) * x[1:]
    x = rng.standard_normal(20)
    ad.sparse_jacobian(f, x)
    ((sig, graph, plan),) = api._CACHE.values()
    y = rng.standard_normal(20)
    J = ad.sparse_jacobian(f, y)
    ((sig2, graph2, plan2),) = api._CACHE.values()
    assert plan2 is plan and graph2 is graph  # the same Wengert list: reused
    assert_close(J, ad.jacfwd(f)(y))


def test_a_different_control_flow_is_detected_and_recomputed(rng):
    api._CACHE.clear()

    def f(x):
        if x[0] > 0:  # the pattern depends on the branch
            return x[1:] * x[:-1]
        return np.sin(x[1:]) + x[0]

    x = np.abs(rng.standard_normal(8))
    J1 = ad.sparse_jacobian(f, x)
    assert_close(J1, ad.jacfwd(f)(x))
    plan1 = next(iter(api._CACHE.values()))[2]
    J2 = ad.sparse_jacobian(f, -x)
    assert_close(J2, ad.jacfwd(f)(-x))
    assert next(iter(api._CACHE.values()))[2] is not plan1
    assert J1.nnz == 14 and J2.nnz == 14 and not np.array_equal(J1.indices, J2.indices)
    # a mask is part of the trace: where() with another mask is another plan
    g = lambda x: np.where(x > 0, x**2, np.sin(x))
    assert_close(ad.sparse_jacobian(g, x), ad.jacfwd(g)(x))
    assert_close(ad.sparse_jacobian(g, -x), ad.jacfwd(g)(-x))


def test_hessian_plan_is_rebuilt_when_values_baked_into_the_gradient_change(rng):
    """abs's derivative is sign(x), a constant of the gradient graph: at a point with
    other signs the gradient graph differs and the plan must not be reused."""
    api._CACHE.clear()
    f = lambda x: np.sum(np.abs(x) * x[::-1] ** 2)
    x = rng.standard_normal(10)
    for point in (x, -x, x):
        assert_close(ad.sparse_hessian(f, point), ad.hessian(f)(point))


def test_public_sparse_hessian_reuses_its_gradient_graph_while_the_guards_hold(rng):
    """The plan (gradient graph, pattern, colouring) is keyed on f's trace and kept
    while the guards its gradient graph recorded hold: same signs, same plan; other
    signs, a gradient graph recorded again."""
    api._CACHE.clear()
    f = lambda x: np.sum(np.abs(x) ** 3 * x[::-1])
    x = rng.standard_normal(10)
    plans = []
    for point in (x, 2.0 * x, -x, -3.0 * x, x):
        assert_close(ad.sparse_hessian(f, point), ad.hessian(f, engine="reference")(point))
        plans.append(next(iter(api._CACHE.values()))[2])
    assert plans[1] is plans[0] and plans[2] is not plans[1] and plans[3] is plans[2]
    assert plans[4] is not plans[3]


def test_plans_raise_where_the_recorded_control_flow_does_not_hold(rng):
    """A plan evaluated away from the path it was recorded on raises GuardError, for
    f's own guards (a branch) and for the gradient graph's (abs's signs)."""

    def branchy(x):
        return np.sin(x) * x[::-1] if np.sum(x) > 0 else np.cos(x) * x[::-1]

    x = np.abs(rng.standard_normal(6))
    G = ad.trace(branchy, x)
    plan = api.JacobianPlan(G)
    assert_close(plan(2.0 * x), ad.jacfwd(branchy)(2.0 * x))
    with pytest.raises(ad.errors.GuardError):
        plan(-x)
    scalar = lambda x: np.sum(branchy(x))
    hp = api.hessian_plan(ad.trace(scalar, x), x)
    assert_close(hp(2.0 * x), ad.hessian(scalar)(2.0 * x))
    with pytest.raises(ad.errors.GuardError):
        hp(-x)
    a = lambda x: np.sum(np.abs(x) ** 3)  # no guard in f's graph, one in its gradient's
    hp = api.hessian_plan(ad.trace(a, x), x)
    assert not hp.graph.guards and hp.grad_graph.guards
    assert_close(hp(2.0 * x), ad.hessian(a)(2.0 * x))
    with pytest.raises(ad.errors.GuardError):
        hp(-x)


def test_sparse_calls_on_a_jitted_function_reuse_its_trace(rng):
    """ad.sparse_jacobian(ad.jit(f), x) and ad.sparse_hessian(ad.jit(f), x): the jit's
    Graph (traced once per path), the plan cached on it; guards checked at each x."""

    def f(x):  # a branch on x: two variants
        return np.sin(x[1:]) * x[:-1] if x[0] > 0 else np.cos(x[1:]) * x[:-1] ** 2

    jf = ad.jit(f)
    x = np.abs(rng.standard_normal(12)) + 0.1
    for point in (x, 2.0 * x, -x, 3.0 * x, -2.0 * x):
        assert_close(ad.sparse_jacobian(jf, point), ad.jacfwd(f)(point))
    assert jf.traces == 2
    s = lambda x: np.sum(np.abs(x) ** 3 * x[::-1])  # guards only in its gradient graph
    js = ad.jit(s)
    for point in (x, 2.0 * x, -x, -3.0 * x, x):
        assert_close(ad.sparse_hessian(js, point), ad.hessian(s, engine="reference")(point))
    assert js.traces == 1
    hessian_of = ad.jit(ad.grad(s))  # a jitted gradient: its Jacobian is the Hessian
    assert_close(ad.sparse_jacobian(hessian_of, -x), ad.hessian(s)(-x))


def test_sparse_calls_cannot_be_traced_and_say_what_to_do(rng):
    f = lambda x: x[1:] * x[:-1]
    for call in (ad.sparse_jacobian, lambda f, x: ad.sparse_hessian(lambda x: np.sum(f(x)), x)):
        with pytest.raises(ad.errors.TracerError, match=r"ad.jit\(f\), x\)"):
            ad.jit(lambda x, call=call: call(f, x))(rng.standard_normal(5))


def test_concurrent_calls_share_the_cache_safely(rng):
    """Threads calling with more functions than the cache holds: every result right,
    the cache within its size (its order and evictions are guarded)."""
    import threading

    fs = [lambda x, k=k: np.sin(k * x[1:]) * x[:-1] for k in range(api.CACHE_SIZE + 8)]
    x = rng.standard_normal(30)
    want = [ad.jacfwd(f)(x) for f in fs]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(3 * len(fs)):
                k = (i * 7 + offset) % len(fs)
                np.testing.assert_allclose(
                    ad.sparse_jacobian(fs[k], x).toarray(), want[k], rtol=1e-12, atol=1e-12
                )
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(api._CACHE) <= api.CACHE_SIZE


def test_sparse_hessian_needs_a_scalar(rng):
    with pytest.raises(NonScalarOutputError):
        ad.sparse_hessian(np.sin, rng.standard_normal(3))


def test_bad_mode_is_rejected(rng):
    with pytest.raises(ValueError, match="mode must be one of"):
        ad.sparse_jacobian(np.sin, rng.standard_normal(3), mode="sideways")


def test_auto_takes_a_coloured_mode_on_a_banded_jacobian_and_a_dense_one_when_dense(rng):
    p = family.make(2000, 2000, 0, 0, "banded3")
    plan = api.jacobian_plan(p.graph)
    assert plan.mode() == "colored_forward"
    A = rng.standard_normal((3, 200))
    g = ad.trace(lambda x: np.tanh(A @ x), rng.standard_normal(200))
    assert api.jacobian_plan(g).mode() in ("reverse", "colored_reverse")


def test_explain_names_the_colour_counts_and_the_choice():
    p = family.make(400, 400, 0, 0, "laplace2d")
    text = ad.sparse.explain(p.graph)
    assert "column colours 5 (lower bound 5" in text and "row colours 5" in text
    assert "choose coloured forward" in text
    full = ad.cost.explain(family.laplace2d, p.args[0], sparse=True)
    assert full.startswith("n = 400 inputs") and "column colours 5" in full
    assert "column colours" not in ad.cost.explain(family.laplace2d, p.args[0])


def test_engines_are_called_through_one_function(monkeypatch, rng):
    calls = []
    real = compress.sweep

    def spy(graph, xs, seeds, mode, engine="compiled", direct=None):
        if direct is not None:  # the compiled engine's fast path: one block of seeds
            width = direct.rows.shape[1]
        else:
            width = np.shape(next(s for s in seeds if s is not None))[0]
        calls.append((mode, engine, width, direct is not None))
        return real(graph, xs, seeds, mode, engine, direct)

    monkeypatch.setattr(compress, "sweep", spy)
    p = family.make(100, 100, 0, 0, "banded11")
    plan = api.JacobianPlan(p.graph)
    plan(p.args, "colored_forward")
    plan(p.args, "colored_reverse")
    plan(p.args, "colored_forward", engine="reference")
    assert calls == [
        ("forward", "compiled", 11, True),
        ("reverse", "compiled", 11, True),
        ("forward", "reference", 11, False),
    ]


@pytest.mark.parametrize("variant", ["banded3", "rosenbrock_hessian"])
def test_prepared_plans_give_the_same_results_and_never_share_arrays(variant, rng):
    # prepare() builds the entry arrays and the results' prototype (whose data is left
    # uninitialised: every result brings its own values) before the first evaluation
    p = family.make(30, 30, 0, 2, variant)
    G, x = p.notes["jacobian_graph"], p.args[0]
    want = ad.forward.jacobian(G, x, engine="reference")
    lazy, ready = api.JacobianPlan(G), api.JacobianPlan(G).prepare()
    for plan in (lazy, ready):
        J1, J2 = plan(x), plan(x + 1.0)
        assert_close(J1, want)
        assert not np.shares_memory(J1.data, plan._proto.data)
        assert not np.shares_memory(J1.indices, J2.indices)
    np.testing.assert_array_equal(lazy.rows, ready.rows)
    np.testing.assert_array_equal(lazy.cols, ready.cols)


def test_a_retrace_shares_the_read_only_maps_and_compares_equal():
    # re-tracing reuses the read-only maps of slices, broadcasts and concatenations:
    # the cache keeps them as they are and compares them by identity
    x = np.arange(6.0)
    f = lambda z: np.concatenate([z[1:], z[:1]]) * 2.0
    g1, g2 = ad.trace(f, x), ad.trace(f, x)
    maps1 = [e.params["idx"] for e in g1.eqns if "idx" in e.params]
    maps2 = [e.params["idx"] for e in g2.eqns if "idx" in e.params]
    assert all(a is b and not a.flags.writeable for a, b in zip(maps1, maps2))
    kept = api.frozen_items(api.trace_items(g1))
    assert all(any(m is k for k in kept) for m in maps1)  # not copied
    assert api.same_trace(api.trace_items(g2), kept)
    h = ad.trace(lambda z: np.concatenate([z[2:], z[:2]]) * 2.0, x)
    assert not api.same_trace(api.trace_items(h), kept)


@pytest.mark.parametrize(
    "f",
    [
        lambda z: np.reshape(z, (3, 4)),
        lambda z: np.pad(z, 2),
        lambda z: np.pad(np.reshape(z, (3, 4)), ((1, 0), (2, 1)), mode="edge"),
        lambda z: np.pad(z, (0, 1), constant_values=0.0),
    ],
)
def test_reshapes_and_pads_share_their_read_only_maps(f):
    # a re-trace (ad.sparse_jacobian(f, x) in a loop) rebuilds and compares no map
    x = np.arange(12.0)
    g1, g2 = ad.trace(f, x), ad.trace(f, x)
    assert [e.prim.name for e in g1.eqns] == ["gather"] * len(g1.eqns)
    for e1, e2 in zip(g1.eqns, g2.eqns):
        assert e1.params["idx"] is e2.params["idx"] and not e1.params["idx"].flags.writeable
    np.testing.assert_array_equal(g1(x + 1.0), f(x + 1.0))


@pytest.mark.parametrize("shape", [np.array(12), np.array([3, 4]), [2, np.int64(6)], -1])
def test_reshape_takes_the_shapes_numpy_takes(shape):
    x = np.arange(12.0)
    g = ad.trace(lambda z: np.reshape(z, shape), x)
    np.testing.assert_array_equal(g(x + 1.0), np.reshape(x + 1.0, shape))


def test_reshape_to_a_float_shape_is_numpys_type_error():
    with pytest.raises(TypeError, match="integer"):
        ad.trace(lambda z: np.reshape(z, (3.0, 4)), np.arange(12.0))


def test_a_pad_with_a_fill_value_adds_it():
    g = ad.trace(lambda z: np.pad(z, 1, constant_values=2.5), np.arange(3.0))
    np.testing.assert_array_equal(g(np.ones(3)), [2.5, 1.0, 1.0, 1.0, 2.5])


def test_the_cache_keeps_read_only_copies_of_writable_arrays():
    # what the cache keeps cannot change with the trace it came from: a writable map
    # changed in place afterwards no longer compares equal
    g = ad.trace(lambda x: np.sin(x[np.array([3, 0, 4, 1])]), np.ones(5))
    items = api.trace_items(g)
    kept = api.frozen_items(items)
    (idx,) = [x for x in items if isinstance(x, np.ndarray) and x.flags.writeable]
    (copy,) = [x for x in kept if isinstance(x, np.ndarray) and x.dtype == np.int64]
    assert copy is not idx and not copy.flags.writeable
    assert api.same_trace(items, kept)
    idx[0] = 2
    assert not api.same_trace(items, kept)


def test_a_callers_arrays_changed_between_calls_give_the_new_jacobian(rng):
    # an index array and a constant array of the caller's, changed in place between
    # two calls: the second call must see the new ones, not the cached plan's
    api._CACHE.clear()
    idx = np.array([3, 0, 4, 1], dtype=np.int64)
    w = np.array([1.0, 2.0, 0.0, 4.0])
    f = lambda x: np.sin(x[idx]) * w
    x = rng.standard_normal(5)
    assert_close(ad.sparse_jacobian(f, x), ad.jacfwd(f)(x))
    idx[:] = [2, 2, 0, 3]
    w[2] = 3.0  # a known zero no more: the pattern gains an entry
    J = ad.sparse_jacobian(f, x)
    assert_close(J, ad.jacfwd(f)(x))
    assert J.nnz == 4


def test_same_trace_compares_arrays_bit_for_bit():
    item = lambda *v: api.frozen_items([np.array(v)])
    assert api.same_trace([np.array([1.0, np.nan])], item(1.0, np.nan))  # the same NaN
    assert not api.same_trace([np.array([0.0])], item(-0.0))  # 1 / x differs
    assert not api.same_trace([np.array([1, 2])], item(1.0, 2.0))  # another dtype
    assert not api.same_trace([np.array([[1.0, 2.0]])], item(1.0, 2.0))  # another shape
    assert not api.same_trace([np.array([1.0])], ["a"])
    assert not api.same_trace([], ["a"])
    frozen = item(5.0)
    assert not frozen[0].flags.writeable
    assert api.same_trace(frozen, frozen)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_shared_concatenate_and_stack_maps_are_keyed_by_their_axis(axis, rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    f = lambda x: np.concatenate([x, x * 2.0], axis=axis) + np.stack([x, x], axis=axis).sum()
    g = ad.trace(f, a)
    np.testing.assert_allclose(g(b), f(b), rtol=1e-13)  # the sum: another order
    other = 1 if axis == 0 else 0
    h = ad.trace(lambda x: np.concatenate([x, x * 2.0], axis=other), a)
    np.testing.assert_allclose(h(b), np.concatenate([b, b * 2.0], axis=other), rtol=1e-15)
