"""The micro-benchmarks' workloads: issue 3's random scalar Wengert list and issue 5's
extended Rosenbrock function."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Scalar operations of the workload (issue 3).
T = 100_000

#: Input sizes of the Rosenbrock benchmarks, and the one the Hessian is timed at (issue 5).
ROSENBROCK_N = (10, 100, 1000)
HESSIAN_N = 100


def random_workload(n: int, m: int, T: int = T, seed: int = 0) -> Any:
    """The random program of ``bench/problems/random.py`` (n inputs, m outputs, T ops)."""
    from bench.problems.random import random_graph

    return random_graph(n, m, T, seed)


def rosenbrock(x: Any, xp: Any = np) -> Any:
    """The extended Rosenbrock function sum 100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2.

    ``xp`` is the array module: NumPy (traced by ``ad``) or ``jax.numpy``, so both
    libraries differentiate literally the same expression (as ``bench/problems``).
    """
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_point(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded point x in [-1.5, 1.5]^n and a direction v ~ N(0, I) for the hvp."""
    rng = np.random.default_rng([seed, n])
    return rng.uniform(-1.5, 1.5, n), rng.standard_normal(n)
