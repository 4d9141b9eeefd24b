"""``small``: the 7-node f of issue 12, f(x) = sin(x_0) tanh(x_1) x_2 (R^3 -> R).

Its Wengert list is three ``gather`` nodes (the entries of x), ``sin``, ``tanh`` and two
``mul``: a call on it is almost all fixed cost (tracing, lowering, dispatch), which is
what a user pays per ``ad.grad(f)(x)`` in a loop. Closed-form gradient (the hand-written
NumPy peer): (cos x_0 tanh x_1 x_2, sin x_0 (1 - tanh^2 x_1) x_2, sin x_0 tanh x_1).

Example::

    p = make(3, 1, 0, seed=0)         # len(p.graph) == 7
"""

from __future__ import annotations

import numpy as np

from bench.problems.base import Problem, scalar_problem, seeded


def f(x: np.ndarray) -> np.ndarray:
    """sin(x_0) tanh(x_1) x_2."""
    return np.sin(x[0]) * np.tanh(x[1]) * x[2]


def gradient(x: np.ndarray) -> np.ndarray:
    """The hand-written gradient."""
    s, c, t = np.sin(x[0]), np.cos(x[0]), np.tanh(x[1])
    return np.array([c * t * x[2], s * (1.0 - t * t) * x[2], s * t])


def make(n: int, m: int, T: int, seed: int) -> Problem:
    """The ``small`` cell: n must be 3 and m 1; T is ignored (7 nodes)."""
    if n != 3 or m != 1:
        raise ValueError(f"small is R^3 -> R: needs n == 3 and m == 1, got n={n}, m={m}")
    x = seeded(seed, n).uniform(-1.0, 1.0, size=n)

    def jax_f(x):
        import jax.numpy as jnp

        return jnp.sin(x[0]) * jnp.tanh(x[1]) * x[2]

    def ag_f(x):
        import autograd.numpy as anp

        return anp.sin(x[0]) * anp.tanh(x[1]) * x[2]

    return scalar_problem("small", seed, f, x, gradient, jax_f=jax_f, ag_f=ag_f)
