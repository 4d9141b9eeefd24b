"""Plain-NumPy interpreters of the IR: the textbook algorithms, and the oracle.

Three loops over the Wengert list, each a few lines:

- :func:`evaluate`: the primal sweep, ``v_i = phi_i(v_j, j < i)``;
- :func:`jvp`: forward mode. Every variable carries its value and a tangent with a
  leading batch axis of p directions (dual numbers, p partials at once); the tangent
  of a node is the sum over its operands of the primitive's JVP rule;
- :func:`vjp`: reverse mode. One recording sweep keeps every value (the tape), then
  one backward sweep over the list accumulates q cotangents at once (adjoints
  ``v_bar_j += v_bar_i * d phi_i / d v_j``).

Tangents and cotangents of zero are absent from the dictionaries (symbolic zeros), so
work is only done on the nodes that depend on the inputs (forward) or that the
outputs depend on (reverse). The primitives are applied with ``bind``, so when the
values are tracers these interpreters are themselves traced: that is how a
derivative becomes a Graph again (higher order).

Non-finite results follow :mod:`ad.policy`, as in the compiled engines: in mode
``"raise"`` a NaN or infinite output value, output tangent or input cotangent raises
``NonFiniteError`` naming the node where it first appeared (:mod:`ad.finite`). Traced
values (a sweep being recorded by an outer trace) are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ad import policy
from ad.ir import Graph
from ad.primitives.core import rule
from ad.primitives.elementwise import add, subtract
from ad.trace import Tracer


def evaluate(graph: Graph, args: Sequence[Any]) -> dict[int, Any]:
    """Primal sweep; returns the value of every variable (the tape), keyed by id."""
    env: dict[int, Any] = dict(graph.const_values)
    for v, a in zip(graph.inputs, args):
        env[v.id] = a
    for e in graph.eqns:
        out = e.prim.bind(*[env[v.id] for v in e.inputs], **e.params)
        if e.prim.n_out == 1:
            env[e.outputs[0].id] = out
        else:
            env.update((v.id, o) for v, o in zip(e.outputs, out))
    _check_values(graph, env)
    return env


def _concrete(xs: Sequence[Any]) -> bool:
    return not any(isinstance(x, Tracer) for x in xs)


def _finite(xs: Sequence[Any]) -> bool:
    return all(x is None or bool(np.isfinite(x).all()) for x in xs)


def _check_values(graph: Graph, env: dict[int, Any]) -> None:
    """Under the "raise" policy: NonFiniteError if an output value is NaN or infinite."""
    outs = [env[v.id] for v in graph.outputs]
    if policy.raising() and _concrete(outs) and not _finite(outs):
        from ad.finite import value_error

        raise value_error(graph, lambda v: env.get(v.id))


def _acc(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple):
        return tuple(_acc(x, y) for x, y in zip(a, b))
    for p, q in ((a, b), (b, a)):  # p + neg(c) is p - c bit for bit (IEEE): record that
        if type(q) is Tracer:  # (the cotangent sub passes to its subtrahend is a neg)
            e = q._trace.builder.producer.get(q._var.id)
            if e is not None and e.prim.name == "neg":
                c = e.inputs[0]
                return subtract(p, Tracer(q._trace, c, q._trace.values[c.id]))
    return add(a, b)


def _ans(e: Any, env: dict[int, Any]) -> Any:
    if e.prim.n_out == 1:
        return env[e.outputs[0].id]
    return tuple(env[v.id] for v in e.outputs)


def jvp(
    graph: Graph,
    args: Sequence[Any],
    tangents: Sequence[Any | None],
    values: dict[int, Any] | None = None,
) -> tuple[list[Any], list[Any | None]]:
    """Forward mode: push tangents (batch + input shape; ``None`` = zero) through.

    Returns the output values and output tangents (``None`` where zero). With
    ``values`` (a tape from a previous sweep) the primal is not recomputed.
    """
    env = dict(values) if values is not None else dict(graph.const_values)
    if values is None:
        env.update((v.id, a) for v, a in zip(graph.inputs, args))
    tan: dict[int, Any] = {v.id: t for v, t in zip(graph.inputs, tangents) if t is not None}
    for e in graph.eqns:
        primals = [env[v.id] for v in e.inputs]
        if values is None:  # the dual-number sweep: value first, then its tangent
            out = e.prim.bind(*primals, **e.params)
            outs = (out,) if e.prim.n_out == 1 else out
            env.update((v.id, o) for v, o in zip(e.outputs, outs))
        active = [i for i, v in enumerate(e.inputs) if v.id in tan]
        if not active:
            continue
        ans = _ans(e, env)
        total = None
        for i in active:
            r = rule(e.prim.jvp_rules, i)
            if r is not None:
                total = _acc(total, r(tan[e.inputs[i].id], ans, *primals, **e.params))
        if total is None:
            continue
        totals = (total,) if e.prim.n_out == 1 else total
        tan.update((v.id, t) for v, t in zip(e.outputs, totals) if t is not None)
    outs, touts = [env[v.id] for v in graph.outputs], [tan.get(v.id) for v in graph.outputs]
    if policy.raising() and _concrete(outs + touts):
        _check_values(graph, env)
        if not _finite(touts):
            from ad.finite import tangent_error

            raise tangent_error(graph, lambda v: env.get(v.id), lambda v: tan.get(v.id))
    return outs, touts


def vjp(
    graph: Graph,
    args: Sequence[Any],
    cotangents: Sequence[Any | None],
    values: dict[int, Any] | None = None,
) -> tuple[list[Any], list[Any | None]]:
    """Reverse mode: record, then pull cotangents (batch + output shape) back.

    Returns the output values and the input cotangents (``None`` where zero).
    """
    env = values if values is not None else evaluate(graph, args)
    if values is not None:
        _check_values(graph, env)
    ct = _backward(graph, env, cotangents, keep=False)
    bars = [ct.get(v.id) for v in graph.inputs]
    if policy.raising() and _concrete(bars) and not _finite(bars):
        from ad.finite import adjoint_error

        every = _backward(graph, env, cotangents, keep=True)  # again, keeping every adjoint
        raise adjoint_error(graph, lambda v: env.get(v.id), lambda v: every.get(v.id))
    return [env[v.id] for v in graph.outputs], bars


def _backward(
    graph: Graph, env: dict[int, Any], cotangents: Sequence[Any | None], keep: bool
) -> dict[int, Any]:
    """The adjoint sweep; returns the cotangents of the inputs (of every variable if
    ``keep``, for the non-finite report)."""
    active = graph.activity()[0]
    ct: dict[int, Any] = {}
    for v, c in zip(graph.outputs, cotangents):
        if c is not None:
            ct[v.id] = _acc(ct.get(v.id), c)
    for e in reversed(graph.eqns):
        bars = [(ct.get if keep else ct.pop)(v.id, None) for v in e.outputs]
        if all(b is None for b in bars):
            continue
        ans_bar = bars[0] if e.prim.n_out == 1 else tuple(bars)
        ans = _ans(e, env)
        primals = [env[v.id] for v in e.inputs]
        for i, v in enumerate(e.inputs):
            r = rule(e.prim.vjp_rules, i)
            if r is not None and v.id in active:
                ct[v.id] = _acc(ct.get(v.id), r(ans_bar, ans, *primals, **e.params))
    return ct
