"""NumPy-compatible functions that work on arrays and on tracers alike.

User code does not need this module: it calls ``numpy`` and the tracer dispatches
here through ``__array_ufunc__`` / ``__array_function__`` (the tables ``UFUNCS`` and
``FUNCTIONS`` at the bottom). It is public for what NumPy itself cannot dispatch,
such as :func:`logsumexp` (SciPy's does not accept tracers). Derivative rules are
written with these functions, so that they trace too.

To support a new NumPy function: add the function (built from primitives, or a new
primitive in ``ad/primitives/``) and one line in the table.

Every function in the tables takes NumPy's own signature: the same parameters, in the
same order, positional or keyword as NumPy allows (``np.sum(X, 0, float)`` reads the
dtype as the dtype), and gives NumPy's answer or raises NumPy's error. What ``ad``
cannot do (``out=``, a dtype other than float64, a ``pad`` mode that is not structural)
raises :class:`ad.errors.UnsupportedArgumentError` naming the argument, never a silent
default. ``tests/test_numpy_conformance.py`` checks every table entry against NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.errors import UnsupportedArgumentError
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
from ad.primitives.shape import gather, getitem, scatter_add, traced
from ad.trace import Tracer as _Tracer
from ad.trace import concrete, shape_of

__all__ = [
    "abs", "add", "arccos", "arcsin", "arctan", "broadcast_to", "concatenate", "cos",
    "cosh", "diag", "diagonal", "divide", "dot", "exp", "expand_dims", "expm1", "flip",
    "gather", "getitem", "hstack", "inner", "integer_pow", "linalg", "log", "log1p",
    "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "moveaxis",
    "multiply", "negative", "outer", "pad", "power", "prod", "ravel", "repeat", "reshape",
    "scatter_add", "select", "sign", "sin", "sinh", "softmax", "sqrt", "square", "squeeze",
    "stack", "subtract", "sum", "swapaxes", "tan", "tanh", "tile", "trace", "transpose",
    "tril", "triu", "vstack", "where",
]  # fmt: skip


# ----------------------------------------------------------------------------------
# Arguments: NumPy's signatures, and what ad cannot do (an error naming the argument)
# ----------------------------------------------------------------------------------

_NoValue = np._NoValue  # NumPy's "not given" default, so that NumPy's own defaults apply
_CASTING = ("no", "equiv", "safe", "same_kind", "unsafe")


def _unsupported(fn: str, argument: str, reason: str) -> UnsupportedArgumentError:
    return UnsupportedArgumentError(f"numpy.{fn}", argument, reason)


def _no_out(fn: str, out: Any) -> None:
    """``out=``: a traced result cannot be written into an array in place."""
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise _unsupported(
            fn, "out", "a traced result cannot be written into an array; use the return value"
        )


def _float64(fn: str, dtype: Any) -> None:
    """``dtype=``: ad computes in float64 only (float, np.float64, 'f8' are fine)."""
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise _unsupported(
            fn, f"dtype={dtype!r}", "ad computes in float64 only: pass dtype=None or float"
        )


def _casting(casting: str) -> None:
    """``casting=``: every value ad traces is float64, so any valid rule is satisfied."""
    if casting not in _CASTING:
        raise ValueError("casting must be one of 'no', 'equiv', 'safe', 'same_kind', or 'unsafe'")


def _flag(keepdims: Any) -> bool:
    return False if keepdims is _NoValue else bool(keepdims)


def _mask(where: Any) -> np.ndarray | None:
    """A reduction's ``where=`` as a concrete boolean mask (None: every entry)."""
    if where is _NoValue or where is True:
        return None
    return np.asarray(concrete(where), dtype=bool)


