"""Forward mode on a Graph: dual numbers swept through the Wengert list.

One sweep pushes p directions at once (a value plus p partials per variable), so a
full Jacobian of a function with n inputs costs ceil(n / p) sweeps: n x O(T) work
for p = 1, the textbook forward mode.
"""

from __future__ import annotations

from typing import Any

from ad.engine import as_args, choose, jacobian_blocks, jacobian_tree, jvp_one, out_tree
from ad.errors import ShapeError
from ad.ir import Graph


def jvp(graph: Graph, args: Any, tangents: Any, *, engine: str | None = None) -> tuple[Any, Any]:
    """Values and directional derivatives ``(f(x), J(x) v)`` in one forward sweep.

    ``args`` and ``tangents`` are tuples matching ``graph.inputs`` (a bare array for
    a one-input graph); each tangent has its input's shape. Cost: one sweep, about
    2-2.5 x f. Example::

        y, y_dot = ad.forward.jvp(ad.trace(np.sin, x), x, np.ones_like(x))
    """
    xs = as_args(graph, args)
    ts = as_args(graph, tangents, "tangents")
    for v, t in zip(graph.inputs, ts):
        if t.shape != v.shape:
            raise ShapeError(f"tangent of shape {t.shape} for input v{v.id} of shape {v.shape}")
    outs, touts = jvp_one(graph, xs, ts, choose(engine, *xs))
    return out_tree(graph, outs), out_tree(graph, touts)


def jacobian(
    graph: Graph, args: Any, chunk: int | None = None, *, engine: str | None = None
) -> Any:
    """The full Jacobian by forward mode: ceil(n / chunk) sweeps of ``chunk`` directions.

    Shape: output shape + input shape (tuples for several inputs/outputs, as JAX).
    ``chunk=None`` picks the width by :func:`ad.engine.pick_chunk` (all directions in
    one sweep while the dual buffer fits its budget); ``chunk=1`` is one direction per
    sweep. Example::

        J = ad.forward.jacobian(graph, x, chunk=8)
    """
    xs = as_args(graph, args)
    blocks = jacobian_blocks(graph, xs, chunk, choose(engine, *xs), "forward", None)
    return jacobian_tree(graph, blocks)
