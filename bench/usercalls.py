"""What a user pays per call: ``ad``'s function transformations end to end (issue 12).

Three tools behind the interface of :mod:`bench.tools`, run only in the grid cells
marked ``Cell.api``:

- ``ad``: the un-jitted transformations, ``ad.grad(f)(x)``, ``ad.hessian(f)(x)``,
  ``ad.hvp(f)(x, v)``; every call traces f, lowers a new Graph and sweeps it;
- ``ad.jit``: the same under ``ad.jit`` (``ad.jit(ad.grad(f))``, ...), plus
  ``ad.jit(f)`` as ``primal``: the first call (trace, lower, cache) is outside the
  timed rounds, so the rounds time the replay a loop of calls pays;
- ``autograd``: HIPS autograd's ``grad``, ``hessian`` and ``hessian_vector_product``
  on the problem's ``ag_f``, where autograd is installed.

``ad.jit`` is written against its planned API, ``ad.jit(fun, static_argnums=())``,
composable with every transformation. While ``ad`` has no ``jit`` (:func:`jit_available`),
its rows are recorded with ``available = False`` and no timing, and the report says so.
Every mode ``gd`` runs the gradient-descent loop of :mod:`bench.problems.logistic`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import ad
from bench.problems.logistic import descend, steps
from bench.tools import (
    SLOW_CALL,
    Tool,
    _first_call,
    _traced_peak,
    alternating,
    default_chunk,
    directions,
    expected,
    rel_error,
)

#: The note of a row whose tool does not exist at this revision.
NO_JIT = "not available: ad has no jit at this revision"


def jit_available() -> bool:
    """True if ``ad.jit`` exists (the planned ``ad.jit(fun, static_argnums=())``)."""
    return hasattr(ad, "jit")


def autograd_available() -> bool:
    """True if HIPS autograd can be imported."""
    try:
        import autograd  # noqa: F401
    except ImportError:
        return False
    return True


class _Transforming(Tool):
    """A tool defined by its transformations: ``transform(mode, f)`` -> callable."""

    def transform(self, mode: str, f: Callable[..., Any]) -> Callable[..., Any] | None:
        """The user's function for ``mode`` (None if the tool has no such call)."""
        raise NotImplementedError

    def function_of(self, problem: Any) -> Callable[..., Any] | None:
        """The problem's f as this tool needs it (plain NumPy for ``ad``)."""
        return problem.f

    def unavailable(self) -> str | None:
        """Why the tool cannot run at all (None: it can)."""
        return None

    def hessian_chunk(self, n: int) -> int:
        """Directions per sweep of the tool's Hessian (ours: the default chunk)."""
        return default_chunk(n)

    def cases(self, problem, modes, chunks, ref):
        """See :class:`bench.tools.Tool`; every mode in ``modes`` the tool has."""
        x = problem.args
        v, _ = directions(problem)
        f = self.function_of(problem)
        out = []
        for mode in modes:
            if mode in ("grad", "hessian", "hvp", "gd") and problem.m != 1:
                continue
            if mode == "gd" and problem.family != "logistic":
                continue
            chunk = self.hessian_chunk(problem.n) if mode == "hessian" else 1
            calls = steps(problem) if mode == "gd" else 1
            why = self.unavailable()
            if why is not None or f is None:
                info = {"available": False, "detail": why or "no function for this tool"}
                out.append(self._case(problem, mode, chunk, None, info, calls))
                continue
            call = self.transform(mode, f)
            if call is None:
                continue
            if mode == "gd":
                fn = lambda call=call: descend(call, x[0], steps(problem))
            elif mode == "hvp":
                fn = alternating(lambda xs, call=call: call(*xs, v), x)
            else:
                fn = alternating(lambda xs, call=call: call(*xs), x)
            expect = np.asarray(problem.f(*x)) if mode == "primal" else None
            if mode != "primal":
                expect = expected(problem, mode, v, ref)
            t0 = time.perf_counter()
            res, first = _first_call(fn)
            info = {"compile_s": first, "error": rel_error(res, expect)}
            if mode != "gd" and first < SLOW_CALL:
                info["peak_bytes"] = _traced_peak(fn)
                info["peak_method"] = "tracemalloc"
            info["prepare_s"] = time.perf_counter() - t0
            out.append(self._case(problem, mode, chunk, fn, info, calls))
        return out


class AdCalls(_Transforming):
    """``ad.grad``, ``ad.hessian``, ``ad.hvp`` as a user calls them, un-jitted or
    under ``ad.jit`` (``jit=True``: engine name ``ad.jit``)."""

    def __init__(self, jit: bool = False):
        self.jit = jit
        self.name = "ad.jit" if jit else "ad"

    def unavailable(self) -> str | None:
        """``ad.jit`` rows wait for ``ad.jit``."""
        return NO_JIT if self.jit and not jit_available() else None

    def transform(self, mode, f):
        """The user's call; under ``ad.jit`` the transformation is wrapped once."""
        base = {
            "primal": f if self.jit else None,
            "grad": ad.grad(f),
            "hessian": ad.hessian(f),
            "hvp": ad.hvp(f),
            "gd": ad.grad(f),
        }.get(mode)
        if base is None or not self.jit:
            return base
        return ad.jit(base)


class Autograd(_Transforming):
    """HIPS autograd: ``grad``, ``hessian``, ``hessian_vector_product`` (no compilation)."""

    name = "autograd"

    def hessian_chunk(self, n: int) -> int:
        """autograd's Hessian is a Jacobian of the gradient, one row per reverse pass."""
        return 1

    def function_of(self, problem):
        """The problem written with ``autograd.numpy`` (``Problem.ag_f``)."""
        return problem.ag_f

    def unavailable(self) -> str | None:
        """Rows are recorded as not available where autograd is not installed."""
        return None if autograd_available() else "not available: autograd is not installed"

    def transform(self, mode, f):
        """autograd's transformation of ``f`` for ``mode``."""
        import autograd

        return {
            "grad": autograd.grad(f),
            "hessian": autograd.hessian(f),
            "hvp": autograd.hessian_vector_product(f),
            "gd": autograd.grad(f),
        }.get(mode)
