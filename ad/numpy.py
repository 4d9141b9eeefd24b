"""NumPy-compatible functions that work on arrays and on tracers alike.

User code does not need this module: it calls ``numpy`` and the tracer dispatches
here through ``__array_ufunc__`` / ``__array_function__`` (the tables ``UFUNCS`` and
``FUNCTIONS`` at the bottom). It is public for what NumPy itself cannot dispatch,
such as :func:`logsumexp` (SciPy's does not accept tracers). Derivative rules are
written with these functions, so that they trace too.

To support a new NumPy function: add the function (built from primitives, or a new
primitive in ``ad/primitives/``) and one line in the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.primitives import linalg as _la
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
from ad.primitives.linalg import dot, inner, matmul, outer
from ad.primitives.reductions import logsumexp, max, mean, min, prod, sum
from ad.primitives.shape import (
    broadcast_to,
    concatenate,
    diag,
    diagonal,
    expand_dims,
    flip,
    gather,
    getitem,
    hstack,
    moveaxis,
    pad,
    ravel,
    repeat,
    reshape,
    scatter_add,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
    tril,
    triu,
    vstack,
)
from ad.trace import Tracer as _Tracer
from ad.trace import concrete

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


def where(cond: Any, a: Any = None, b: Any = None) -> Any:
    """``np.where(cond, a, b)``; the condition is concrete (it has no derivative)."""
    if a is None and b is None:
        return np.where(concrete(cond))
    return select(cond, a, b)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """``np.trace``: the sum of the diagonal (over the last axis ``diagonal`` makes)."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``, shifted by the (constant) maximum for stability."""
    z = exp(x - np.max(concrete(x), axis=axis, keepdims=True))
    return z / sum(z, axis=axis, keepdims=True)


def clip(x: Any, lo: Any, hi: Any) -> Any:
    """``np.clip``: derivative 1 strictly inside, 0 outside (as maximum/minimum)."""
    y = x
    if lo is not None:
        y = maximum(y, lo)
    if hi is not None:
        y = minimum(y, hi)
    return y


class linalg:  # noqa: N801  (mirrors the numpy.linalg namespace)
    """``ad.numpy.linalg``: the linear-algebra functions (``np.linalg`` dispatches here)."""

    norm = staticmethod(_la.norm)
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


def _copy(x: Any, *args: Any, **kw: Any) -> Any:
    return x


def _float_like(fn: Any) -> Any:
    """``np.zeros_like`` and friends: constants of the traced array's shape."""
    return lambda x, *a, **k: fn(np.empty(np.shape(x)), *a, **k)


def _concrete_fn(fn: Any) -> Any:
    """Functions whose result has no derivative (argmax, isfinite, ...): run concretely."""
    return lambda *a, **k: fn(*[concrete(x) for x in a], **k)


# -- dispatch tables: numpy ufunc / function -> implementation ------------------------
UFUNCS = {
    np.add: add,
    np.subtract: subtract,
    np.multiply: multiply,
    np.divide: divide,
    np.true_divide: divide,
    np.power: power,
    np.negative: negative,
    np.positive: _copy,
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
    np.copy: _copy,
    np.linalg.norm: _la.norm,
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
    np.shape: lambda x: x.shape,
    np.ndim: lambda x: x.ndim,
    np.size: lambda x: x.size,
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
