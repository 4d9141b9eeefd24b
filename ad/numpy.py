"""NumPy-compatible functions that work on arrays and on tracers alike.

User code does not need this module: it calls ``numpy`` and the tracer dispatches
here through ``__array_ufunc__`` / ``__array_function__`` (the tables ``UFUNCS`` and
``FUNCTIONS`` at the bottom, and :func:`dispatch_ufunc` / :func:`dispatch_function`). It
is public for what NumPy itself cannot dispatch, such as :func:`logsumexp` (SciPy's does
not accept tracers). Derivative rules are written with these functions, so that they
trace too.

This module holds the core: the argument conventions every entry follows, the reductions,
products, structural functions and ``linalg``, and the dispatch. ``ad/numpy_ext.py`` holds
the rest of NumPy (composites such as ``var``, ``einsum``, ``quantile``; in-place updates;
the ndarray methods); its tables are merged into these at the bottom. To support a new
NumPy function: add the function (built from primitives, or a new primitive in
``ad/primitives/``) and one line in a table.

Every function in the tables takes NumPy's own signature: the same parameters, in the
same order, positional or keyword as NumPy allows (``np.sum(X, 0, float)`` reads the
dtype as the dtype), and gives NumPy's answer or raises NumPy's error. ``out=`` may be a
traced array (updated in place: its tracer is rebound); what ``ad`` cannot do (``out=`` a
NumPy array, a dtype other than float64, a ``pad`` mode that is not structural) raises
:class:`ad.errors.UnsupportedArgumentError` naming the argument, never a silent default.
A NumPy function that cannot be supported correctly is listed in ``UNSUPPORTED`` with
the reason its error gives. ``tests/test_numpy_conformance.py`` checks every table entry
against NumPy.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from ad.errors import UnsupportedArgumentError, UnsupportedOperationError
from ad.primitives import elementwise as _elementwise
from ad.primitives import linalg as _la
from ad.primitives import reductions as _red
from ad.primitives import shape as _shape
from ad.primitives.elementwise import (
    abs,
    add,
    arccos,
    arcsin,
    arctan,
    cos,
    cosh,
    divide,
    exp,
    expm1,
    integer_pow,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    select,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
)
from ad.primitives.linalg import matmul
from ad.primitives.reductions import logsumexp
from ad.primitives.shape import gather, getitem, scatter_add, stop_gradient, traced
from ad.trace import Tracer as _Tracer
from ad.trace import concrete, guard, lift, peek, shape_of, user_stacklevel

__all__ = [
    "abs", "add", "arccos", "arcsin", "arctan", "broadcast_to", "concatenate", "copy", "cos",
    "cosh", "diag", "diagonal", "divide", "dot", "exp", "expand_dims", "expm1", "flip",
    "full_like", "gather", "getitem", "hstack", "inner", "integer_pow", "linalg", "log",
    "log1p", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "moveaxis",
    "multiply", "negative", "ones_like", "outer", "pad", "positive", "power", "prod",
    "ravel", "repeat", "reshape", "scatter_add", "select", "sign", "sin", "sinh",
    "softmax", "sqrt", "square", "squeeze", "stack", "subtract", "sum", "swapaxes", "tan",
    "tanh", "tile", "trace", "transpose", "tril", "triu", "vstack", "where", "zeros_like",
]  # fmt: skip


# ----------------------------------------------------------------------------------
# Arguments: NumPy's signatures, and what ad cannot do (an error naming the argument)
# ----------------------------------------------------------------------------------

_NoValue = np._NoValue  # NumPy's "not given" default, so that NumPy's own defaults apply
_CASTING = ("no", "equiv", "safe", "same_kind", "unsafe")
_ORDERS = ("K", "A", "C", "F", None)


def _unsupported(fn: str, argument: str, reason: str) -> UnsupportedArgumentError:
    return UnsupportedArgumentError(f"numpy.{fn}", argument, reason)


def _float64(fn: str, dtype: Any) -> None:
    """``dtype=``: ad computes in float64 only (float, np.float64, 'f8' are fine)."""
    try:
        ok = dtype is None or np.dtype(dtype) == np.float64
    except TypeError:
        ok = False
    if not ok:
        raise _unsupported(
            fn, f"dtype={dtype!r}", "ad computes in float64 only: pass dtype=None or float"
        )


def _casting(casting: str) -> None:
    """``casting=``: every value ad traces is float64, so any valid rule is satisfied."""
    if casting not in _CASTING:
        raise ValueError("casting must be one of 'no', 'equiv', 'safe', 'same_kind', or 'unsafe'")


def _order(order: Any) -> None:
    """``order=`` of a function whose result's layout is not observable (a traced value)."""
    if order not in _ORDERS:
        raise ValueError(f"order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")


def _flag(keepdims: Any) -> bool:
    return False if keepdims is _NoValue else bool(keepdims)


def _mask(where: Any) -> np.ndarray | None:
    """A ``where=`` argument as a concrete boolean mask (None: every entry)."""
    if where is _NoValue or where is True:
        return None
    return np.asarray(concrete(where), dtype=bool)


def as_array(x: Any) -> Any:
    """A tracer as it is, anything else as a float64 array."""
    return x if traced(x) else np.asarray(x, dtype=np.float64)


def constant_like(like: Any, value: Any) -> Any:
    """``value`` as a new traced constant of ``like``'s trace (so it can be updated in
    place, as ``np.zeros_like(x)`` is), or the plain array when ``like`` is not traced."""
    if not isinstance(like, _Tracer):
        return value
    return lift(np.array(value, dtype=np.float64), like)


