"""In-place updates, the new primitives' delicate points, and the errors that name the fix."""

import math

import numpy as np
import pytest

import ad
from ad import reference
from ad.errors import (
    DegenerateDerivativeError,
    TracerError,
    UnsupportedArgumentError,
    UnsupportedOperationError,
)
from ad.trace import Tracer

# ----------------------------------------------------------------------------------
# In-place updates rebind the tracer
# ----------------------------------------------------------------------------------


def test_zeros_like_and_copy_are_traced_arrays_that_can_be_updated():
    seen = {}

    def f(x):
        z = np.zeros_like(x)
        y = x.copy()
        seen["types"] = (type(z), type(y))
        z[0] = x[1]
        y[1] = 0.0
        return z + y

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(ad.jacrev(f)(x), [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    assert seen["types"] == (Tracer, Tracer)


def test_copy_is_independent_and_alias_is_not():
    def f(x):
        y = x.copy()
        alias = y
        y[0] = 10.0 * x[1]  # alias sees it, x does not
        return np.stack([x[0], alias[0]])

    np.testing.assert_allclose(ad.jacfwd(f)(np.array([1.0, 2.0])), [[1, 0], [0, 10]])


def test_repeated_fancy_indices_follow_numpy_last_write_wins():
    def f(x):
        y = np.zeros_like(x)
        y[[0, 0, 1]] = x
        return y

    x = np.array([1.0, 2.0, 3.0])
    want = np.zeros(3)
    want[[0, 0, 1]] = x
    got, jac = ad.jvp(f, (x,), (np.ones(3),))[0], ad.jacrev(f)(x)
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(jac, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])


def test_add_at_accumulates_repeated_indices():
    def f(x):
        y = np.zeros_like(x)
        np.add.at(y, [0, 0, 2], x)
        return y

    np.testing.assert_allclose(ad.jacfwd(f)(np.ones(3)), [[1, 1, 0], [0, 0, 0], [0, 0, 1]])


def test_updating_an_outer_tracer_inside_an_inner_trace():
    """The inner trace sees y's value before and after the update (no stale constant)."""

    def outer(x):
        y = 2.0 * x

        def inner(z):
            a = np.sum(y * z)
            y[0] = 0.0
            return a + np.sum(y * z)

        return ad.grad(inner)(x)

    x = np.array([0.5, 1.5, -1.0])
    np.testing.assert_allclose(ad.jacfwd(outer)(x), np.diag([2.0, 4.0, 4.0]))


def test_in_place_shape_change_is_refused():
    def f(x):
        y = x[:2].copy()
        y += x[:, None]
        return y

    with pytest.raises(ValueError, match="in-place"):
        ad.trace(f, np.ones(2))


def test_sort_method_sorts_in_place_and_returns_none():
    def f(x):
        y = x * 1.0
        assert y.sort() is None
        return y

    x = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(ad.jacfwd(f)(x), np.eye(3)[[1, 0, 2]])


# ----------------------------------------------------------------------------------
# Primitives: what the rules need, and their delicate points
# ----------------------------------------------------------------------------------


def test_sort_replays_on_new_values_with_the_new_permutation():
    f = lambda x: np.sort(x) * np.arange(4.0)  # noqa: E731
    graph = ad.trace(f, np.array([0.1, 0.2, 0.3, 0.4]))
    x1 = np.array([0.4, -1.0, 0.3, 2.0])
    env = reference.evaluate(graph, [x1])
    np.testing.assert_allclose(env[graph.outputs[0].id], f(x1))
    jac = ad.reverse.jacobian(graph, (x1,), engine="reference")
    np.testing.assert_allclose(jac, ad.jacfwd(f)(x1))


def test_logaddexp_is_exact_at_a_tie_and_at_a_large_gap():
    f = lambda a, b: np.sum(np.logaddexp(a, b))  # noqa: E731
    a = np.array([1000.0, -1000.0, 0.0, 3.0])
    b = np.array([0.0, 0.0, 0.0, -800.0])  # e^1000 overflows; a tie; e^-803 underflows
    want = np.array([1.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(ad.grad(f)(a, b), want)
    np.testing.assert_array_equal(ad.jit(ad.grad(f))(a, b), want)
    np.testing.assert_array_equal(ad.jacfwd(f)(a, b), want)
    np.testing.assert_array_equal(ad.grad(f, argnums=1)(a, b), 1.0 - want)
    hess = ad.hessian(lambda a: f(a, b))(a)
    np.testing.assert_array_equal(hess, np.diag([0.0, 0.0, 0.25, 0.0]))  # p (1 - p)


def test_cumsum_transpose_is_a_reversed_cumsum():
    graph = ad.trace(lambda x: np.sum(np.cumsum(x) ** 2), np.ones(4))
    grad_graph = ad.reverse.gradient_graph(graph, [np.ones(4)])
    flags = [e.params["reverse"] for e in grad_graph.eqns if e.prim.name == "cumsum"]
    assert flags.count(True) == 1 and flags.count(False) == 1  # primal, and its transpose


def test_einsum_records_matmuls_in_a_cheap_order():
    A, B, C = np.ones((100, 2)), np.ones((2, 100)), np.ones((100, 3))
    g = ad.trace(lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c), A, B, C)
    mm = [e for e in g.eqns if e.prim.name == "matmul"]
    assert len(mm) == 2 and all(e.outputs[0].size < 10_000 for e in mm)  # never (100, 100)
    assert {e.prim.name for e in g.eqns} <= {"matmul", "gather", "scatter_add", "mul"}


def test_qr_rules_keep_q_orthonormal_and_r_triangular(rng):
    a = rng.standard_normal((5, 3))
    v = rng.standard_normal((5, 3))
    (q, r), (dq, dr) = ad.jvp(lambda a: tuple(np.linalg.qr(a)), (a,), (v,))
    omega = q.T @ dq
    np.testing.assert_allclose(omega, -omega.T, atol=1e-12)  # Q^T dQ antisymmetric
    np.testing.assert_allclose(np.tril(dr, -1), 0.0, atol=1e-12)  # dR upper triangular
    np.testing.assert_allclose(dq @ r + q @ dr, v, atol=1e-12)  # dA = dQ R + Q dR


def test_qr_at_rank_deficiency_names_the_diagonal_entry():
    a = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])  # rank 1
    with pytest.raises(DegenerateDerivativeError, match=r"R\[1, 1\].*full column rank"):
        ad.jacfwd(lambda a: np.linalg.qr(a)[0])(a)
    with pytest.raises(UnsupportedArgumentError, match="mode='complete'.*not unique"):
        ad.grad(lambda a: np.sum(np.linalg.qr(a, mode="complete")[0]))(np.ones((3, 2)))


