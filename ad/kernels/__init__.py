"""The compiled engines: a Graph lowered once to a flat program, swept by Numba kernels.

Modules: :mod:`.opcodes` (dense integer opcodes), :mod:`.lower` (the lowering table,
one entry per primitive), :mod:`.program` (flat arrays, buffers, validation, error
reports), :mod:`.elementwise`, :mod:`.structural`, :mod:`.linalg` (each instruction's
primal, forward and reverse code in one block), :mod:`.sweeps` (the three dispatch
loops) and :mod:`.jit` (the one njit wrapper, and borrowed views of the sweep buffers).

Public functions (the contract ``ad.ir``/``ad.engine`` call):

- :func:`primal` ``(graph, args) -> value or tuple``: one primal sweep;
- :func:`jvp` ``(graph, args, tangents) -> (outs, out_tangents)``: one forward sweep
  of dual numbers with p directions (tangents ``(p,) + input.shape`` or None);
- :func:`vjp` ``(graph, args, cotangents) -> (outs, in_cotangents)``: a recording
  sweep (skipped when the tape already holds these args) and one adjoint sweep with
  q cotangents (``(q,) + output.shape`` or None);
- :func:`tape_bytes` ``(graph) -> int``: memory the reverse mode keeps between sweeps.

Non-finite results follow :mod:`ad.policy` (``ad.set_nonfinite`` / ``ad.nonfinite``): in
mode ``"raise"`` (the default), if an output value, an output tangent or an input
cotangent is NaN or infinite after a sweep, :class:`ad.errors.NonFiniteError` names the
node where it was first produced (the report, shared with the reference interpreters, is
:mod:`ad.finite`; the search runs in Python only in that case); in mode ``"propagate"``
the numbers are returned as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ad import policy
from ad.engine import as_args
from ad.errors import ShapeError
from ad.ir import Graph
from ad.kernels.program import (
    Program,
    nonfinite_adjoint,
    nonfinite_tangent,
    nonfinite_value,
    status_error,
    validate,
)

__all__ = ["get_program", "jvp", "primal", "tape_bytes", "vjp"]


def get_program(graph: Graph) -> Program:
    """The validated flat program of ``graph``, built once and cached on the graph.

    Example::

        prog = ad.kernels.get_program(graph); prog.ops, prog.code, prog.values
    """
    prog = graph._cache.get("kernels")
    if prog is None:
        from ad.kernels.lower import lower_graph

        graph.validate()
        prog = Program(graph, lower_graph(graph))
        validate(prog, graph)
        graph._cache["kernels"] = prog
    return prog


def _run_primal(prog: Program, graph: Graph, xs: list[np.ndarray]) -> None:
    from ad.kernels.sweeps import primal_sweep

    prog.load(xs)
    status = primal_sweep(
        prog.ops, prog.ptr, prog.code, prog.pool, prog.act, prog.values, prog.work
    )
    if status >= 0:
        prog.tape_key = None
        raise status_error(prog, graph, status)
    prog.tape_key = [x.copy() for x in xs]


def _finite(x: np.ndarray) -> bool:
    return math.isfinite(x.item()) if x.size == 1 else bool(np.isfinite(x).all())


def _check_values(prog: Program, graph: Graph, outs: list[np.ndarray]) -> None:
    if policy.raising() and not all(_finite(o) for o in outs):
        raise nonfinite_value(prog, graph)


def _same(key: list[np.ndarray] | None, xs: list[np.ndarray]) -> bool:
    """True if the tape was recorded at exactly these inputs (bit for bit)."""
    return key is not None and all(a.tobytes() == b.tobytes() for a, b in zip(key, xs))


def primal(graph: Graph, args: Any) -> Any:
    """Evaluate the lowered graph on ``args`` (one array per input, or a bare array).

    Returns the output (a tuple when the graph returns a tuple). Cost: one sweep
    over the program, no per-node Python. Example::

        y = ad.kernels.primal(ad.trace(np.sin, x), x)
    """
    prog = get_program(graph)
    xs = as_args(graph, args)
    _run_primal(prog, graph, xs)
    outs = prog.read(prog.outputs)
    _check_values(prog, graph, outs)
    return outs[0] if graph.out_tree is None else tuple(outs)


def _width(seeds: Sequence[Any], kind: str) -> int:
    for s in seeds:
        if s is not None:
            return int(np.shape(s)[0])
    raise ShapeError(f"every {kind} is None: nothing to differentiate")


def jvp(
    graph: Graph, args: Sequence[Any], tangents: Sequence[Any]
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Forward mode: values and p directional derivatives in one dual-number sweep.

    ``tangents[i]`` is ``(p,) + inputs[i].shape`` or None (zero). Returns the output
    values and, per output, a ``(p,) + shape`` tangent (None for an output that does
    not depend on the inputs). Example::

        outs, touts = ad.kernels.jvp(graph, [x], [np.eye(x.size).reshape((-1,) + x.shape)])
    """
    from ad.kernels.sweeps import forward_sweep

    prog = get_program(graph)
    xs = as_args(graph, args)
    p = _width(tangents, "tangent")
    P = prog.dual("partials", p)
    prog.load(xs)
    for (off, size, shape), v, t in zip(prog.inputs, graph.inputs, tangents):
        if t is None:
            P[off : off + size] = 0.0
        else:
            t = np.asarray(t, dtype=np.float64)
            if t.shape != (p,) + shape:
                raise ShapeError(
                    f"tangent of shape {t.shape} for input v{v.id}: need {(p,) + shape}"
                )
            P[off : off + size] = t.reshape(p, size).T
    status = forward_sweep(
        prog.ops, prog.ptr, prog.code, prog.pool, prog.act, prog.values, P, prog.work
    )
    if status >= 0:
        prog.tape_key = None
        raise status_error(prog, graph, status)
    prog.tape_key = [x.copy() for x in xs]  # the forward sweep records residuals too
    outs = prog.read(prog.outputs)
    _check_values(prog, graph, outs)
    touts: list[np.ndarray | None] = []
    for (off, size, shape), live in zip(prog.outputs, prog.out_active):
        touts.append(P[off : off + size].T.reshape((p,) + shape).copy() if live else None)
    if policy.raising() and not all(t is None or _finite(t) for t in touts):
        raise nonfinite_tangent(prog, graph, P)
    return outs, touts


