"""One interface per tool (ADBench / gradbench style): prepare a problem, hand back cases.

A tool turns a :class:`~bench.problems.base.Problem` into :class:`Case` objects, one
per (mode, chunk): a zero-argument callable to time, plus what was measured while
preparing it outside the timed rounds (the first call, i.e. lowering / compilation,
its wall time; the error against the problem's independent Jacobian; memory).

Tools and their modes (the ``engine`` and ``mode`` columns of the results):

- ``compiled`` / ``reference``: our engines (``engine=`` passed explicitly).
  ``primal`` = ``graph(x)`` (compiled) or the reference primal sweep; ``jvp`` = one
  tangent sweep; ``vjp`` = one cotangent: recording + one adjoint sweep (the gradient
  for m = 1); ``jac_fwd`` / ``jac_rev`` = the full Jacobian with chunk p or q.
- ``jax``: ``jax.jit`` of f, ``jax.jvp``, ``jax.vjp``, ``jacfwd``, ``jacrev`` (float64;
  all directions in one vmapped sweep, so chunk = n or m).
- ``fd``: central finite differences over the NumPy f (2 n evaluations).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ad
from ad.engine import pick_chunk
from bench.problems.base import Problem, seeded

#: The CLI's engine names and what they select: (tool, modes).
ENGINE_CHOICES = {
    "forward": ("compiled", ("primal", "jvp", "jac_fwd")),
    "reverse": ("compiled", ("primal", "vjp", "jac_rev")),
    "reference": ("reference", ("primal", "jvp", "vjp", "jac_fwd", "jac_rev")),
    "jax": ("jax", ("primal", "jvp", "vjp", "jac_fwd", "jac_rev")),
    "fd": ("fd", ("primal", "jac_fd")),
    # the sparse family's own tool (bench/sparse_tools.py): ours coloured and dense, JAX,
    # asdex, sparsejac, scipy's grouped differences
    "sparse": ("sparse", ("primal", "jac_sparse")),
}


#: Calls slower than this (first call, seconds) get no extra tracemalloc call.
SLOW_CALL = 1.0


@dataclass
class Case:
    """One timed function of one cell: ``fn()`` is what pytest-benchmark times."""

    key: dict[str, Any]
    fn: Callable[[], Any]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A unique, readable test id for pytest."""
        k = self.key
        return (
            f"{k['problem']}-{k['engine']}-{k['mode']}-n{k['n']}-m{k['m']}-T{k['T']}-c{k['chunk']}"
        )


