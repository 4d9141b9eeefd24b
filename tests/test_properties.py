"""Property test: random straight-line programs; forward, reverse and finite
differences agree, and every chunk width gives the same Jacobian."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ad

OPS = ["add", "sub", "mul", "sin", "cos", "tanh", "arctan", "square", "rev", "sum", "matmul",
       "div", "exp", "slice"]  # fmt: skip


def run(prog, M, x):
    vals = [x, np.sin(x)]
    for kind, i, j in prog:
        a, b = vals[i % len(vals)], vals[j % len(vals)]
        v = {
            "add": lambda: a + b,
            "sub": lambda: a - b,
            "mul": lambda: np.tanh(a * b),
            "sin": lambda: np.sin(a),
            "cos": lambda: np.cos(a),
            "tanh": lambda: np.tanh(a),
            "arctan": lambda: np.arctan(a),
            "square": lambda: 0.5 * a**2,
            "rev": lambda: a[::-1],
            "sum": lambda: np.sum(a) * b / len(a),
            "matmul": lambda: M @ a,
            "div": lambda: a / (1.0 + b**2),
            "exp": lambda: np.exp(np.tanh(a)),
            "slice": lambda: np.concatenate([a[1:], b[:1]]),
        }[kind]()
        vals.append(v)
    return np.concatenate([vals[-1], vals[-2][:3]])


programs = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prog=programs, n=st.integers(13, 17), seed=st.integers(0, 2**16))
def test_forward_reverse_and_finite_differences_agree(engine, prog, n, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.standard_normal(n)
    f = lambda x: run(prog, M, x)
    J = ad.jacfwd(f, chunk=1, engine=engine)(x)
    eps = 1e-6
    fd = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(n)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-6)
    for chunk in {1, n // 3, n // 2, n, n + 1}:
        fwd = ad.jacfwd(f, chunk=chunk, engine=engine)(x)
        rev = ad.jacrev(f, chunk=chunk, engine=engine)(x)
        np.testing.assert_allclose(fwd, J, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(rev, J, rtol=1e-12, atol=1e-14)