def test_pinv_at_a_rank_deficient_matrix_gives_the_constant_rank_derivative(rng):
    """Golub & Pereyra: along a direction that keeps the rank, the derivative exists and
    the rule gives it (checked by central differences and against JAX)."""
    u, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    w, _ = np.linalg.qr(rng.standard_normal((3, 2)))
    a = u @ np.diag([2.0, 1.0]) @ w.T  # 4 x 3, rank 2
    d = u @ rng.standard_normal((2, 2)) @ w.T  # stays in the rank-2 manifold
    _, got = ad.jvp(np.linalg.pinv, (a,), (d,))
    eps = 1e-6
    fd = (np.linalg.pinv(a + eps * d) - np.linalg.pinv(a - eps * d)) / (2 * eps)
    np.testing.assert_allclose(got, fd, atol=1e-7)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    want = jax.jvp(jax.numpy.linalg.pinv, (a,), (d,))[1]
    np.testing.assert_allclose(got, np.asarray(want), atol=1e-10)
    _, pullback = ad.vjp(np.linalg.pinv, a)
    cot = rng.standard_normal((3, 4))
    (a_bar,) = pullback(cot)
    assert abs(np.sum(a_bar * d) - np.sum(cot * got)) < 1e-10  # <A_bar, dA> = <P_bar, dP>


def test_lstsq_reports_rank_and_differentiates_at_full_rank(rng):
    a, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    x, res, rank, s = np.linalg.lstsq(a, b)
    seen = {}

    def f(a, b):
        out = np.linalg.lstsq(a, b)
        seen["rank"] = out[2]
        return out[0]

    ad.check_grads(f, (a, b), order=2)
    assert seen["rank"] == rank == 3


def test_logaddexp_is_exact_to_second_order_at_a_tie():
    h = ad.hessian(lambda v: np.logaddexp(v[0], v[1]))(np.zeros(2))
    np.testing.assert_allclose(h, [[0.25, -0.25], [-0.25, 0.25]], atol=1e-15)


def test_piecewise_constant_functions_have_zero_derivative():
    x = np.array([0.3, 1.7, -2.2])
    np.testing.assert_allclose(ad.jacfwd(lambda x: np.round(x) + np.floor(x))(x), 0.0)
    np.testing.assert_allclose(ad.jacfwd(lambda x: x % 1.0)(x), np.eye(3))
    np.testing.assert_allclose(ad.grad(lambda x: round(x) * 1.0 + x)(0.7), 1.0)
    q, r = ad.jvp(lambda x: divmod(x, 0.5), (x,), (np.ones(3),))[1]
    np.testing.assert_allclose(q, 0.0)
    np.testing.assert_allclose(r, 1.0)


def test_tolist_gives_traced_scalars():
    np.testing.assert_allclose(ad.grad(lambda x: sum(v * v for v in x.tolist()))(np.ones(3)),
                               [2.0, 2.0, 2.0])  # fmt: skip