def ufunc_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    """Check the keyword arguments of a traced ufunc call (``np.add(x, y, dtype=float)``).

    Layout and casting rules are accepted (every traced value is float64); ``out``,
    ``where`` masks, other dtypes and gufunc axes raise UnsupportedArgumentError.
    """
    for key, value in kwargs.items():
        if key == "out":
            _no_out(name, value)
        elif key == "where":
            if value is not True:
                raise _unsupported(
                    name, "where", "a ufunc's where= leaves the other entries unset; use np.where"
                )
        elif key == "dtype":
            _float64(name, value)
        elif key == "casting":
            _casting(value)
        elif key == "order":
            if value not in ("K", "A", "C", "F", None):
                raise ValueError(f"order must be one of 'C', 'F', 'A', or 'K' (got {value!r})")
        elif key == "subok":
            pass
        elif key in ("signature", "axes", "axis") and value is None:
            pass
        elif key == "keepdims" and not value:
            pass
        elif key in ("signature", "axes", "axis", "keepdims"):
            raise _unsupported(name, f"{key}={value!r}", "only the default is supported")
        else:
            raise TypeError(f"'{key}' is an invalid keyword to ufunc '{name}'")


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
    if not traced(a):
        return np.sum(a, axis, dtype, out, keepdims=keepdims, initial=initial, where=where)
    _no_out("sum", out)
    _float64("sum", dtype)
    mask = _mask(where)
    if mask is not None:
        a = select(mask, a, 0.0)
    y = _red.sum(a, axis=axis, keepdims=_flag(keepdims))
    return y if initial is _NoValue else add(y, initial)


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
    if not traced(a):
        return np.prod(a, axis, dtype, out, keepdims=keepdims, initial=initial, where=where)
    _no_out("prod", out)
    _float64("prod", dtype)
    mask = _mask(where)
    if mask is not None:
        a = select(mask, a, 1.0)
    y = _red.prod(a, axis=axis, keepdims=_flag(keepdims))
    return y if initial is _NoValue else multiply(y, initial)


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
    if not traced(a):
        return np.mean(a, axis, dtype, out, keepdims=keepdims, where=where)
    _no_out("mean", out)
    _float64("mean", dtype)
    mask = _mask(where)
    if mask is None:
        return _red.mean(a, axis=axis, keepdims=_flag(keepdims))
    count = np.sum(np.broadcast_to(mask, np.shape(a)), axis=axis, keepdims=_flag(keepdims))
    total = sum(a, axis, keepdims=keepdims, where=mask)
    if np.any(count == 0):
        import warnings

        from ad.trace import user_stacklevel

        warnings.warn("Mean of empty slice.", RuntimeWarning, stacklevel=user_stacklevel())
    return divide(total, count.astype(np.float64))  # 0 / 0 = nan where nothing is selected


def _extreme(
    name: str, a: Any, axis: Any, out: Any, keepdims: Any, initial: Any, where: Any
) -> Any:
    """``np.max`` / ``np.min``: the derivative follows the extreme entry (ties split)."""
    if not traced(a):
        return getattr(np, name)(a, axis, out, keepdims=keepdims, initial=initial, where=where)
    _no_out(name, out)
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
        return reduce(a, axis=axis, keepdims=keep)
    if np.size(concrete(a)) == 0:  # nothing to reduce: the initial value everywhere
        shape = np.shape(np.sum(np.empty(np.shape(a)), axis=axis, keepdims=keep))
        return _shape.broadcast_to(as_array(initial), shape)
    return pick(reduce(a, axis=axis, keepdims=keep), initial)


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


def as_array(x: Any) -> Any:
    """A tracer as it is, anything else as a float64 array."""
    return x if traced(x) else np.asarray(x, dtype=np.float64)


def trace(
    a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None
) -> Any:
    """``np.trace``: the sum of the diagonal (over the last axis ``diagonal`` makes)."""
    if not traced(a):
        return np.trace(a, offset, axis1, axis2, dtype, out)
    _no_out("trace", out)
    _float64("trace", dtype)
    return _red.sum(_shape.diagonal(a, offset, axis1, axis2), axis=-1)


