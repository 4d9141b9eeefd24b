"""``linear``: f(x) = A x, the seminar's own forward-versus-reverse experiment.

n = 100 in the sweeps and m varies so that n / m runs from 0.01 to 100. A is a seeded
standard normal (m, n) matrix, a constant of the graph (one ``matmul`` node), and the
closed-form Jacobian is A itself (the hand-written NumPy peer returns a copy of A, as
a user's Jacobian function would return a fresh array). Forward mode pushes p tangents
through A (m n p flops per sweep, ceil(n / p) sweeps), reverse mode pulls q cotangents
back (q m n flops, ceil(m / q) sweeps), so the Jacobian costs m n^2 forward and m^2 n
reverse: the modes cross at n / m = 1.

Example::

    p = make(100, 10, 0, seed=0)      # p.graph: v2 = matmul(v1, v0); J = A
"""

from __future__ import annotations

import numpy as np

import ad
from bench.problems.base import Problem, seeded


def make(n: int, m: int, T: int, seed: int) -> Problem:
    """The ``linear`` cell: A of shape (m, n), x of shape (n,); T is ignored (one node)."""
    rng = seeded(seed, n, m)
    A = rng.standard_normal((m, n))
    x = rng.standard_normal(n)

    def f(x: np.ndarray) -> np.ndarray:
        return A @ x

    def jax_f(x):
        return A @ x

    def ag_f(x):
        return A @ x

    graph = ad.trace(f, x)
    return Problem(
        family="linear",
        n=n,
        m=m,
        T=len(graph),
        seed=seed,
        graph=graph,
        f=f,
        args=(x,),
        jacobian=lambda x: A,
        jacobian_kind="closed form",
        jax_f=jax_f,
        hand={"jacobian": lambda x: A.copy()},
        ag_f=ag_f,
        notes={"hand_jacobian": "A itself (copied)"},
    )