def test_the_default_engine_falls_back_for_pending_kernels():
    f = lambda x: np.sum(np.cumsum(x) ** 2)  # noqa: E731
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(ad.grad(f)(x), ad.grad(f, engine="reference")(x))
    from tests.pending import KERNEL_PENDING

    if "cumsum" in KERNEL_PENDING:
        with pytest.raises(ad.errors.GraphError, match="no instruction"):
            ad.grad(f, engine="compiled")(x)


# ----------------------------------------------------------------------------------
# Errors that name the keyword, the file, or the NumPy spelling
# ----------------------------------------------------------------------------------

X = np.array([0.5, -0.25, 1.5])


def _trace(f):
    return ad.trace(f, X)


def test_out_into_a_numpy_array_names_out():
    buf = np.zeros(3)
    with pytest.raises(UnsupportedArgumentError, match="out=") as err:
        _trace(lambda x: np.tanh(x, out=buf))
    assert "tanh(..., out=buf)" in str(err.value)
    with pytest.raises(UnsupportedArgumentError, match="out="):
        _trace(lambda x: np.sum(x, out=np.zeros(())))


def test_out_into_a_traced_array_updates_it():
    def f(x):
        buf = np.zeros_like(x)
        np.exp(x, out=buf)
        np.multiply(buf, 2.0, out=buf, where=x > 0)
        return buf

    np.testing.assert_allclose(ad.jacfwd(f)(X), np.diag(np.exp(X) * np.where(X > 0, 2.0, 1.0)))


def test_where_without_out_names_where():
    with pytest.raises(UnsupportedArgumentError, match=r"where=.*np\.where"):
        _trace(lambda x: np.exp(x, where=x > 0))


def test_dtype_and_unsupported_modes_are_named():
    with pytest.raises(UnsupportedArgumentError, match="dtype="):
        _trace(lambda x: np.sum(x, dtype=np.float32))
    with pytest.raises(UnsupportedArgumentError, match="mode='linear_ramp'"):
        _trace(lambda x: np.pad(x, 1, mode="linear_ramp"))
    with pytest.raises(ValueError, match="specify 'initial'"):  # NumPy's own error
        _trace(lambda x: np.max(x, where=x > 0))


def test_in_place_operator_on_a_numpy_array_shows_the_fix():
    def f(x):
        buf = np.zeros(3)
        buf += x
        return buf

    with pytest.raises(UnsupportedArgumentError, match=r"buf = buf \+ x.*zeros_like"):
        _trace(f)


def test_assigning_into_np_zeros_names_zeros_like():
    def f(x):
        buf = np.zeros(3)
        buf[0] = x[1]
        return buf

    # NumPy calls float() on a 0-d tracer and re-raises our error as the cause of its own
    # "setting an array element with a sequence" ValueError
    with pytest.raises(ValueError) as err:
        _trace(f)
    cause = err.value.__cause__
    assert isinstance(cause, TracerError), err.value
    assert "cannot be intercepted" in str(cause) and "np.zeros_like(x)" in str(cause)

    def g(x):
        buf = np.zeros(3)
        buf[:2] = x[1:]
        return buf

    with pytest.raises(TracerError, match=r"cannot be intercepted.*np\.zeros_like\(x\)"):
        _trace(g)
    with pytest.raises(UnsupportedArgumentError, match="zeros_like"):
        _trace(lambda x: np.add.at(np.zeros(3), [0], x[0]))


def test_np_array_of_traced_scalars_names_np_stack():
    with pytest.raises(TracerError, match=r"np\.stack\(\[a, b\]\)") as err:
        _trace(lambda x: np.array([x[0], x[1]]))
    assert str(err.value).index("np.stack") < str(err.value).index("math.sin")  # first hint


def test_math_functions_name_the_numpy_spelling():
    with pytest.raises(TracerError, match=r"math\.sin\(x\).*np\.sin\(x\)") as err:
        ad.grad(lambda x: math.sin(x) * x)(0.3)
    assert "math.sin" in str(err.value).split("Fixes: ")[1].split(";")[0]  # the first hint


def test_scipy_logsumexp_names_the_ad_spelling():
    special = pytest.importorskip("scipy.special")
    with pytest.raises(TracerError, match=r"scipy\.special.*ad\.numpy\.logsumexp"):
        _trace(lambda x: special.logsumexp(x))
    np.testing.assert_allclose(
        ad.grad(lambda x: ad.numpy.logsumexp(x))(X), np.exp(X) / np.sum(np.exp(X))
    )


def test_a_missing_function_names_ad_numpy_py():
    with pytest.raises(UnsupportedOperationError, match=r"numpy\.i0.*ad/numpy\.py"):
        _trace(lambda x: np.i0(x))
    with pytest.raises(UnsupportedOperationError, match="eigh"):
        ad.trace(lambda a: np.linalg.eigvals(a), np.eye(2))
