"""``seminar``: the seminar's matrix-calculus problems at growing sizes (all R^n -> R).

Variants (``make(..., variant=...)``), each with the seminar's closed-form gradient:

- ``quadratic``  f(x) = 1/2 x^T A x + b^T x + c        grad = 1/2 (A + A^T) x + b
- ``cubic_norm`` f(x) = 1/3 ||x||_2^3                   grad = ||x|| x
- ``trace_inv``  f(X) = tr(A X^-1 B), X of k x k        grad = -(X^-1 B A X^-1)^T
- ``logdet``     f(X) = log det X, X SPD of k x k        grad = X^-T

For the matrix variants n = k^2 (k = round(sqrt(n))). The closed forms are also the
hand-written NumPy peers (``hand["gradient"]``); ``quadratic`` and ``cubic_norm`` have a
hand-written Hessian too: (A + A^T) / 2 and ||x|| I + x x^T / ||x||. They need the ``inv`` and
``slogdet`` primitives; a variant whose function does not trace raises
:class:`UnavailableError` (the sweep prints a notice and skips it).

Example::

    p = make(100, 1, 0, seed=0, variant="quadratic")
"""

from __future__ import annotations

import math

import numpy as np

import ad
from bench.problems.base import Problem, scalar_problem, seeded

VARIANTS = ("quadratic", "cubic_norm", "trace_inv", "logdet")


class UnavailableError(RuntimeError):
    """A variant whose NumPy function cannot be traced with this version of ``ad``."""


def make(n: int, m: int, T: int, seed: int, variant: str = "quadratic") -> Problem:
    """One seminar cell; m must be 1; T is ignored (reported as the node count)."""
    if m != 1:
        raise ValueError(f"seminar problems are scalar (m == 1), got m={m}")
    rng = seeded(seed, n, VARIANTS.index(variant))
    if variant == "quadratic":
        A = rng.standard_normal((n, n)) / math.sqrt(n)
        b = rng.standard_normal(n)
        c = 0.5
        x = rng.standard_normal(n)

        def f(x):
            return 0.5 * (x @ (A @ x)) + b @ x + c

        def grad(x):
            return 0.5 * (A + A.T) @ x + b

        def hessian(x):
            return 0.5 * (A + A.T)

    elif variant == "cubic_norm":
        x = rng.standard_normal(n)

        def f(x):
            return np.linalg.norm(x) ** 3 / 3.0

        def grad(x):
            return np.linalg.norm(x) * x

        def hessian(x):
            r = np.linalg.norm(x)
            return r * np.eye(x.size) + np.outer(x, x) / r

    elif variant == "trace_inv":
        k = round(math.sqrt(n))
        A = rng.standard_normal((k, k))
        B = rng.standard_normal((k, k))
        x = np.eye(k) + 0.5 * rng.standard_normal((k, k)) / math.sqrt(k)

        def f(X):
            return np.trace(A @ np.linalg.inv(X) @ B)

        def grad(X):
            Xi = np.linalg.inv(X)
            return -(Xi @ B @ A @ Xi).T

    elif variant == "logdet":
        k = round(math.sqrt(n))
        G = rng.standard_normal((k, k))
        x = G @ G.T / k + np.eye(k)

        def f(X):
            return np.linalg.slogdet(X)[1]

        def grad(X):
            return np.linalg.inv(X).T

    else:
        raise ValueError(f"unknown seminar variant {variant!r}; one of {VARIANTS}")

    def jax_f(x):
        import jax.numpy as jnp

        if variant == "quadratic":
            return 0.5 * (x @ (A @ x)) + b @ x + c
        if variant == "cubic_norm":
            return jnp.linalg.norm(x) ** 3 / 3.0
        if variant == "trace_inv":
            return jnp.trace(A @ jnp.linalg.inv(x) @ B)
        return jnp.linalg.slogdet(x)[1]

    def ag_f(x):
        import autograd.numpy as anp

        if variant == "quadratic":
            return 0.5 * (x @ (A @ x)) + b @ x + c
        if variant == "cubic_norm":
            return anp.linalg.norm(x) ** 3 / 3.0
        if variant == "trace_inv":
            return anp.trace(A @ anp.linalg.inv(x) @ B)
        return anp.linalg.slogdet(x)[1]

    hand = {"gradient": grad}
    if variant in ("quadratic", "cubic_norm"):
        hand["hessian"] = hessian
    try:
        return scalar_problem(
            f"seminar:{variant}", seed, f, x, grad, jax_f=jax_f, ag_f=ag_f, hand=hand
        )
    except ad.errors.ADError as err:
        raise UnavailableError(f"seminar:{variant} does not trace: {err}") from None
