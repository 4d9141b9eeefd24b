"""``logistic``: L2-regularised logistic regression, the loss of issue 12's loop.

L(w) = mean_i log(1 + exp(-y_i <X_i, w>)) + (lam / 2) ||w||^2 over a seeded data matrix
X of shape (N, n) (N = 500 rows, n = 20 weights in the benchmark) with labels y_i in
{-1, +1} drawn from a logistic model. The benchmark runs plain gradient descent on it,
w <- w - lr grad L(w), for ``STEPS`` steps from w = 0 (one user call of the gradient per
step: the loop a user writes). L is strongly convex and lr < 2 / Lipschitz, so every
tool's iterates converge to the same weights and round-off does not grow along the loop.
Closed-form gradient (the hand-written NumPy peer), with z = y * (X w):
grad L = -X^T (y / (1 + exp(z))) / N + lam w.

Example::

    p = make(20, 1, 0, seed=0)        # p.notes["rows"] == 500
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.problems.base import Problem, scalar_problem, seeded

ROWS, LAM, LR, STEPS = 500, 1e-2, 1.0, 1000


def make(n: int, m: int, T: int, seed: int, rows: int = ROWS) -> Problem:
    """The ``logistic`` cell: n weights, ``rows`` samples; m must be 1; T is the number of
    descent steps of the loop (0: ``STEPS``; the reported T is the node count)."""
    if m != 1 or n < 1:
        raise ValueError(f"logistic is R^n -> R: needs m == 1, got n={n}, m={m}")
    rng = seeded(seed, n, rows)
    X = rng.standard_normal((rows, n))
    w_true = rng.standard_normal(n) / np.sqrt(n)
    y = np.where(rng.random(rows) < 1.0 / (1.0 + np.exp(-X @ w_true)), 1.0, -1.0)
    w0 = np.zeros(n)

    def f(w: np.ndarray) -> Any:
        return np.mean(np.log1p(np.exp(-y * (X @ w)))) + 0.5 * LAM * (w @ w)

    def jax_f(w):
        import jax.numpy as jnp

        return jnp.mean(jnp.log1p(jnp.exp(-y * (X @ w)))) + 0.5 * LAM * (w @ w)

    def ag_f(w):
        import autograd.numpy as anp

        return anp.mean(anp.log1p(anp.exp(-y * (X @ w)))) + 0.5 * LAM * (w @ w)

    def gradient(w: np.ndarray) -> np.ndarray:
        z = y * (X @ w)
        return X.T @ (-y / (1.0 + np.exp(z))) / rows + LAM * w

    notes = {"rows": rows, "steps": int(T) or STEPS, "lr": LR}
    return scalar_problem("logistic", seed, f, w0, gradient, jax_f=jax_f, ag_f=ag_f, notes=notes)


def descend(grad: Callable[[Any], Any], w0: Any, steps: int = STEPS, lr: float = LR) -> Any:
    """Gradient descent: ``steps`` times w <- w - lr grad(w), from w0; returns w."""
    w = w0
    for _ in range(steps):
        w = w - lr * grad(w)
    return w


def steps(problem: Problem) -> int:
    """The number of descent steps of ``problem``'s loop (``STEPS`` unless set)."""
    return int(problem.notes.get("steps", STEPS))
