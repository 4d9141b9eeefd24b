"""``rosenbrock``: the extended Rosenbrock function R^n -> R (the cheap-gradient principle).

f(x) = sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, traced from vectorised NumPy.
Its gradient costs a small constant times f in reverse mode (one adjoint sweep) but n
tangent sweeps in forward mode. Closed form: with d_i = x_{i+1} - x_i^2,
df/dx_i = -400 x_i d_i - 2 (1 - x_i) for i < n-1, plus 200 d_{i-1} for i > 0. The
Hessian is tridiagonal: H_ii = 1200 x_i^2 - 400 x_{i+1} + 2 (i < n-1) plus 200 (i > 0),
H_{i,i+1} = H_{i+1,i} = -400 x_i. Both are the hand-written NumPy peers.

Example::

    p = make(1000, 1, 0, seed=0)      # p.graph returns a scalar
"""

from __future__ import annotations

import numpy as np

from bench.problems.base import Problem, scalar_problem, seeded


def make(n: int, m: int, T: int, seed: int) -> Problem:
    """The ``rosenbrock`` cell: n >= 2 inputs, one output (m must be 1); T is ignored."""
    if n < 2 or m != 1:
        raise ValueError(f"rosenbrock needs n >= 2 and m == 1, got n={n}, m={m}")
    x = seeded(seed, n).uniform(-1.5, 1.5, size=n)

    def f(x: np.ndarray) -> np.ndarray:
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def jax_f(x):
        import jax.numpy as jnp

        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def ag_f(x):
        import autograd.numpy as anp

        return anp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    hand = {"gradient": gradient, "hessian": hessian}
    return scalar_problem("rosenbrock", seed, f, x, gradient, jax_f=jax_f, ag_f=ag_f, hand=hand)


def gradient(x: np.ndarray) -> np.ndarray:
    """The hand-written gradient (one pass over x, as a NumPy programmer writes it)."""
    head = x[:-1]
    d = x[1:] - head * head
    g = np.empty_like(x)
    g[:-1] = -400.0 * head * d - 2.0 * (1.0 - head)
    g[-1] = 0.0
    g[1:] += 200.0 * d
    return g


def hessian(x: np.ndarray) -> np.ndarray:
    """The hand-written Hessian: tridiagonal, stored dense as (n, n)."""
    n = x.size
    diag = np.zeros(n)
    diag[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    H = np.zeros((n, n))
    i = np.arange(n)
    H[i, i] = diag
    H[i[:-1], i[1:]] = H[i[1:], i[:-1]] = -400.0 * x[:-1]
    return H