def select(engines: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Map CLI engine names to {tool: modes} (forward + reverse share one primal)."""
    out: dict[str, list[str]] = {}
    for name in engines:
        tool, modes = ENGINE_CHOICES[name]
        have = out.setdefault(tool, [])
        have.extend(m for m in modes if m not in have)
    return {t: tuple(m) for t, m in out.items()}


def rel_error(x: Any, ref: np.ndarray | None) -> float:
    """ADBench's error: max |x - y| / max(1, |x| + |y|) over entries (NaN without ref)."""
    if ref is None:
        return float("nan")
    x = np.reshape(np.asarray(x, dtype=np.float64), np.shape(ref))
    return float(np.max(np.abs(x - ref) / np.maximum(1.0, np.abs(x) + np.abs(ref)), initial=0.0))


def directions(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Seeded tangent (input-shaped) and cotangent (output-shaped) directions."""
    rng = seeded(problem.seed, problem.n, problem.m, 7)
    v = rng.standard_normal(np.shape(problem.args[0]))
    out_shape = problem.graph.outputs[0].shape
    u = rng.standard_normal(out_shape) if out_shape else np.float64(rng.standard_normal())
    return v, u


def injected_slowdown(mode: str) -> int:
    """How many times to repeat a call of ``mode``: ``BENCH_SLOWDOWN="forward=2"`` makes
    every jvp and forward Jacobian of our engines do its work twice ("reverse=2": vjp
    and reverse Jacobian). Used to demonstrate that ``bench check`` catches a slowdown."""
    spec = os.environ.get("BENCH_SLOWDOWN", "")
    side = {"jvp": "forward", "jac_fwd": "forward", "vjp": "reverse", "jac_rev": "reverse"}
    for item in filter(None, spec.split(",")):
        name, _, factor = item.partition("=")
        if name.strip() == side.get(mode):
            return max(1, int(factor or 2))
    return 1


def _repeated(fn: Callable[[], Any], k: int) -> Callable[[], Any]:
    if k == 1:
        return fn

    def slow() -> Any:
        for _ in range(k - 1):
            fn()
        return fn()

    return slow


def alternating(fn: Callable[[tuple], Any], args: tuple) -> Callable[[], Any]:
    """``fn`` of the inputs, called alternately at ``args`` and at ``args`` with one bit
    of the first entry changed (``np.nextafter``).

    The compiled reverse mode keeps its tape and skips the recording sweep when called
    again at bit-identical inputs; a gradient or Jacobian timed at a fixed x would then
    leave the recording out. Alternating makes every timed call a call at a new point
    (as in an optimisation loop), at the cost of nothing measurable.
    """
    first = np.array(args[0], dtype=np.float64)
    flat = first.reshape(-1)
    flat[0] = np.nextafter(flat[0], np.inf)
    pair = (tuple(args), (first, *args[1:]))
    state = [0]

    def call() -> Any:
        state[0] ^= 1
        return fn(pair[state[0]])

    return call


def _first_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _traced_peak(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated through Python's allocators (NumPy included) during fn()."""
    tracemalloc.start()
    try:
        fn()
        return int(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


class Tool:
    """The interface: ``cases(problem, modes, chunks, reference)`` -> list of Case."""

    name = "tool"

    def cases(
        self,
        problem: Problem,
        modes: Sequence[str],
        chunks: Sequence[int | None],
        ref: np.ndarray | None,
    ) -> list[Case]:
        """Prepare every (mode, chunk) of ``problem`` for timing."""
        raise NotImplementedError

    def _key(self, problem: Problem, mode: str, chunk: int) -> dict[str, Any]:
        return {
            "problem": problem.family,
            "engine": self.name,
            "mode": mode,
            "n": problem.n,
            "m": problem.m,
            "T": problem.T,
            "nodes": problem.nodes,
            "chunk": int(chunk),
            "seed": problem.seed,
        }


def _chunks(total: int, chunks: Sequence[int | None]) -> list[int]:
    """Chunk widths to run for ``total`` seeds: None is the default rule; deduplicated."""
    out: list[int] = []
    for c in chunks:
        w = pick_chunk(total) if c is None else min(int(c), total)
        if w not in out:
            out.append(w)
    return out


class Ours(Tool):
    """Our engines through their public APIs, ``engine="compiled"`` or ``"reference"``."""

    def __init__(self, engine: str):
        self.name = engine
        self.engine = engine

    def cases(self, problem, modes, chunks, ref):
        """See :class:`Tool`; memory: tape bytes for reverse, tracemalloc peak per call."""
        g, x, eng = problem.graph, problem.args, self.engine
        v, u = directions(problem)
        out: list[Case] = []

        def add(mode: str, chunk: int, fn: Callable[[], Any], expect: Any) -> None:
            fn = _repeated(fn, injected_slowdown(mode))
            res, first = _first_call(fn)
            info = {"compile_s": first, "error": rel_error(res, expect)}
            if first < SLOW_CALL:
                info["peak_bytes"] = _traced_peak(fn)
                info["peak_method"] = "tracemalloc"
            else:
                info["peak_method"] = f"not measured (call > {SLOW_CALL:g} s)"
            if mode in ("vjp", "jac_rev"):
                info["tape_bytes"] = self.tape_bytes(problem)
            out.append(Case(self._key(problem, mode, chunk), fn, info))

        for mode in modes:
            if mode == "primal":
                if eng == "compiled":
                    fn = alternating(lambda xs: g(*xs), x)
                else:
                    fn = alternating(lambda xs: ad.reference.evaluate(g, xs), x)
                res, first = _first_call(fn)
                info = {"compile_s": first, "peak_bytes": _traced_peak(fn)}
                info["peak_method"] = "tracemalloc"
                if eng == "compiled":
                    info["error"] = rel_error(res, np.asarray(problem.f(*x)))
                out.append(Case(self._key(problem, "primal", 1), fn, info))
            elif mode == "jvp":
                fn = alternating(lambda xs: ad.forward.jvp(g, xs, (v,), engine=eng)[1], x)
                add("jvp", 1, fn, None if ref is None else ref @ np.ravel(v))
            elif mode == "vjp":
                fn = alternating(lambda xs: ad.reverse.vjp(g, xs, u, engine=eng)[1], x)
                add("vjp", 1, fn, None if ref is None else np.ravel(u) @ ref)
            elif mode in ("jac_fwd", "jac_rev"):
                api = ad.forward if mode == "jac_fwd" else ad.reverse
                total = problem.n if mode == "jac_fwd" else problem.m
                for c in _chunks(total, chunks):
                    fn = alternating(
                        lambda xs, api=api, c=c: api.jacobian(g, xs, chunk=c, engine=eng), x
                    )
                    add(mode, c, fn, ref)
        return out

    def tape_bytes(self, problem: Problem) -> int:
        """Tape size: the compiled engine's own count, or the bytes of every value kept."""
        if self.engine == "compiled":
            return int(ad.reverse.tape_bytes(problem.graph))
        env = ad.reference.evaluate(problem.graph, problem.args)
        return int(sum(np.asarray(a).nbytes for a in env.values()))


class FiniteDifferences(Tool):
    """Central differences over the problem's NumPy f: 2 n evaluations per Jacobian."""

    name = "fd"

    def cases(self, problem, modes, chunks, ref):
        """See :class:`Tool`; the step is eps^(1/3) max(1, |x_i|) (optimal for O(h^2))."""
        f, x = problem.f, problem.args[0]
        out: list[Case] = []
        if "primal" in modes:
            fn = lambda: f(x)
            _, first = _first_call(fn)
            info = {"compile_s": first, "peak_bytes": _traced_peak(fn)}
            info["peak_method"] = "tracemalloc"
            out.append(Case(self._key(problem, "primal", 1), fn, info))
        if "jac_fd" in modes:
            fn = lambda: central_differences(f, x, problem.m)
            res, first = _first_call(fn)
            info = {"compile_s": first, "error": rel_error(res, ref)}
            info["peak_bytes"] = _traced_peak(fn)
            info["peak_method"] = "tracemalloc"
            out.append(Case(self._key(problem, "jac_fd", 1), fn, info))
        return out


def central_differences(f: Callable[[np.ndarray], Any], x: np.ndarray, m: int) -> np.ndarray:
    """The (m, x.size) Jacobian of f by central differences, one input at a time."""
    flat = np.array(x, dtype=np.float64).ravel()
    h = np.cbrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(flat))
    J = np.empty((m, flat.size))
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h[i]
        hi = np.ravel(f(flat.reshape(np.shape(x))))
        flat[i] = keep - h[i]
        lo = np.ravel(f(flat.reshape(np.shape(x))))
        flat[i] = keep
        J[:, i] = (hi - lo) / (2.0 * h[i])
    return J
