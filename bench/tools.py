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
- ``numpy``: the hand-written NumPy peer (``Problem.hand``): ``primal`` = the NumPy f,
  ``grad``, ``jac`` (the cheaper order of the chain rule), ``hessian``, and ``gd``.
- ``ad`` / ``ad.jit``: what a user calls (:mod:`bench.usercalls`): ``ad.grad(f)(x)``,
  ``ad.hessian(f)(x)``, ``ad.hvp(f)(x, v)`` un-jitted, and the same under ``ad.jit``
  (plus ``ad.jit(f)(x)`` as ``primal``); ``autograd``: HIPS autograd's ``grad``,
  ``hessian``, ``hessian_vector_product``.

Modes beyond the five of every cell (see ``OPTIONAL_MODES``), each run only where the
grid cell asks for it: ``grad`` (the gradient of a scalar f: on our engines
``ad.reverse.gradient`` on the prebuilt graph), ``jac`` (the Jacobian in the mode the
cost model picks, default chunk), ``hessian`` and ``hvp`` (forward over reverse on a
gradient graph built once), ``gd`` (``STEPS`` gradient-descent steps, issue 12's loop).

Every case says what its timed call does and what it may skip (``timed``, from
:func:`timed_text`): the report prints that table ("what a user pays").
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
from ad.engine import dual_rows, pick_chunk
from bench.problems.base import Problem, seeded
from bench.problems.logistic import descend, steps

#: The CLI's engine names and what they select: (tool, modes).
ENGINE_CHOICES = {
    "forward": ("compiled", ("primal", "jvp", "jac_fwd", "jac", "hessian", "hvp")),
    "reverse": ("compiled", ("primal", "vjp", "jac_rev", "jac", "grad", "gd")),
    "reference": (
        "reference",
        ("primal", "jvp", "vjp", "jac_fwd", "jac_rev", "grad", "jac", "hessian", "hvp", "gd"),
    ),
    "jax": ("jax", ("primal", "jvp", "vjp", "jac_fwd", "jac_rev", "grad", "hessian", "hvp", "gd")),
    "fd": ("fd", ("primal", "jac_fd")),
    "numpy": ("numpy", ("primal", "grad", "jac", "hessian", "gd")),
    "api": ("api", ("primal", "grad", "hessian", "hvp", "gd")),
    "autograd": ("autograd", ("grad", "hessian", "hvp", "gd")),
    # the sparse family's own tool (bench/sparse_tools.py): ours coloured and dense, JAX,
    # asdex, sparsejac, scipy's grouped differences
    "sparse": ("sparse", ("primal", "jac_sparse")),
}

#: Modes a grid cell runs only when it names them (``Cell.extra``).
OPTIONAL_MODES = ("grad", "jac", "hessian", "hvp", "gd")
#: Tools that run only in cells marked ``Cell.api`` (the user-facing calls of issue 12).
API_TOOLS = ("api", "autograd")


#: Calls slower than this (first call, seconds) get no extra tracemalloc call.
SLOW_CALL = 1.0


@dataclass
class Case:
    """One timed function of one cell: ``fn()`` is what pytest-benchmark times."""

    key: dict[str, Any]
    fn: Callable[[], Any] | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """False for a case recorded without timing (e.g. ``ad.jit`` does not exist yet)."""
        return self.fn is not None

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


def default_chunk(total: int, graph: Any = None, mode: str = "forward") -> int:
    """The chunk width our engines use for ``total`` seeds when none is given: all of
    them while the dual buffer of ``graph`` fits the engine's budget (see
    :func:`ad.engine.pick_chunk`; without a graph, all of them)."""
    rows = 1 if graph is None else dual_rows(graph, "compiled", mode)
    return int(pick_chunk(total, rows))


def timed_text(engine: str, mode: str) -> str:
    """What the timed call of (engine, mode) does, and what it can or cannot skip.

    The "what a user pays" column of the results (``timed``). Inputs alternate (see
    :func:`alternating`) for every tool whose result could depend on state kept from
    the previous call; JAX, NumPy, FD and autograd keep none between calls.
    """
    alt = "inputs alternate between x and x' (one bit of x[0] changed)"
    prebuilt = "on a Graph traced and lowered once outside the timing"
    loop = "the descent loop, `calls` steps w <- w - lr g(w) from w = 0 (every step at a new w)"
    ours = {
        "primal": f"graph(x) {prebuilt}; {alt}",
        "jvp": f"one tangent sweep {prebuilt}; {alt}",
        "vjp": f"recording + one adjoint sweep {prebuilt}; {alt}, so a tape kept from the "
        "previous call can never stand in for the recording",
        "jac_fwd": f"the full forward Jacobian (chunk in the row) {prebuilt}; {alt}",
        "jac_rev": f"the full reverse Jacobian (one recording, chunk in the row) {prebuilt}; {alt}",
        "grad": f"ad.reverse.gradient(graph, x): recording + adjoint sweep {prebuilt}; {alt}",
        "jac": f"the Jacobian in the mode ad.cost.choose_mode picked (chosen once, outside "
        f"the timing; see detail), default chunk, {prebuilt}; {alt}",
        "hessian": "ad.forward.jacobian(G, x) with G = ad.reverse.gradient_graph(graph, x) "
        f"built and lowered once outside the timing (forward over reverse); {alt}",
        "hvp": f"ad.forward.jvp(G, x, v), G built once outside the timing; {alt}",
        "gd": f"{loop}, g = ad.reverse.gradient on one prebuilt graph (valid here: f has "
        "no value-dependent control flow)",
    }
    api = {
        "grad": "ad.grad(f)(x): traces f, lowers a new Graph and sweeps it at every call",
        "hessian": "ad.hessian(f)(x): traces f and its gradient, lowers, sweeps, every call",
        "hvp": "ad.hvp(f)(x, v): traces and lowers at every call",
        "gd": f"{loop}, g = ad.grad(f) (trace + lower + sweep per step)",
    }
    jit = (
        "wrapper built and first called outside the timing (trace, lower, cache); each "
        "timed call looks up the cache and checks the guards, then replays"
    )
    jits = {
        "primal": f"ad.jit(f)(x): {jit}; {alt}",
        "grad": f"ad.jit(ad.grad(f))(x): {jit}; {alt}",
        "hessian": f"ad.jit(ad.hessian(f))(x): {jit}; {alt}",
        "hvp": f"ad.jit(ad.hvp(f))(x, v): {jit}; {alt}",
        "gd": f"{loop}, g = ad.jit(ad.grad(f)) (first call outside the timing)",
    }
    jaxc = (
        "compiled ahead of the timed rounds (lower + compile), block_until_ready; XLA "
        "keeps no values between calls, so a fixed x skips nothing"
    )
    jax = {
        "primal": f"jax.jit(f)(x), {jaxc}",
        "jvp": f"jax.jit of jax.jvp(f), {jaxc}",
        "vjp": f"jax.jit of jax.vjp(f) and its pullback, {jaxc}",
        "jac_fwd": f"jax.jit(jax.jacfwd(f)), {jaxc}",
        "jac_rev": f"jax.jit(jax.jacrev(f)), {jaxc}",
        "grad": f"jax.jit(jax.grad(f))(x), {jaxc}",
        "hessian": f"jax.jit(jax.hessian(f))(x), {jaxc}",
        "hvp": f"jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1]), {jaxc}",
        "gd": f"{loop}, g = jax.jit(jax.grad(f)) compiled outside the timing (update in NumPy)",
    }
    hand = {
        "primal": "the NumPy f(x)",
        "grad": "the hand-written NumPy gradient",
        "jac": "the hand-written NumPy Jacobian chain, cheaper order (see detail)",
        "hessian": "the hand-written NumPy Hessian",
        "gd": f"{loop}, g = the hand-written NumPy gradient",
    }
    ag = "HIPS autograd (no compilation: it traces f at every call)"
    autograd = {
        "grad": f"autograd.grad(f)(x), {ag}",
        "hessian": f"autograd.hessian(f)(x), {ag}",
        "hvp": f"autograd.hessian_vector_product(f)(x, v), {ag}",
        "gd": f"{loop}, g = autograd.grad(f), {ag}",
    }
    table = {
        "compiled": ours,
        "reference": {
            k: v.replace("graph(x)", "the reference primal sweep") for k, v in ours.items()
        },
        "jax": jax,
        "fd": {"primal": "the NumPy f(x)", "jac_fd": "2 n evaluations of the NumPy f"},
        "numpy": hand,
        "ad": api,
        "ad.jit": jits,
        "autograd": autograd,
    }
    return table.get(engine, {}).get(mode, "")


def _first_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    """The first call's result and time, then a second call, untimed: our engine
    specialises a program's hot fused groups on its second forward sweep
    (:mod:`ad.kernels.specialise`), a compilation that belongs with the set-up, not in
    the rounds or in the traced peak."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    fn()
    return out, first


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

    def _case(
        self,
        problem: Problem,
        mode: str,
        chunk: int,
        fn: Callable[[], Any] | None,
        info: dict[str, Any],
        calls: int = 1,
    ) -> Case:
        """A Case with the common columns: what is timed, user calls per timed call."""
        info = {"timed": timed_text(self.name, mode), "calls": calls, **info}
        return Case(self._key(problem, mode, chunk), fn, info)


def _chunks(total: int, chunks: Sequence[int | None], graph: Any, mode: str) -> list[int]:
    """Chunk widths to run for ``total`` seeds: None is the default rule; deduplicated."""
    out: list[int] = []
    for c in chunks:
        w = default_chunk(total, graph, mode) if c is None else min(int(c), total)
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

        def add(
            mode: str,
            chunk: int,
            fn: Callable[[], Any],
            expect: Any,
            calls: int = 1,
            **extra: Any,
        ) -> None:
            fn = _repeated(fn, injected_slowdown(mode))
            res, first = _first_call(fn)
            info = {"compile_s": first, "error": rel_error(res, expect), **extra}
            if first < SLOW_CALL:
                info["peak_bytes"] = _traced_peak(fn)
                info["peak_method"] = "tracemalloc"
            else:
                info["peak_method"] = f"not measured (call > {SLOW_CALL:g} s)"
            if mode in ("vjp", "jac_rev", "grad"):
                info["tape_bytes"] = self.tape_bytes(problem)
            out.append(self._case(problem, mode, chunk, fn, info, calls))

        G = None
        if {"hessian", "hvp"} & set(modes):
            t0 = time.perf_counter()
            G = ad.reverse.gradient_graph(g, x)
            build_G = time.perf_counter() - t0
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
                    if problem.family == "random":
                        info["lower_s_per_eqn"] = lowering_time(g) / max(len(g.eqns), 1)
                out.append(self._case(problem, "primal", 1, fn, info))
            elif mode == "jvp":
                fn = alternating(lambda xs: ad.forward.jvp(g, xs, (v,), engine=eng)[1], x)
                add("jvp", 1, fn, None if ref is None else ref @ np.ravel(v))
            elif mode == "vjp":
                fn = alternating(lambda xs: ad.reverse.vjp(g, xs, u, engine=eng)[1], x)
                add("vjp", 1, fn, None if ref is None else np.ravel(u) @ ref)
            elif mode in ("jac_fwd", "jac_rev"):
                api = ad.forward if mode == "jac_fwd" else ad.reverse
                total = problem.n if mode == "jac_fwd" else problem.m
                how = "forward" if mode == "jac_fwd" else "reverse"
                for c in _chunks(total, chunks, g, how):
                    fn = alternating(
                        lambda xs, api=api, c=c: api.jacobian(g, xs, chunk=c, engine=eng), x
                    )
                    add(mode, c, fn, ref)
            elif mode == "grad" and problem.m == 1:
                fn = alternating(lambda xs: ad.reverse.gradient(g, xs, engine=eng), x)
                add("grad", 1, fn, expected(problem, "grad", v, ref))
            elif mode == "jac":
                how = ad.cost.choose_mode(g)
                api = ad.forward if how == "forward" else ad.reverse
                total = problem.n if how == "forward" else problem.m
                fn = alternating(lambda xs, api=api: api.jacobian(g, xs, engine=eng), x)
                add("jac", default_chunk(total, g, how), fn, ref, detail=f"auto: {how}")
            elif mode in ("hessian", "hvp") and G is not None:
                if mode == "hessian":
                    fn = alternating(lambda xs: ad.forward.jacobian(G, xs, engine=eng), x)
                    chunk = default_chunk(problem.n, G)
                else:
                    fn = alternating(lambda xs: ad.forward.jvp(G, xs, (v,), engine=eng)[1], x)
                    chunk = 1
                add(mode, chunk, fn, expected(problem, mode, v, ref), graph_s=build_G)
            elif mode == "gd" and problem.family == "logistic":
                fn = lambda: descend(
                    lambda w: ad.reverse.gradient(g, w, engine=eng), x[0], steps(problem)
                )
                add("gd", 1, fn, expected(problem, "gd", v, ref), calls=steps(problem))
        return out

    def tape_bytes(self, problem: Problem) -> int:
        """Tape size: the compiled engine's own count, or the bytes of every value kept."""
        if self.engine == "compiled":
            return int(ad.reverse.tape_bytes(problem.graph))
        env = ad.reference.evaluate(problem.graph, problem.args)
        return int(sum(np.asarray(a).nbytes for a in env.values()))


def lowering_time(graph: ad.Graph, repeats: int = 5) -> float:
    """Median seconds of lowering ``graph`` afresh (issue 12: linear in the graph, a
    few microseconds per equation); the structure caches are not consulted."""
    from ad.kernels.lower import lower_graph

    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        lower_graph(graph)
        times.append(time.process_time() - t0)
    return float(np.median(times))


def expected(problem: Problem, mode: str, v: np.ndarray, ref: np.ndarray | None) -> Any:
    """The independent value a mode's result is compared with (None: no error recorded).

    ``grad``: the hand-written gradient, else the closed-form Jacobian's row;
    ``hessian`` / ``hvp``: the hand-written Hessian (times v); ``gd``: the final weights
    of the same descent with the hand-written gradient (cached on the problem).
    """
    hand = problem.hand
    if mode == "grad":
        if problem.m != 1:
            return None
        if "gradient" in hand:
            return hand["gradient"](*problem.args)
        return None if ref is None else np.reshape(ref, np.shape(problem.args[0]))
    if mode in ("hessian", "hvp") and "hessian" in hand:
        H = hand["hessian"](*problem.args)
        return H if mode == "hessian" else H @ np.ravel(v)
    if mode == "gd" and "gradient" in hand:
        if "gd_weights" not in problem.notes:
            problem.notes["gd_weights"] = descend(hand["gradient"], problem.args[0], steps(problem))
        return problem.notes["gd_weights"]
    return None


class NumpyPeer(Tool):
    """The hand-written NumPy peer: the NumPy f and ``Problem.hand``'s derivatives."""

    name = "numpy"

    def cases(self, problem, modes, chunks, ref):
        """See :class:`Tool`: every mode the problem has a hand-written function for."""
        x, hand = problem.args, problem.hand
        v, _ = directions(problem)
        table = {
            "primal": (problem.f, np.asarray(problem.f(*x)), ""),
            "grad": (hand.get("gradient"), expected(problem, "grad", v, ref), ""),
            "jac": (hand.get("jacobian"), ref, problem.notes.get("hand_jacobian", "")),
            "hessian": (hand.get("hessian"), None, ""),
        }
        out: list[Case] = []
        for mode in modes:
            if mode == "gd":
                if problem.family != "logistic" or "gradient" not in hand:
                    continue
                fn = lambda: descend(hand["gradient"], x[0], steps(problem))
                res, first = _first_call(fn)
                info = {"compile_s": first, "error": 0.0, "detail": "the reference weights"}
                out.append(self._case(problem, "gd", 1, fn, info, calls=steps(problem)))
                continue
            if mode not in table or table[mode][0] is None:
                continue
            if mode == "grad" and problem.m != 1:
                continue
            hf, expect, detail = table[mode]
            fn = lambda hf=hf: hf(*x)
            res, first = _first_call(fn)
            info = {"compile_s": first, "error": rel_error(res, expect), "detail": detail}
            info["peak_bytes"] = _traced_peak(fn)
            info["peak_method"] = "tracemalloc"
            chunk = {"jac": problem.n if problem.n < problem.m else problem.m}.get(mode, 1)
            out.append(self._case(problem, mode, chunk, fn, info))
        return out


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
            out.append(self._case(problem, "primal", 1, fn, info))
        if "jac_fd" in modes:
            fn = lambda: central_differences(f, x, problem.m)
            res, first = _first_call(fn)
            info = {"compile_s": first, "error": rel_error(res, ref)}
            info["peak_bytes"] = _traced_peak(fn)
            info["peak_method"] = "tracemalloc"
            out.append(self._case(problem, "jac_fd", 1, fn, info))
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
