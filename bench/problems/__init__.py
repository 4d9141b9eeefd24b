"""Problem families of the benchmark: one module each, ``make(n, m, T, seed) -> Problem``.

``FAMILIES`` names them and ``DEFAULT_FAMILIES`` those a sweep runs by default (both
defined in :mod:`bench.families`, which the CLI reads before any numerical library is
imported); :func:`make` builds one cell by family name (``seminar`` and ``sparse`` take
a variant, written ``seminar:<variant>``, ``sparse:<variant>``).
"""

from __future__ import annotations

from bench.families import DEFAULT_FAMILIES, FAMILIES
from bench.problems import linear, logistic, mlp, random, rosenbrock, seminar, small, sparse
from bench.problems.base import Problem


def make(family: str, n: int, m: int, T: int, seed: int) -> Problem:
    """Build the cell (n, m, T, seed) of ``family`` (``"seminar:<variant>"`` for seminar)."""
    name, _, variant = family.partition(":")
    if name == "seminar":
        return seminar.make(n, m, T, seed, variant=variant or "quadratic")
    if name == "sparse":
        return sparse.make(n, m, T, seed, variant=variant or "banded3")
    modules = {
        "linear": linear,
        "random": random,
        "mlp": mlp,
        "rosenbrock": rosenbrock,
        "small": small,
        "logistic": logistic,
    }
    if name not in modules:
        raise ValueError(f"unknown problem family {family!r}; one of {FAMILIES}")
    return modules[name].make(n, m, T, seed)


__all__ = ["DEFAULT_FAMILIES", "FAMILIES", "Problem", "make"]
