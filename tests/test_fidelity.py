"""No silent wrong answers (issue 15): one regression test per defect the issue reproduced.

Points 1-3 (NumPy semantics and signatures) are also covered table-wide by
``test_numpy_conformance.py``; point 9 (symmetric matrices) is in
``primitives/test_linalg.py``; point 10 (the benchmark's baseline and ``--out``) in
``bench/``; points 4 and 5 (interrupts, threads) in ``kernels/test_kernels_program.py``
(an interrupted sweep, threads calling one Graph) and ``test_jit.py`` (threads sharing a
jitted function).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ad
from ad.errors import GraphError, NonFiniteError, PrecisionWarning
from ad.ir import GraphBuilder, Var


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


X23 = np.arange(6.0).reshape(2, 3) / 10 + 0.05


# -- 1. np.inner ----------------------------------------------------------------------


def test_inner_contracts_the_last_axes_values_and_derivatives(jax, engine):
    jnp = jax.numpy
    A, B, v = X23, np.cos(X23 + 1.0), np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(ad.trace(np.inner, A, B)(A, B), A @ B.T, rtol=1e-14)
    np.testing.assert_allclose(ad.trace(np.inner, v, A)(v, A), A @ v, rtol=1e-14)
    for f, args in ((np.inner, (A, B)), (np.inner, (v, A)), (np.inner, (A, v))):
        jac = ad.jacrev(f, argnums=(0, 1), engine=engine)(*args)
        want = jax.jacrev(getattr(jnp, f.__name__), argnums=(0, 1))(*args)
        for got, w in zip(jac, want):
            np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-14)


# -- 2. order= in reshape / ravel -------------------------------------------------------


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x.reshape(3, 2, order="F"),
        lambda x: np.reshape(x, (3, 2), order="F"),
        lambda x: np.reshape(x, (3, 2), "F"),
        lambda x: np.ravel(x, order="F"),
        lambda x: x.ravel("F"),
        lambda x: x.flatten(order="F"),
    ],
)
def test_fortran_order_is_honoured(f, engine):
    np.testing.assert_array_equal(ad.trace(f, X23)(X23), f(X23))
    J = ad.jacfwd(lambda x: f(x) * np.arange(1.0, 7.0).reshape(f(X23).shape), engine=engine)(X23)
    want = np.zeros(f(X23).shape + X23.shape)
    for idx in np.ndindex(X23.shape):  # the linear map applied to each basis matrix
        e = np.zeros(X23.shape)
        e[idx] = 1.0
        want[(...,) + idx] = f(e) * np.arange(1.0, 7.0).reshape(f(X23).shape)
    np.testing.assert_array_equal(J, want)


def test_order_k_is_rejected_for_reshape_as_numpy_does():
    with pytest.raises(ValueError, match="order 'K'"):
        ad.trace(lambda x: np.reshape(x, (3, 2), order="K"), X23)


# -- 3. positional arguments, repeated axes and argnums ----------------------------------


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.sum(x, 0, float),
        lambda x: x.sum(0, float),
        lambda x: np.mean(x, 0, np.float64),
        lambda x: np.prod(x, 1, float),
        lambda x: x.prod(1, float),
    ],
)
def test_a_positional_dtype_is_not_read_as_keepdims(f):
    assert ad.trace(f, X23)(X23).shape == f(X23).shape  # (3,) or (2,), not (1, 3)
    np.testing.assert_allclose(ad.trace(f, X23)(X23), f(X23), rtol=1e-14)


@pytest.mark.parametrize("f", [np.sum, np.mean, np.prod, np.max, np.min])
def test_a_repeated_axis_raises_as_numpy(f):
    with pytest.raises(ValueError):
        f(X23, axis=(0, 0))
    with pytest.raises(ValueError):
        ad.trace(lambda x: f(x, axis=(0, 0)), X23)
    with pytest.raises(np.exceptions.AxisError if hasattr(np, "exceptions") else ValueError):
        ad.trace(lambda x: f(x, axis=2), X23)


@pytest.mark.parametrize("transform", [ad.grad, ad.value_and_grad, ad.jacfwd, ad.jacrev])
def test_repeated_argnums_raise_as_in_jax(transform):
    with pytest.raises(ValueError, match="argnums"):
        transform(lambda x, y: x * y, argnums=(0, 0))(2.0, 3.0)
    with pytest.raises(ValueError, match="argnums"):
        transform(lambda x, y: x * y, argnums=(1, -1))(2.0, 3.0)


# -- 6. constants are snapshotted at trace time --------------------------------------------


def test_a_captured_array_mutated_after_tracing_changes_no_engine():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([0.5, -1.0])
    graph = ad.trace(lambda x: np.sum(np.tanh(A @ x) * A[0]), x)
    value = graph(x)
    grads = {e: ad.reverse.gradient(graph, x, engine=e) for e in ("reference", "compiled")}
    A[:] = -7.0  # in place, after tracing (and before the first compiled call of new graphs)
    graph2 = ad.trace(lambda x: np.sum(np.tanh(A @ x) * A[0]), x)  # sees the new values
    fresh = ad.trace(lambda x: np.sum(np.tanh(x)), x)  # unrelated: compiled lowering
    assert fresh(x) == pytest.approx(np.sum(np.tanh(x)))
    for engine in ("reference", "compiled"):
        np.testing.assert_array_equal(ad.reverse.gradient(graph, x, engine=engine), grads[engine])
        _, y_dot = ad.forward.jvp(graph, x, np.ones(2), engine=engine)
        assert np.isfinite(y_dot)
    np.testing.assert_allclose(grads["reference"], grads["compiled"], rtol=1e-14)
    assert graph(x) == value
    assert graph2(x) != value


def test_a_graph_that_was_never_run_keeps_the_trace_time_constants():
    """The compiled engine copies constants when it lowers (on the first call): a
    mutation between tracing and that call must not leak in."""
    A = np.array([1.0, 2.0, 3.0])
    x = np.array([0.1, 0.2, 0.3])
    graph = ad.trace(lambda x: np.sum(A * x), x)
    A *= 10.0
    assert graph(x) == pytest.approx(0.1 + 0.4 + 0.9)
    np.testing.assert_allclose(ad.reverse.gradient(graph, x), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(ad.reverse.gradient(graph, x, engine="reference"), [1.0, 2.0, 3.0])


def test_a_constant_changed_during_tracing_is_read_again():
    A = np.array([1.0, 2.0])

    def f(x):
        y = A * x
        A[0] = 5.0  # NumPy would use the new value below
        return np.sum(y + A * x)

    x = np.array([1.0, 1.0])
    want = f(x.copy())
    A[0] = 1.0
    graph = ad.trace(f, x)
    assert graph(x) == pytest.approx(want)


def test_graph_constants_are_read_only_copies():
    b = GraphBuilder()
    c = np.array([1.0, 2.0])
    v = b.const(c)
    c[0] = 9.0
    assert b.const_values[v.id][0] == 1.0
    with pytest.raises(ValueError):
        b.const_values[v.id][0] = 3.0


# -- 7. Graph.validate checks shapes at every use ---------------------------------------


def test_validate_rejects_a_use_with_another_shape():
    b = GraphBuilder()
    b.input((3,))
    y = b.apply("sin", Var(0, (1000,)))  # v0 read as (1000,): defined as (3,)
    with pytest.raises(GraphError, match=r"reads v0 with shape \(1000,\).*\(3,\)"):
        b.build(y)
    b = GraphBuilder()
    x = b.input((3,))
    with pytest.raises(GraphError, match="v0"):
        b.build(Var(x.id, (2,)))  # an output with another shape


# -- 8. non-finite values: one policy for both engines -------------------------------------

ENGINES = ("reference", "compiled")


@pytest.mark.parametrize(
    "f, x, node",
    [
        (np.log, -1.0, r"`v1 = log\(v0\)`"),
        (lambda x: 1.0 / x, 0.0, r"div"),
        (np.sin, np.nan, r"input 0"),
    ],
    ids=["log(-1)", "1/0", "nan input"],
)
def test_both_engines_raise_naming_the_node(f, x, node):
    messages = []
    for engine in ENGINES:
        for transform in (ad.grad, ad.jacfwd, ad.jacrev):
            with pytest.raises(NonFiniteError, match=node) as err:
                transform(f, engine=engine)(x)
            messages.append(str(err.value))
    assert len(set(messages)) == 1, messages  # the same report whatever the engine


def test_propagate_returns_numpys_nan_and_inf_on_both_engines():
    for engine in ENGINES:
        with ad.nonfinite("propagate"):
            assert np.isnan(ad.value_and_grad(np.log, engine=engine)(-1.0)[0])
            assert ad.grad(lambda x: 1.0 / x, engine=engine)(0.0) == -np.inf
            g = ad.trace(np.log, np.ones(2))
            y = g(np.array([-1.0, 0.0]))
            assert np.isnan(y[0]) and y[1] == -np.inf
            _, t = ad.forward.jvp(g, np.array([-1.0, 0.0]), np.ones(2), engine=engine)
            np.testing.assert_array_equal(t, [-1.0, np.inf])


def test_the_policy_switch_and_context_manager():
    assert ad.get_nonfinite() == "raise"
    with ad.nonfinite("propagate"):
        assert ad.get_nonfinite() == "propagate"
        with ad.nonfinite("raise"):
            with pytest.raises(NonFiniteError):
                ad.grad(np.log, engine="reference")(-1.0)
        assert ad.get_nonfinite() == "propagate"
    assert ad.get_nonfinite() == "raise"
    try:
        assert ad.set_nonfinite("propagate") == "raise"
        assert np.isnan(ad.trace(np.log, 1.0)(-1.0))
    finally:
        ad.set_nonfinite("raise")
    with pytest.raises(ValueError, match="propagate"):
        ad.set_nonfinite("ignore")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", [2.5, 1.0, 0.5, 0.0])
def test_the_derivative_of_zero_to_the_p_is_zero_as_in_jax(p, engine, jax):
    f = lambda p: 0.0**p  # noqa: E731
    want = jax.grad(lambda p: jax.numpy.power(0.0, p))(p)
    assert ad.grad(f, engine=engine)(p) == want == 0.0
    assert ad.jacfwd(f, engine=engine)(p) == 0.0
    both = ad.grad(lambda x, p: x**p, argnums=(0, 1), engine=engine)(0.0, 2.5)
    assert both == (0.0, 0.0)


def test_zero_to_a_negative_power_still_has_no_derivative(jax):
    with ad.nonfinite("propagate"):
        for engine in ENGINES:
            assert np.isnan(ad.grad(lambda p: 0.0**p, engine=engine)(-1.0))
    assert np.isnan(jax.grad(lambda p: jax.numpy.power(0.0, p))(-1.0))


def _masked(x):
    return np.where(x > 0, np.sqrt(np.abs(x)), 0.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_masked_where_branch_is_handled_as_jax_does(engine, jax):
    jf = lambda x: jax.numpy.where(x > 0, jax.numpy.sqrt(jax.numpy.abs(x)), 0.0)  # noqa: E731
    # forward mode: the derivative of the branch taken (0), as JAX's jvp
    assert ad.jacfwd(_masked, engine=engine)(0.0) == jax.jvp(jf, (0.0,), (1.0,))[1] == 0.0
    # reverse mode: 0 * inf = nan, as JAX's grad; "raise" says what happened, truthfully
    with pytest.raises(NonFiniteError) as err:
        ad.grad(_masked, engine=engine)(0.0)
    text = str(err.value)
    assert "sqrt" in text and "zero cotangent" in text and "0 * inf" in text
    assert "does not exist" not in text
    with ad.nonfinite("propagate"):
        assert np.isnan(ad.grad(_masked, engine=engine)(0.0))
    assert np.isnan(jax.grad(jf)(0.0))
    # away from 0, and with the operand masked too, the gradient is right
    assert ad.grad(_masked, engine=engine)(4.0) == 0.25
    double = lambda x: np.where(x > 0, np.sqrt(np.abs(np.where(x > 0, x, 1.0))), 0.0)  # noqa: E731
    assert ad.grad(double, engine=engine)(0.0) == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_an_infinite_derivative_is_named_as_such(engine):
    with pytest.raises(NonFiniteError, match=r"sqrt.*not finite there \(d v1 / d v0 is inf"):
        ad.grad(np.sqrt, engine=engine)(0.0)
    with pytest.raises(NonFiniteError, match=r"forward sweep.*sqrt.*not finite"):
        ad.jacfwd(np.sqrt, engine=engine)(0.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_abs_has_derivative_zero_at_zero_in_every_mode(engine):
    """PyTorch's convention (see the abs rule): 0, as |x| = maximum(x, -x) gives."""
    assert ad.grad(np.abs, engine=engine)(0.0) == 0.0
    assert ad.jacfwd(np.abs, engine=engine)(0.0) == 0.0
    assert ad.grad(lambda x: np.maximum(x, -x), engine=engine)(0.0) == 0.0
    np.testing.assert_array_equal(
        ad.grad(lambda x: np.linalg.norm(x, 1), engine=engine)(np.array([0.0, -2.0, 3.0])),
        [0.0, -1.0, 1.0],
    )
    np.testing.assert_array_equal(ad.hessian(np.abs, engine=engine)(0.0), 0.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_arrays_give_numpys_answer(engine):
    e = np.zeros(0)
    for f in (np.sum, np.prod):
        value, grad = ad.value_and_grad(f, engine=engine)(e)
        assert value == f(e) and grad.shape == (0,)
    for f, axis in ((np.sum, 0), (np.prod, 0), (np.prod, 1)):
        x = np.zeros((0, 3)) if axis == 0 else np.zeros((3, 0))
        np.testing.assert_array_equal(ad.trace(lambda x: f(x, axis=axis), x)(x), f(x, axis=axis))
        assert ad.jacrev(lambda x: f(x, axis=axis), engine=engine)(x).shape == (3,) + x.shape
    with pytest.raises(ValueError, match="zero-size array"):
        ad.grad(np.max, engine=engine)(e)
    assert ad.grad(lambda x: np.max(x, initial=2.0), engine=engine)(e).shape == (0,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with ad.nonfinite("propagate"):
            value, grad = ad.value_and_grad(np.mean, engine=engine)(e)
            assert np.isnan(value) and grad.shape == (0,)
        with pytest.raises(NonFiniteError, match=r"div"):  # 0 / 0, named
            ad.grad(np.mean, engine=engine)(e)


def test_the_mean_of_an_empty_slice_warns_as_numpy():
    with pytest.warns(RuntimeWarning, match="Mean of empty slice"):
        with ad.nonfinite("propagate"):
            ad.trace(np.mean, np.zeros(0))(np.zeros(0))


# -- dtypes: float32 / float16 inputs run in float64, and say so once --------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_a_lower_precision_input_warns_once_per_call_site(dtype):
    x = np.ones(3, dtype=dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            g = ad.grad(lambda x: np.sum(x**2))(x)  # one call site, three calls
    hits = [w for w in caught if issubclass(w.category, PrecisionWarning)]
    assert len(hits) == 1 and issubclass(hits[0].category, UserWarning)
    assert "float64" in str(hits[0].message) and str(np.dtype(dtype)) in str(hits[0].message)
    assert hits[0].filename == __file__  # attributed to the caller's line, not to ad
    assert g.dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ad.grad(lambda x: np.sum(x**2))(np.ones(3))  # float64: no warning
