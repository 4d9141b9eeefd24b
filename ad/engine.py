"""The one front door to the engines: arguments checked once, then either engine.

Everything that runs a Graph comes through here: :mod:`ad.forward` and
:mod:`ad.reverse` (the engines on a Graph), :mod:`ad.api` (the transformations) and
``graph(*args)``. This module checks the arguments (:func:`as_args`), picks the engine
(:func:`choose`: the compiled kernels, or the plain-NumPy reference interpreters,
which also run whenever a value is traced, so that a transformation nested in another
is recorded), chunks the directions (:func:`pick_chunk`) and assembles Jacobians in
JAX's layout (output shape + input shape).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ad import policy, reference
from ad.errors import GuardError, ShapeError
from ad.ir import Graph, Var
from ad.kernels import run
from ad.trace import Tracer, check_input

#: Engine used when none is named: "compiled" (Numba kernels) or "reference" (NumPy).
ENGINES = ("compiled", "reference")
DEFAULT_ENGINE = "compiled"

#: Bytes of dual buffer (rows x directions x 8) under which every direction goes into
#: one sweep: all directions at once is fastest on array graphs (as JAX's vmap), and
#: the budget bounds the memory of wide sweeps on long graphs.
DUAL_BUDGET = 1 << 25


def pick_chunk(n: int, rows: int = 1, budget: int = DUAL_BUDGET) -> int:
    """Directions per sweep for ``n`` seeds with ``rows`` dual rows per direction: all n
    while ``8 rows n`` fits in ``budget`` bytes, else n split evenly into the fewest
    chunks that fit. Example: ``pick_chunk(1000, rows=20_000)`` is 200 (5 sweeps)."""
    if n <= 1:
        return 1
    per = max(1, budget // (8 * max(rows, 1)))
    chunks = math.ceil(n / per)
    return math.ceil(n / chunks)


def dual_rows(graph: Graph, engine: str, mode: str) -> int:
    """Dual-buffer rows per direction: the compiled program's partials (``mode``
    "forward") or adjoints ("reverse") rows."""
    if engine == "compiled":
        prog = run.compile(graph)
        return prog.n_active if mode == "forward" else prog.n_reverse
    active = graph.activity()[0]
    return sum(v.size for v in graph.variables() if v.id in active)


def as_args(graph: Graph, args: Any, what: str = "args") -> list[Any]:
    """``args`` as a list matching ``graph.inputs`` (a bare array for one input)."""
    if not isinstance(args, (tuple, list)):
        args = (args,)
    if len(args) == 1 and len(graph.inputs) == 1:  # the common call, checked cheaply
        a = args[0]
        if type(a) is np.ndarray and a.dtype == np.float64 and a.shape == graph.inputs[0].shape:
            return [a]
    if len(args) != len(graph.inputs):
        raise ShapeError(f"the graph has {len(graph.inputs)} inputs, {what} has {len(args)}")
    out = []
    for i, (v, a) in enumerate(zip(graph.inputs, args)):
        if type(a) is np.ndarray and a.dtype == np.float64 and a.shape == v.shape:
            out.append(a)  # the common case, checked cheaply
            continue
        a = check_input(a, f"{what}[{i}]")
        if tuple(np.shape(a)) != v.shape:
            raise ShapeError(
                f"{what}[{i}] has shape {np.shape(a)}, the graph input v{v.id} {v.shape}"
            )
        out.append(a)
    return out


def choose(engine: str | None, *values: Any) -> str:
    """The engine to run: the reference interpreters whenever a value is traced."""
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if any(isinstance(v, Tracer) for v in values):
        return "reference"
    return engine or DEFAULT_ENGINE


def replay(graph: Graph, args: Sequence[Any]) -> Any:
    """``graph(*args)``: the outputs at new inputs, by the compiled engine; a graph with
    guards checks them on the values computed, and raises GuardError rather than answer
    along a path the inputs would not take."""
    xs = as_args(graph, tuple(args))
    prog = run.compile(graph)
    if not graph.guards:
        return out_tree(graph, run.primal(prog, xs))
    outs = run.replay(prog, xs, graph.guards)
    if outs is None:  # a guard failed, or the sweep stopped: say which
        _guard_error(graph, xs)
        outs = run.primal(prog, xs)  # the guards hold: raises the sweep's error
    return out_tree(graph, outs)


def _guard_error(graph: Graph, xs: Sequence[Any]) -> None:
    """Raise GuardError naming the guards of ``graph`` that fail at ``xs`` (none: return),
    read on the reference interpreter's values (NaN and inf propagated: a guard on the
    other path may see them)."""
    try:
        with policy.nonfinite("propagate"), np.errstate(all="ignore"):
            values = reference.evaluate(graph, xs)
    except Exception:  # noqa: BLE001  (the recorded path fails here: the caller raises why)
        return
    where = sorted({g.where for g in graph.guards if not g.holds(lambda v: values[v.id])})
    if where:
        raise GuardError(
            "the Graph's recorded control flow does not hold at these inputs (guards: "
            f"{', '.join(where[:4])}): trace again at them, or use ad.jit(f), which "
            "re-traces when a guard fails"
        )


def guards_hold(graph: Graph, xs: Sequence[Any]) -> bool:
    """Whether every guard of ``graph`` holds at ``xs`` (a compiled primal sweep; none
    for a graph without guards). False too when that sweep stopped (a non-finite
    value): :func:`check_guards` tells the two apart."""
    return not graph.guards or run.guards_hold(run.compile(graph), xs, graph.guards)


def check_guards(graph: Graph, xs: Sequence[Any], engine: str = "compiled") -> None:
    """Raise GuardError when a guard of ``graph`` does not hold at ``xs`` (for callers
    that run sweeps other than the primal: the Jacobian plans of :mod:`ad.sparse`).
    Nothing to do, and nothing run, for a graph without guards."""
    if not graph.guards or (engine == "compiled" and guards_hold(graph, xs)):
        return
    _guard_error(graph, xs)


Graph.evaluator = replay


def _width(seeds: Sequence[Any], kind: str) -> int:
    for s in seeds:
        if s is not None:
            return int(np.shape(s)[0])
    raise ShapeError(f"every {kind} is None: nothing to differentiate")


def _zeros_for(vars_: Sequence[Var], vals: Sequence[Any], batch: tuple[int, ...]) -> list[Any]:
    return [np.zeros(batch + v.shape) if x is None else x for v, x in zip(vars_, vals)]


def run_jvp(
    graph: Graph, args: Sequence[Any], tangents: Sequence[Any], engine: str, values: Any = None
) -> tuple[list[Any], list[Any]]:
    """Batched JVP: tangents are ``(p,) + shape`` (or None); zeros filled in.

    ``values``: the reference interpreter's tape when the caller has one."""
    p = _width(tangents, "tangent")
    if engine == "compiled":
        outs, touts = run.jvp(run.compile(graph), args, tangents)
    else:
        outs, touts = reference.jvp(graph, args, tangents, values=values)
    return outs, _zeros_for(graph.outputs, touts, (p,))


