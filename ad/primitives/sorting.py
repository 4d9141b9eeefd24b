"""Sorting: the primitive ``sort``.

Sorting moves entries, so its derivative is a gather by the sorting permutation, and
its transpose a scatter back. The permutation depends on the values, so it is not a
trace-time index map (a ``gather`` would freeze it): ``sort`` is a primitive whose
``impl`` computes the permutation from its operand, so a replay on new values sorts
the new values. It has two outputs, ``(sorted, perm)``: ``perm`` (the permutation as
float64 indices along ``axis``) is what the rules need, kept on the tape like a
factorisation (as ``eigvalsh`` keeps V), with no derivative of its own.

Ties: NumPy's stable sort keeps equal entries in input order; the derivative then
follows that order (each tied output takes the tangent of the input it copies), as
JAX does. Sorting is differentiable wherever the entries are distinct.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.errors import ShapeError
from ad.primitives.core import Primitive, defjvp, defsparsity, defvjp
from ad.primitives.cumulative import lane_union
from ad.primitives.shape import gather, scatter_add, traced
from ad.trace import concrete, ndim_of, shape_of


# ==================================================================================
# sort: (y, perm) with y = take_along_axis(x, perm, axis), perm = argsort(x, axis)
#   JVP: dy = take_along_axis(dx, perm) (a gather) ; VJP: x_bar = scatter of y_bar by perm
# ==================================================================================
def _sort_shape(x, *, axis):
    if not -len(x) <= axis < 0:
        raise ShapeError(f"sort: axis {axis} (stored negative) out of range for shape {x}")
    return x, x


def _sort_impl(x, *, axis):
    perm = np.argsort(x, axis=axis, kind="stable")
    return np.take_along_axis(x, perm, axis=axis), perm.astype(np.float64)


sort_p = Primitive("sort", _sort_shape, _sort_impl, n_in=1, n_out=2)


def _source_map(ans: Any, axis: int) -> np.ndarray:
    """For each entry of the sorted output, the flat position in x it comes from."""
    perm = np.asarray(concrete(ans[1])).astype(np.int64)
    flat = np.arange(perm.size, dtype=np.int64).reshape(perm.shape)
    return np.take_along_axis(flat, perm, axis=axis)


def sort_jvp(x_dot, ans, x, *, axis):
    return gather(x_dot, idx=_source_map(ans, axis), in_ndim=ndim_of(x)), None


def sort_vjp(ans_bar, ans, x, *, axis):
    y_bar = ans_bar[0]
    if y_bar is None:
        return None
    return scatter_add(y_bar, idx=_source_map(ans, axis), out_shape=shape_of(x))


def sort_sparsity(S, x, *, axis):
    """Which entry of a lane lands where depends on the values: each output entry may
    depend on its whole lane (conservative); the permutation depends on nothing."""
    return lane_union(S, x, axis), S.constant(x.shape)


defjvp(sort_p, sort_jvp)
defvjp(sort_p, sort_vjp)
defsparsity(sort_p, sort_sparsity)


def sort(x: Any, axis: int | None = -1) -> Any:
    """``np.sort`` (ascending; ``axis=None`` sorts the flattened array). One ``sort``
    node; its derivative is a gather by the permutation found at run time."""
    from ad.primitives.shape import ravel

    if axis is None:
        x, axis = ravel(x), -1
    ndim = ndim_of(x)
    if ndim == 0:
        raise ShapeError("sort of a 0-d array: use axis=None")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"sort: axis {axis} out of range for {ndim} axes")
    axis = int(axis) % ndim - ndim
    if not traced(x):
        return np.sort(np.asarray(x, dtype=np.float64), axis=axis, kind="stable")
    return sort_p.bind(x, axis=axis)[0]
