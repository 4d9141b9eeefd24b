"""The problem families of the benchmark, named once.

``FAMILIES`` is every family :func:`bench.problems.make` builds; ``DEFAULT_FAMILIES``
what ``python -m bench`` runs without ``--problems`` (the sparse family has its own run,
``make bench-sparse``). This module imports no numerical library: the CLI reads it
before it pins the process to one core (:mod:`bench.machine`).
"""

from __future__ import annotations

FAMILIES = ("linear", "random", "mlp", "rosenbrock", "seminar", "small", "logistic", "sparse")
#: What runs without --problems: every family but ``sparse``.
DEFAULT_FAMILIES = tuple(f for f in FAMILIES if f != "sparse")