def run_vjp(
    graph: Graph, args: Sequence[Any], cotangents: Sequence[Any], engine: str, values: Any = None
) -> tuple[list[Any], list[Any]]:
    """Batched VJP: cotangents are ``(q,) + shape`` (or None); zeros filled in."""
    q = _width(cotangents, "cotangent")
    if engine == "compiled":
        outs, cts = run.vjp(run.compile(graph), args, cotangents)
    else:
        outs, cts = reference.vjp(graph, args, cotangents, values=values)
    return outs, _zeros_for(graph.inputs, cts, (q,))


def jvp_one(
    graph: Graph, args: Sequence[Any], tangents: Sequence[Any], engine: str, values: Any = None
) -> tuple[list[Any], list[Any]]:
    """One direction (tangents of the inputs' shapes). The reference engine runs it
    unbatched, which keeps recorded derivative graphs lean."""
    if engine == "reference":
        outs, touts = reference.jvp(graph, args, tangents, values=values)
        return outs, _zeros_for(graph.outputs, touts, ())
    outs, touts = run_jvp(graph, args, [t[None] for t in tangents], engine)
    return outs, [t[0] for t in touts]


def vjp_one(
    graph: Graph, args: Sequence[Any], cotangents: Sequence[Any], engine: str, values: Any = None
) -> tuple[list[Any], list[Any]]:
    """One cotangent (of the outputs' shapes); the input cotangents."""
    if engine == "reference":
        outs, bars = reference.vjp(graph, args, cotangents, values=values)
        return outs, _zeros_for(graph.inputs, bars, ())
    outs, bars = run.vjp(run.compile(graph), args, [np.asarray(c)[None] for c in cotangents])
    return outs, [b[0] for b in bars]  # the compiled engine gives every input an array


