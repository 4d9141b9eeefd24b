"""The public transformations: JAX's names, signatures and result shapes."""

import numpy as np
import pytest

import ad
from ad.errors import NonScalarOutputError, ShapeError


def test_grad_of_a_numpy_ufunc_at_a_python_float(engine):
    assert ad.grad(np.tanh, engine=engine)(2.0) == pytest.approx(1 - np.tanh(2.0) ** 2)


def test_grad_argnums_int_and_tuple(engine):
    f = lambda x, y, z: np.sum(x * y) + z
    x, y = np.arange(3.0), np.ones(3)
    np.testing.assert_allclose(ad.grad(f, 1, engine=engine)(x, y, 2.0), x)
    gx, gz = ad.grad(f, (0, 2), engine=engine)(x, y, 2.0)
    np.testing.assert_allclose(gx, y)
    assert gz == 1.0
    with pytest.raises(ValueError, match="argnums"):
        ad.grad(f, 3)(x, y, 2.0)


def test_value_and_grad(engine):
    v, g = ad.value_and_grad(lambda x: np.sum(x**2), engine=engine)(np.array([1.0, 2.0]))
    assert v == 5.0
    np.testing.assert_allclose(g, [2.0, 4.0])


def test_grad_of_a_non_scalar_output_is_refused():
    with pytest.raises(NonScalarOutputError, match="scalar output"):
        ad.grad(lambda x: x * 2)(np.ones(3))


@pytest.mark.parametrize("jac", [ad.jacfwd, ad.jacrev])
def test_jacobian_shape_is_output_shape_plus_input_shape(jac, engine, rng):
    X = rng.standard_normal((2, 3))
    J = jac(lambda X: np.sin(X).T @ X, engine=engine)(X)
    assert J.shape == (3, 3, 2, 3)
    fd = np.zeros((3, 3, 2, 3))
    for i in range(2):
        for j in range(3):
            E = np.zeros((2, 3))
            E[i, j] = 1e-6
            fd[:, :, i, j] = (np.sin(X + E).T @ (X + E) - np.sin(X - E).T @ (X - E)) / 2e-6
    np.testing.assert_allclose(J, fd, atol=1e-8)


def test_jacobian_trees_follow_jax(engine):
    f = lambda x, y: (x * y, np.sum(x))
    x, y = np.ones(2), np.arange(2.0)
    (dx0, dy0), (dx1, dy1) = ad.jacfwd(f, (0, 1), engine=engine)(x, y)
    np.testing.assert_allclose(dx0, np.diag(y))
    np.testing.assert_allclose(dy0, np.diag(x))
    np.testing.assert_allclose(dx1, [1.0, 1.0])
    assert dy1.shape == (2,) and not dy1.any()
    rev = ad.jacrev(f, (0, 1), engine=engine)(x, y)
    np.testing.assert_allclose(rev[0][0], dx0)


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_modes_agree(mode, engine, rng):
    A = rng.standard_normal((4, 3))
    J = ad.jacobian(lambda x: np.tanh(A @ x), mode=mode, engine=engine)(np.ones(3))
    np.testing.assert_allclose(J, (1 - np.tanh(A @ np.ones(3)) ** 2)[:, None] * A)
    with pytest.raises(ValueError, match="mode"):
        ad.jacobian(np.sin, mode="sideways")


def test_jvp_and_vjp(engine, rng):
    A = rng.standard_normal((3, 4))
    x, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3)
    y, y_dot = ad.jvp(lambda x: A @ x, (x,), (v,), engine=engine)
    np.testing.assert_allclose(y_dot, A @ v)
    y2, pullback = ad.vjp(lambda x: A @ x, x, engine=engine)
    np.testing.assert_allclose(y2, y)
    np.testing.assert_allclose(pullback(u)[0], A.T @ u)
    with pytest.raises(ShapeError, match="cotangent"):
        pullback(np.ones(5))
    with pytest.raises(ShapeError, match="tangent 0"):
        ad.jvp(lambda x: A @ x, (x,), (np.ones(2),))


def test_outputs_that_do_not_depend_on_inputs_have_zero_derivative(engine):
    np.testing.assert_allclose(ad.jacrev(lambda x: np.ones(2), engine=engine)(np.ones(3)), 0)
    np.testing.assert_allclose(ad.jacfwd(lambda x: np.ones(2), engine=engine)(np.ones(3)), 0)
    assert ad.grad(lambda x: 3.0, engine=engine)(1.0) == 0.0


@pytest.mark.parametrize("chunk", [1, 4, 13, 14, 40])
def test_chunk_sizes_give_the_same_jacobian(chunk, engine, rng):
    x = rng.standard_normal(13)  # one longer than the default chunk threshold
    f = lambda x: np.sin(np.outer(x, x[:5])).ravel()[:20] * np.sum(x)
    ref = ad.jacfwd(f, chunk=1, engine="reference")(x)
    np.testing.assert_allclose(ad.jacfwd(f, chunk=chunk, engine=engine)(x), ref, rtol=1e-12)
    np.testing.assert_allclose(ad.jacrev(f, chunk=chunk, engine=engine)(x), ref, rtol=1e-12)


def test_pick_chunk_takes_every_direction_while_the_dual_buffer_fits():
    from ad.engine import pick_chunk

    budget = 8 * 100 * 50  # 100 rows x 50 directions
    assert [pick_chunk(n, rows=100, budget=budget) for n in (1, 12, 50)] == [1, 12, 50]
    # over the budget: the fewest chunks that fit, of even width
    assert pick_chunk(51, rows=100, budget=budget) == 26
    assert pick_chunk(1000, rows=100, budget=budget) == 50
    assert pick_chunk(1000, rows=10**9, budget=budget) == 1