def _finish(fn: str, result: Any, out: Any) -> Any:
    """``out=``: None returns the result; a traced array is updated in place (its tracer
    rebound, and returned, as NumPy returns ``out``); a NumPy array cannot hold a traced
    value, so it raises UnsupportedArgumentError naming ``out``."""
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if out is None:
        return result
    if isinstance(out, _Tracer):
        return out._rebind(result if isinstance(result, _Tracer) else constant_like(out, result))
    raise _unsupported(
        fn,
        "out",
        f"np.{fn}(..., out=buf) writes into the NumPy array buf, which cannot hold a traced "
        f"value: write buf = np.{fn}(...) instead, or make buf a traced array "
        "(np.zeros_like(x)), which out= updates in place",
    )


def ufunc_kwargs(name: str, kwargs: dict[str, Any], passed: tuple[str, ...] = ()) -> dict:
    """Check the keyword arguments of a traced ufunc call other than ``out`` and
    ``where`` (``np.add(x, y, dtype=float)``); return those for the implementation
    (``passed``, e.g. vecdot's ``axis``).

    Layout and casting rules are accepted (every traced value is float64); other dtypes
    and gufunc ``axes``/``keepdims`` raise UnsupportedArgumentError; a keyword NumPy does
    not know raises NumPy's TypeError.
    """
    rest = {}
    for key, value in kwargs.items():
        if key in passed:
            rest[key] = value
        elif key == "dtype":
            _float64(name, value)
        elif key == "casting":
            _casting(value)
        elif key == "order":
            _order(value)
        elif key == "subok":
            pass
        elif key == "signature":
            raise _unsupported(name, f"signature={value!r}", "the loop is always float64")
        elif key in ("axes", "axis", "keepdims"):
            raise _unsupported(name, f"{key}={value!r}", "only the default is supported")
        else:
            raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
    return rest


def _signature_of(fn: Any, wrapper: Any) -> Any:
    """Give ``wrapper`` the signature, name and doc line of NumPy's ``fn`` (for help()
    and the tests); the wrapper must accept exactly NumPy's arguments."""
    try:
        wrapper.__signature__ = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - a builtin without one
        pass
    wrapper.__name__ = getattr(fn, "__name__", "function")
    wrapper.__doc__ = wrapper.__doc__ or f"``numpy.{wrapper.__name__}``."
    return wrapper


def _tracers_in(x: Any, found: list[Any]) -> Any:
    """``x`` with every tracer (in nested lists, tuples and dicts too) replaced by its
    index in ``found``, where it is appended."""
    if isinstance(x, _Tracer):
        found.append(x)
        return _Slot(len(found) - 1)
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_tracers_in(v, found) for v in x)
    if isinstance(x, dict):
        return {k: _tracers_in(v, found) for k, v in x.items()}
    return x


class _Slot(int):
    """Where :func:`_tracers_in` took a tracer out."""


def _filled(x: Any, values: tuple[Any, ...]) -> Any:
    """The inverse of :func:`_tracers_in`, with ``values`` in the slots."""
    if type(x) is _Slot:
        return values[x]
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_filled(v, values) for v in x)
    if isinstance(x, dict):
        return {k: _filled(v, values) for k, v in x.items()}
    return x


def _deep_concrete(x: Any) -> Any:
    """The values under tracers, in nested lists, tuples and dicts too (each a guard on
    its whole value)."""
    found: list[Any] = []
    shape = _tracers_in(x, found)
    return _filled(shape, tuple(concrete(t) for t in found)) if found else x


def concrete_fn(fn: Any) -> Any:
    """A function whose result has no derivative (argmax, isfinite, round's integer
    twins, ...): NumPy's own ``fn`` on the values, with NumPy's own arguments (so its
    values and errors are NumPy's); ``.concrete`` marks it for the tests and the docs.

    The result is a guard (:func:`ad.trace.guard`): a jitted replay stays valid
    wherever ``fn`` gives the same result (the same ``argmax``, say), not only at the
    same values."""

    def run(*args: Any, **kw: Any) -> Any:
        found: list[Any] = []
        shape = _tracers_in((args, kw), found)
        if not found:
            return fn(*args, **kw)

        def of_values(*values: Any) -> Any:
            a, k = _filled(shape, values)
            return fn(*a, **k)

        of_values.__name__ = fn.__name__
        return guard(of_values, *found)

    run.__doc__ = f"``numpy.{fn.__name__}`` on the values (piecewise constant: no derivative)."
    run = _signature_of(fn, run)
    run.concrete = True
    return run


# ----------------------------------------------------------------------------------
# Reductions: np.sum(a, axis, dtype, out, keepdims, initial, where) and friends
# ----------------------------------------------------------------------------------


def sum(  # noqa: A001  (the NumPy name)
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: Any = _NoValue,
    initial: Any = _NoValue,
    where: Any = _NoValue,
) -> Any:
    """``np.sum``: a ``scatter_add`` over the reduced axes; ``where`` zeroes the entries
    it excludes, ``initial`` is added."""
    if not traced(a, initial, out):
        return np.sum(a, axis, dtype, out, keepdims=keepdims, initial=initial, where=where)
    _float64("sum", dtype)
    mask = _mask(where)
    if mask is not None:
        a = select(mask, a, 0.0)
    y = _red.sum(a, axis=axis, keepdims=_flag(keepdims))
    return _finish("sum", y if initial is _NoValue else add(y, initial), out)


def prod(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: Any = _NoValue,
    initial: Any = _NoValue,
    where: Any = _NoValue,
) -> Any:
    """``np.prod`` (a balanced tree of multiplications, exact at zeros); ``where`` sets
    the entries it excludes to 1, ``initial`` multiplies the result."""
    if not traced(a, initial, out):
        return np.prod(a, axis, dtype, out, keepdims=keepdims, initial=initial, where=where)
    _float64("prod", dtype)
    mask = _mask(where)
    if mask is not None:
        a = select(mask, a, 1.0)
    y = _red.prod(a, axis=axis, keepdims=_flag(keepdims))
    return _finish("prod", y if initial is _NoValue else multiply(y, initial), out)