# ----------------------------------------------------------------------------------
# Products
# ----------------------------------------------------------------------------------


def dot(a: Any, b: Any, out: Any = None) -> Any:
    """``np.dot``: a product with a 0-d operand, matmul for 1-d and 2-d, and for N-d the
    sum over the last axis of ``a`` and the second-to-last of ``b``."""
    if not traced(a, b):
        return np.dot(a, b, out)
    _no_out("dot", out)
    return _la.dot(a, b)


def inner(a: Any, b: Any, /) -> Any:
    """``np.inner``: the sum over the LAST axes of both (``A @ B.T`` for matrices)."""
    if not traced(a, b):
        return np.inner(a, b)
    return _la.inner(a, b)


def outer(a: Any, b: Any, out: Any = None) -> Any:
    """``np.outer`` of the flattened operands."""
    if not traced(a, b):
        return np.outer(a, b, out)
    _no_out("outer", out)
    return _la.outer(a, b)


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
    value = np.asarray(concrete(a))
    idx = np.empty_like(value, dtype=np.int64)  # same memory layout as the value
    idx[...] = np.arange(value.size, dtype=np.int64).reshape(value.shape)
    m = np.asarray(op(idx), dtype=np.int64)
    if m.shape == np.shape(a) and np.array_equal(m.reshape(-1), np.arange(m.size)):
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
    kw = {} if copy is None else {"copy": copy}
    return _ordered("reshape", lambda m: np.reshape(m, shape, order=order, **kw), a)


def ravel(a: Any, order: str = "C") -> Any:
    """``np.ravel`` in order 'C', 'F', 'A' or 'K' (the last two: the value's layout)."""
    return _ordered("ravel", lambda m: np.ravel(m, order=order), a)


def transpose(a: Any, axes: Any = None) -> Any:
    """``np.transpose``."""
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


def _joined(name: str, out: Any, dtype: Any, casting: str) -> None:
    _no_out(name, out)
    _float64(name, dtype)
    _casting(casting)