def vjp(
    graph: Graph, args: Sequence[Any], cotangents: Sequence[Any]
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Reverse mode: record the values (the tape), then pull q cotangents back at once.

    ``cotangents[i]`` is ``(q,) + outputs[i].shape`` or None. The recording sweep is
    skipped when the tape already holds ``args`` (so the ceil(m / q) sweeps of a
    Jacobian record once). Returns the output values and, per input, a
    ``(q,) + shape`` cotangent. Example::

        outs, bars = ad.kernels.vjp(graph, [x], [np.ones((1,) + y.shape)])
    """
    from ad.kernels.sweeps import adjoint_sweep

    prog = get_program(graph)
    xs = as_args(graph, args)
    q = _width(cotangents, "cotangent")
    if not _same(prog.tape_key, xs):
        _run_primal(prog, graph, xs)
    outs = prog.read(prog.outputs)
    _check_values(prog, graph, outs)
    A = prog.dual("adjoints", q)
    A.fill(0.0)
    for (off, size, shape), v, c in zip(prog.outputs, graph.outputs, cotangents):
        if c is not None:
            c = np.asarray(c, dtype=np.float64)
            if c.shape[1:] != shape or c.shape[0] != q:
                raise ShapeError(
                    f"cotangent of shape {c.shape} for output v{v.id}: need {(q,) + shape}"
                )
            A[off : off + size] += c.reshape(q, size).T
    status = adjoint_sweep(
        prog.ops, prog.ptr, prog.code, prog.pool, prog.act, prog.values, A, prog.work
    )
    if status >= 0:
        raise status_error(prog, graph, status)
    bars: list[np.ndarray | None] = [
        A[off : off + size].T.reshape((q,) + shape).copy() for off, size, shape in prog.inputs
    ]
    if policy.raising() and not all(_finite(b) for b in bars):
        raise nonfinite_adjoint(prog, graph, A)
    return outs, bars


def tape_bytes(graph: Graph) -> int:
    """Bytes the compiled reverse mode keeps between its recording and adjoint sweeps.

    Formula: ``8 * (sum of Var.size over every Var of the graph + residual slots)``,
    i.e. one float64 per scalar of every input, constant and equation output (the
    values buffer, which is the tape) plus the residuals a rule records for its
    adjoint (none for the elementwise, structural and matmul instructions, whose
    rules read only operands and results). The program itself (opcodes, payload,
    index maps) and the adjoint buffer are not counted. Example::

        ad.kernels.tape_bytes(ad.trace(np.sin, np.ones(3)))    # 8 * (3 + 3) = 48
    """
    return get_program(graph).tape_bytes()
