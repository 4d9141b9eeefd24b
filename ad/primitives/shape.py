"""Structural primitives: every reshaping, indexing and broadcasting is a ``gather``,
every summation a ``scatter_add``.

A structural NumPy operation only moves (or adds up) entries, so it is described by an
integer index map computed once, at trace time, by applying the operation to an array
of indices. Two primitives then cover transpose, reshape, broadcast_to, indexing and
slicing, concatenate, stack, diag, tril/triu (``gather``) and every sum over axes
(``scatter_add``). They are each other's transpose, so their rules are one line each,
and the kernels need two instructions for all of them.

Index maps use -1 for "no source" (a zero entry: the off-diagonal of ``diag(v)``, the
dropped half of ``tril``). Both primitives are batch-polymorphic: operands may carry
extra leading axes (the tangent directions), which pass through unchanged.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ad.errors import ShapeError
from ad.primitives.core import Primitive, defjvp, defsparsity, defvjp
from ad.trace import Tracer, concrete, ndim_of, shape_of


def traced(*xs: Any) -> bool:
    """True if any operand is a tracer (so the operation must be recorded)."""
    for x in xs:
        if type(x) is Tracer:
            return True
    return False


def index_map(op: Any, *shapes: tuple[int, ...]) -> np.ndarray:
    """Apply a structural ``op`` to index arrays of the given shapes; -1 marks zeros.

    Entry k of the result is the flat position (in the concatenation of all the
    operands) that output entry k copies, or -1 where the output is zero.
    """
    arrays, start = [], 1
    for s in shapes:
        size = math.prod(s)
        arrays.append(np.arange(start, start + size, dtype=np.int64).reshape(s))
        start += size
    return np.asarray(np.asarray(op(*arrays), dtype=np.int64) - 1)


_BOUNDS: dict[int, tuple[np.ndarray, int, int]] = {}


def bounds(idx: np.ndarray) -> tuple[int, int]:
    """``(min, max)`` of an index map (``(0, -1)`` when empty); remembered for the
    read-only maps that tracing reuses (see :func:`getitem`)."""
    frozen = not idx.flags.writeable
    if frozen:
        hit = _BOUNDS.get(id(idx))
        if hit is not None and hit[0] is idx:
            return hit[1], hit[2]
    lo, hi = (int(idx.min()), int(idx.max())) if idx.size else (0, -1)
    if frozen:
        if len(_BOUNDS) > 4096:
            _BOUNDS.clear()
        _BOUNDS[id(idx)] = (idx, lo, hi)
    return lo, hi


def _split(shape: tuple[int, ...], core_ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    cut = len(shape) - core_ndim
    if cut < 0:
        raise ShapeError(f"operand of shape {shape} has fewer than {core_ndim} axes")
    return shape[:cut], shape[cut:]


# ----------------------------------------------------------------------------------
# gather: out[..., k] = concat(ravel(x_i))[..., idx[k]]   (0 where idx[k] == -1)
# ----------------------------------------------------------------------------------


def _gather_shape(*shapes, idx, in_ndims, label=None):
    if len(shapes) == 1 and in_ndims[0] == len(shapes[0]):  # the common case, no batch
        lo, hi = bounds(idx)
        if idx.size and (hi >= math.prod(shapes[0]) or lo < -1):
            raise ShapeError(f"gather index out of range for {math.prod(shapes[0])} entries")
        return idx.shape
    batch = None
    for s, nd in zip(shapes, in_ndims):
        b, _ = _split(s, nd)
        if batch is not None and b != batch:
            raise ShapeError(f"gather operands have different batch axes {batch} and {b}")
        batch = b
    total = sum(math.prod(_split(s, nd)[1]) for s, nd in zip(shapes, in_ndims))
    lo, hi = bounds(idx)
    if idx.size and (hi >= total or lo < -1):
        raise ShapeError(f"gather index out of range for {total} source entries")
    return batch + idx.shape


def _gather_impl(*xs, idx, in_ndims, label=None):
    x = xs[0]
    if len(xs) == 1 and type(x) is np.ndarray and in_ndims[0] == x.ndim and bounds(idx)[0] >= 0:
        if x.size == 1:  # a broadcast scalar: filled, not indexed
            return np.full(idx.shape, x.reshape(-1)[0])
        return x.reshape(-1)[..., idx]  # the common case: no batch axes, no zeros
    batch = shape_of(xs[0])[: ndim_of(xs[0]) - in_ndims[0]]
    flat = [np.reshape(x, batch + (-1,)) for x in xs]
    if bounds(idx)[0] < 0:
        flat.append(np.zeros(batch + (1,)))
    src = flat[0] if len(flat) == 1 else np.concatenate(flat, axis=-1)
    return src[..., idx]


gather_p = Primitive("gather", _gather_shape, _gather_impl)


def _local_index(idx: np.ndarray, sizes: list[int], i: int) -> np.ndarray:
    """The part of ``idx`` that reads operand i, re-based to it; -1 elsewhere."""
    lo = sum(sizes[:i])
    inside = (idx >= lo) & (idx < lo + sizes[i])
    return np.where(inside, idx - lo, -1)


def _operand_index(xs, in_ndims, idx, i):
    """The map restricted to operand i (several operands: concatenate)."""
    if len(xs) == 1:
        return idx
    sizes = [int(np.prod(shape_of(x)[ndim_of(x) - d :])) for x, d in zip(xs, in_ndims)]
    return _local_index(idx, sizes, i)


def gather_jvp(i, x_dot, ans, *xs, idx, in_ndims, label=None):
    return gather(x_dot, idx=_operand_index(xs, in_ndims, idx, i), in_ndim=in_ndims[i])


def gather_vjp(i, ans_bar, ans, *xs, idx, in_ndims, label=None):
    x_shape = _split(shape_of(xs[i]), in_ndims[i])[1]
    return scatter_add(ans_bar, idx=_operand_index(xs, in_ndims, idx, i), out_shape=x_shape)


defjvp(gather_p, variadic=gather_jvp)
defvjp(gather_p, variadic=gather_vjp)
# output entry k depends on the source entry idx[k] (none where idx[k] == -1)
defsparsity(gather_p, lambda S, *xs, idx, in_ndims, label=None: S.take(xs, idx, in_ndims))


def gather(*xs: Any, idx: np.ndarray, in_ndim: int | Sequence[int] | None = None, label=None):
    """``concat(ravel(xs))[..., idx]`` with -1 giving 0; ``in_ndim`` counts the
    non-batch axes of each operand (default: all of them)."""
    if in_ndim is None:
        in_ndims = tuple(ndim_of(x) for x in xs)
    elif isinstance(in_ndim, int):
        in_ndims = (in_ndim,) * len(xs)
    else:
        in_ndims = tuple(in_ndim)
    idx = np.asarray(idx, dtype=np.int64)
    if not traced(*xs):
        return _gather_impl(
            *[np.asarray(x, dtype=np.float64) for x in xs], idx=idx, in_ndims=in_ndims
        )
    return gather_p.bind(*xs, idx=idx, in_ndims=in_ndims, label=label)


# ----------------------------------------------------------------------------------
# scatter_add: out[..., j] = sum over k with idx[k] == j of g[..., k]   (the transpose)
# ----------------------------------------------------------------------------------


def _scatter_shape(g, *, idx, out_shape, label=None):
    batch, core = _split(g, idx.ndim)
    if core != idx.shape:
        raise ShapeError(f"scatter_add operand {g} does not end with index shape {idx.shape}")
    if idx.size and bounds(idx)[1] >= math.prod(out_shape):
        raise ShapeError(f"scatter_add index out of range for shape {out_shape}")
    return batch + tuple(out_shape)


def _scatter_impl(g, *, idx, out_shape, label=None):
    g = np.asarray(g, dtype=np.float64)
    batch = g.shape[: g.ndim - idx.ndim]
    size, rows = math.prod(out_shape), math.prod(batch)
    flat_idx = idx.reshape(-1)
    keep = flat_idx >= 0
    gg = g.reshape(rows, -1)[:, keep]
    ii = flat_idx[keep][None, :] + size * np.arange(rows)[:, None]
    out = np.bincount(ii.reshape(-1), weights=gg.reshape(-1), minlength=rows * size)
    return out.astype(np.float64, copy=False).reshape(batch + tuple(out_shape))  # int if empty


scatter_add_p = Primitive("scatter_add", _scatter_shape, _scatter_impl, n_in=1)


def scatter_add_jvp(g_dot, ans, g, *, idx, out_shape, label=None):
    return scatter_add(g_dot, idx=idx, out_shape=out_shape, label=label)


def scatter_add_vjp(ans_bar, ans, g, *, idx, out_shape, label=None):
    return gather(ans_bar, idx=idx, in_ndim=len(out_shape))


defjvp(scatter_add_p, scatter_add_jvp)
defvjp(scatter_add_p, scatter_add_vjp)
# output entry j depends on the union of the entries k with idx[k] == j
defsparsity(
    scatter_add_p, lambda S, g, *, idx, out_shape, label=None: S.add_into(g, idx, out_shape)
)


def scatter_add(g: Any, *, idx: np.ndarray, out_shape: tuple[int, ...], label=None):
    """Sum the trailing ``idx.shape`` axes of ``g`` into ``out_shape`` (-1: dropped)."""
    idx = np.asarray(idx, dtype=np.int64)
    out_shape = tuple(int(d) for d in out_shape)
    if not traced(g):
        return _scatter_impl(g, idx=idx, out_shape=out_shape)
    return scatter_add_p.bind(g, idx=idx, out_shape=out_shape, label=label)


# ----------------------------------------------------------------------------------
# stop_gradient: the value of x, no derivative (JAX's lax.stop_gradient)
# ----------------------------------------------------------------------------------

stop_gradient_p = Primitive(
    "stop_gradient", lambda x: x, lambda x: np.asarray(x), n_in=1, differentiable=False
)
defjvp(stop_gradient_p, None)
defvjp(stop_gradient_p, None)
defsparsity(stop_gradient_p, lambda S, x: S.constant(x.shape))


def stop_gradient(x: Any) -> Any:
    """``x`` as a value with no derivative: computed in the graph at every replay, but
    a constant to every derivative (JAX's ``lax.stop_gradient``)."""
    if not traced(x):
        return x
    return stop_gradient_p.bind(x)


# ----------------------------------------------------------------------------------
# The NumPy structural functions, each an index map
# ----------------------------------------------------------------------------------


#: Read-only index maps by (name, operand shapes, what else the operation reads).
_MAPS: dict[tuple, np.ndarray] = {}


def _structural(name: str, op: Any, *xs: Any, key: Any = None):
    """``op`` of the operands as a gather. With a hashable ``key`` (what ``op`` does
    besides the operands' shapes), the index map is built once per (name, shapes, key)
    and shared, read-only: a loss traced in a loop broadcasts and reshapes the same way
    at every call (and equal gathers then merge in the trace, see ``GraphBuilder``)."""
    if not traced(*xs):
        return op(*[np.asarray(x, dtype=np.float64) for x in xs])
    shapes = tuple(shape_of(x) for x in xs)
    if key is None:
        return gather(*xs, idx=index_map(op, *shapes), label=name)
    m = _shared_map((name, shapes, key), op, shapes)
    return gather_p.bind(*xs, idx=m, in_ndims=tuple(len(s) for s in shapes), label=name)


def _shared_map(key: tuple, op: Any, shapes: tuple) -> np.ndarray:
    """The read-only index map of ``op`` at ``shapes``, kept under ``key``."""
    m = _MAPS.get(key)
    if m is None:
        m = index_map(op, *shapes)
        m.flags.writeable = False
        if len(_MAPS) > 4096:
            _MAPS.clear()
        _MAPS[key] = m
    return m


def reshape(x: Any, shape: Any) -> Any:
    """``np.reshape`` (C order); ``shape`` an int, a sequence or an integer array."""
    shape = tuple(operator.index(d) for d in ((shape,) if np.ndim(shape) == 0 else shape))
    if traced(x) and shape_of(x) == tuple(np.empty(shape_of(x)).reshape(shape).shape):
        return x
    return _structural("reshape", lambda a: np.reshape(a, shape), x, key=shape)


def transpose(x: Any, axes: Any = None) -> Any:
    """``np.transpose``."""
    if ndim_of(x) < 2 and axes is None:
        return x
    axes = None if axes is None else tuple(int(a) for a in axes)
    return _structural("transpose", lambda a: np.transpose(a, axes), x, key=axes)


def swapaxes(x: Any, a1: int, a2: int) -> Any:
    return _structural("swapaxes", lambda a: np.swapaxes(a, a1, a2), x, key=(int(a1), int(a2)))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    return _structural("moveaxis", lambda a: np.moveaxis(a, source, destination), x)


def mT(x: Any) -> Any:
    """Transpose of the last two axes (identity for 0-d and 1-d)."""
    return x if ndim_of(x) < 2 else swapaxes(x, -1, -2)


def broadcast_to(x: Any, shape: Any) -> Any:
    """``np.broadcast_to``; the IR records it as an explicit gather."""
    shape = tuple(shape)
    if shape_of(x) == shape:
        return x
    return _structural("broadcast_to", lambda a: np.broadcast_to(a, shape), x, key=shape)


def expand_dims(x: Any, axis: Any) -> Any:
    return reshape(x, np.expand_dims(np.empty(shape_of(x)), axis).shape)


def squeeze(x: Any, axis: Any = None) -> Any:
    return reshape(x, np.squeeze(np.empty(shape_of(x)), axis).shape)


def ravel(x: Any) -> Any:
    return reshape(x, (-1,))


def _concrete_index(idx: Any) -> Any:
    if type(idx) is int:
        return idx
    if isinstance(idx, tuple):
        return tuple(concrete(i) for i in idx)
    return concrete(idx)


def _basic_key(idx: Any) -> Any:
    """A hashable form of a basic index (ints, slices, None, Ellipsis), else None."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    key = []
    for p in parts:
        if isinstance(p, slice):
            key.append(("s", p.start, p.stop, p.step))
        elif p is None or p is Ellipsis or (isinstance(p, int) and not isinstance(p, bool)):
            key.append(p)
        else:
            return None
    return tuple(key)


def getitem(x: Any, idx: Any) -> Any:
    """``x[idx]``: basic slicing, integer and boolean array indexing.

    The index maps of basic indices (ints, slices) are kept per (shape, index): a loss
    evaluated in a loop indexes the same way every time, and tracing is its cost."""
    idx = _concrete_index(idx)
    if not traced(x):
        return np.asarray(x, dtype=np.float64)[idx]
    key = _basic_key(idx)
    if key is None:
        return _structural("getitem", lambda a: a[idx], x)
    shapes = (shape_of(x),)
    m = _shared_map(("getitem", shapes, key), lambda a: a[idx], shapes)
    return gather_p.bind(x, idx=m, in_ndims=(len(shapes[0]),), label="getitem")


def concatenate(arrays: Sequence[Any], axis: int | None = 0) -> Any:
    """``np.concatenate``."""
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    axis = int(axis)
    return _structural("concatenate", lambda *a: np.concatenate(a, axis=axis), *arrays, key=axis)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """``np.stack``."""
    axis = int(axis)
    return _structural("stack", lambda *a: np.stack(a, axis=axis), *arrays, key=axis)


def hstack(arrays: Sequence[Any]) -> Any:
    return _structural("hstack", lambda *a: np.hstack(a), *arrays, key=())


def vstack(arrays: Sequence[Any]) -> Any:
    return _structural("vstack", lambda *a: np.vstack(a), *arrays, key=())


def diag(x: Any, k: int = 0) -> Any:
    """``np.diag``: the diagonal of a matrix, or a matrix with a vector on its diagonal."""
    k = int(k)
    return _structural("diag", lambda a: np.diag(a, k), x, key=k)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    return _structural("diagonal", lambda a: np.diagonal(a, offset, axis1, axis2).copy(), x)


def tril(x: Any, k: int = 0) -> Any:
    """``np.tril`` (the index map puts -1, i.e. zero, above the k-th diagonal)."""
    return _structural("tril", lambda a: np.where(np.tri(*a.shape[-2:], k=k, dtype=bool), a, 0), x)


def triu(x: Any, k: int = 0) -> Any:
    """``np.triu``."""
    return _structural(
        "triu", lambda a: np.where(np.tri(*a.shape[-2:], k=k - 1, dtype=bool), 0, a), x
    )


def flip(x: Any, axis: Any = None) -> Any:
    return _structural("flip", lambda a: np.flip(a, axis), x)


def tile(x: Any, reps: Any) -> Any:
    return _structural("tile", lambda a: np.tile(a, reps), x)


def repeat(x: Any, repeats: Any, axis: Any = None) -> Any:
    return _structural("repeat", lambda a: np.repeat(a, repeats, axis), x)


def pad(x: Any, pad_width: Any) -> Any:
    """``np.pad`` with zeros."""
    return _structural("pad", lambda a: np.pad(a, pad_width), x)
