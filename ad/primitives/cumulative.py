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
from ad.primitives.core import Primitive, defjvp, defvjp
from ad.primitives.shape import traced


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


defjvp(cumsum_p, cumsum_jvp)
defvjp(cumsum_p, cumsum_vjp)


def cumsum(x: Any, axis: int | None = None, *, reverse: bool = False) -> Any:
    """``np.cumsum``: the running sum along ``axis`` (None: of the flattened array).

    ``reverse=True`` sums from the end (the transpose). One ``cumsum`` node.
    """
    from ad.primitives.shape import ravel

    if axis is None:
        x, axis = ravel(x), 0
    ndim = np.ndim(x)
    if ndim == 0:
        raise ShapeError("cumsum of a 0-d array needs axis=None")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"cumsum: axis {axis} out of range for {ndim} axes")
    axis = int(axis) % ndim - ndim
    if not traced(x):
        return _cumsum_impl(np.asarray(x, dtype=np.float64), axis=axis, reverse=reverse)
    return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))
