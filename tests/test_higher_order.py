"""Higher order by composition (issue 5): nested transforms, Hessians, HVPs."""

import numpy as np
import pytest

import ad


def test_nested_grad_of_tanh_two_and_three_deep(engine):
    d2 = ad.grad(ad.grad(np.tanh), engine=engine)(2.0)
    d3 = ad.grad(ad.grad(ad.grad(np.tanh)), engine=engine)(2.0)
    assert d2 == pytest.approx(-0.13621868742711296, abs=1e-14)
    assert d3 == pytest.approx(0.25265406509806265, abs=1e-14)


def test_no_perturbation_confusion(engine):
    # Siskind & Pearlmutter: d/dx [x * (d/dy (x + y))(y=1)] at x = 1 is 1, not 2
    f = lambda x: x * ad.grad(lambda y: x + y)(1.0)
    assert ad.grad(f, engine=engine)(1.0) == 1.0
    assert ad.jacfwd(f, engine=engine)(1.0) == 1.0


@pytest.mark.parametrize("n", [1, 5, 50])
def test_seminar_problem_3_hessian(n, engine, rng):
    x = rng.standard_normal(n)
    f = lambda x: np.linalg.norm(x) ** 3 / 3
    r = np.linalg.norm(x)
    np.testing.assert_allclose(ad.grad(f, engine=engine)(x), r * x, rtol=1e-10)
    H = ad.hessian(f, engine=engine)(x)
    np.testing.assert_allclose(H, r * np.eye(n) + np.outer(x, x) / r, rtol=1e-10, atol=1e-12)


def test_hessian_of_a_quadratic(engine, rng):
    A, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    f = lambda x: 0.5 * x @ A @ x + b @ x
    np.testing.assert_allclose(ad.hessian(f, engine=engine)(np.ones(4)), 0.5 * (A + A.T))


def test_hessian_of_logistic_regression(engine, rng):
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20).astype(float)

    def loss(w):
        z = X @ w
        return np.sum(np.log1p(np.exp(z)) - y * z)

    w = rng.standard_normal(3) * 0.3
    p = 1 / (1 + np.exp(-X @ w))
    H = ad.hessian(loss, engine=engine)(w)
    np.testing.assert_allclose(H, X.T @ np.diag(p * (1 - p)) @ X, rtol=1e-10)


def test_hvp_matches_hessian_and_finite_differences(engine, rng):
    f = lambda x: np.sum(np.sin(x) * x[::-1]) + np.sum(x**2) ** 2
    x, v = rng.standard_normal(6), rng.standard_normal(6)
    hv = ad.hvp(f, engine=engine)(x, v)
    np.testing.assert_allclose(hv, ad.hessian(f, engine=engine)(x) @ v, rtol=1e-10)
    g = ad.grad(f, engine="reference")
    eps = 1e-6
    np.testing.assert_allclose(hv, (g(x + eps * v) - g(x - eps * v)) / (2 * eps), rtol=1e-6)


def test_every_nesting_of_the_two_modes_agrees(engine, rng):
    f = lambda x: np.sum(np.tanh(x) * x[::-1] ** 2)
    x = rng.standard_normal(4)
    hessians = [
        ad.jacfwd(ad.grad(f), engine=engine)(x),
        ad.jacrev(ad.grad(f), engine=engine)(x),
        ad.jacfwd(ad.jacrev(f), engine=engine)(x),
        ad.jacrev(ad.jacfwd(f), engine=engine)(x),
        ad.hessian(f, engine=engine)(x),
    ]
    for H in hessians[1:]:
        np.testing.assert_allclose(H, hessians[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hessians[0], hessians[0].T, rtol=1e-10, atol=1e-12)


def test_grad_of_a_function_that_calls_jvp_and_vjp(engine, rng):
    x, v = rng.standard_normal(3), rng.standard_normal(3)
    f = lambda x: np.sum(np.sin(x) ** 2)
    # d/dx <grad f(x), v> = H v, computed three ways
    via_jvp = ad.grad(lambda x: ad.jvp(f, (x,), (v,))[1], engine=engine)(x)
    via_vjp = ad.grad(lambda x: ad.vjp(f, x)[1](1.0)[0] @ v, engine=engine)(x)
    np.testing.assert_allclose(via_jvp, ad.hvp(f)(x, v), rtol=1e-12)
    np.testing.assert_allclose(via_vjp, via_jvp, rtol=1e-12)


def test_the_derivative_of_a_graph_is_a_graph():
    g = ad.trace(ad.grad(lambda x: np.sum(np.sin(x) * x)), np.ones(3))
    assert isinstance(g, ad.Graph) and g.n_in == 3 and g.n_out == 3
    assert any(e.prim.name == "cos" for e in g.eqns)  # the derivative rule, recorded
    x = np.linspace(0, 1, 3)
    np.testing.assert_allclose(
        ad.reference.evaluate(g, [x])[g.outputs[0].id], np.sin(x) + x * np.cos(x)
    )


def test_third_order_tensor(engine):
    f = lambda x: np.sum(x**4) / 4
    T = ad.jacfwd(ad.jacfwd(ad.grad(f)), engine=engine)(np.array([1.0, 2.0]))
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0], expected[1, 1, 1] = 6.0, 12.0
    np.testing.assert_allclose(T, expected)


def test_gradient_graph_gives_hvp_and_hessian_on_an_engine(engine, rng):
    f = lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    graph = ad.trace(f, x)
    G = ad.reverse.gradient_graph(graph, x)
    assert G.n_in == 5 and G.n_out == 5
    H = ad.hessian(f, engine="reference")(x)
    np.testing.assert_allclose(ad.forward.jvp(G, x, v, engine=engine)[1], H @ v, rtol=1e-12)
    np.testing.assert_allclose(ad.forward.jacobian(G, x, engine=engine), H, rtol=1e-12)
    np.testing.assert_allclose(ad.reverse.jacobian(G, x, engine=engine), H, rtol=1e-12)
