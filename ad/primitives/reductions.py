"""Reductions over axes.

A sum is a ``scatter_add`` whose index map sends every entry to its output cell, so
it needs no primitive of its own. ``max`` and ``min`` are primitives (the kernels
must find the extreme at run time); their derivative follows the extreme entry and
splits equally among ties, as JAX does. ``prod`` is a balanced tree of
multiplications, exact at zeros where the usual ``ans / x`` rule divides by zero.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # NumPy < 2.0
    from numpy.core.numeric import normalize_axis_tuple

from ad.primitives.core import Primitive, defjvp, defsparsity, defvjp
from ad.primitives.elementwise import divide, exp, log, multiply, select
from ad.primitives.shape import (
    concatenate,
    gather,
    getitem,
    reshape,
    scatter_add,
    stop_gradient,
    traced,
    transpose,
)
from ad.trace import guard, ndim_of, peek, shape_of


def _axes(ndim: int, axis: Any) -> tuple[int, ...]:
    """The reduced axes, sorted; NumPy's AxisError out of range, ValueError if repeated."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axis_tuple(axis, ndim)))


_REDUCE_MAPS: dict[tuple, tuple[np.ndarray, tuple]] = {}


def reduce_map(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[np.ndarray, tuple]:
    """Index map of a reduction: for each entry of ``shape``, its output cell. Built
    once per (shape, axes) and shared, read-only (as the shape module's index maps)."""
    hit = _REDUCE_MAPS.get((shape, axes))
    if hit is not None:
        return hit
    out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
    keep = tuple(1 if i in axes else d for i, d in enumerate(shape))
    cells = np.arange(int(np.prod(out_shape, dtype=np.int64)), dtype=np.int64).reshape(keep)
    idx = np.broadcast_to(cells, shape).copy()
    idx.flags.writeable = False
    if len(_REDUCE_MAPS) > 4096:
        _REDUCE_MAPS.clear()
    _REDUCE_MAPS[(shape, axes)] = idx, out_shape
    return idx, out_shape


def _keepdims(y: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Any:
    if not keepdims:
        return y
    return reshape(y, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """``np.sum``: a ``scatter_add`` over the reduced axes."""
    if not traced(x):
        return np.sum(x, axis=axis, keepdims=keepdims)
    axes = _axes(ndim_of(x), axis)
    if not axes:
        return x
    idx, out_shape = reduce_map(shape_of(x), axes)
    y = scatter_add(x, idx=idx, out_shape=out_shape, label="sum")
    return _keepdims(y, shape_of(x), axes, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``np.mean``; over an empty slice it is nan, with NumPy's RuntimeWarning."""
    if not traced(x):
        return np.mean(x, axis=axis, keepdims=keepdims)
    axes = _axes(ndim_of(x), axis)
    count = int(np.prod([shape_of(x)[a] for a in axes], dtype=np.int64))
    if count == 0:  # 0 / 0 = nan, as NumPy computes it (and warns)
        import warnings

        from ad.trace import user_stacklevel

        warnings.warn("Mean of empty slice.", RuntimeWarning, stacklevel=user_stacklevel())
        return divide(sum(x, axis, keepdims), 0.0)
    return sum(x, axis, keepdims) * (1.0 / count)


# -- reduce_max / reduce_min ----------------------------------------------------------
def _reduce_shape(x, *, axes):
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _extreme_weights(ans: Any, x: Any, axes: tuple[int, ...]) -> np.ndarray:
    """One-hot weights of the extreme entries (1/k each for a k-way tie): a guard."""

    def tie_weights(cx: Any, ca: Any) -> np.ndarray:
        hit = (cx == np.expand_dims(ca, axes)).astype(np.float64)
        return hit / hit.sum(axis=axes, keepdims=True)

    return guard(tie_weights, x, ans)


def _make_extreme(name: str, impl: Any) -> Primitive:
    prim = Primitive(name, _reduce_shape, lambda x, *, axes: impl(x, axis=axes), n_in=1)

    def extreme_jvp(x_dot, ans, x, *, axes):
        idx, out_shape = reduce_map(shape_of(x), axes)
        return scatter_add(x_dot * _extreme_weights(ans, x, axes), idx=idx, out_shape=out_shape)

    def extreme_vjp(ans_bar, ans, x, *, axes):
        idx, out_shape = reduce_map(shape_of(x), axes)
        spread = gather(ans_bar, idx=idx, in_ndim=len(out_shape))
        return spread * _extreme_weights(ans, x, axes)

    defjvp(prim, extreme_jvp)
    defvjp(prim, extreme_vjp)
    # conservative: a cell depends on every entry it reduces (the extreme one is x-dependent)
    defsparsity(prim, lambda S, x, *, axes: S.add_into(x, *reduce_map(x.shape, axes)))
    return prim


reduce_max_p = _make_extreme("reduce_max", np.max)
reduce_min_p = _make_extreme("reduce_min", np.min)


def _extreme(prim: Primitive, impl: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    if not traced(x):
        return impl(x, axis=axis, keepdims=keepdims)
    axes = _axes(ndim_of(x), axis)
    if not axes:
        return x
    return _keepdims(prim.bind(x, axes=axes), shape_of(x), axes, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """``np.max``; the derivative goes to the maximum (split equally among ties)."""
    return _extreme(reduce_max_p, np.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """``np.min``; the derivative goes to the minimum (split equally among ties)."""
    return _extreme(reduce_min_p, np.min, x, axis, keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``np.prod`` as a balanced tree of multiplications (exact derivative at zeros)."""
    if not traced(x):
        return np.prod(x, axis=axis, keepdims=keepdims)
    shape = shape_of(x)
    axes = _axes(len(shape), axis)
    if math.prod(shape_of(x)) == 0:  # an empty product is 1 (a constant: nothing to derive)
        return np.prod(np.ones(shape), axis=axes, keepdims=keepdims)
    # move the reduced axes to the front and flatten them into one
    rest = [i for i in range(len(shape)) if i not in axes]
    y = transpose(x, axes + tuple(rest)) if axes != tuple(range(len(axes))) else x
    y = reshape(y, (-1,) + tuple(shape[i] for i in rest))
    while shape_of(y)[0] > 1:
        k = shape_of(y)[0]
        half = k // 2
        paired = multiply(getitem(y, slice(0, half)), getitem(y, slice(half, 2 * half)))
        y = paired if k % 2 == 0 else concatenate([paired, getitem(y, slice(2 * half, k))])
    y = reshape(y, tuple(shape[i] for i in rest))
    return _keepdims(y, shape, axes, keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) computed stably: shift by the maximum first.

    The shift is ``stop_gradient(max(x))``: computed in the graph (so a replay at other
    values shifts by their maximum) and without a derivative, which it does not need:
    the gradient is softmax(x) whatever the shift.
    """
    if not traced(x):
        shift = np.max(x, axis=axis, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0.0)
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
        return out if keepdims else np.reshape(out, np.shape(np.sum(x, axis=axis)))
    shift = stop_gradient(max(x, axis=axis, keepdims=True))
    finite = guard(np.isfinite, shift)  # all-infinite lanes are shifted by 0
    if not np.all(finite):
        shift = select(finite, shift, np.zeros(shape_of(shift)))
    out = log(sum(exp(x - shift), axis=axis, keepdims=True)) + shift
    if keepdims:
        return out
    return reshape(out, shape_of(np.sum(peek(x), axis=axis)))