def gradient(
    graph: Graph, args: Sequence[Any], engine: str, values: Any = None
) -> tuple[Any, list[Any]]:
    """``(f(x), gradients)`` of a graph with one scalar output (checked by the caller)."""
    if engine == "compiled":
        prog = run.compile(graph)
        got = run.gradient(prog, args, graph.guards)
        if got is None:  # a guard failed, or the sweep stopped: say which
            _guard_error(graph, args)
            got = run.gradient(prog, args)  # the guards hold: raises the sweep's error
        return got
    outs, bars = vjp_one(graph, args, [np.float64(1.0)], engine, values)
    return outs[0], bars


def unit_seeds(vars_: Sequence[Var], start: int, stop: int) -> list[np.ndarray | None]:
    """Rows start..stop-1 of the identity over the flattened ``vars_``, split per var
    as ``(stop - start,) + shape`` arrays (None for a var the rows do not touch)."""
    seeds, offset = [], 0
    for v in vars_:
        lo, hi = max(start, offset), min(stop, offset + v.size)
        if lo >= hi:
            seeds.append(None)
        else:
            s = np.zeros((stop - start, v.size))
            s[np.arange(lo - start, hi - start), np.arange(lo - offset, hi - offset)] = 1.0
            seeds.append(s.reshape((stop - start,) + v.shape))
        offset += v.size
    return seeds


def jacobian_blocks(
    graph: Graph, args: Sequence[Any], chunk: int | None, engine: str, mode: str, values: Any
) -> list[list[np.ndarray]]:
    """blocks[i][j] = d output_i / d input_j with shape out_i.shape + in_j.shape.

    Forward: ceil(n / chunk) sweeps; reverse: one recording, ceil(m / chunk) adjoint
    sweeps over that one tape."""
    seeded, other = (
        (graph.inputs, graph.outputs) if mode == "forward" else (graph.outputs, graph.inputs)
    )
    total = sum(v.size for v in seeded)
    width = pick_chunk(total, dual_rows(graph, engine, mode)) if chunk is None else int(chunk)
    if width < 1:
        raise ValueError(f"chunk must be a positive integer, not {chunk}")
    if engine == "compiled":
        prog = run.compile(graph)
        sweep = run.jacobian_forward if mode == "forward" else run.jacobian_reverse
        J = sweep(prog, args, max(1, min(width, total)))[1]
    else:
        J = _reference_jacobian(graph, args, total, width, mode, values)
    if len(graph.outputs) == 1 and len(graph.inputs) == 1:  # the common call
        (vo,), (vi,) = graph.outputs, graph.inputs
        return [[J.reshape(vo.shape + vi.shape)]]
    rows = list(itertools.accumulate((v.size for v in graph.outputs), initial=0))
    cols = list(itertools.accumulate((v.size for v in graph.inputs), initial=0))
    return [
        [
            J[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].reshape(vo.shape + vi.shape)
            for j, vi in enumerate(graph.inputs)
        ]
        for i, vo in enumerate(graph.outputs)
    ]


def _reference_jacobian(
    graph: Graph, args: Sequence[Any], total: int, width: int, mode: str, values: Any
) -> Any:
    """The ``(m, n)`` Jacobian by the reference interpreters, ``width`` seeds a sweep."""
    seeded = graph.inputs if mode == "forward" else graph.outputs
    parts = []
    for start in range(0, total, width):
        seeds = unit_seeds(seeded, start, min(start + width, total))
        if mode == "forward":
            _, res = run_jvp(graph, args, seeds, "reference", values)
        else:
            _, res = run_vjp(graph, args, seeds, "reference", values)
        # (w, other entries) per sweep
        parts.append(np.concatenate([np.reshape(r, (np.shape(r)[0], -1)) for r in res], axis=1))
    other = sum(v.size for v in (graph.outputs if mode == "forward" else graph.inputs))
    stacked = np.concatenate(parts, axis=0) if parts else np.zeros((0, other))
    return stacked.T if mode == "forward" else stacked


def jacobian_tree(graph: Graph, blocks: list[list[np.ndarray]]) -> Any:
    """JAX's nesting: outputs outside, inputs inside; no tuple where there is one."""
    rows = [r[0] if len(graph.inputs) == 1 else tuple(r) for r in blocks]
    return rows[0] if graph.out_tree is None else tuple(rows)


def out_tree(graph: Graph, values: Sequence[Any]) -> Any:
    """The outputs as the traced function returned them (one array, or a tuple)."""
    return values[0] if graph.out_tree is None else tuple(values)