def _count(shape: tuple[int, ...], axis: Any, mask: Any, keepdims: Any) -> np.ndarray:
    """How many entries each cell of a reduction over ``axis`` counts (``where=``)."""
    m = np.ones(shape, dtype=bool) if mask is None else np.broadcast_to(mask, shape)
    return np.sum(m, axis=axis, keepdims=_flag(keepdims)).astype(np.float64)


def _empty_slice_warning(count: Any, message: str = "Mean of empty slice.") -> None:
    if np.any(np.asarray(count) == 0):
        warnings.warn(message, RuntimeWarning, stacklevel=user_stacklevel())


def mean(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: Any = _NoValue,
    *,
    where: Any = _NoValue,
) -> Any:
    """``np.mean``; the mean of an empty slice is nan (with NumPy's RuntimeWarning)."""
    if not traced(a, out):
        return np.mean(a, axis, dtype, out, keepdims=keepdims, where=where)
    _float64("mean", dtype)
    mask = _mask(where)
    if mask is None:
        return _finish("mean", _red.mean(a, axis=axis, keepdims=_flag(keepdims)), out)
    count = _count(shape_of(a), axis, mask, keepdims)
    total = sum(a, axis, keepdims=keepdims, where=mask)
    _empty_slice_warning(count)
    return _finish("mean", divide(total, count), out)  # 0 / 0 = nan where nothing counts


def _extreme(
    name: str, a: Any, axis: Any, out: Any, keepdims: Any, initial: Any, where: Any
) -> Any:
    """``np.max`` / ``np.min``: the derivative follows the extreme entry (ties split)."""
    if not traced(a, initial, out):
        return getattr(np, name)(a, axis, out, keepdims=keepdims, initial=initial, where=where)
    reduce, pick = (_red.max, maximum) if name == "max" else (_red.min, minimum)
    keep = _flag(keepdims)
    mask = _mask(where)
    if mask is not None:
        if initial is _NoValue:
            op = "maximum" if name == "max" else "minimum"
            raise ValueError(
                f"reduction operation '{op}' does not have an identity, so to use a where "
                "mask one has to specify 'initial'"
            )
        a = select(mask, a, initial)  # an excluded entry counts as the initial value
    if initial is _NoValue:
        return _finish(name, reduce(a, axis=axis, keepdims=keep), out)
    if 0 in shape_of(a):  # nothing to reduce: the initial value everywhere
        shape = np.shape(np.sum(np.empty(shape_of(a)), axis=axis, keepdims=keep))
        return _finish(name, _shape.broadcast_to(as_array(initial), shape), out)
    return _finish(name, pick(reduce(a, axis=axis, keepdims=keep), initial), out)


def max(  # noqa: A001
    a: Any,
    axis: Any = None,
    out: Any = None,
    keepdims: Any = _NoValue,
    initial: Any = _NoValue,
    where: Any = _NoValue,
) -> Any:
    """``np.max``; the derivative goes to the maximum (split equally among ties)."""
    return _extreme("max", a, axis, out, keepdims, initial, where)


def min(  # noqa: A001
    a: Any,
    axis: Any = None,
    out: Any = None,
    keepdims: Any = _NoValue,
    initial: Any = _NoValue,
    where: Any = _NoValue,
) -> Any:
    """``np.min``; the derivative goes to the minimum (split equally among ties)."""
    return _extreme("min", a, axis, out, keepdims, initial, where)


def trace(
    a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None
) -> Any:
    """``np.trace``: the sum of the diagonal (over the last axis ``diagonal`` makes)."""
    if not traced(a, out):
        return np.trace(a, offset, axis1, axis2, dtype, out)
    _float64("trace", dtype)
    return _finish("trace", _red.sum(_shape.diagonal(a, offset, axis1, axis2), axis=-1), out)


# ----------------------------------------------------------------------------------
# Products
# ----------------------------------------------------------------------------------


def dot(a: Any, b: Any, out: Any = None) -> Any:
    """``np.dot``: a product with a 0-d operand, matmul for 1-d and 2-d, and for N-d the
    sum over the last axis of ``a`` and the second-to-last of ``b``."""
    if not traced(a, b, out):
        return np.dot(a, b, out)
    return _finish("dot", _la.dot(a, b), out)


def inner(a: Any, b: Any, /) -> Any:
    """``np.inner``: the sum over the LAST axes of both (``A @ B.T`` for matrices)."""
    if not traced(a, b):
        return np.inner(a, b)
    return _la.inner(a, b)


def outer(a: Any, b: Any, out: Any = None) -> Any:
    """``np.outer`` of the flattened operands."""
    if not traced(a, b, out):
        return np.outer(a, b, out)
    return _finish("outer", _la.outer(a, b), out)


# ----------------------------------------------------------------------------------
# Structural functions (each a gather: its index map is the function applied to indices)
# ----------------------------------------------------------------------------------


def _ordered(name: str, op: Any, a: Any) -> Any:
    """A structural ``op`` that depends on a memory ``order`` ('C', 'F', 'A', 'K').

    Its index map is ``op`` applied to an index array laid out in memory like ``a``'s
    value, so NumPy itself decides (and validates) the order: 'A' and 'K' follow the
    layout of the value at trace time, as NumPy would (the Graph records the result).
    """
    if not traced(a):
        return op(np.asarray(a, dtype=np.float64))
    value = np.asarray(peek(a))  # its memory layout (which the operations decide)
    idx = np.empty_like(value, dtype=np.int64)  # same memory layout as the value
    idx[...] = np.arange(value.size, dtype=np.int64).reshape(value.shape)
    m = np.asarray(op(idx), dtype=np.int64)
    if m.shape == shape_of(a) and np.array_equal(m.reshape(-1), np.arange(m.size)):
        return a  # the identity: no node
    return gather(a, idx=m, label=name)


