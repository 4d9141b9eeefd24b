"""The micro-benchmarks' workload: issue 3's random scalar Wengert list."""

from __future__ import annotations

from typing import Any

#: Scalar operations of the workload (issue 3).
T = 100_000


def random_workload(n: int, m: int, T: int = T, seed: int = 0) -> Any:
    """The random program of ``bench/problems/random.py`` (n inputs, m outputs, T ops)."""
    from bench.problems.random import random_graph

    return random_graph(n, m, T, seed)