def concatenate(
    arrays: Any, /, axis: Any = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    """``np.concatenate``."""
    _joined("concatenate", out, dtype, casting)
    return _shape.concatenate(arrays, axis)


def stack(
    arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None, casting: str = "same_kind"
) -> Any:
    """``np.stack``."""
    _joined("stack", out, dtype, casting)
    return _shape.stack(arrays, axis)


def hstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.hstack``."""
    _joined("hstack", None, dtype, casting)
    return _shape.hstack(tup)


def vstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.vstack``."""
    _joined("vstack", None, dtype, casting)
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
    compute new values from the array and raise UnsupportedArgumentError."""
    if not traced(array):
        return np.pad(np.asarray(array, dtype=np.float64), pad_width, mode, **kwargs)
    if callable(mode) or mode not in PAD_MODES:
        raise _unsupported(
            "pad", f"mode={mode!r}", f"the supported modes move entries: {', '.join(PAD_MODES)}"
        )
    if kwargs.get("reflect_type", "even") != "even":
        raise _unsupported("pad", f"reflect_type={kwargs['reflect_type']!r}", "only 'even'")
    shape = np.shape(array)
    if mode != "constant":
        idx = _shape.index_map(lambda m: np.pad(m, pad_width, mode, **kwargs), shape)
        return gather(array, idx=idx, label="pad")
    values = kwargs.pop("constant_values", 0)
    if traced(values):
        raise _unsupported("pad", "constant_values", "a traced fill value")
    idx = _shape.index_map(lambda m: np.pad(m, pad_width, "constant", **kwargs), shape)
    out = gather(array, idx=idx, label="pad")
    fill = np.pad(np.zeros(shape), pad_width, "constant", constant_values=values, **kwargs)
    return add(out, fill) if np.any(fill != 0) else out


def where(condition: Any, x: Any = None, y: Any = None, /) -> Any:
    """``np.where(condition, x, y)``; the condition is concrete (it has no derivative).
    With the condition alone, its nonzero indices (as NumPy)."""
    if x is None and y is None:
        return np.where(concrete(condition))
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
    outside, 1/2 on a bound (a tie of maximum/minimum). NumPy checks the arguments."""
    given = {k: v for k, v in (("min", min), ("max", max)) if v is not _NoValue}
    bounds = [concrete(v) for v in (a_min, a_max)]
    np.clip(np.empty(np.shape(a)), *bounds, **{k: concrete(v) for k, v in given.items()})
    if not traced(a, a_min, a_max, *given.values()):
        return np.clip(a, a_min, a_max, out, **given, **kwargs)
    _no_out("clip", out)
    ufunc_kwargs("clip", kwargs)
    lo = given.get("min", None if a_min is _NoValue else a_min)
    hi = given.get("max", None if a_max is _NoValue else a_max)
    y = a
    if lo is not None:
        y = maximum(y, lo)
    if hi is not None:
        y = minimum(y, hi)
    return y


def copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    """``np.copy``: a traced value is never modified in place, so it is its own copy."""
    if not traced(a):
        return np.copy(a, order=order, subok=subok)
    if order not in ("K", "A", "C", "F"):
        raise ValueError(f"order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
    return a


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``, shifted by the (constant) maximum for stability."""
    z = exp(x - np.max(concrete(x), axis=axis, keepdims=True))
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


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """``np.linalg.norm`` (see ``ad.primitives.linalg.norm``), with NumPy's errors for
    orders that do not exist (a matrix order for a vector, and the reverse)."""
    if traced(x):
        ndim = len(shape_of(x))
        if isinstance(axis, tuple) and len(axis) not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        if axis is None and ord is not None and ndim not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        matrix = (axis is None and ndim == 2 and ord is not None) or (
            isinstance(axis, tuple) and len(axis) == 2
        )
        if not matrix and isinstance(ord, str):
            raise ValueError(f"Invalid norm order '{ord}' for vectors")
        if matrix and ord not in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
            raise ValueError("Invalid norm order for matrices.")
        if not matrix and ord == -np.inf:  # the smallest magnitude
            return _red.min(abs(x), axis=axis, keepdims=keepdims)
    return _la.norm(x, ord, axis, keepdims)


class linalg:  # noqa: N801  (mirrors the numpy.linalg namespace)
    """``ad.numpy.linalg``: the linear-algebra functions (``np.linalg`` dispatches here)."""

    norm = staticmethod(_norm)
    inv = staticmethod(_la.inv)
    solve = staticmethod(_la.solve)
    det = staticmethod(_la.det)
    slogdet = staticmethod(_la.slogdet)
    cholesky = staticmethod(_la.cholesky)
    eigh = staticmethod(_la.eigh)
    eigvalsh = staticmethod(_la.eigvalsh)
    svd = staticmethod(_la.svd)
    svdvals = staticmethod(_la.svdvals)
    adjugate = staticmethod(_la.adjugate)


def _identity(x: Any) -> Any:
    return x


def _signature_of(fn: Any, wrapper: Any) -> Any:
    """Give ``wrapper`` the signature of NumPy's ``fn`` (for help() and the tests)."""
    import inspect

    try:
        wrapper.__signature__ = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - a builtin without one
        pass
    wrapper.__name__ = getattr(fn, "__name__", "function")
    wrapper.__doc__ = f"``numpy.{wrapper.__name__}`` (see the NumPy documentation)."
    return wrapper


def _float_like(fn: Any) -> Any:
    """``np.zeros_like`` and friends: constants of the traced array's shape."""
    return _signature_of(fn, lambda a, *args, **kw: fn(np.empty(shape_of(a)), *args, **kw))


def _concrete_fn(fn: Any) -> Any:
    """Functions whose result has no derivative (argmax, isfinite, ...): run concretely,
    with NumPy's own arguments."""

    def run(*args: Any, **kw: Any) -> Any:
        return fn(*[concrete(x) for x in args], **{k: concrete(v) for k, v in kw.items()})

    run = _signature_of(fn, run)
    run.concrete = True  # the arguments are NumPy's, checked by NumPy itself
    return run


# -- dispatch tables: numpy ufunc / function -> implementation ------------------------
UFUNCS = {
    np.add: add,
    np.subtract: subtract,
    np.multiply: multiply,
    np.divide: divide,
    np.true_divide: divide,
    np.power: power,
    np.negative: negative,
    np.positive: _identity,
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
           np.isfinite, np.isnan, np.isinf, np.floor, np.ceil, np.rint, np.signbit):  # fmt: skip
    UFUNCS[_u] = _concrete_fn(_u)

FUNCTIONS = {
    np.sum: sum,
    np.mean: mean,
    np.prod: prod,
    np.max: max,
    np.amax: max,
    np.min: min,
    np.amin: min,
    np.dot: dot,
    np.matmul: matmul,
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
    np.linalg.norm: _norm,
    np.linalg.inv: _la.inv,
    np.linalg.solve: _la.solve,
    np.linalg.det: _la.det,
    np.linalg.slogdet: _la.slogdet,
    np.linalg.cholesky: _la.cholesky,
    np.linalg.eigh: _la.eigh,
    np.linalg.eigvalsh: _la.eigvalsh,
    np.linalg.svd: _la.svd,
    np.zeros_like: _float_like(np.zeros_like),
    np.ones_like: _float_like(np.ones_like),
    np.full_like: _float_like(np.full_like),
    np.shape: shape,
    np.ndim: ndim,
    np.size: size,
}
for _f in (np.argmax, np.argmin, np.argsort, np.isclose, np.allclose, np.all, np.any):
    FUNCTIONS[_f] = _concrete_fn(_f)
if hasattr(np.linalg, "svdvals"):  # NumPy >= 2.0
    FUNCTIONS[np.linalg.svdvals] = _la.svdvals

# -- more of NumPy (ad/numpy_ext.py): composites, keywords, in-place updates, methods --
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
    copy,
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
    zeros_like,
)
from ad.numpy_ext import divmod_ as divmod  # noqa: E402, F401, A001
from ad.numpy_ext import round_ as round  # noqa: E402, F401, A001

__all__ += [
    "add_at", "append", "arccosh", "arcsinh", "arctan2", "arctanh", "average", "cbrt", "copy",
    "corrcoef", "cov", "cross", "cumprod", "cumsum", "deg2rad", "diff", "divmod", "einsum",
    "exp2", "expit", "floor_divide", "gradient", "hypot", "interp", "kron", "log10", "log2",
    "log_softmax", "logaddexp", "logaddexp2", "median", "nanmean", "nansum", "percentile",
    "ptp", "quantile", "rad2deg", "reciprocal", "remainder", "roll", "round", "setitem",
    "sort", "split", "std", "take", "tensordot", "var", "vdot", "zeros_like",
]  # fmt: skip

UFUNCS.update(_ext.UFUNCS)
FUNCTIONS.update(_ext.FUNCTIONS)
if hasattr(np, "concat"):  # NumPy >= 2.0 spells concatenate so too
    FUNCTIONS[np.concat] = concatenate
for _name, _fn in _ext.LINALG.items():
    setattr(linalg, _name, staticmethod(_fn))
for _name, _fn in _ext.METHODS.items():
    setattr(_Tracer, _name, _fn)


def dispatch_ufunc(ufunc: Any, method: str, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """``Tracer.__array_ufunc__``: the traced ufunc (and its out=/where= keywords)."""
    return _ext.dispatch_ufunc(UFUNCS, ufunc, method, inputs, kwargs)


def dispatch_function(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """``Tracer.__array_function__``: the traced NumPy function."""
    return _ext.dispatch_function(FUNCTIONS, func, args, kwargs)
