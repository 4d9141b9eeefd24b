"""``mlp``: f(x) = W3 tanh(W2 tanh(W1 x)), hidden width 128: a tensor-level graph.

Traced from the NumPy code with :func:`ad.trace`. Weights are seeded normal with
variance 1 / fan-in (so the tanh units are neither saturated nor linear). Closed form:
J = W3 diag(1 - h2^2) W2 diag(1 - h1^2) W1 with h1 = tanh(W1 x), h2 = tanh(W2 h1).

The hand-written NumPy peer evaluates that chain in the cheaper order (FACTS.md: 0.4-1.1x
JAX's jit time, the practical limit on tensor graphs): from the input side for n < m
((128 x n) products, 128^2 n + 128 m n flops), from the output side otherwise ((m x 128)
products, 128^2 m + 128 m n flops).

Example::

    p = make(64, 8, 0, seed=0)        # J = p.jacobian(*p.args), shape (8, 64)
"""

from __future__ import annotations

import numpy as np

import ad
from bench.problems.base import Problem, seeded

HIDDEN = 128


def make(n: int, m: int, T: int, seed: int) -> Problem:
    """The ``mlp`` cell: n inputs, m outputs, two hidden layers of 128; T is ignored."""
    rng = seeded(seed, n, m)
    W1 = rng.standard_normal((HIDDEN, n)) / np.sqrt(n)
    W2 = rng.standard_normal((HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)
    W3 = rng.standard_normal((m, HIDDEN)) / np.sqrt(HIDDEN)
    x = rng.standard_normal(n)

    def f(x: np.ndarray) -> np.ndarray:
        return W3 @ np.tanh(W2 @ np.tanh(W1 @ x))

    def jax_f(x):
        import jax.numpy as jnp

        return W3 @ jnp.tanh(W2 @ jnp.tanh(W1 @ x))

    def jacobian(x: np.ndarray) -> np.ndarray:
        h1 = np.tanh(W1 @ x)
        h2 = np.tanh(W2 @ h1)
        return W3 @ ((1 - h2**2)[:, None] * (W2 @ ((1 - h1**2)[:, None] * W1)))

    def ag_f(x):
        import autograd.numpy as anp

        return W3 @ anp.tanh(W2 @ anp.tanh(W1 @ x))

    def hand_jacobian(x: np.ndarray) -> np.ndarray:
        h1 = np.tanh(W1 @ x)
        h2 = np.tanh(W2 @ h1)
        if n < m:  # input side first: (128, n) intermediates
            inner = (1.0 - h2 * h2)[:, None] * (W2 @ ((1.0 - h1 * h1)[:, None] * W1))
            return W3 @ inner
        outer = (W3 * (1.0 - h2 * h2)[None, :]) @ W2  # output side first: (m, 128)
        return (outer * (1.0 - h1 * h1)[None, :]) @ W1

    graph = ad.trace(f, x)
    return Problem(
        family="mlp",
        n=n,
        m=m,
        T=len(graph),
        seed=seed,
        graph=graph,
        f=f,
        args=(x,),
        jacobian=jacobian,
        jacobian_kind="closed form",
        jax_f=jax_f,
        hand={"jacobian": hand_jacobian},
        ag_f=ag_f,
        notes={"hand_jacobian": "input side first" if n < m else "output side first"},
    )
