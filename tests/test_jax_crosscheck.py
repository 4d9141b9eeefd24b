"""JAX cross-check: a battery of composite functions written once against a NumPy-like
module; ad.jacfwd, ad.jacrev and jax.jacfwd agree to 1e-10 relative."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import ad  # noqa: E402

rng = np.random.default_rng(7)
W1, b1 = rng.standard_normal((5, 4)), rng.standard_normal(5)
W2 = rng.standard_normal((3, 5))
A = rng.standard_normal((4, 4))


def mlp(m, x):
    return W2 @ m.tanh(W1 @ x + b1)


def softmax(m, x):
    z = m.exp(x - m.max(x))
    return z / m.sum(z)


def logsumexp(m, x):
    c = m.max(x)
    return m.log(m.sum(m.exp(x - c))) + c


def layer_norm(m, x):
    mu = m.mean(x)
    return (x - mu) / m.sqrt(m.mean((x - mu) ** 2) + 1e-5)


def attention(m, x):
    q = x.reshape(2, 2)
    s = q @ q.T
    w = m.exp(s) / m.sum(m.exp(s), axis=1, keepdims=True)
    return (w @ q).ravel()


BATTERY = {
    "mlp": mlp,
    "softmax": softmax,
    "logsumexp": logsumexp,
    "layer_norm": layer_norm,
    "attention": attention,
    "norm2": lambda m, x: m.linalg.norm(x),
    "frobenius": lambda m, x: m.linalg.norm(x.reshape(2, 2)),
    "quadratic": lambda m, x: 0.5 * x @ A @ x,
    "product": lambda m, x: m.prod(x),
    "cumulative": lambda m, x: m.stack([x[0], x[0] * x[1], x[0] * x[1] * x[2]]),
    "indexing": lambda m, x: x[m.array([3, 0, 0])] * x[1:3].sum(),
    "reversal": lambda m, x: x[::-1] * m.sin(x),
    "outer": lambda m, x: m.outer(x, m.cos(x)).ravel(),
    "trace": lambda m, x: m.trace(m.outer(x, x) @ A),
    "concatenate": lambda m, x: m.concatenate([x, x**2, m.exp(x[:2])]),
    "where": lambda m, x: m.where(x > 0, x**3, m.sin(x)),
    "maximum": lambda m, x: m.maximum(x, 0.3) * m.minimum(x, -0.2),
    "hyperbolic": lambda m, x: m.sinh(x) * m.cosh(x[::-1]) + m.arctan(x),
    "powers": lambda m, x: m.abs(x) ** 1.5 + x**3 - 1 / (1 + x**2),
    "log_exp": lambda m, x: m.log1p(m.exp(x)) - m.expm1(x / 3),
    "transpose": lambda m, x: (x.reshape(2, 2).T @ x.reshape(2, 2)).ravel(),
    "broadcast": lambda m, x: (x[:, None] * x[None, :] + x).sum(axis=0),
    "max_axis": lambda m, x: m.max(x.reshape(2, 2) * m.array([[1.0, 2.0], [3.0, 4.0]]), axis=1),
    "sqrt_tan": lambda m, x: m.sqrt(1 + x**2) * m.tan(x / 3),
}


@pytest.mark.parametrize("name", sorted(BATTERY))
def test_ad_matches_jax(name, engine):
    fn = BATTERY[name]
    x = np.array([0.3, -0.7, 1.1, 0.5])
    expected = np.asarray(jax.jacfwd(lambda x: fn(jnp, x))(jnp.asarray(x)))
    for jac in (ad.jacfwd, ad.jacrev):
        got = jac(lambda x: fn(np, x), engine=engine)(x)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=name)
