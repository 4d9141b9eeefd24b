"""The compiled engine's fast path of the compressed sweeps (seeds straight into the
dual rows, nonzeros gathered straight out of the dual buffer) gives exactly the data
of the general path, the dense Jacobian's entries, and the same NonFiniteError; the
CSR arrays a plan returns share no index array with the plan or with each other."""

import numpy as np
import pytest
import scipy.sparse as sp

import ad
from ad.errors import NonFiniteError
from ad.sparse import api, compress
from bench.problems import sparse as family

MODES = ("forward", "reverse", "colored_forward", "colored_reverse")


def general_path(comp, xs):
    """The nonzeros by the general path (per-variable tangents in and out)."""
    saved, comp._direct = comp._direct, False
    try:
        return comp.run(xs)
    finally:
        comp._direct = saved


def check_plan(plan, xs, dense, modes=MODES):
    for mode in modes:
        comp = plan.compression(mode)
        assert comp.direct() is not None, mode  # the fast path is taken
        J = plan(xs, mode)
        np.testing.assert_array_equal(J.data, general_path(comp, xs))
        np.testing.assert_allclose(J.toarray(), dense, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", family.VARIANTS)
def test_the_fast_path_gives_the_general_paths_data_on_every_family(variant):
    p = family.make(49, 49, 0, 2, variant)
    G = p.notes["jacobian_graph"]
    dense = ad.forward.jacobian(G, p.args[0], engine="reference")
    check_plan(api.JacobianPlan(G), p.args, dense)


def test_the_fast_path_of_the_sparse_hessian():
    p = family.make(60, 60, 0, 1, "rosenbrock_hessian")
    x = p.args[0]
    hp = api.HessianPlan(p.notes["jacobian_graph"])
    dense = ad.hessian(family.rosenbrock)(x)
    for method in ("star", "dense"):
        comp = hp.compression(method)
        assert comp.direct() is not None
        H = hp(x, method)
        np.testing.assert_array_equal(H.data, general_path(comp, [x]))
        np.testing.assert_allclose(H.toarray(), dense, rtol=1e-12, atol=1e-12)


def test_many_chunks_take_the_fast_path_each(monkeypatch):
    p = family.make(64, 64, 0, 0, "laplace2d")
    dense = ad.forward.jacobian(p.graph, p.args[0])
    plan = api.JacobianPlan(p.graph)
    for mode in ("forward", "reverse"):
        colors = plan.coloring("column" if mode == "forward" else "row").colors
        comp = compress.jacobian_compression(p.graph, plan.rows, plan.cols, colors, mode, 2)
        assert comp.sweeps == 3 and len(comp.direct()) == 3
        data = comp.run(p.args)
        np.testing.assert_array_equal(data, general_path(comp, p.args))
        np.testing.assert_allclose(
            api._new_csr(plan._proto, data).toarray(), dense, rtol=1e-12, atol=1e-12
        )


def many_outputs(a, b):
    """Outputs of every storage: own, an alias of an intermediate (a slice), an input
    itself, a broadcast of a scalar, an inactive constant; a matrix input."""
    s = np.sin(a) * b[0]
    return (
        a[1:] * b[1, :-1],
        s[2:],
        a,
        np.broadcast_to(np.sum(b * b), (3,)),
        np.ones(2) * 2.0,
        np.exp(s).reshape(2, 3),
    )


def test_several_inputs_and_outputs_of_every_storage(rng):
    a, b = rng.standard_normal(6), rng.standard_normal((2, 6))
    g = ad.trace(many_outputs, a, b)
    blocks = ad.jacfwd(lambda a, b: many_outputs(a, b), argnums=(0, 1))(a, b)
    dense = np.block(
        [[np.reshape(blk[0], (-1, 6)), np.reshape(blk[1], (-1, 12))] for blk in blocks]
    )
    check_plan(api.JacobianPlan(g), (a, b), dense)


def test_no_fast_path_where_a_nonzero_lies_in_an_inactive_output(rng):
    """An inactive output has no dual rows: a pattern claiming a nonzero there (never
    one of ours) falls back to the general path, which reads a zero."""
    x = rng.standard_normal(4)
    g = ad.trace(lambda x: (np.sin(x), np.ones(3)), x)
    rows, cols = np.array([0, 5]), np.array([0, 1])  # output entry 5: the constant
    comp = compress.jacobian_compression(g, rows, cols, np.array([0, 1, 0, 0]), "forward")
    assert comp.direct() is None
    np.testing.assert_array_equal(comp.run([x]), [np.cos(x[0]), 0.0])


def nan_in(x):
    return np.sqrt(x[1:] * x[:-1]) + x[1:]  # NaN value where x[i] x[i+1] < 0


def inf_tangent(x):
    return np.sqrt(x[1:] ** 2 * x[:-1] ** 2) * x[1:]  # finite values, sqrt'(0) = inf


@pytest.mark.parametrize("mode", ["colored_forward", "colored_reverse"])
@pytest.mark.parametrize("f", [nan_in, inf_tangent])
def test_non_finite_results_raise_the_general_paths_error(f, mode):
    x = np.linspace(0.5, 2.0, 8)
    g = ad.trace(f, x)
    plan = api.JacobianPlan(g)
    comp = plan.compression(mode)
    assert comp.direct() is not None
    bad = x.copy()
    bad[3] = -1.0 if f is nan_in else 0.0
    with ad.nonfinite("raise"):
        with pytest.raises(NonFiniteError) as fast:
            plan(bad, mode)
        with pytest.raises(NonFiniteError) as general:
            general_path(comp, [bad])
        assert str(fast.value) == str(general.value)
        assert ("tangent" in str(fast.value) or "cotangent" in str(fast.value)) == (
            f is inf_tangent
        )
        np.testing.assert_array_equal(plan(x, mode).data, general_path(comp, [x]))
    with ad.nonfinite("propagate"):  # then the non-finite entries are returned
        data = plan(bad, mode).data
        np.testing.assert_array_equal(data, general_path(comp, [bad]))
        assert not np.isfinite(data).all()


def test_a_returned_matrix_mutated_in_place_leaves_the_next_result_intact():
    p = family.make(30, 30, 0, 0, "banded3")
    x = p.args[0]
    plan = api.JacobianPlan(p.graph)
    J = plan(x)
    assert J.indices.dtype == np.int32 and J.has_sorted_indices
    expected = J.toarray()
    J.data[::2] = 0.0
    J.eliminate_zeros()  # rewrites indices and indptr in place
    J.indices[:] = 0
    J.indptr[:] = 0
    K = plan(x)
    assert not np.shares_memory(K.indices, J.indices)
    for other in (plan.pattern.indices, plan._proto.indices):
        assert not np.shares_memory(K.indices, other)
    np.testing.assert_array_equal(K.toarray(), expected)
    assert isinstance(K, sp.csr_array) and K.nnz == plan.nnz
