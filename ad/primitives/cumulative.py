"""Cumulative sums: the primitive ``cumsum``.

A cumulative sum is linear, so its JVP is the cumulative sum of the tangent, and its
transpose (the VJP) is the cumulative sum taken from the other end: if
``y_k = sum_{j <= k} x_j`` then ``x_bar_j = sum_{k >= j} y_bar_k``. The static
``reverse`` flag gives that reversed sum, so the primitive is its own transpose. The
``axis`` is stored negative, so it names the same axis of a tangent or cotangent that
carries leading batch axes (see ``core``).

A cumulative sum as a ``scatter_add`` would need an index map of n (n + 1) / 2 entries
per lane; the primitive is O(n). ``cumprod`` is a composite (``ad.numpy_ext``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.errors import ShapeError
from ad.primitives.core import Primitive, defjvp, defsparsity, defvjp
from ad.primitives.shape import traced
from ad.trace import ndim_of


# ==================================================================================
# cumsum: y = cumsum(x, axis)  ->  dy = cumsum(dx, axis) ;  x_bar = reversed cumsum(y_bar)
# ==================================================================================
def _cumsum_shape(x, *, axis, reverse=False):
    if not -len(x) <= axis < 0:
        raise ShapeError(f"cumsum: axis {axis} (stored negative) out of range for shape {x}")
    return x


def _cumsum_impl(x, *, axis, reverse=False):
    if not reverse:
        return np.cumsum(x, axis=axis)
    return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)


cumsum_p = Primitive("cumsum", _cumsum_shape, _cumsum_impl, n_in=1)


def cumsum_jvp(x_dot, ans, x, *, axis, reverse=False):
    return cumsum_p.bind(x_dot, axis=axis, reverse=reverse)


def cumsum_vjp(ans_bar, ans, x, *, axis, reverse=False):
    return cumsum_p.bind(ans_bar, axis=axis, reverse=not reverse)


def lanes(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    """``(outer, n, inner)``: the entries of ``shape`` as outer x n x inner, the lanes
    along ``axis`` (negative) running over n with stride inner."""
    a = len(shape) + axis
    return int(np.prod(shape[:a], dtype=np.int64)), shape[a], int(np.prod(shape[a + 1 :]))


def lane_union(S: Any, x: Any, axis: int) -> Any:
    """Sparsity: every entry depends on its whole lane along ``axis`` (linear cost)."""
    outer, n, inner = lanes(x.shape, axis)
    lane = (np.arange(outer)[:, None, None] * inner + np.arange(inner)[None, None, :]).repeat(
        n, axis=1
    )
    cells = S.add_into(x, lane.reshape(x.shape), (outer * inner,))
    return S.take([cells], lane.reshape(x.shape), 1)


#: Above this many (output, input) pairs a cumsum's pattern is taken as lane-dense.
MAX_PAIRS = 1 << 22


def cumsum_sparsity(S, x, *, axis, reverse=False):
    """Entry k of a lane depends on entries 0..k (k..n-1 reversed): lower (upper)
    triangles, exact up to MAX_PAIRS pairs, the whole lane beyond."""
    outer, n, inner = lanes(x.shape, axis)
    k, j = np.tril_indices(n) if not reverse else np.triu_indices(n)
    if k.size * outer * inner > MAX_PAIRS:
        return lane_union(S, x, axis)
    base = (np.arange(outer)[:, None] * n * inner)[:, :, None] + np.arange(inner)[None, None, :]
    out_idx = base + (k * inner)[None, :, None]
    src_idx = base + (j * inner)[None, :, None]
    return S.pairs(x.shape, out_idx.reshape(-1), x, src_idx.reshape(-1))


defjvp(cumsum_p, cumsum_jvp)
defvjp(cumsum_p, cumsum_vjp)
defsparsity(cumsum_p, cumsum_sparsity)


def cumsum(x: Any, axis: int | None = None, *, reverse: bool = False) -> Any:
    """``np.cumsum``: the running sum along ``axis`` (None: of the flattened array).

    ``reverse=True`` sums from the end (the transpose). One ``cumsum`` node.
    """
    from ad.primitives.shape import ravel

    if axis is None:
        x, axis = ravel(x), 0
    ndim = ndim_of(x)
    if ndim == 0:
        raise ShapeError("cumsum of a 0-d array needs axis=None")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"cumsum: axis {axis} out of range for {ndim} axes")
    axis = int(axis) % ndim - ndim
    if not traced(x):
        return _cumsum_impl(np.asarray(x, dtype=np.float64), axis=axis, reverse=reverse)
    return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))