def reshape(
    a: Any, /, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None
) -> Any:
    """``np.reshape`` in order 'C' (row-major), 'F' (column-major) or 'A' (as the value
    is laid out); ``newshape`` is NumPy 1.x's name for ``shape``. Traced values are never
    modified in place, so ``copy`` only keeps NumPy's error for ``copy=False``."""
    if newshape is not None:
        if shape is not None:
            raise TypeError("You cannot specify 'newshape' and 'shape' arguments at the same time.")
        shape = newshape
    if shape is None:
        raise TypeError("reshape() missing 1 required positional argument: 'shape'")
    if order == "C" and copy is None:  # the map depends on the shapes alone: shared
        return _shape.reshape(a, shape)
    kw = {} if copy is None else {"copy": copy}
    return _ordered("reshape", lambda m: np.reshape(m, shape, order=order, **kw), a)


def ravel(a: Any, order: str = "C") -> Any:
    """``np.ravel`` in order 'C', 'F', 'A' or 'K' (the last two: the value's layout)."""
    return _ordered("ravel", lambda m: np.ravel(m, order=order), a)


def transpose(a: Any, axes: Any = None) -> Any:
    """``np.transpose`` (``np.permute_dims``)."""
    return _shape.transpose(a, axes)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    """``np.swapaxes``."""
    return _shape.swapaxes(a, axis1, axis2)


def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    """``np.moveaxis``."""
    return _shape.moveaxis(a, source, destination)


def squeeze(a: Any, axis: Any = None) -> Any:
    """``np.squeeze``."""
    return _shape.squeeze(a, axis)


def expand_dims(a: Any, axis: Any) -> Any:
    """``np.expand_dims``."""
    return _shape.expand_dims(a, axis)


def broadcast_to(array: Any, shape: Any, subok: bool = False) -> Any:
    """``np.broadcast_to`` (``subok`` has no effect: ad has no array subclasses)."""
    return _shape.broadcast_to(as_array(array), shape)


def _joined(name: str, dtype: Any, casting: str) -> None:
    _float64(name, dtype)
    _casting(casting)


