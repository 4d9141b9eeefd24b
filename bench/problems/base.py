"""What every problem family returns: a :class:`Problem` (one interface per tool).

A problem is one cell of the benchmark grid: the Wengert list our engines run, the
plain NumPy function it was traced from (or that interprets it), the seeded inputs,
an independent Jacobian where one exists, and a JAX-traceable version of the same
function for the peer. Families are modules of :mod:`bench.problems` exposing
``make(n, m, T, seed) -> Problem``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ad


@dataclass
class Problem:
    """One benchmark cell of a problem family.

    ``graph`` takes ``args`` (a tuple of float64 arrays) and returns one array of
    ``m`` entries (or a scalar when ``m == 1``); ``f(*args)`` computes the same with
    NumPy; ``jacobian(*args)`` is an independent Jacobian of shape ``(m, n)`` (a closed
    form, or the complex-step derivative for ``random``), ``None`` if there is none;
    ``jax_f(*args)`` is ``f`` written with ``jax.numpy`` (``None`` if not expressible).
    ``T`` is the family's size knob as reported: the exact number of arithmetic
    operations for ``random``, the number of Wengert-list nodes otherwise.

    ``hand`` holds the hand-written NumPy derivatives, the practical limit a user
    without AD reaches (the ``numpy`` peer of the benchmark), each a function of
    ``args``: ``"gradient"`` (shape of x, for m == 1), ``"jacobian"`` (shape (m, n),
    the cheaper order of the chain rule) and ``"hessian"`` (shape (n, n)). ``ag_f`` is
    ``f`` written with ``autograd.numpy`` for HIPS autograd (``None``: not expressible).
    ``notes["hand_jacobian"]`` says which order the hand-written chain takes.
    """

    family: str
    n: int
    m: int
    T: int
    seed: int
    graph: ad.Graph
    f: Callable[..., Any]
    args: tuple[np.ndarray, ...]
    jacobian: Callable[..., np.ndarray] | None = None
    jacobian_kind: str = "none"
    jax_f: Callable[..., Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    hand: dict[str, Callable[..., Any]] = field(default_factory=dict)
    ag_f: Callable[..., Any] | None = None

    @property
    def nodes(self) -> int:
        """Number of equations in the Wengert list (T plus bookkeeping nodes)."""
        return len(self.graph)

    def flat_jacobian(self) -> np.ndarray | None:
        """The independent Jacobian as an ``(m, n)`` array, or None."""
        if self.jacobian is None:
            return None
        return np.reshape(np.asarray(self.jacobian(*self.args), dtype=np.float64), (self.m, self.n))


def scalar_problem(
    family: str,
    seed: int,
    f: Callable[..., Any],
    x: np.ndarray,
    gradient: Callable[..., Any],
    *,
    jax_f: Callable[..., Any],
    ag_f: Callable[..., Any],
    hand: dict[str, Callable[..., Any]] | None = None,
    notes: dict[str, Any] | None = None,
) -> Problem:
    """The cell of an R^n -> R family: ``f`` traced at ``x`` (n = x.size, m = 1, T the
    node count), its Jacobian the closed-form ``gradient`` as one row, ``hand`` the
    hand-written derivatives (default: the gradient alone). Raises what ``ad.trace``
    raises."""
    graph = ad.trace(f, x)
    n = int(x.size)
    return Problem(
        family=family,
        n=n,
        m=1,
        T=len(graph),
        seed=seed,
        graph=graph,
        f=f,
        args=(x,),
        jacobian=lambda x: np.reshape(gradient(x), (1, n)),
        jacobian_kind="closed form",
        jax_f=jax_f,
        notes={} if notes is None else notes,
        hand={"gradient": gradient} if hand is None else hand,
        ag_f=ag_f,
    )


def seeded(seed: int, *salt: int) -> np.random.Generator:
    """A NumPy generator for (seed, salt...): every family draws its data from one."""
    return np.random.default_rng([int(seed), *map(int, salt)])
