"""Where a NaN or an infinity came from: the reports of ``NonFiniteError``, for every engine.

Both engines (the reference interpreters and the compiled kernels) check their results
under the policy of :mod:`ad.policy` and, in mode ``"raise"``, call one of the three
functions below with accessors for what their sweep left behind:

- ``value(var)``: the primal values of a Var (``var.shape``);
- ``tangent(var)``: its tangents, ``batch + var.shape`` (None: zero);
- ``adjoint(var)``: its accumulated cotangent, ``batch + var.shape`` (None: zero).

Each report walks back from the offending result to the node where the non-finite
number that reaches it was first produced, following entries through elementwise nodes
and ``select`` (so a NaN that ``np.where`` drops is never blamed), and says why it
appeared there: a value outside the domain (``log(-1)``), an infinite partial derivative
(``sqrt'(0)``), or a zero tangent / cotangent meeting an infinite partial derivative
(``0 * inf``: typically the branch of ``np.where`` that is not taken). The derivative
rules are those of ``ad.primitives`` applied to the concrete arrays, so the wording is
the same whichever engine ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ad.errors import NonFiniteError

Accessor = Callable[[Any], Any]


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------


def eqn_text(graph: Any, i: int) -> str:
    """``vN = prim(vA, vB)`` for equation i (no parameters, no shape comment)."""
    e = graph.eqns[i]
    lhs = ", ".join(map(repr, e.outputs))
    return f"{lhs} = {e.prim.name}({', '.join(map(repr, e.inputs))})"


def _rows(x: Any, var: Any) -> np.ndarray:
    """``x`` (batch + var.shape, or None for zero) as a 2-d ``(rows, var.size)`` array."""
    if x is None:
        return np.zeros((1, var.size))
    a = np.asarray(x, dtype=np.float64)
    return a.reshape(-1, var.size) if var.size else a.reshape(1, 0)


def _bad(x: Any, var: Any) -> np.ndarray:
    """Mask over the entries of ``var``: True where some row of ``x`` is not finite."""
    return ~np.isfinite(_rows(x, var)).all(axis=0)


def _kind(x: Any) -> str:
    return "nan" if np.isnan(np.asarray(x, dtype=np.float64)).any() else "inf"


def _num(x: float) -> str:
    return f"{x:.6g}"


def _at(var: Any, k: int) -> str:
    """``vN`` for a scalar Var, ``vN[i, j]`` for entry k of an array Var."""
    if not var.shape:
        return f"v{var.id}"
    return f"v{var.id}[{', '.join(map(str, np.unravel_index(k, var.shape)))}]"


def _show(x: Any) -> str:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    return np.array2string(a[:4], precision=4) + ("..." if a.size > 4 else "")


def _pointwise(e: Any) -> bool:
    """Elementwise nodes (and select): output entry k reads entry k of each operand."""
    from ad.primitives.elementwise import _same_shape

    return e.prim.n_out == 1 and e.prim.shape_rule is _same_shape


def _sources(e: Any, out: Any, entries: np.ndarray, bad: Callable[[Any], np.ndarray]) -> list:
    """Operands of ``e`` carrying a non-finite number into the given entries of ``out``.

    Returns ``[(operand Var, entry mask)]``: entries followed one to one through
    pointwise nodes (through ``select``, only the operand its mask picks), any operand
    with a non-finite entry otherwise.
    """
    found = []
    if _pointwise(e):
        mask = e.params.get("mask") if e.prim.name == "select" else None
        for j, u in enumerate(e.inputs):
            hit = bad(u) & entries
            if mask is not None:
                m = np.broadcast_to(np.asarray(mask, dtype=bool), out.shape).reshape(-1)
                hit &= m if j == 0 else ~m
            if hit.any():
                found.append((u, hit))
        return found
    for u in e.inputs:
        hit = bad(u)
        if hit.any():
            found.append((u, hit))
    return found


def _producers(graph: Any) -> dict[int, int]:
    return {v.id: i for i, e in enumerate(graph.eqns) for v in e.outputs}


def _partial(e: Any, j: int, value: Accessor, which: str) -> np.ndarray | None:
    """d out / d operand j of a pointwise node, entry by entry (None if no rule)."""
    from ad.primitives.core import rule

    rules = e.prim.jvp_rules if which == "jvp" else e.prim.vjp_rules
    r = rule(rules, j)
    if r is None:
        return None
    out = e.outputs[0]
    primals = [np.asarray(value(u), dtype=np.float64) for u in e.inputs]
    with np.errstate(all="ignore"):
        try:
            d = r(np.ones(out.shape), np.asarray(value(out)), *primals, **e.params)
        except Exception:  # noqa: BLE001 - a report must not fail
            return None
    return np.broadcast_to(np.asarray(d, dtype=np.float64), out.shape).reshape(-1)


def _operands_at(e: Any, value: Accessor, k: int) -> str:
    return ", ".join(
        f"{_at(u, k)} = {_num(np.asarray(value(u), dtype=np.float64).reshape(-1)[k])}"
        for u in e.inputs
    )


_MASK_HINT = (
    "if that entry should not matter (the branch np.where does not take), mask the "
    "operand as well, e.g. np.sqrt(np.where(x > 0, x, 1.0)); "
    "ad.set_nonfinite('propagate') returns the nan instead (as JAX does)"
)


# ----------------------------------------------------------------------------------
# the three reports
# ----------------------------------------------------------------------------------


def value_error(graph: Any, value: Accessor) -> NonFiniteError:
    """The error for a non-finite output value: the node that first produced it."""
    found = _first_bad(graph, lambda u: _bad(value(u), u))
    if found is None:
        return NonFiniteError("non-finite output value")
    start, var, entries, i = found
    if var in graph.inputs:
        return NonFiniteError(
            f"input {graph.inputs.index(var)} (v{var.id}) contains {_kind(value(var))}; it "
            f"reaches output v{start.id}"
        )
    if i is None:
        return NonFiniteError(
            f"constant v{var.id} contains {_kind(value(var))}; it reaches output v{start.id}"
        )
    e = graph.eqns[i]
    if _pointwise(e):
        ins = _operands_at(e, value, int(np.flatnonzero(entries)[0]))
    else:
        ins = ", ".join(f"v{u.id}={_show(value(u))}" for u in e.inputs)
    return NonFiniteError(
        f"non-finite value ({_kind(value(var))}) first produced by node {i}: "
        f"`{eqn_text(graph, i)}` with {ins}"
    )


def _first_bad(graph: Any, bad: Callable[[Any], np.ndarray]) -> tuple | None:
    """Walk back from the first output with ``bad`` entries to where they first appear:
    ``(output, var, its bad entries, index of the equation that made them)``, the index
    None where ``var`` is an input or a constant (None if no output is bad)."""
    start = next((v for v in graph.outputs if bad(v).any()), None)
    if start is None:
        return None
    producer = _producers(graph)
    var, entries = start, bad(start)
    while var not in graph.inputs and var.id in producer:
        i = producer[var.id]
        found = _sources(graph.eqns[i], var, entries, bad)
        if not found:
            return start, var, entries, i
        var, entries = found[0]
    return start, var, entries, None


def tangent_error(graph: Any, value: Accessor, tangent: Accessor) -> NonFiniteError:
    """The error for a non-finite output tangent (forward mode): the node where the
    derivative first became non-finite, and why."""
    found = _first_bad(graph, lambda u: _bad(tangent(u), u))
    if found is None:
        return NonFiniteError("non-finite tangent of an output")
    _, var, entries, i = found
    if var in graph.inputs:
        return NonFiniteError(
            f"the tangent of input {graph.inputs.index(var)} (v{var.id}) contains "
            f"{_kind(tangent(var))}"
        )
    if i is None:
        return NonFiniteError(f"non-finite tangent of v{var.id}")
    e = graph.eqns[i]
    head = (
        f"non-finite derivative ({_kind(tangent(var))}) in the forward sweep, first at "
        f"node {i}: `{eqn_text(graph, i)}`"
    )
    return NonFiniteError(head + _why(e, var, entries, value, tangent, "jvp", "tangent"))


def adjoint_error(graph: Any, value: Accessor, adjoint: Accessor) -> NonFiniteError:
    """The error for a non-finite input cotangent (reverse mode): the node where the
    adjoint sweep first produced a non-finite cotangent, and why."""
    from ad.primitives.core import rule

    bad = lambda u: _bad(adjoint(u), u)  # noqa: E731
    start = next((v for v in graph.inputs if bad(v).any()), None)
    if start is None:
        return NonFiniteError("non-finite cotangent of an input")
    var, entries = start, bad(start)
    readers = {}
    for i, e in enumerate(graph.eqns):
        for u in e.inputs:
            readers.setdefault(u.id, []).append(i)
    seen = set()
    while True:
        seen.add(var.id)
        # a reader whose own output cotangent is already non-finite: go downstream
        step = None
        for i in reversed(readers.get(var.id, [])):
            e = graph.eqns[i]
            for o in e.outputs:
                hit = bad(o)
                if _pointwise(e):
                    hit = hit & entries
                if hit.any() and o.id not in seen:
                    step = (o, hit)
                    break
            if step:
                break
        if step:
            var, entries = step
            continue
        # every reader's output cotangent is finite: find the reader whose rule made it
        for i in reversed(readers.get(var.id, [])):
            e = graph.eqns[i]
            bars = [adjoint(o) for o in e.outputs]
            ans = value(e.outputs[0]) if e.prim.n_out == 1 else tuple(map(value, e.outputs))
            ans_bar = bars[0] if e.prim.n_out == 1 else tuple(bars)
            primals = [value(u) for u in e.inputs]
            for j, u in enumerate(e.inputs):
                r = rule(e.prim.vjp_rules, j)
                if u.id != var.id or r is None:
                    continue
                with np.errstate(all="ignore"):
                    try:
                        contrib = r(ans_bar, ans, *primals, **e.params)
                    except Exception:  # noqa: BLE001 - a report must not fail
                        continue
                hit = _bad(contrib, var) & entries
                if hit.any():
                    head = (
                        f"non-finite derivative ({_kind(contrib)}) in the adjoint sweep, "
                        f"first at node {i}: `{eqn_text(graph, i)}` (pulling back to v{var.id})"
                    )
                    return NonFiniteError(
                        head + _why(e, e.outputs[0], hit, value, adjoint, "vjp", "cotangent", j)
                    )
        if var in graph.outputs:
            return NonFiniteError(
                f"the cotangent given for output v{var.id} contains {_kind(adjoint(var))}"
            )
        return NonFiniteError(f"non-finite cotangent of v{var.id} in the adjoint sweep")


def _why(
    e: Any,
    out: Any,
    entries: np.ndarray,
    value: Accessor,
    dual: Accessor,
    which: str,
    name: str,
    only: int | None = None,
) -> str:
    """Why a pointwise node made a finite tangent (cotangent) non-finite at ``entries``."""
    if not _pointwise(e):
        vals = ", ".join(f"v{u.id}={_show(value(u))}" for u in e.inputs)
        return (
            f": the {e.prim.name} rule gave a non-finite {name} from finite ones, at {vals} "
            "(its derivative is not finite there)"
        )
    k = int(np.flatnonzero(entries)[0])
    operands = range(len(e.inputs)) if only is None else [only]
    for j in operands:
        u = e.inputs[j]
        if which == "jvp" and dual(u) is None:  # an inactive operand: no tangent
            continue
        d = _partial(e, j, value, which)
        if d is None or np.isfinite(d[k]):
            continue
        seed = _rows(dual(out if which == "vjp" else u), out)[:, k]
        where = f"{_at(u, k)} = {_num(np.asarray(value(u), dtype=np.float64).reshape(-1)[k])}"
        partial = f"d {out!r} / d {u!r} is {_num(d[k])} at {where}"
        if np.all(seed == 0):
            return (
                f": a zero {name} met an infinite partial derivative ({partial}; "
                f"0 * {_num(d[k])} = nan). The derivative of this operation is not finite "
                f"there; {_MASK_HINT}"
            )
        return f": the derivative of this operation is not finite there ({partial})"
    return f": a finite {name} times a finite partial derivative overflowed (at entry {k})"