def concatenate(
    arrays: Any, /, axis: Any = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    """``np.concatenate`` (``np.concat``)."""
    _joined("concatenate", dtype, casting)
    return _finish("concatenate", _shape.concatenate(arrays, axis), out)


def stack(
    arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    """``np.stack``."""
    _joined("stack", dtype, casting)
    return _finish("stack", _shape.stack(arrays, axis), out)


def hstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.hstack``."""
    _joined("hstack", dtype, casting)
    return _shape.hstack(tup)


def vstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.vstack``."""
    _joined("vstack", dtype, casting)
    return _shape.vstack(tup)


def diag(v: Any, k: int = 0) -> Any:
    """``np.diag``: the diagonal of a matrix, or a matrix with a vector on its diagonal."""
    return _shape.diag(v, k)


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """``np.diagonal``."""
    return _shape.diagonal(a, offset, axis1, axis2)


def tril(m: Any, k: int = 0) -> Any:
    """``np.tril``."""
    return _shape.tril(m, k)


def triu(m: Any, k: int = 0) -> Any:
    """``np.triu``."""
    return _shape.triu(m, k)


def flip(m: Any, axis: Any = None) -> Any:
    """``np.flip``."""
    return _shape.flip(m, axis)


def tile(A: Any, reps: Any) -> Any:  # noqa: N803  (the NumPy name)
    """``np.tile``."""
    return _shape.tile(A, reps)


def repeat(a: Any, repeats: Any, axis: Any = None) -> Any:
    """``np.repeat`` (``repeats`` is concrete)."""
    return _shape.repeat(a, concrete(repeats), axis)


#: np.pad modes that only move entries (so their index map is np.pad of the indices).
PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(array: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    """``np.pad`` in the modes that move entries: 'constant' (any ``constant_values``),
    'edge', 'reflect', 'symmetric' (``reflect_type='even'``) and 'wrap'. The others
    compute new values from the array (or leave them undefined: 'empty') and raise
    UnsupportedArgumentError."""
    if not traced(array):
        return np.pad(np.asarray(array, dtype=np.float64), pad_width, mode, **kwargs)
    if callable(mode) or mode not in PAD_MODES:
        raise _unsupported(
            "pad", f"mode={mode!r}", f"the supported modes move entries: {', '.join(PAD_MODES)}"
        )
    if kwargs.get("reflect_type", "even") != "even":
        raise _unsupported("pad", f"reflect_type={kwargs['reflect_type']!r}", "only 'even'")
    shape = shape_of(array)
    pad_width = concrete(pad_width)
    values = kwargs.pop("constant_values", 0) if mode == "constant" else 0
    if traced(values):
        raise _unsupported("pad", "constant_values", "a traced fill value")
    # the map depends on the shape, the widths and the mode: built once and shared
    key = (mode, repr(np.asarray(pad_width).tolist()), repr(sorted(kwargs.items())))
    out = _shape._structural("pad", lambda m: np.pad(m, pad_width, mode, **kwargs), array, key=key)
    if mode != "constant" or np.all(np.asarray(values) == 0):
        return out
    fill = np.pad(np.zeros(shape), pad_width, "constant", constant_values=values, **kwargs)
    return add(out, fill) if np.any(fill != 0) else out


def where(condition: Any, x: Any = None, y: Any = None, /) -> Any:
    """``np.where(condition, x, y)``; the condition is concrete (it has no derivative).
    With the condition alone, its nonzero indices (as NumPy; a guard under ``ad.jit``:
    a replay holds where the same entries are nonzero)."""
    if x is None and y is None:
        return guard(np.nonzero, condition)
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    return select(condition, x, y)


def clip(
    a: Any,
    a_min: Any = _NoValue,
    a_max: Any = _NoValue,
    out: Any = None,
    *,
    min: Any = _NoValue,  # noqa: A002  (NumPy's names)
    max: Any = _NoValue,  # noqa: A002
    **kwargs: Any,
) -> Any:
    """``np.clip`` = minimum(maximum(a, a_min), a_max): derivative 1 strictly inside, 0
    outside, 1/2 on a bound (a tie of maximum/minimum, as JAX). NumPy 2's ``min``/``max``
    are accepted; NumPy checks the arguments."""
    given = {k: v for k, v in (("min", min), ("max", max)) if v is not _NoValue}
    bounds = [concrete(v) for v in (a_min, a_max)]
    np.clip(np.empty(shape_of(a)), *bounds, **{k: concrete(v) for k, v in given.items()})
    if not traced(a, a_min, a_max, out, *given.values()):
        return np.clip(a, a_min, a_max, out, **given, **kwargs)
    ufunc_kwargs("clip", {k: v for k, v in kwargs.items() if k != "where"})
    lo = given.get("min", None if a_min is _NoValue else a_min)
    hi = given.get("max", None if a_max is _NoValue else a_max)
    y = a
    if lo is not None:
        y = maximum(y, lo)
    if hi is not None:
        y = minimum(y, hi)
    y = y if traced(y) else np.asarray(y, dtype=np.float64)
    return _write(y, out, kwargs.get("where", True), "clip")


def copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    """``np.copy``: a new traced array with the same value (updating it in place leaves
    ``a`` alone)."""
    if not isinstance(a, _Tracer):
        return np.copy(a, order=order, subok=subok)
    _order(order)
    return _Tracer(a._trace, a._var, a._value)


def positive(x: Any) -> Any:
    """``+x`` / ``np.positive``: a copy."""
    return copy(x)


def _like(npfn: Any) -> Any:
    """``np.zeros_like`` and friends: a traced constant of ``a``'s shape (so it can be
    updated by index: ``z = np.zeros_like(x); z[0] = x[1]``), or for ``np.full_like`` with
    a traced ``fill_value`` that value broadcast (it keeps its derivative). NumPy computes
    the value (and checks the arguments); a dtype other than float64 gives NumPy's plain
    array."""
    sig = inspect.signature(npfn)

    def fn(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        a = bound.arguments.pop(next(iter(sig.parameters)))
        fill = bound.arguments.get("fill_value")
        if traced(fill):  # NumPy decides only the dtype and shape: the value is no guard
            bound.arguments["fill_value"] = peek(fill)
        args, kwargs = _deep_concrete(bound.args), _deep_concrete(bound.kwargs)
        value = npfn(np.empty(shape_of(a)), *args, **kwargs)
        if value.dtype != np.float64:
            return value
        if traced(fill):
            return copy(_shape.broadcast_to(fill, value.shape))
        if npfn is np.empty_like:
            value = np.zeros_like(value)  # defined entries: NumPy's are arbitrary
        return constant_like(a, value)

    fn.__doc__ = f"``numpy.{npfn.__name__}`` of a traced array: a traced constant."
    return _signature_of(npfn, fn)


zeros_like = _like(np.zeros_like)
ones_like = _like(np.ones_like)
full_like = _like(np.full_like)
empty_like = _like(np.empty_like)


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``, shifted by its maximum for stability (the shift has no
    derivative: softmax does not depend on it)."""
    z = exp(x - stop_gradient(_red.max(x, axis=axis, keepdims=True)))
    return z / _red.sum(z, axis=axis, keepdims=True)


def shape(a: Any) -> tuple[int, ...]:
    """``np.shape``."""
    return tuple(shape_of(a))


def ndim(a: Any) -> int:
    """``np.ndim``."""
    return len(shape_of(a))


def size(a: Any, axis: int | None = None) -> int:
    """``np.size``."""
    return int(np.size(np.empty(shape_of(a), dtype=bool), axis))


# ----------------------------------------------------------------------------------
# Norms: np.linalg.norm, vector_norm, matrix_norm (one implementation)
# ----------------------------------------------------------------------------------


def _p_norm(x: Any, ord: Any, axis: Any, keepdims: bool) -> Any:  # noqa: A002
    """Vector p-norms over ``axis`` (None: every entry): 2 (``sqrt(sum(x * x))``, whose
    derivative x / ||x|| does not exist at 0), 1, inf, -inf, 0 (a count: constant) and
    any other p, ``(sum |x|^p)^(1/p)``."""
    if ord is None or ord == 2:
        return sqrt(_red.sum(multiply(x, x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return _red.max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _red.min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # the number of nonzero entries: a constant
        count = lambda v: np.sum(v != 0, axis=axis, keepdims=keepdims)  # noqa: E731
        return np.asarray(guard(count, x), dtype=np.float64)
    if ord == 1:
        return _red.sum(abs(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    return power(_red.sum(power(abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


_MATRIX_ORDS = (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def _matrix_norm(x: Any, ord: Any, rows: int, cols: int) -> Any:  # noqa: A002
    """Matrix norms over the axes (rows, cols), any other axes a stack: 'fro', 'nuc'
    (``sum(svdvals)``: gradient U V^T, also at repeated singular values), 2 / -2 (the
    largest / smallest singular value: at a tie, a subgradient), 1 / -1 (column sums of
    |x|), inf / -inf (row sums)."""
    if ord in (None, "fro"):
        return sqrt(_red.sum(multiply(x, x), axis=(rows, cols)))
    if ord in ("nuc", 2, -2):
        s = _la.svdvals(_shape.moveaxis(x, (rows, cols), (-2, -1)))
        if ord == "nuc":
            return _red.sum(s, axis=-1)
        return (_red.max if ord == 2 else _red.min)(s, axis=-1)
    if ord in (1, -1):
        sums, across = _red.sum(abs(x), axis=rows), cols - (1 if cols > rows else 0)
    else:
        sums, across = _red.sum(abs(x), axis=cols), rows - (1 if rows > cols else 0)
    return (_red.max if ord in (1, np.inf) else _red.min)(sums, axis=across)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """``np.linalg.norm``: vector norms of any order (over one axis, or a 1-d array) and
    the matrix norms 'fro', 'nuc', 2, -2, 1, -1, inf, -inf (over two axes, or a 2-d
    array), with NumPy's errors for orders that do not exist."""
    if not traced(x):
        return np.linalg.norm(x, ord, axis, keepdims)
    nd = len(shape_of(x))
    if axis is None:
        if ord is None:  # the 2-norm of every entry, any shape
            y = _p_norm(x, 2, None, False)
            return _shape.reshape(y, (1,) * nd) if keepdims else y
        if nd not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axes: tuple[int, ...] = tuple(range(nd))
    else:
        if not isinstance(axis, tuple):
            try:
                axis = int(axis)
            except TypeError as err:
                raise TypeError("'axis' must be None, an integer or a tuple of integers") from err
            axis = (axis,)
        if len(axis) not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axes = tuple(_red._axes(nd, a)[0] for a in axis)
        if len(axes) == 2 and axes[0] == axes[1]:
            raise ValueError("Duplicate axes given.")
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"Invalid norm order '{ord}' for vectors")
        return _p_norm(x, ord, axes, keepdims)
    if ord not in _MATRIX_ORDS:
        raise ValueError("Invalid norm order for matrices.")
    y = _matrix_norm(x, ord, *axes)
    if keepdims:
        y = _shape.reshape(y, tuple(1 if i in axes else d for i, d in enumerate(shape_of(x))))
    return y


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:  # noqa: A002
    """``np.linalg.vector_norm``: (sum |x|^p)^(1/p) over ``axis`` (None: every entry;
    a tuple: those axes together), p = ord (2, 1, inf, -inf, 0, or any float)."""
    if not traced(x):
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    nd = len(shape_of(x))
    axes = _red._axes(nd, axis)
    y = _p_norm(x, ord, axes, False)
    if keepdims:
        y = _shape.reshape(y, tuple(1 if i in axes else d for i, d in enumerate(shape_of(x))))
    return y


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:  # noqa: A002
    """``np.linalg.matrix_norm`` over the last two axes (a stack of matrices)."""
    if not traced(x):
        return np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    nd = len(shape_of(x))
    if nd < 2:
        raise np.linalg.LinAlgError(
            f"{nd}-dimensional array given. Array must be at least two-dimensional"
        )
    return norm(x, ord, (nd - 2, nd - 1), keepdims)


class linalg:  # noqa: N801  (mirrors the numpy.linalg namespace)
    """``ad.numpy.linalg``: the linear-algebra functions (``np.linalg`` dispatches here;
    filled from ``FUNCTIONS`` at the bottom of this module)."""

    adjugate = staticmethod(_la.adjugate)


# ----------------------------------------------------------------------------------
# dispatch tables: numpy ufunc / function -> implementation
# ----------------------------------------------------------------------------------

UFUNCS: dict[Any, Any] = {
    np.add: add,
    np.subtract: subtract,
    np.multiply: multiply,
    np.divide: divide,
    np.power: power,
    np.negative: negative,
    np.positive: positive,
    np.absolute: abs,
    np.fabs: abs,
    np.sign: sign,
    np.sin: sin,
    np.cos: cos,
    np.tan: tan,
    np.exp: exp,
    np.log: log,
    np.log1p: log1p,
    np.expm1: expm1,
    np.sqrt: sqrt,
    np.square: square,
    np.tanh: tanh,
    np.sinh: sinh,
    np.cosh: cosh,
    np.arctan: arctan,
    np.arcsin: arcsin,
    np.arccos: arccos,
    np.maximum: maximum,
    np.minimum: minimum,
    np.matmul: matmul,
}
for _u in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
           np.isfinite, np.isnan, np.isinf, np.floor, np.ceil, np.rint, np.signbit, np.trunc,
           np.logical_and, np.logical_or, np.logical_xor, np.logical_not, np.spacing,
           np.nextafter):  # fmt: skip
    UFUNCS[_u] = concrete_fn(_u)

FUNCTIONS: dict[Any, Any] = {
    np.sum: sum,
    np.mean: mean,
    np.prod: prod,
    np.max: max,
    np.amax: max,
    np.min: min,
    np.amin: min,
    np.dot: dot,
    np.inner: inner,
    np.outer: outer,
    np.reshape: reshape,
    np.transpose: transpose,
    np.swapaxes: swapaxes,
    np.moveaxis: moveaxis,
    np.ravel: ravel,
    np.squeeze: squeeze,
    np.expand_dims: expand_dims,
    np.broadcast_to: broadcast_to,
    np.concatenate: concatenate,
    np.stack: stack,
    np.hstack: hstack,
    np.vstack: vstack,
    np.diag: diag,
    np.diagonal: diagonal,
    np.trace: trace,
    np.tril: tril,
    np.triu: triu,
    np.flip: flip,
    np.tile: tile,
    np.repeat: repeat,
    np.pad: pad,
    np.where: where,
    np.clip: clip,
    np.copy: copy,
    np.zeros_like: zeros_like,
    np.ones_like: ones_like,
    np.full_like: full_like,
    np.empty_like: empty_like,
    np.shape: shape,
    np.ndim: ndim,
    np.size: size,
    np.linalg.norm: norm,
    np.linalg.vector_norm: vector_norm,
    np.linalg.matrix_norm: matrix_norm,
    np.linalg.inv: _la.inv,
    np.linalg.solve: _la.solve,
    np.linalg.det: _la.det,
    np.linalg.slogdet: _la.slogdet,
    np.linalg.cholesky: _la.cholesky,
    np.linalg.eigh: _la.eigh,
    np.linalg.eigvalsh: _la.eigvalsh,
    np.linalg.svd: _la.svd,
    np.linalg.svdvals: _la.svdvals,
    np.linalg.qr: _la.qr,
    np.linalg.pinv: _la.pinv,
    np.linalg.lstsq: _la.lstsq,
}
for _f in (np.argmax, np.argmin, np.argsort, np.isclose, np.allclose, np.all, np.any):
    FUNCTIONS[_f] = concrete_fn(_f)

#: NumPy functions ad cannot support correctly, with the reason their error gives (they
#: are listed as such in docs/numpy.md).
UNSUPPORTED: dict[Any, str] = {
    np.linalg.eig: "its eigenvalues and eigenvectors are complex in general, and ad "
    "differentiates real float64 only: for a symmetric matrix use np.linalg.eigh",
    np.linalg.eigvals: "its eigenvalues are complex in general, and ad differentiates real "
    "float64 only: for a symmetric matrix use np.linalg.eigh (or eigvalsh)",
}
for _f in (np.gcd, np.lcm, np.ix_, np.ravel_multi_index, np.unravel_index):
    UNSUPPORTED[_f] = (
        "it takes integer arrays only, and a traced value is float64 (NumPy rejects "
        "float64 arrays too); compute the integers from constants"
    )

# -- more of NumPy (ad/numpy_ext.py): composites, in-place updates, methods -------------
from ad import numpy_ext as _ext  # noqa: E402
from ad.numpy_ext import (  # noqa: E402, F401  (the public ad.numpy namespace)
    add_at,
    append,
    arccosh,
    arcsinh,
    arctan2,
    arctanh,
    average,
    cbrt,
    corrcoef,
    cov,
    cross,
    cumprod,
    cumsum,
    deg2rad,
    diff,
    einsum,
    exp2,
    expit,
    floor_divide,
    gradient,
    hypot,
    interp,
    kron,
    log2,
    log10,
    log_softmax,
    logaddexp,
    logaddexp2,
    median,
    nanmean,
    nansum,
    percentile,
    ptp,
    quantile,
    rad2deg,
    reciprocal,
    remainder,
    roll,
    setitem,
    sort,
    split,
    std,
    take,
    tensordot,
    var,
    vdot,
)
from ad.numpy_ext import divmod_ as divmod  # noqa: E402, F401, A001
from ad.numpy_ext import round_ as round  # noqa: E402, F401, A001

__all__ += [
    "add_at", "append", "arccosh", "arcsinh", "arctan2", "arctanh", "average", "cbrt",
    "corrcoef", "cov", "cross", "cumprod", "cumsum", "deg2rad", "diff", "divmod", "einsum",
    "exp2", "expit", "floor_divide", "gradient", "hypot", "interp", "kron", "log10", "log2",
    "log_softmax", "logaddexp", "logaddexp2", "median", "nanmean", "nansum", "percentile",
    "ptp", "quantile", "rad2deg", "reciprocal", "remainder", "roll", "round", "setitem",
    "sort", "split", "std", "take", "tensordot", "var", "vdot",
]  # fmt: skip

# every elementwise primitive's ufunc dispatches to it (a new primitive needs no line here)
for _u, _fn in _elementwise.NUMPY.items():
    if _u not in UFUNCS and _u not in _ext.UFUNCS:
        UFUNCS[_u] = _fn
for _table, _more in ((UFUNCS, _ext.UFUNCS), (FUNCTIONS, _ext.FUNCTIONS)):
    _twice = [getattr(f, "__name__", f) for f in _more if f in _table]
    assert not _twice, f"implemented in both ad/numpy.py and ad/numpy_ext.py: {_twice}"
    _table.update(_more)
for _f, _fn in FUNCTIONS.items():
    if getattr(_f, "__module__", "") == "numpy.linalg":
        setattr(linalg, _f.__name__, staticmethod(_fn))
for _name, _fn in _ext.METHODS.items():
    assert not hasattr(_Tracer, _name), f"Tracer.{_name} is defined in ad/trace.py already"
    setattr(_Tracer, _name, _fn)


# ----------------------------------------------------------------------------------
# Dispatch: Tracer.__array_ufunc__ and Tracer.__array_function__
# ----------------------------------------------------------------------------------


def _outs(out: Any, nout: int) -> tuple[Any, ...] | None:
    """``out=`` as a tuple with one entry per output, or None when none is given."""
    if out is None:
        return None
    outs = out if isinstance(out, tuple) else (out,)
    if all(o is None for o in outs):
        return None
    if len(outs) != nout:
        raise ValueError("The 'out' tuple must have exactly one entry per ufunc output")
    return outs


def _write(result: Any, out: Any, where: Any, name: str, inputs: tuple = ()) -> Any:
    """A ufunc's result into ``out`` (one array): a traced array is updated (entries
    outside ``where`` keep their value); a NumPy array cannot hold a traced value."""
    if out is None:
        if _mask(where) is not None:
            raise _unsupported(
                name,
                "where",
                f"without out=, NumPy leaves the entries outside where= uninitialised: write "
                f"np.where(mask, np.{name}(...), default), or pass out= a traced array "
                "(np.zeros_like(x)) whose entries are kept there",
            )
        return result
    if isinstance(out, _Tracer):
        new = result if traced(result) else constant_like(out, np.asarray(result, np.float64))
        if shape_of(new) != out.shape:
            new = _shape.broadcast_to(new, out.shape)  # NumPy broadcasts into out
        mask = _mask(where)
        return out._rebind(new if mask is None else select(mask, new, out))
    if any(out is x for x in inputs):
        raise _unsupported(
            name,
            "out",
            f"an in-place operator on a NumPy array with a traced operand (np.{name} with "
            "out= the array itself, as in buf += x or buf *= x): the NumPy array cannot "
            "hold a traced value. Write buf = buf + x, or create buf from a traced array "
            "(buf = np.zeros_like(x), x.copy())",
        )
    return _finish(name, result, out)


def _reduce(
    ufunc: Any,
    array: Any,
    axis: Any = 0,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
    initial: Any = _NoValue,
    where: Any = True,
) -> Any:
    """``ufunc.reduce`` of add, multiply, maximum, minimum (sum, prod, max, min) and
    logaddexp (logsumexp, without initial / where)."""
    out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
    if ufunc in (np.add, np.multiply):
        red = sum if ufunc is np.add else prod
        return red(array, axis, dtype, out, keepdims, initial, where)
    if ufunc in (np.maximum, np.minimum):
        _float64(ufunc.__name__, dtype)
        red = max if ufunc is np.maximum else min
        return red(array, axis, out, keepdims, initial, where)
    if initial is not _NoValue or _mask(where) is not None:
        raise _unsupported(ufunc.__name__ + ".reduce", "initial/where", "not for logaddexp")
    _float64("logaddexp.reduce", dtype)
    return _finish("logaddexp.reduce", logsumexp(array, axis, keepdims), out)


def _accumulate(ufunc: Any, array: Any, axis: int = 0, dtype: Any = None, out: Any = None):
    """``ufunc.accumulate`` of add (cumsum), multiply (cumprod), maximum and minimum
    (a gather of the running extreme)."""
    out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
    if ufunc is np.add:
        return cumsum(array, axis, dtype, out)
    if ufunc is np.multiply:
        return cumprod(array, axis, dtype, out)
    _float64(ufunc.__name__ + ".accumulate", dtype)
    return _finish(ufunc.__name__, _ext.running_extreme(array, axis, ufunc), out)


_METHODS_OF = {"reduce": _reduce, "accumulate": _accumulate}
_REDUCIBLE = {
    "reduce": (np.add, np.multiply, np.maximum, np.minimum, np.logaddexp),
    "accumulate": (np.add, np.multiply, np.maximum, np.minimum),
}


def dispatch_ufunc(ufunc: Any, method: str, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """``Tracer.__array_ufunc__``: the traced ufunc ``ufunc.method(*inputs, **kwargs)``.

    ``__call__`` and ``outer`` of every ufunc in ``UFUNCS``, the ``reduce`` and
    ``accumulate`` of :data:`_REDUCIBLE`, ``add.at`` / ``subtract.at``. ``out=`` a traced
    array is updated in place (``where=`` keeps its other entries); a concrete ufunc
    (comparisons, floor, ...) is NumPy's own on the values.
    """
    fn = UFUNCS.get(ufunc)
    if method == "__call__" and not kwargs and fn is not None and not getattr(fn, "concrete", 0):
        return fn(*inputs)  # the common call: np.sin(x), x * y (no out=, where=, dtype=)
    name = ufunc.__name__
    if method == "at":
        return _ext.ufunc_at(ufunc, *inputs, **kwargs)
    if method in _METHODS_OF:
        if ufunc not in _REDUCIBLE[method]:
            raise UnsupportedOperationError(f"numpy.{name}.{method}")
        return _METHODS_OF[method](ufunc, *inputs, **kwargs)
    if fn is None or method not in ("__call__", "outer") or (method == "outer" and ufunc.nin != 2):
        suffix = "" if method == "__call__" else "." + method
        raise UnsupportedOperationError(f"numpy.{name}{suffix}", UNSUPPORTED.get(ufunc))
    kwargs = dict(kwargs)
    outs = _outs(kwargs.pop("out", None), ufunc.nout)
    if method == "outer":  # a[..., None, ...] op b: a's axes first
        a, b = inputs
        sa, sb = shape_of(a), shape_of(b)
        inputs = (
            reshape(a, sa + (1,) * len(sb)) if traced(a) else np.reshape(a, sa + (1,) * len(sb)),
            b,
        )
    where = kwargs.pop("where", True)
    if getattr(fn, "concrete", False):  # NumPy's own function, arguments and errors
        if outs is None or not any(isinstance(o, _Tracer) for o in outs):
            return fn(*inputs, where=where, **kwargs, **({} if outs is None else {"out": outs}))
        result = fn(*inputs, **kwargs)  # then written into the traced out= below
    else:
        result = fn(*inputs, **ufunc_kwargs(name, kwargs, getattr(fn, "keywords", ())))
    if outs is None:
        return _write(result, None, where, name)
    results = result if ufunc.nout > 1 else (result,)
    written = tuple(
        _write(r, o, where, name, inputs) if o is not None else r for r, o in zip(results, outs)
    )
    return written if ufunc.nout > 1 else written[0]


def dispatch_function(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """``Tracer.__array_function__``: the traced NumPy function ``func(*args, **kwargs)``."""
    fn = FUNCTIONS.get(func)
    if fn is None:
        mod = func.__module__ or "numpy"
        raise UnsupportedOperationError(f"{mod}.{func.__name__}", UNSUPPORTED.get(func))
    return fn(*args, **kwargs)
