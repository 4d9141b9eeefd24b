"""Reverse mode on a Graph: record the Wengert list once, sweep it backwards.

The recording sweep keeps every intermediate value (the tape, O(T) memory); each
adjoint sweep then pulls q cotangents back at once, so a gradient costs one sweep
(O(T), about 3-4 x f) and a full Jacobian with m outputs ceil(m / q) sweeps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad import reference
from ad.engine import as_args, choose, jacobian_blocks, jacobian_tree, out_tree, vjp_one
from ad.engine import gradient as engine_gradient
from ad.errors import NonScalarOutputError, ShapeError
from ad.ir import Graph
from ad.kernels import run
from ad.trace import trace


def vjp(graph: Graph, args: Any, cotangent: Any, *, engine: str | None = None) -> tuple[Any, Any]:
    """Values and the pulled-back cotangent ``(f(x), u^T J(x))``.

    ``cotangent`` matches the outputs (a tuple when the graph returns a tuple); the
    result matches ``args``. Example::

        y, x_bar = ad.reverse.vjp(graph, x, np.ones(m))
    """
    xs = as_args(graph, args)
    cts = cotangent if graph.out_tree is not None else (cotangent,)
    if len(cts) != len(graph.outputs):
        raise ShapeError(f"the graph has {len(graph.outputs)} outputs, got {len(cts)} cotangents")
    seeds = []
    for v, c in zip(graph.outputs, cts):
        c = np.asarray(c, dtype=np.float64)
        if c.shape != v.shape:
            raise ShapeError(f"cotangent of shape {c.shape} for output v{v.id} of shape {v.shape}")
        seeds.append(c)
    outs, bars = vjp_one(graph, xs, seeds, choose(engine, *xs))
    return out_tree(graph, outs), bars[0] if len(bars) == 1 else tuple(bars)


def gradient(graph: Graph, args: Any, *, engine: str | None = None) -> Any:
    """Gradient of a scalar-output graph: one recording and one adjoint sweep.

    Example::

        g = ad.reverse.gradient(ad.trace(lambda x: np.sum(x**2), x), x)   # 2 x
    """
    if graph.out_tree is not None or graph.outputs[0].shape != ():
        raise NonScalarOutputError(
            f"gradient needs one scalar output; the graph returns shapes "
            f"{[v.shape for v in graph.outputs]} (use reverse.jacobian)"
        )
    xs = as_args(graph, args)
    bars = engine_gradient(graph, xs, choose(engine, *xs))[1]
    return bars[0] if len(bars) == 1 else tuple(bars)


def jacobian(
    graph: Graph, args: Any, chunk: int | None = None, *, engine: str | None = None
) -> Any:
    """The full Jacobian by reverse mode: ceil(m / chunk) adjoint sweeps.

    Same layout as :func:`ad.forward.jacobian`. Example::

        J = ad.reverse.jacobian(graph, x, chunk=8)
    """
    xs = as_args(graph, args)
    blocks = jacobian_blocks(graph, xs, chunk, choose(engine, *xs), "reverse", None)
    return jacobian_tree(graph, blocks)


def gradient_graph(graph: Graph, args: Any) -> Graph:
    """The gradient computation of a scalar-output graph, recorded as a Graph.

    The reverse sweep's rules are array code, so running the reference interpreter on
    tracers records the adjoint sweep itself: the result is a Wengert list with the
    same inputs whose output is the gradient, which both compiled engines run like any
    other graph (forward mode over it gives Hessian-vector products: forward over
    reverse). Like any traced Graph it is specific to the control flow taken at
    ``args``. Example::

        G = ad.reverse.gradient_graph(graph, x)
        Hv = ad.forward.jvp(G, x, v)[1]
    """
    xs = as_args(graph, args)
    gradient(graph, xs, engine="reference")  # checks the output is a scalar

    def adjoint_sweep(*inputs: Any) -> Any:
        _, bars = reference.vjp(graph, inputs, [np.float64(1.0)])
        bars = [np.zeros(v.shape) if b is None else b for v, b in zip(graph.inputs, bars)]
        return bars[0] if len(bars) == 1 else tuple(bars)

    return trace(adjoint_sweep, *xs).live()  # f's own value is not part of it


def tape_bytes(graph: Graph) -> int:
    """Bytes the compiled reverse mode keeps between its two sweeps (values + residuals)."""
    return run.tape_bytes(run.compile(graph))
