"""More of NumPy on tracers: composites, keyword arguments, in-place updates, methods.

Everything here is built from the primitives (``ad/primitives/``), so it traces, and
its derivative is the chain rule through what it records. ``ad/numpy.py`` merges the
tables at the bottom (``UFUNCS``, ``FUNCTIONS``, ``LINALG``, ``METHODS``) into its own,
so ``np.var(x)``, ``x.std()``, ``np.einsum(...)`` on a tracer dispatch here. Each
function has NumPy's signature and says how it is traced:

- composite: a few primitives (``var``: mean, sub, square, sum; ``logaddexp``: select,
  exp, log1p; ``einsum``: transposes, reshapes and matmuls in a contraction order);
- structural: one ``gather`` whose index map is the NumPy function applied to an array
  of indices (``roll``, ``split``, ``take``, ``pad(mode="reflect")``, ...);
- concrete: a piecewise-constant function (``round``, ``floor_divide``, ``argmax``)
  evaluated on the values; its derivative is zero wherever it exists (as in JAX).

Keywords NumPy offers are supported where they mean something for a traced value
(``where=``, ``initial=``, ``ddof=``, ``keepdims=``, ``out=`` a traced array); any
other value raises :class:`ad.errors.UnsupportedArgumentError` naming the keyword.

In-place updates. ``y[idx] = v`` / ``y[idx] += v`` / ``y += v`` on a traced array,
``np.add.at(y, idx, v)``, ``y.sort()``, ``y.fill(c)``, ``np.tanh(x, out=y)`` record a
functional update (:func:`setitem`: one ``gather`` reading y and v) and rebind y's
tracer to the new variable, so later reads and every other reference to the same
object see the update (JAX writes ``y = y.at[idx].set(v)``). ``np.zeros_like(x)``,
``np.ones_like(x)``, ``np.full_like(x, c)`` and ``x.copy()`` give traced arrays, so a
buffer made from them can be filled by index. Two NumPy semantics are not emulated:
writing through a view (``v = y[1:3]; v[0] = 1`` leaves y alone: write ``y[1] = 1``)
and writing into the caller's input array (the update is local to the trace).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ad.errors import (
    ShapeError,
    TracerError,
    UnsupportedArgumentError,
    UnsupportedOperationError,
)
from ad.primitives import linalg as _la
from ad.primitives.cumulative import cumsum as _cumsum
from ad.primitives.elementwise import (
    abs as _abs,
)
from ad.primitives.elementwise import (
    add,
    arctan2,
    divide,
    exp,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    select,
    sin,
    sqrt,
    square,
    subtract,
)
from ad.primitives.reductions import _axes, logsumexp
from ad.primitives.reductions import max as _max
from ad.primitives.reductions import min as _min
from ad.primitives.reductions import prod as _prod
from ad.primitives.reductions import sum as _sum
from ad.primitives.shape import (
    _concrete_index,
    _structural,
    broadcast_to,
    concatenate,
    diagonal,
    gather,
    getitem,
    index_map,
    moveaxis,
    ravel,
    reshape,
    scatter_add,
    stack,
    traced,
    transpose,
)
from ad.primitives.sorting import sort as _sort
from ad.trace import Tracer, concrete, shape_of

LN2 = math.log(2.0)
LN10 = math.log(10.0)


# ----------------------------------------------------------------------------------
# Keyword helpers
# ----------------------------------------------------------------------------------


def _dtype_ok(fname: str, dtype: Any) -> None:
    """``dtype=`` is accepted when it is float64 (or None); ad traces float64 only."""
    if dtype is None:
        return
    try:
        ok = np.dtype(dtype) == np.float64
    except TypeError:
        ok = False
    if not ok:
        raise UnsupportedArgumentError(
            f"{fname}(..., dtype={dtype!r}): ad traces float64 only; drop dtype= (a traced "
            "value has no other precision)"
        )


def _finish(fname: str, result: Any, out: Any) -> Any:
    """Honour ``out=``: a traced array is updated in place (rebound); a NumPy array
    cannot hold a traced value."""
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if out is None:
        return result
    if isinstance(out, Tracer):
        return out._rebind(_as_traced(result, out))
    raise UnsupportedArgumentError(
        f"{fname}(..., out=buf): out= writes into the NumPy array buf, which cannot hold a "
        f"traced value; write buf = {fname}(...) instead (or make buf a traced array with "
        "np.zeros_like(x), which out= can update)"
    )


def _as_traced(value: Any, like: Tracer) -> Tracer:
    """``value`` as a tracer (a constant of like's trace if it is a plain array)."""
    if isinstance(value, Tracer):
        return value
    return constant_like(like, np.asarray(value, dtype=np.float64))


def _mask(where: Any) -> Any:
    """A ``where=`` argument as a concrete boolean array, or True."""
    if where is True or where is None:
        return True
    return np.asarray(concrete(where), dtype=bool)


def _count(shape: tuple[int, ...], axis: Any, mask: Any, keepdims: bool) -> np.ndarray:
    """How many entries each reduction cell counts (a where= mask, or all)."""
    m = np.broadcast_to(True if mask is True else mask, shape)
    return np.sum(m, axis=_axis_arg(axis), keepdims=keepdims).astype(np.float64)


def _axis_arg(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def constant_like(like: Any, value: np.ndarray) -> Any:
    """A constant of the trace ``like`` belongs to, as a tracer (so it can be updated
    in place), or the plain array when ``like`` is not traced."""
    if not isinstance(like, Tracer):
        return value
    t = like._trace
    value = np.asarray(value, dtype=np.float64)
    var = t.builder.const(value)
    t.values[var.id] = value
    return Tracer(t, var, value)


# ----------------------------------------------------------------------------------
# Elementwise composites (each with the derivative its formula gives)
# ----------------------------------------------------------------------------------


def _ufunc_plain(ufunc: Any, *xs: Any) -> Any:
    return ufunc(*[np.asarray(concrete(x), dtype=np.float64) for x in xs])


def log2(x: Any) -> Any:
    """``np.log2`` = log(x) / log(2)."""
    return log(x) * (1.0 / LN2) if traced(x) else np.log2(x)


def log10(x: Any) -> Any:
    """``np.log10`` = log(x) / log(10)."""
    return log(x) * (1.0 / LN10) if traced(x) else np.log10(x)


def exp2(x: Any) -> Any:
    """``np.exp2`` = exp(x log 2)."""
    return exp(x * LN2) if traced(x) else np.exp2(x)


def reciprocal(x: Any) -> Any:
    """``np.reciprocal`` = 1 / x."""
    return divide(1.0, x) if traced(x) else np.reciprocal(np.asarray(x, dtype=np.float64))


def _sign_const(x: Any) -> np.ndarray:
    """+1 where x >= 0, -1 where x < 0: a constant, never 0 (unlike sign)."""
    return np.where(np.asarray(concrete(x)) < 0, -1.0, 1.0)


def cbrt(x: Any) -> Any:
    """``np.cbrt`` = s |x|^(1/3) with s = +-1 a constant (derivative 1/(3 x^(2/3)))."""
    if not traced(x):
        return np.cbrt(x)
    s = _sign_const(x)
    return s * power(s * x, 1.0 / 3.0)


def deg2rad(x: Any) -> Any:
    """``np.deg2rad`` / ``np.radians`` = x pi / 180."""
    return x * (math.pi / 180.0) if traced(x) else np.deg2rad(x)


def rad2deg(x: Any) -> Any:
    """``np.rad2deg`` / ``np.degrees`` = x 180 / pi."""
    return x * (180.0 / math.pi) if traced(x) else np.rad2deg(x)


def logaddexp(a: Any, b: Any) -> Any:
    """``np.logaddexp`` = log(e^a + e^b), stably: hi + log1p(exp(lo - hi)).

    hi and lo are picked by a constant mask (``select``), so for that mask the formula
    is an identity valid everywhere: the derivative e^a / (e^a + e^b) is exact at every
    order, also at a == b, where a max-and-abs composite would lose the second
    derivative.
    """
    if not traced(a, b):
        return np.logaddexp(a, b)
    first = np.asarray(concrete(a)) >= np.asarray(concrete(b))
    hi, lo = select(first, a, b), select(first, b, a)
    return hi + log1p(exp(lo - hi))


def logaddexp2(a: Any, b: Any) -> Any:
    """``np.logaddexp2`` = log2(2^a + 2^b) = logaddexp(a ln 2, b ln 2) / ln 2."""
    if not traced(a, b):
        return np.logaddexp2(a, b)
    return logaddexp(multiply(a, LN2), multiply(b, LN2)) * (1.0 / LN2)


def hypot(a: Any, b: Any) -> Any:
    """``np.hypot`` = s sqrt((a/s)^2 + (b/s)^2) with s = max(|a|, |b|) a constant (no
    overflow; the derivative is (a da + b db) / hypot, undefined at the origin)."""
    if not traced(a, b):
        return np.hypot(a, b)
    s = np.maximum(np.abs(concrete(a)), np.abs(concrete(b)))
    s = np.where((s > 0) & np.isfinite(s), s, 1.0)
    return s * sqrt(square(a * (1.0 / s)) + square(b * (1.0 / s)))


def arcsinh(x: Any) -> Any:
    """``np.arcsinh`` = s log1p(u + u^2 / (1 + sqrt(1 + u^2))), u = s x, s = +-1 constant."""
    if not traced(x):
        return np.arcsinh(x)
    s = _sign_const(x)
    u = s * x
    u2 = square(u)
    return s * log1p(u + u2 / (1.0 + sqrt(1.0 + u2)))


def arccosh(x: Any) -> Any:
    """``np.arccosh`` = log1p(t + sqrt(t (t + 2))), t = x - 1 (x >= 1)."""
    if not traced(x):
        return np.arccosh(x)
    t = x - 1.0
    return log1p(t + sqrt(t * (t + 2.0)))


def arctanh(x: Any) -> Any:
    """``np.arctanh`` = log1p(2 x / (1 - x)) / 2."""
    if not traced(x):
        return np.arctanh(x)
    return 0.5 * log1p(2.0 * x / (1.0 - x))


def remainder(x: Any, y: Any) -> Any:
    """``x % y`` (``np.remainder``, ``np.mod``) = x - floor(x / y) y with the quotient a
    constant: derivative 1 in x and -floor(x / y) in y, away from the jumps."""
    if not traced(x, y):
        return np.remainder(x, y)
    q = np.floor_divide(np.asarray(concrete(x)), np.asarray(concrete(y)))
    return x - q * y


def fmod(x: Any, y: Any) -> Any:
    """``np.fmod`` = x - trunc(x / y) y with the quotient a constant."""
    if not traced(x, y):
        return np.fmod(x, y)
    q = np.trunc(np.asarray(concrete(x)) / np.asarray(concrete(y)))
    return x - q * y


def floor_divide(x: Any, y: Any) -> Any:
    """``x // y``: piecewise constant, so a constant (zero derivative)."""
    return _ufunc_plain(np.floor_divide, x, y)


def divmod_(x: Any, y: Any) -> tuple[Any, Any]:
    """``divmod(x, y)`` / ``np.divmod``: (x // y, x % y)."""
    return floor_divide(x, y), remainder(x, y)


def round_(a: Any, decimals: int = 0, out: Any = None) -> Any:
    """``np.round`` / ``np.around`` / ``round(x)``: piecewise constant, a constant
    (zero derivative, as JAX)."""
    return _finish("np.round", np.round(np.asarray(concrete(a), dtype=np.float64), decimals), out)


def fix(x: Any, out: Any = None) -> Any:
    """``np.fix``: rounding toward zero, a constant."""
    return _finish("np.fix", np.fix(np.asarray(concrete(x), dtype=np.float64)), out)


def modf(x: Any) -> tuple[Any, Any]:
    """``np.modf``: (x - trunc(x), trunc(x)); the fractional part has derivative 1."""
    t = np.trunc(np.asarray(concrete(x), dtype=np.float64))
    return (x - t if traced(x) else np.modf(x)[0]), t


def fmax(a: Any, b: Any) -> Any:
    """``np.fmax``: maximum that ignores NaN (select on the NaN masks)."""
    if not traced(a, b):
        return np.fmax(a, b)
    na, nb = np.isnan(concrete(a)), np.isnan(concrete(b))
    return select(nb, a, select(na, b, maximum(a, b)))


def fmin(a: Any, b: Any) -> Any:
    """``np.fmin``: minimum that ignores NaN."""
    if not traced(a, b):
        return np.fmin(a, b)
    na, nb = np.isnan(concrete(a)), np.isnan(concrete(b))
    return select(nb, a, select(na, b, minimum(a, b)))


def copysign(x: Any, y: Any) -> Any:
    """``np.copysign`` = x times a constant +-1: derivative +-1 in x, 0 in y."""
    if not traced(x, y):
        return np.copysign(x, y)
    cx, cy = np.asarray(concrete(x)), np.asarray(concrete(y))
    flip = np.where(np.signbit(cx) != np.signbit(cy), -1.0, 1.0)
    return x * flip if traced(x) else np.copysign(cx, cy)


def sinc(x: Any) -> Any:
    """``np.sinc`` = sin(pi x) / (pi x), 1 at 0 (derivative 0 there; the second
    derivative at exactly 0 is not given: the point is a select)."""
    if not traced(x):
        return np.sinc(x)
    zero = np.asarray(concrete(x)) == 0
    xs = math.pi * select(zero, 1.0, x)
    return select(zero, 1.0, sin(xs) / xs)


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None):
    """``np.nan_to_num``: NaN and infinities replaced by constants (select)."""
    if not traced(x):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    cx = np.asarray(concrete(x))
    fixed = np.nan_to_num(cx, nan=nan, posinf=posinf, neginf=neginf)
    return select(np.isfinite(cx), x, fixed)


def real(x: Any) -> Any:
    """``np.real`` / ``np.conj`` of a real array: a copy."""
    return copy(x)


def imag(x: Any) -> Any:
    """``np.imag`` of a real array: zeros."""
    return constant_like(x, np.zeros(shape_of(x)))


def angle(x: Any, deg: bool = False) -> Any:
    """``np.angle`` of a real array: 0 or pi, a constant."""
    return np.angle(np.asarray(concrete(x), dtype=np.float64), deg)


def heaviside(x: Any, h0: Any) -> Any:
    """``np.heaviside``: a step, a constant."""
    return _ufunc_plain(np.heaviside, x, h0)


# ----------------------------------------------------------------------------------
# Reductions with NumPy's keywords (axis, dtype, out, keepdims, initial, where)
# ----------------------------------------------------------------------------------


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):  # noqa: A001
    """``np.sum`` with ``where=`` (masked entries count 0) and ``initial=``."""
    _dtype_ok("np.sum", dtype)
    if not traced(a):
        kw = {} if initial is None else {"initial": initial}
        return np.sum(a, axis=_axis_arg(axis), keepdims=keepdims, where=where, **kw)
    m = _mask(where)
    x = a if m is True else select(m, a, 0.0)
    y = _sum(x, axis=_axis_arg(axis), keepdims=keepdims)
    if initial is not None:
        y = y + initial
    return _finish("np.sum", y, out)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    """``np.mean`` with ``where=`` (the mean of the selected entries)."""
    _dtype_ok("np.mean", dtype)
    if not traced(a):
        return np.mean(a, axis=_axis_arg(axis), keepdims=keepdims, where=where)
    m = _mask(where)
    total = sum(a, axis, keepdims=keepdims, where=where)
    count = _count(shape_of(a), axis, m, keepdims)
    return _finish("np.mean", total * (1.0 / count), out)


_masked_mean = mean


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    """``np.prod`` (a tree of multiplications) with ``where=`` and ``initial=``."""
    _dtype_ok("np.prod", dtype)
    if not traced(a):
        kw = {} if initial is None else {"initial": initial}
        return np.prod(a, axis=_axis_arg(axis), keepdims=keepdims, where=where, **kw)
    m = _mask(where)
    x = a if m is True else select(m, a, 1.0)
    y = _prod(x, axis=_axis_arg(axis), keepdims=keepdims)
    if initial is not None:
        y = y * initial
    return _finish("np.prod", y, out)


def _extreme(name: str, red: Any, pick: Any, a, axis, out, keepdims, initial, where):
    if not traced(a):
        kw = {} if initial is None else {"initial": initial}
        fn = np.max if name == "max" else np.min
        return fn(a, axis=_axis_arg(axis), keepdims=keepdims, where=where, **kw)
    m = _mask(where)
    x = a
    if m is not True:
        if initial is None:
            raise UnsupportedArgumentError(
                f"np.{name}(..., where=mask) needs initial= (as in NumPy: the reduction has "
                "no identity for the masked-out entries)"
            )
        x = select(m, a, float(initial))
    y = red(x, axis=_axis_arg(axis), keepdims=keepdims)
    if initial is not None:
        y = pick(y, float(initial))
    return _finish(f"np.{name}", y, out)


def max(a, axis=None, out=None, keepdims=False, initial=None, where=True):  # noqa: A001
    """``np.max`` / ``np.amax`` with ``initial=`` and ``where=`` (derivative to the
    maximum, split among ties)."""
    return _extreme("max", _max, maximum, a, axis, out, keepdims, initial, where)


def min(a, axis=None, out=None, keepdims=False, initial=None, where=True):  # noqa: A001
    """``np.min`` / ``np.amin`` with ``initial=`` and ``where=``."""
    return _extreme("min", _min, minimum, a, axis, out, keepdims, initial, where)


def ptp(a, axis=None, out=None, keepdims=False):
    """``np.ptp`` = max - min."""
    if not traced(a):
        return np.ptp(a, axis=axis, keepdims=keepdims)
    return _finish("np.ptp", max(a, axis, keepdims=keepdims) - min(a, axis, keepdims=keepdims), out)


def var(
    a,
    axis=None,
    dtype=None,
    out=None,
    ddof=0,
    keepdims=False,
    *,
    where=True,
    mean=None,  # noqa: A002 - NumPy's keyword (a precomputed mean)
    correction=None,
):
    """``np.var`` = sum((x - mean)^2) / (n - ddof), with ``where=``, ``mean=``,
    ``correction=`` (NumPy 2's name for ddof)."""
    _dtype_ok("np.var", dtype)
    if correction is not None:
        ddof = correction
    if not traced(a, mean):
        kw = {} if mean is None else {"mean": mean}
        return np.var(a, axis=_axis_arg(axis), ddof=ddof, keepdims=keepdims, where=where, **kw)
    m = _mask(where)
    if m is not True:  # masked-out entries (NaN in nanvar) must not reach a derivative
        a = select(m, a, 0.0)
    mu = _mean_of(a, axis, m) if mean is None else mean
    d = subtract(a, mu)
    ss = sum(multiply(d, d), axis, keepdims=keepdims, where=where)
    count = _count(shape_of(a), axis, m, keepdims)
    return _finish("np.var", ss * (1.0 / (count - ddof)), out)


def _mean_of(a: Any, axis: Any, m: Any) -> Any:
    """The mean over ``axis`` with keepdims (``var`` has a parameter called ``mean``)."""
    return _masked_mean(a, axis, keepdims=True, where=m)


def std(
    a,
    axis=None,
    dtype=None,
    out=None,
    ddof=0,
    keepdims=False,
    *,
    where=True,
    mean=None,  # noqa: A002
    correction=None,
):
    """``np.std`` = sqrt(var); its derivative is infinite at zero variance."""
    _dtype_ok("np.std", dtype)
    if not traced(a, mean):
        kw = {} if mean is None else {"mean": mean}
        if correction is not None:
            ddof = correction
        return np.std(a, axis=_axis_arg(axis), ddof=ddof, keepdims=keepdims, where=where, **kw)
    v = var(a, axis, None, None, ddof, keepdims, where=where, mean=mean, correction=correction)
    return _finish("np.std", sqrt(v), out)


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``np.average``: sum(a w) / sum(w) (weights may be traced too)."""
    if not traced(a, weights):
        return np.average(a, axis=axis, weights=weights, returned=returned, keepdims=keepdims)
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        n = np.sum(np.ones(shape_of(a)), axis=_axis_arg(axis), keepdims=keepdims)
        return (avg, np.broadcast_to(n, shape_of(avg)).copy()) if returned else avg
    sa, sw = shape_of(a), shape_of(weights)
    w = weights
    if sw != sa:
        if axis is None or len(sw) != 1:
            raise ShapeError(f"np.average: weights of shape {sw} for a of shape {sa} need axis=")
        ax = int(axis) % len(sa)
        w = reshape(w, tuple(sw[0] if i == ax else 1 for i in range(len(sa))))
        w = broadcast_to(w, sa)
    wsum = _sum(w, axis=_axis_arg(axis), keepdims=keepdims)
    avg = _sum(multiply(a, w), axis=_axis_arg(axis), keepdims=keepdims) / wsum
    if returned:
        return avg, broadcast_to(wsum, shape_of(avg))
    return avg


def _nan_mask(a: Any) -> np.ndarray:
    return ~np.isnan(np.asarray(concrete(a)))


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    """``np.nansum``: NaN counts as 0."""
    m = _nan_mask(a) if where is True else (_nan_mask(a) & _mask(where))
    return sum(a, axis, dtype, out, keepdims, initial, where=m)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    """``np.nanmean``: the mean of the non-NaN entries."""
    m = _nan_mask(a) if where is True else (_nan_mask(a) & _mask(where))
    return mean(a, axis, dtype, out, keepdims, where=m)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, **kw):
    """``np.nanvar``."""
    m = _nan_mask(a) if where is True else (_nan_mask(a) & _mask(where))
    return var(a, axis, dtype, out, ddof, keepdims, where=m, **kw)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, **kw):
    """``np.nanstd``."""
    m = _nan_mask(a) if where is True else (_nan_mask(a) & _mask(where))
    return std(a, axis, dtype, out, ddof, keepdims, where=m, **kw)


def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    """``np.nanmax``: NaN entries ignored."""
    if not traced(a):
        return np.nanmax(a, axis=axis, keepdims=keepdims)
    return max(select(_nan_mask(a), a, -np.inf), axis, out, keepdims, initial, where)


def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    """``np.nanmin``: NaN entries ignored."""
    if not traced(a):
        return np.nanmin(a, axis=axis, keepdims=keepdims)
    return min(select(_nan_mask(a), a, np.inf), axis, out, keepdims, initial, where)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    """``np.nanprod``: NaN counts as 1."""
    m = _nan_mask(a) if where is True else (_nan_mask(a) & _mask(where))
    return prod(a, axis, dtype, out, keepdims, initial, where=m)


# ----------------------------------------------------------------------------------
# Order statistics: sort (a primitive), median, quantiles
# ----------------------------------------------------------------------------------


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``np.sort`` (the ``sort`` primitive: a gather by the permutation found at run
    time); ``kind``/``stable`` are accepted (the sort is stable), ``order`` is not."""
    if order is not None:
        raise UnsupportedArgumentError("np.sort(..., order=): structured arrays are not traced")
    return _sort(a, axis)


def _last_axis(a: Any, axis: Any) -> tuple[Any, tuple[int, ...], tuple[int, ...]]:
    """Move the reduced axes of ``a`` to one last axis: (a', kept shape, reduced axes)."""
    shape = shape_of(a)
    if axis is None:
        return ravel(a), (), tuple(range(len(shape)))
    axes = _axes(len(shape), axis)
    rest = [i for i in range(len(shape)) if i not in axes]
    moved = (
        transpose(a, tuple(rest) + axes) if tuple(rest) + axes != tuple(range(len(shape))) else a
    )
    kept = tuple(shape[i] for i in rest)
    return reshape(moved, kept + (-1,)), kept, axes


def _keep(y: Any, shape: tuple[int, ...], axes: tuple[int, ...], lead: int = 0) -> Any:
    """Re-insert the reduced axes as length 1 (keepdims), after ``lead`` leading axes."""
    s = shape_of(y)
    full = tuple(1 if i in axes else d for i, d in enumerate(shape))
    return reshape(y, s[:lead] + full)


def quantile(
    a,
    q,
    axis=None,
    out=None,
    overwrite_input=False,
    method="linear",
    keepdims=False,
    *,
    weights=None,
    interpolation=None,
):
    """``np.quantile`` over a sort: methods "linear" (default), "lower", "higher",
    "nearest", "midpoint"; the derivative goes to the one or two order statistics used.
    ``q`` must not be traced."""
    if interpolation is not None:
        method = interpolation
    if not traced(a):
        return np.quantile(a, q, axis=axis, method=method, keepdims=keepdims)
    if traced(q):
        raise UnsupportedArgumentError("np.quantile(a, q): q must be a constant, not traced")
    if weights is not None:
        raise UnsupportedArgumentError("np.quantile(..., weights=) is not traced")
    methods = ("linear", "lower", "higher", "nearest", "midpoint")
    if method not in methods:
        raise UnsupportedArgumentError(f"np.quantile(method={method!r}): one of {methods}")
    shape = shape_of(a)
    flat, kept, axes = _last_axis(a, axis)
    s = _sort(flat, -1)
    n = shape_of(s)[-1]
    qv = np.asarray(q, dtype=np.float64)
    pos = qv * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    lead = len(kept)

    def at(idx: np.ndarray) -> Any:  # s[..., idx] with q's axes moved to the front
        y = getitem(s, (Ellipsis, idx))
        return moveaxis(y, tuple(range(lead, lead + qv.ndim)), tuple(range(qv.ndim)))

    if method == "lower":
        y = at(lo)
    elif method == "higher":
        y = at(np.where(frac > 0, hi, lo))
    elif method == "nearest":
        y = at(np.around(pos).astype(np.int64))
    elif method == "midpoint":
        y = (at(lo) + at(np.where(frac > 0, hi, lo))) * 0.5
    else:
        w = frac.reshape(qv.shape + (1,) * lead)
        y_lo = at(lo)
        y = y_lo + (at(hi) - y_lo) * w
    if keepdims:
        y = _keep(y, shape, axes, qv.ndim)
    return _finish("np.quantile", y, out)


def percentile(
    a,
    q,
    axis=None,
    out=None,
    overwrite_input=False,
    method="linear",
    keepdims=False,
    *,
    weights=None,
    interpolation=None,
):
    """``np.percentile`` = quantile(a, q / 100)."""
    if not traced(a):
        return np.percentile(a, q, axis=axis, method=method, keepdims=keepdims)
    if traced(q):
        raise UnsupportedArgumentError("np.percentile(a, q): q must be a constant, not traced")
    return quantile(
        a,
        np.asarray(q, dtype=np.float64) / 100.0,
        axis,
        out,
        overwrite_input,
        method,
        keepdims,
        weights=weights,
        interpolation=interpolation,
    )


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.median``: the middle order statistic (the mean of the two middle ones)."""
    if not traced(a):
        return np.median(a, axis=axis, keepdims=keepdims)
    return quantile(a, 0.5, axis, out, keepdims=keepdims, method="linear")


def unique(
    ar,
    return_index=False,
    return_inverse=False,
    return_counts=False,
    axis=None,
    *,
    equal_nan=True,
    sorted=True,
):  # noqa: A002
    """``np.unique``: the values are a gather of the first occurrences (traced); the
    indices, inverse and counts are constants."""
    if not traced(ar):
        return np.unique(ar, return_index, return_inverse, return_counts, axis, equal_nan=equal_nan)
    res = np.unique(
        np.asarray(concrete(ar)), True, return_inverse, return_counts, axis, equal_nan=equal_nan
    )
    first = res[1]
    values = take(ar, first, axis=axis) if axis is not None else getitem(ravel(ar), first)
    extra = []
    if return_index:
        extra.append(first)
    extra.extend(res[2:])
    return (values, *extra) if extra else values


# ----------------------------------------------------------------------------------
# Cumulative operations and differences
# ----------------------------------------------------------------------------------


def cumsum(a, axis=None, dtype=None, out=None):
    """``np.cumsum`` (the ``cumsum`` primitive; its transpose is a reversed cumsum)."""
    _dtype_ok("np.cumsum", dtype)
    return _finish("np.cumsum", _cumsum(a, axis), out)


def _shift_in(y: Any, d: int, axis: int, fill: float) -> Any:
    """y shifted by d along axis, the first d entries ``fill`` (a constant)."""
    shape = shape_of(y)
    n = shape[axis]
    head = np.full(shape[:axis] + (d,) + shape[axis + 1 :], fill)
    body = getitem(y, (slice(None),) * axis + (slice(0, n - d),))
    return concatenate([head, body], axis=axis)


def cumprod(a, axis=None, dtype=None, out=None):
    """``np.cumprod`` as a Hillis-Steele scan: ceil(log2 n) rounds of y *= shift(y),
    products only, so the derivative is exact at zeros."""
    _dtype_ok("np.cumprod", dtype)
    if not traced(a):
        return np.cumprod(a, axis=axis)
    y = ravel(a) if axis is None else a
    ax = 0 if axis is None else int(axis) % len(shape_of(a))
    n, d = shape_of(y)[ax], 1
    while d < n:
        y = multiply(y, _shift_in(y, d, ax, 1.0))
        d *= 2
    return _finish("np.cumprod", y, out)


def _running_extreme(a: Any, axis: Any, better: Any) -> Any:
    """maximum.accumulate / minimum.accumulate: a gather of the running arg-extreme."""
    if not traced(a):
        return better.accumulate(a, axis=axis)
    shape = shape_of(a)
    ax = int(axis) % len(shape)
    c = np.asarray(concrete(a))
    run = better.accumulate(c, axis=ax)
    pos = np.arange(shape[ax]).reshape((-1,) + (1,) * (len(shape) - ax - 1))
    arg = np.maximum.accumulate(np.where(c == run, pos, 0), axis=ax)
    return _structural("accumulate", lambda i: np.take_along_axis(i, arg, axis=ax), a)


def _with_initial(y: Any, ax: int, fill: float) -> Any:
    """y with one entry ``fill`` (the empty sum or product) put before it along ``ax``."""
    shape = shape_of(y)
    return concatenate([np.full(shape[:ax] + (1,) + shape[ax + 1 :], fill), y], axis=ax)


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_sum`` (NumPy >= 2.1)."""
    if axis is None:
        if len(shape_of(x)) > 1:
            raise ShapeError("np.cumulative_sum of an array with more than one axis needs axis=")
        axis = 0
    y = cumsum(x, axis, dtype)
    if include_initial:
        y = _with_initial(y, int(axis) % len(shape_of(x)), 0.0)
    return _finish("np.cumulative_sum", y, out)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_prod`` (NumPy >= 2.1)."""
    if axis is None:
        if len(shape_of(x)) > 1:
            raise ShapeError("np.cumulative_prod of an array with more than one axis needs axis=")
        axis = 0
    y = cumprod(x, axis, dtype)
    if include_initial:
        y = _with_initial(y, int(axis) % len(shape_of(x)), 1.0)
    return _finish("np.cumulative_prod", y, out)


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``np.diff``: a[1:] - a[:-1] along ``axis``, n times (with prepend/append)."""
    if not traced(a, prepend, append):
        return np.diff(a, n, axis, prepend=prepend, append=append)
    shape = shape_of(a)
    ax = int(axis) % len(shape)
    parts = [] if prepend is np._NoValue else [_edge(prepend, shape, ax)]
    parts.append(a)
    if append is not np._NoValue:
        parts.append(_edge(append, shape, ax))
    y = concatenate(parts, axis=ax) if len(parts) > 1 else a
    for _ in range(int(n)):
        m = shape_of(y)[ax]
        head = getitem(y, (slice(None),) * ax + (slice(1, m),))
        tail = getitem(y, (slice(None),) * ax + (slice(0, m - 1),))
        y = subtract(head, tail)
    return y


def _edge(v: Any, shape: tuple[int, ...], ax: int) -> Any:
    """A prepend/append value as an array with one entry along ``ax``."""
    if len(shape_of(v)) == 0:
        return broadcast_to(v, shape[:ax] + (1,) + shape[ax + 1 :])
    return v


def ediff1d(ary, to_end=None, to_begin=None):
    """``np.ediff1d``: differences of the flattened array, with ends."""
    if not traced(ary, to_end, to_begin):
        return np.ediff1d(ary, to_end, to_begin)
    parts = []
    if to_begin is not None:
        parts.append(ravel(to_begin) if traced(to_begin) else np.ravel(to_begin))
    parts.append(diff(ravel(ary)))
    if to_end is not None:
        parts.append(ravel(to_end) if traced(to_end) else np.ravel(to_end))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient`` with scalar spacings: central differences inside, one-sided
    (first or second order) at the ends; a list for several axes, as NumPy."""
    if not traced(f, *varargs):
        return np.gradient(f, *varargs, axis=axis, edge_order=edge_order)
    shape = shape_of(f)
    axes = tuple(range(len(shape))) if axis is None else _axes(len(shape), axis)
    if len(varargs) == 0:
        hs = [1.0] * len(axes)
    elif len(varargs) == 1:
        hs = list(varargs) * len(axes)
    else:
        hs = list(varargs)
    if len(hs) != len(axes) or any(np.ndim(concrete(h)) != 0 for h in hs):
        raise UnsupportedArgumentError(
            "np.gradient(f, *varargs): only scalar spacings are traced (no coordinate arrays)"
        )
    out = []
    for ax, h in zip(axes, hs):
        n = shape[ax]

        def sl(a: int, b: int | None, ax=ax) -> Any:
            return getitem(f, (slice(None),) * ax + (slice(a, b),))

        inner = (sl(2, None) - sl(0, n - 2)) * (0.5 / h) if n > 2 else None
        if edge_order == 1:
            first = (sl(1, 2) - sl(0, 1)) * (1.0 / h)
            last = (sl(n - 1, n) - sl(n - 2, n - 1)) * (1.0 / h)
        else:
            first = (sl(0, 1) * -3.0 + sl(1, 2) * 4.0 - sl(2, 3)) * (0.5 / h)
            last = (sl(n - 1, n) * 3.0 - sl(n - 2, n - 1) * 4.0 + sl(n - 3, n - 2)) * (0.5 / h)
        parts = [first] + ([inner] if inner is not None else []) + [last]
        out.append(concatenate(parts, axis=ax))
    return out[0] if len(out) == 1 else out


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """``np.trapezoid``: sum of (y[i] + y[i+1]) / 2 * (x[i+1] - x[i])."""
    if not traced(y, x, dx):
        return (
            np.trapezoid(y, x, dx, axis) if hasattr(np, "trapezoid") else np.trapz(y, x, dx, axis)
        )
    shape = shape_of(y)
    ax = int(axis) % len(shape)
    n = shape[ax]
    lo = getitem(y, (slice(None),) * ax + (slice(0, n - 1),))
    hi = getitem(y, (slice(None),) * ax + (slice(1, n),))
    if x is None:
        d = dx
    else:
        d = diff(x, axis=-1 if len(shape_of(x)) == 1 else ax)
        if len(shape_of(x)) == 1 and len(shape) > 1:
            d = reshape(d, tuple(n - 1 if i == ax else 1 for i in range(len(shape))))
    return _sum(multiply(add(lo, hi), d) * 0.5, axis=ax)


# ----------------------------------------------------------------------------------
# Structural functions: one gather each, its index map the NumPy function on indices
# ----------------------------------------------------------------------------------


def _moves(name: str, npfn: Callable[..., Any], n_arrays: int = 1) -> Callable[..., Any]:
    """A NumPy function that only moves entries of its first ``n_arrays`` arguments,
    traced as one gather (its index map: ``npfn`` applied to index arrays)."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        arrays, rest = args[:n_arrays], args[n_arrays:]
        if not traced(*arrays):
            return npfn(
                *[np.asarray(concrete(a), dtype=np.float64) for a in arrays], *rest, **kwargs
            )
        rest = tuple(_concrete_index(r) for r in rest)
        return _structural(name, lambda *ix: npfn(*ix, *rest, **kwargs), *arrays)

    fn.__name__ = name
    fn.__doc__ = f"``np.{name}``: a gather whose index map is np.{name} of an index array."
    return fn


def _moves_multi(name: str, npfn: Callable[..., Any], n_arrays: int = 1) -> Callable[..., Any]:
    """Like ``_moves`` for a function returning a list of arrays (split, meshgrid)."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        arrays, rest = args[:n_arrays], args[n_arrays:]
        if not traced(*arrays):
            return npfn(*arrays, *rest, **kwargs)
        shapes = [shape_of(a) for a in arrays]
        start, ix = 1, []
        for s in shapes:
            size = int(np.prod(s, dtype=np.int64))
            ix.append(np.arange(start, start + size, dtype=np.int64).reshape(s))
            start += size
        parts = npfn(*ix, *rest, **kwargs)
        outs = [gather(*arrays, idx=np.asarray(p, dtype=np.int64) - 1, label=name) for p in parts]
        return type(parts)(outs) if isinstance(parts, tuple) else outs

    fn.__name__ = name
    fn.__doc__ = f"``np.{name}``: one gather per output array."
    return fn


roll = _moves("roll", np.roll)
rot90 = _moves("rot90", np.rot90)
fliplr = _moves("fliplr", np.fliplr)
flipud = _moves("flipud", np.flipud)
rollaxis = _moves("rollaxis", np.rollaxis)
diagflat = _moves("diagflat", np.diagflat)
resize = _moves("resize", np.resize)
delete = _moves("delete", np.delete)
take_along_axis = _moves("take_along_axis", np.take_along_axis)
permute_dims = _moves("permute_dims", np.transpose)
matrix_transpose = _moves("matrix_transpose", lambda a: np.swapaxes(a, -1, -2))
split = _moves_multi("split", np.split)
array_split = _moves_multi("array_split", np.array_split)
hsplit = _moves_multi("hsplit", np.hsplit)
vsplit = _moves_multi("vsplit", np.vsplit)
dsplit = _moves_multi("dsplit", np.dsplit)
if hasattr(np, "unstack"):
    unstack = _moves_multi("unstack", np.unstack)


def take(a, indices, axis=None, out=None, mode="raise"):
    """``np.take``: a gather (indices are constants)."""
    if not traced(a):
        return np.take(a, concrete(indices), axis=axis, mode=mode)
    ind = np.asarray(concrete(indices))
    y = _structural("take", lambda i: np.take(i, ind, axis=axis, mode=mode), a)
    return _finish("np.take", y, out)


def reshape_(a, shape=None, order="C", *, newshape=None, copy=None):
    """``np.reshape`` with NumPy 2's keywords (``order="F"`` is a gather too)."""
    if shape is None:
        shape = newshape
    if order == "C" or not traced(a):
        from ad.primitives.shape import reshape as _reshape

        return _reshape(a, shape) if traced(a) else np.reshape(a, shape, order=order)
    return _structural("reshape", lambda i: np.reshape(i, shape, order=order), a)


def _atleast(name: str, npfn: Any) -> Callable[..., Any]:
    def fn(*arys: Any) -> Any:
        outs = [_moves(name, npfn)(a) if traced(a) else npfn(a) for a in arys]
        return outs[0] if len(outs) == 1 else tuple(outs)

    fn.__name__ = name
    fn.__doc__ = f"``np.{name}``: a reshape per argument."
    return fn


atleast_1d = _atleast("atleast_1d", np.atleast_1d)
atleast_2d = _atleast("atleast_2d", np.atleast_2d)
atleast_3d = _atleast("atleast_3d", np.atleast_3d)


def _seq_moves(name: str, npfn: Any) -> Callable[..., Any]:
    """Functions of a sequence of arrays (column_stack, dstack, block)."""

    def fn(tup: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        arrays = list(tup)
        if not traced(*arrays):
            return npfn(arrays, *args, **kwargs)
        return _structural(name, lambda *ix: npfn(list(ix), *args, **kwargs), *arrays)

    fn.__name__ = name
    fn.__doc__ = f"``np.{name}``: one gather from all the arrays."
    return fn


column_stack = _seq_moves("column_stack", np.column_stack)
dstack = _seq_moves("dstack", np.dstack)


def block(arrays: Any) -> Any:
    """``np.block``: one gather (the nested lists' leaves are the operands)."""
    from ad.tree import flatten, unflatten

    leaves, tdef = flatten(arrays)
    if not traced(*leaves):
        return np.block(arrays)
    return _structural("block", lambda *ix: np.block(unflatten(tdef, list(ix))), *leaves)


def append(arr, values, axis=None):
    """``np.append``: one gather from both operands."""
    if not traced(arr, values):
        return np.append(arr, values, axis)
    return _structural("append", lambda a, v: np.append(a, v, axis), arr, values)


def insert(arr, obj, values, axis=None):
    """``np.insert``: one gather from both operands (``obj`` a constant)."""
    if not traced(arr, values):
        return np.insert(arr, concrete(obj), values, axis)
    o = _concrete_index(obj)
    return _structural("insert", lambda a, v: np.insert(a, o, v, axis), arr, values)


def broadcast_arrays(*args: Any, subok: bool = False) -> Any:
    """``np.broadcast_arrays``: a broadcast_to per argument."""
    shape = np.broadcast_shapes(*[shape_of(a) for a in args])
    return tuple(broadcast_to(a, shape) if traced(a) else np.broadcast_to(a, shape) for a in args)


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> Any:
    """``np.meshgrid``: one gather per output."""
    fn = _moves_multi(
        "meshgrid", lambda *ix: np.meshgrid(*ix, sparse=sparse, indexing=indexing), len(xi)
    )
    return tuple(fn(*xi))


_PAD_MOVES = ("edge", "reflect", "symmetric", "wrap", "empty")


def pad(array, pad_width, mode="constant", **kwargs):
    """``np.pad``: a gather for modes "constant" (plus the constant), "edge", "reflect",
    "symmetric", "wrap"; other modes raise, naming the mode."""
    if not traced(array):
        return np.pad(array, pad_width, mode, **kwargs)
    if callable(mode) or mode not in ("constant",) + _PAD_MOVES:
        raise UnsupportedArgumentError(
            f"np.pad(mode={mode!r}) is not traced; modes: 'constant', "
            + ", ".join(repr(m) for m in _PAD_MOVES)
        )
    if mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") != "even":
        raise UnsupportedArgumentError("np.pad(reflect_type='odd') is not traced")
    if mode == "constant":
        c = kwargs.get("constant_values", 0)
        y = _structural("pad", lambda a: np.pad(a, pad_width), array)
        if np.any(np.asarray(c) != 0):
            y = y + np.pad(np.zeros(shape_of(array)), pad_width, constant_values=c)
        return y
    m = "constant" if mode == "empty" else mode
    return _structural("pad", lambda a: np.pad(a, pad_width, m), array)


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):  # noqa: A002
    """``np.clip`` / ``x.clip``: maximum and minimum (derivative 1 inside, 0 outside,
    1/2 on the boundary, as JAX). Accepts ``a_min``/``a_max`` and NumPy 2's ``min``/``max``."""
    lo = a_min if min is None else min
    hi = a_max if max is None else max
    if kwargs:
        raise UnsupportedArgumentError(f"np.clip(..., {', '.join(kwargs)}=) is not traced")
    if not traced(a, lo, hi):
        return np.clip(a, lo, hi)
    y = a
    if lo is not None:
        y = maximum(y, lo)
    if hi is not None:
        y = minimum(y, hi)
    return _finish("np.clip", y, out)


def copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    """``np.copy``: a new traced array (updating it leaves ``a`` alone)."""
    if isinstance(a, Tracer):
        return a.copy()
    return np.copy(a)


def _like(npfn: Any, fill: Any = None) -> Callable[..., Any]:
    """``np.zeros_like`` and friends: a traced constant (so it can be updated by index)."""

    def fn(a: Any, *args: Any, dtype: Any = None, shape: Any = None, **kwargs: Any) -> Any:
        value = npfn(np.empty(shape_of(a)), *args, dtype=dtype, shape=shape, **kwargs)
        if value.dtype != np.float64:
            return value
        if fill is not None:
            value = np.full(value.shape, fill)
        return constant_like(a, value)

    fn.__name__ = npfn.__name__
    fn.__doc__ = f"``np.{npfn.__name__}`` of a traced array: a traced constant."
    return fn


zeros_like = _like(np.zeros_like)
ones_like = _like(np.ones_like)
full_like = _like(np.full_like)
empty_like = _like(np.empty_like, fill=0.0)


def select_(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    """``np.select``: nested selects with constant conditions (the first true wins)."""
    if not traced(*choicelist, default):
        return np.select([concrete(c) for c in condlist], choicelist, default)
    y = default
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        y = select(concrete(cond), choice, y)
    return y


def bincount(x, weights=None, minlength=0):
    """``np.bincount``: with traced weights, a scatter_add into the bins."""
    if not traced(weights):
        return np.bincount(np.asarray(concrete(x)), weights, minlength)
    ix = np.asarray(concrete(x)).astype(np.int64)
    size = builtins.max(int(ix.max(initial=-1)) + 1, int(minlength))
    return scatter_add(weights, idx=ix, out_shape=(size,))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``np.linspace`` with traced end points: start + (stop - start) t."""
    _dtype_ok("np.linspace", dtype)
    if not traced(start, stop):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    if axis != 0:
        raise UnsupportedArgumentError("np.linspace(..., axis=) with traced end points")
    div = (num - 1) if endpoint else num
    t = np.arange(num, dtype=np.float64) / (div if div > 0 else 1)
    s = shape_of(start) if traced(start) else np.shape(start)
    t = t.reshape((-1,) + (1,) * len(np.broadcast_shapes(s, shape_of(stop))))
    step = subtract(stop, start) * (1.0 / div if div > 0 else np.nan)
    y = add(start, multiply(subtract(stop, start), t))
    return (y, step) if retstep else y


def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise linear; the segment of each x is found on the values
    (a constant), then fp[j] + (x - xp[j]) (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]).
    Outside [xp[0], xp[-1]]: ``left`` / ``right`` (default fp[0] / fp[-1])."""
    if not traced(x, xp, fp, left, right):
        return np.interp(x, xp, fp, left, right, period)
    if period is not None:
        raise UnsupportedArgumentError("np.interp(..., period=) is not traced")
    cxp = np.asarray(concrete(xp), dtype=np.float64)
    cx = np.asarray(concrete(x), dtype=np.float64)
    n = cxp.size
    j = np.clip(np.searchsorted(cxp, cx, side="right") - 1, 0, n - 2)
    x0, x1 = getitem(xp, j), getitem(xp, j + 1)
    f0, f1 = getitem(fp, j), getitem(fp, j + 1)
    y = f0 + (x - x0) * (f1 - f0) / (x1 - x0)
    lo = getitem(fp, 0) if left is None else left
    hi = getitem(fp, n - 1) if right is None else right
    y = select(cx < cxp[0], broadcast_to(lo, cx.shape) if traced(lo) else lo, y)
    return select(cx > cxp[-1], broadcast_to(hi, cx.shape) if traced(hi) else hi, y)


def polyval(p, x):
    """``np.polyval`` by Horner's rule (p and x may be traced)."""
    if not traced(p, x):
        return np.polyval(p, x)
    coeffs = [getitem(p, i) for i in range(shape_of(p)[0])] if traced(p) else list(p)
    y = coeffs[0] * np.ones(shape_of(x)) if not traced(coeffs[0]) else coeffs[0]
    for c in coeffs[1:]:
        y = y * x + c
    return y


def _toeplitz(a: Any, m: int, mode: str, npfn: Any) -> Any:
    """The matrix T with npfn(a, v, mode) = T v for every v of length m: column i is
    npfn(a, e_i, mode), found on an index array of a (so one gather from a)."""

    def op(ix: np.ndarray) -> np.ndarray:
        eye = np.eye(m, dtype=np.int64)
        return np.stack([npfn(ix, eye[i], mode) for i in range(m)], axis=1)

    if traced(a):
        return _structural(npfn.__name__, op, a)
    return np.stack(
        [npfn(np.asarray(a, dtype=np.float64), np.eye(m)[i], mode) for i in range(m)], axis=1
    )


def convolve(a, v, mode="full"):
    """``np.convolve`` (1-d): T(a) v, T a gather of a (bilinear: both may be traced)."""
    if not traced(a, v):
        return np.convolve(a, v, mode)
    return _la.matmul(_toeplitz(a, shape_of(v)[0], mode, np.convolve), v)


def correlate(a, v, mode="valid"):
    """``np.correlate`` (1-d, real): T(a) v, T a gather of a."""
    if not traced(a, v):
        return np.correlate(a, v, mode)
    return _la.matmul(_toeplitz(a, shape_of(v)[0], mode, np.correlate), v)


def nancumsum(a, axis=None, dtype=None, out=None):
    """``np.nancumsum``: NaN counts as 0."""
    if not traced(a):
        return np.nancumsum(a, axis=axis)
    return cumsum(select(_nan_mask(a), a, 0.0), axis, dtype, out)


def nancumprod(a, axis=None, dtype=None, out=None):
    """``np.nancumprod``: NaN counts as 1."""
    if not traced(a):
        return np.nancumprod(a, axis=axis)
    return cumprod(select(_nan_mask(a), a, 1.0), axis, dtype, out)


def extract(condition, arr):
    """``np.extract``: the entries where the (constant) condition holds, a gather."""
    cond = np.asarray(concrete(condition), dtype=bool)
    return getitem(ravel(arr), np.flatnonzero(cond)) if traced(arr) else np.extract(cond, arr)


def compress(condition, a, axis=None, out=None):
    """``np.compress``: a gather of the selected slices (the condition is a constant)."""
    cond = np.asarray(concrete(condition), dtype=bool)
    if not traced(a):
        return np.compress(cond, a, axis)
    y = _structural("compress", lambda i: np.compress(cond, i, axis), a)
    return _finish("np.compress", y, out)


def choose(a, choices, out=None, mode="raise"):
    """``np.choose``: the index array is a constant, the choices may be traced (a gather)."""
    idx = np.asarray(concrete(a))
    choices = list(choices)
    if not traced(*choices):
        return np.choose(idx, choices, mode=mode)
    shape = np.broadcast_shapes(idx.shape, *[shape_of(c) for c in choices])
    ops = [broadcast_to(c, shape) if traced(c) else np.broadcast_to(c, shape) for c in choices]
    y = _structural("choose", lambda *c: np.choose(idx, c, mode=mode), *ops)
    return _finish("np.choose", y, out)


def trim_zeros(filt, trim="fb", axis=None):
    """``np.trim_zeros`` (1-d): the slice is found on the values, then a gather."""
    if not traced(filt):
        return np.trim_zeros(filt, trim)
    nz = np.flatnonzero(np.asarray(concrete(filt)))
    n = shape_of(filt)[0]
    if not nz.size:
        return getitem(filt, slice(0, 0))
    lo = int(nz[0]) if "f" in trim else 0
    hi = int(nz[-1]) + 1 if "b" in trim else n
    return getitem(filt, slice(lo, hi))


def unwrap(p, discont=None, axis=-1, *, period=2 * math.pi):
    """``np.unwrap``: p plus a constant multiple of the period (found on the values)."""
    if not traced(p):
        return np.unwrap(p, discont, axis, period=period)
    c = np.asarray(concrete(p))
    return p + (np.unwrap(c, discont, axis, period=period) - c)


def vander(x, N=None, increasing=False):
    """``np.vander``: columns of powers of x (integer_pow), stacked."""
    if not traced(x):
        return np.vander(x, N, increasing)
    n = shape_of(x)[0] if N is None else int(N)
    cols = [power(x, k) if k else np.ones(shape_of(x)) for k in range(n)]
    return stack(cols if increasing else cols[::-1], axis=1)


def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """``np.polyfit`` as a least-squares solve (``lstsq`` of the Vandermonde matrix)."""
    if not traced(x, y):
        return np.polyfit(x, y, deg, rcond, full, w, cov)
    if full or cov or w is not None:
        raise UnsupportedArgumentError("np.polyfit(..., full=/w=/cov=) is not traced")
    n = shape_of(x)[0]
    rcond = n * np.finfo(np.float64).eps if rcond is None else rcond
    return _la.lstsq(vander(x, int(deg) + 1), y, rcond)[0]


def polyder(p, m=1):
    """``np.polyder``: coefficients times constant exponents."""
    if not traced(p):
        return np.polyder(p, m)
    for _ in range(int(m)):
        n = shape_of(p)[0]
        p = getitem(p, slice(0, n - 1)) * np.arange(n - 1, 0, -1, dtype=np.float64)
    return p


def polymul(a1, a2):
    """``np.polymul``: a convolution of the coefficients."""
    if not traced(a1, a2):
        return np.polymul(a1, a2)
    return convolve(a1, a2)


def _poly_pad(a: Any, n: int) -> Any:
    k = shape_of(a)[0]
    return pad(a, (n - k, 0)) if traced(a) else np.pad(np.asarray(a, dtype=float), (n - k, 0))


def polyadd(a1, a2):
    """``np.polyadd``: coefficients aligned at the constant term, added."""
    if not traced(a1, a2):
        return np.polyadd(a1, a2)
    n = builtins.max(shape_of(a1)[0], shape_of(a2)[0])
    return add(_poly_pad(a1, n), _poly_pad(a2, n))


def polysub(a1, a2):
    """``np.polysub``."""
    if not traced(a1, a2):
        return np.polysub(a1, a2)
    n = builtins.max(shape_of(a1)[0], shape_of(a2)[0])
    return subtract(_poly_pad(a1, n), _poly_pad(a2, n))


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """``np.logspace`` with traced end points: base ** linspace."""
    if not traced(start, stop):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    return exp(linspace(start, stop, num, endpoint, dtype=dtype, axis=axis) * math.log(base))


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``np.apply_along_axis``: func1d traced on each 1-d slice, the results stacked."""
    if not traced(arr):
        return np.apply_along_axis(func1d, axis, arr, *args, **kwargs)
    shape = shape_of(arr)
    ax = int(axis) % len(shape)
    moved = moveaxis(arr, ax, -1)
    rest = shape[:ax] + shape[ax + 1 :]
    outs = [func1d(getitem(moved, i), *args, **kwargs) for i in np.ndindex(*rest)]
    k = len(shape_of(outs[0]))
    res = reshape(stack(outs), rest + shape_of(outs[0]))
    if not k:
        return res
    return moveaxis(res, tuple(range(len(rest), len(rest) + k)), tuple(range(ax, ax + k)))


def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise``: each function evaluated on its (constant) selection, written in."""
    if not traced(x):
        return np.piecewise(x, condlist, funclist, *args, **kw)
    cx = np.asarray(concrete(x))
    if isinstance(condlist, np.ndarray) and condlist.dtype == bool and condlist.shape == cx.shape:
        condlist = [condlist]
    conds = [np.asarray(concrete(c), dtype=bool) for c in condlist]
    if len(funclist) == len(conds) + 1:  # the "otherwise" function
        conds.append(~np.any(conds, axis=0))
    y = constant_like(x, np.zeros(cx.shape))
    for cond, fn in zip(conds, funclist):
        if cond.any():
            y = setitem(y, cond, fn(getitem(x, cond), *args, **kw) if callable(fn) else fn)
    return y


def histogram(a, bins=10, range=None, density=None, weights=None):  # noqa: A002
    """``np.histogram``: counts are constants; with traced ``weights`` the weighted counts
    are a scatter_add into the bins (the edges always constants)."""
    ca = np.asarray(concrete(a))
    if not traced(weights):
        return np.histogram(ca, bins, range, density, weights)
    edges = np.histogram_bin_edges(ca, bins, range)
    flat = ca.ravel()
    idx = np.searchsorted(edges, flat, side="right") - 1
    idx[flat == edges[-1]] = edges.size - 2  # the last bin includes its right edge
    idx[(flat < edges[0]) | (flat > edges[-1])] = -1
    h = scatter_add(ravel(weights), idx=idx, out_shape=(edges.size - 1,))
    if density:
        h = h / (_sum(h) * np.diff(edges))
    return h, edges


def ldexp(x, i):
    """``np.ldexp`` = x 2^i (i a constant integer array)."""
    if not traced(x):
        return np.ldexp(x, i)
    return multiply(x, np.ldexp(1.0, np.asarray(concrete(i))))


def frexp(x):
    """``np.frexp``: (mantissa, exponent), the exponent a constant: d mantissa = 2^-e dx."""
    m, e = np.frexp(np.asarray(concrete(x), dtype=np.float64))
    if not traced(x):
        return m, e
    return multiply(x, np.ldexp(1.0, -e)), e


def unique_values(x):
    """``np.unique_values``: the sorted distinct values, a gather."""
    return unique(x)


# ----------------------------------------------------------------------------------
# Products: einsum, tensordot, kron, vdot, cross, inner / dot for n-d
# ----------------------------------------------------------------------------------


def _einsum_specs(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Input and output subscripts with '...' expanded to letters, the output explicit."""
    s = subscripts.replace(" ", "")
    lhs, arrow, rhs = s.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ShapeError(f"einsum: {len(ins)} subscripts for {len(shapes)} operands")
    used = set(s) - set(".,->")
    free = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba" if c not in used]
    n_ell = 0
    for spec, shape in zip(ins, shapes):
        if "..." in spec:
            n_ell = builtins.max(n_ell, len(shape) - (len(spec) - 3))
    ell = "".join(free[:n_ell])[::-1]
    out_ins = []
    for spec, shape in zip(ins, shapes):
        if "..." in spec:
            k = len(shape) - (len(spec) - 3)
            spec = spec.replace("...", ell[n_ell - k :] if k else "")
        if len(spec) != len(shape):
            raise ShapeError(f"einsum: subscripts '{spec}' for an operand of shape {shape}")
        out_ins.append(spec)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts: dict[str, int] = {}
        for spec in out_ins:
            for c in spec:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return out_ins, out


def _einsum_reduce(x: Any, spec: str, keep: set[str]) -> tuple[Any, str]:
    """Take diagonals of repeated letters and sum the letters not kept."""
    uniq = "".join(dict.fromkeys(spec))
    if uniq != spec:
        x = _structural("einsum", lambda i: np.einsum(f"{spec}->{uniq}", i).copy(), x)
        spec = uniq
    drop = tuple(i for i, c in enumerate(spec) if c not in keep)
    if drop:
        x = _sum(x, axis=drop)
        spec = "".join(c for c in spec if c in keep)
    return x, spec


def _permute(x: Any, spec: str, order: str) -> Any:
    if spec == order:
        return x
    return transpose(x, tuple(spec.index(c) for c in order))


def _einsum_pair(a: Any, sa: str, b: Any, sb: str, keep: set[str], size: dict[str, int]):
    """Contract two operands: batch letters (in both, kept), contracted letters (in both,
    not kept), free letters; one matmul (or a broadcast multiply without contraction)."""
    a, sa = _einsum_reduce(a, sa, keep | set(sb))
    b, sb = _einsum_reduce(b, sb, keep | set(sa))
    batch = "".join(c for c in sa if c in sb and c in keep)
    con = "".join(c for c in sa if c in sb and c not in keep)
    fa = "".join(c for c in sa if c not in sb)
    fb = "".join(c for c in sb if c not in sa)

    def n(letters: str) -> int:
        return int(np.prod([size[c] for c in letters], dtype=np.int64))

    dims = tuple(size[c] for c in batch + fa + fb)
    if not con:
        a2 = reshape(
            _permute(a, sa, batch + fa), tuple(size[c] for c in batch + fa) + (1,) * len(fb)
        )
        b2 = reshape(
            _permute(b, sb, batch + fb),
            tuple(size[c] for c in batch) + (1,) * len(fa) + tuple(size[c] for c in fb),
        )
        return multiply(a2, b2), batch + fa + fb
    lead = (n(batch),) if batch else ()
    a2 = reshape(_permute(a, sa, batch + fa + con), lead + (n(fa), n(con)))
    b2 = reshape(_permute(b, sb, batch + con + fb), lead + (n(con), n(fb)))
    return reshape(_la.matmul(a2, b2), dims), batch + fa + fb


def einsum(*operands: Any, out: Any = None, optimize: Any = False, dtype: Any = None, **kwargs):
    """``np.einsum``: diagonals and lone indices reduced first, then pairwise
    contractions, each one matmul (transposes and reshapes around it; a broadcast multiply
    when nothing is contracted), in the order ``np.einsum_path`` finds ("greedy", or
    "optimal" if asked; whatever ``optimize`` says, since the order changes the cost of
    the derivative too, not the result). Ellipses, implicit output, broadcasting of
    size-1 axes and the interleaved operand form are accepted."""
    _dtype_ok("np.einsum", dtype)
    if operands and not isinstance(operands[0], str):  # einsum(a, [0, 1], b, [1, 2], [0, 2])
        subscripts, operands = _interleaved(operands)
    else:
        subscripts, operands = operands[0], operands[1:]
    if not traced(*operands):
        return np.einsum(subscripts, *operands, optimize=optimize, **kwargs)
    shapes = [shape_of(x) for x in operands]
    ins, outs = _einsum_specs(subscripts, shapes)
    size: dict[str, int] = {}
    for spec, shape in zip(ins, shapes):
        for c, d in zip(spec, shape):
            if size.get(c, 1) not in (1, d) and d != 1:
                raise ShapeError(f"einsum: index '{c}' has sizes {size[c]} and {d}")
            size[c] = builtins.max(size.get(c, 1), d)
    ops = []  # broadcast size-1 axes where another operand has the full size
    for x, spec, shape in zip(operands, ins, shapes):
        full = tuple(size[c] for c in spec)
        ops.append((broadcast_to(x, full) if full != shape else x, spec))
    if len(ops) == 1:
        x, spec = _einsum_reduce(ops[0][0], ops[0][1], set(outs))
        return _finish("np.einsum", _permute(x, spec, outs), out)
    if len(ops) == 2:
        path = [(0, 1)]
    else:  # the cheapest order by NumPy's path search: it changes the cost, not the result
        how = optimize if optimize in ("greedy", "optimal") else "greedy"
        dummies = [np.empty(tuple(size[c] for c in s)) for _, s in ops]
        spec = ",".join(s for _, s in ops) + "->" + outs
        path = np.einsum_path(spec, *dummies, optimize=how)[0][1:]
    for pair in path:
        i, j = sorted(pair)
        (b, sb), (a, sa) = ops.pop(j), ops.pop(i)
        keep = set(outs).union(*[set(s) for _, s in ops])
        ops.append(_einsum_pair(a, sa, b, sb, keep, size))
    x, spec = _einsum_reduce(ops[0][0], ops[0][1], set(outs))
    return _finish("np.einsum", _permute(x, spec, outs), out)


def _interleaved(args: Sequence[Any]) -> tuple[str, list[Any]]:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def spec(sub: Any) -> str:
        return "".join("..." if s is Ellipsis else letters[int(s)] for s in sub)

    ops, specs = list(args[0::2]), [spec(s) for s in args[1::2]]
    if len(args) % 2 == 1:  # a trailing output sublist
        out = spec(args[-1])
        ops = ops[:-1]
        return ",".join(specs) + "->" + out, ops
    return ",".join(specs), ops


def tensordot(a, b, axes=2):
    """``np.tensordot`` (an einsum: one matmul)."""
    if not traced(a, b):
        return np.tensordot(a, b, axes)
    na, nb = len(shape_of(a)), len(shape_of(b))
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - int(axes), na)), list(range(int(axes)))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    ax_a, ax_b = [int(x) % na for x in ax_a], [int(x) % nb for x in ax_b]
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in ax_a] + [
        c for j, c in enumerate(sb) if j not in ax_b
    ]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def kron(a, b):
    """``np.kron``: interleaved outer product, one multiply and two reshapes."""
    if not traced(a, b):
        return np.kron(a, b)
    sa, sb = shape_of(a), shape_of(b)
    nd = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    ra = reshape(a, tuple(d for p in zip(sa, (1,) * nd) for d in p))
    rb = reshape(b, tuple(d for p in zip((1,) * nd, sb) for d in p))
    return reshape(multiply(ra, rb), tuple(x * y for x, y in zip(sa, sb)))


def vdot(a, b):
    """``np.vdot``: the dot product of the flattened arrays (real)."""
    if not traced(a, b):
        return np.vdot(a, b)
    return _la.matmul(ravel(a), ravel(b))


def inner(a, b):
    """``np.inner``: a sum over the last axes (a tensordot)."""
    if not traced(a, b):
        return np.inner(a, b)
    if len(shape_of(a)) == 0 or len(shape_of(b)) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


def dot(a, b, out=None):
    """``np.dot``: products of 0-d, 1-d, 2-d operands, and n-d (a tensordot over a's last
    axis and b's second-to-last)."""
    if not traced(a, b):
        return np.dot(a, b)
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 0 or nb == 0:
        y = multiply(a, b)
    elif na <= 2 and nb <= 2:
        y = _la.matmul(a, b)
    else:
        y = tensordot(a, b, axes=([-1], [builtins.max(nb - 2, 0)]))
    return _finish("np.dot", y, out)


def vecdot(x1, x2, /, *, axis=-1, **kwargs):
    """``np.vecdot`` / ``np.linalg.vecdot``: sum(x1 * x2) along ``axis``."""
    if not traced(x1, x2):
        return np.sum(np.multiply(x1, x2), axis=axis)
    return _sum(multiply(x1, x2), axis=axis)


def matvec(x1, x2, /, **kwargs):
    """``np.matvec`` (NumPy >= 2.2): matrix times vector over the last axes."""
    y = _la.matmul(x1, reshape(x2, shape_of(x2) + (1,)))
    return reshape(y, shape_of(y)[:-1])


def vecmat(x1, x2, /, **kwargs):
    """``np.vecmat`` (NumPy >= 2.2): vector times matrix over the last axes."""
    y = _la.matmul(reshape(x1, shape_of(x1)[:-1] + (1, shape_of(x1)[-1])), x2)
    return reshape(y, shape_of(y)[:-2] + (shape_of(y)[-1],))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross`` of 3-vectors (and 2-vectors, whose cross product is the z entry)."""
    if not traced(a, b):
        return np.cross(a, b, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"np.cross: vectors of length {na} and {nb} (2 or 3 needed)")

    def comp(x: Any, i: int, n: int) -> Any:
        return getitem(x, (Ellipsis, i)) if i < n else 0.0

    a0, a1, a2 = (comp(a, i, na) for i in range(3))
    b0, b1, b2 = (comp(b, i, nb) for i in range(3))
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z], axis=-1)
    return moveaxis(c, -1, axisc)


# ----------------------------------------------------------------------------------
# Linear algebra composites
# ----------------------------------------------------------------------------------


def matrix_power(a, n):
    """``np.linalg.matrix_power``: repeated squaring with matmul (inv first for n < 0)."""
    if not traced(a):
        return np.linalg.matrix_power(a, n)
    n = int(n)
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"matrix_power needs square matrices, got shape {shape}")
    if n == 0:
        return constant_like(a, np.broadcast_to(np.eye(shape[-1]), shape).copy())
    if n < 0:
        a, n = _la.inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else _la.matmul(result, base)
        n >>= 1
        if n:
            base = _la.matmul(base, base)
    return result


def multi_dot(arrays: Sequence[Any], *, out: Any = None) -> Any:
    """``np.linalg.multi_dot``: the matrix chain in the cheapest order (dynamic
    programming over the shapes), one matmul per product."""
    arrays = list(arrays)
    if not traced(*arrays):
        return np.linalg.multi_dot(arrays)
    first_vec, last_vec = len(shape_of(arrays[0])) == 1, len(shape_of(arrays[-1])) == 1
    if first_vec:
        arrays[0] = reshape(arrays[0], (1, -1))
    if last_vec:
        arrays[-1] = reshape(arrays[-1], (-1, 1))
    dims = [shape_of(arrays[0])[0]] + [shape_of(x)[1] for x in arrays]
    k = len(arrays)
    cost = np.zeros((k, k))
    split_at = np.zeros((k, k), dtype=np.int64)
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i, j] = np.inf
            for s in range(i, j):
                c = cost[i, s] + cost[s + 1, j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i, j]:
                    cost[i, j], split_at[i, j] = c, s

    def chain(i: int, j: int) -> Any:
        if i == j:
            return arrays[i]
        s = int(split_at[i, j])
        return _la.matmul(chain(i, s), chain(s + 1, j))

    y = chain(0, k - 1)
    if first_vec and last_vec:
        y = reshape(y, ())
    elif first_vec or last_vec:
        y = reshape(y, (-1,))
    return _finish("np.linalg.multi_dot", y, out)


def cond(x, p=None):
    """``np.linalg.cond``: s_max / s_min from the singular values (p None, 2, -2), or
    ||x||_p ||x^-1||_p."""
    if not traced(x):
        return np.linalg.cond(x, p)
    if p in (None, 2, -2):
        s = _la.svdvals(x)
        r = getitem(s, (Ellipsis, 0)) / getitem(s, (Ellipsis, -1))
        return r if p != -2 else 1.0 / r
    return norm(x, p, axis=(-2, -1)) * norm(_la.inv(x), p, axis=(-2, -1))


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """``np.linalg.matrix_rank``: an integer, a constant."""
    kw = {} if rtol is None else {"rtol": rtol}
    return np.linalg.matrix_rank(np.asarray(concrete(A)), tol, hermitian, **kw)


def _p_norm(x: Any, ord: Any, axis: Any, keepdims: bool) -> Any:
    """Vector p-norms of any order over ``axis`` (None: all entries)."""
    ax = _axis_arg(axis)
    if ord is None or ord == 2:
        return sqrt(_sum(multiply(x, x), axis=ax, keepdims=keepdims))
    if ord == np.inf:
        return _max(_abs(x), axis=ax, keepdims=keepdims)
    if ord == -np.inf:
        return _min(_abs(x), axis=ax, keepdims=keepdims)
    if ord == 0:  # the number of nonzero entries: a constant
        return np.sum(np.asarray(concrete(x)) != 0, axis=ax, keepdims=keepdims).astype(float)
    if ord == 1:
        return _sum(_abs(x), axis=ax, keepdims=keepdims)
    p = float(ord)
    return power(_sum(power(_abs(x), p), axis=ax, keepdims=keepdims), 1.0 / p)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    """``np.linalg.vector_norm``: (sum |x|^p)^(1/p) over ``axis`` (None: all entries),
    p = ord (2, 1, inf, -inf, 0, or any float)."""
    if not traced(x):
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    return _p_norm(x, ord, axis, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    """``np.linalg.matrix_norm`` over the last two axes (stacks allowed): 'fro', 'nuc',
    2, -2 (singular values), 1, -1, inf, -inf (column / row sums of |x|)."""
    if not traced(x):
        return np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    if ord in ("fro", None):
        y = sqrt(_sum(multiply(x, x), axis=(-2, -1)))
    elif ord == "nuc":
        y = _sum(_la.svdvals(x), axis=-1)
    elif ord in (2, -2):
        y = (_max if ord == 2 else _min)(_la.svdvals(x), axis=-1)
    elif ord in (1, -1):
        y = (_max if ord == 1 else _min)(_sum(_abs(x), axis=-2), axis=-1)
    elif ord in (np.inf, -np.inf):
        y = (_max if ord == np.inf else _min)(_sum(_abs(x), axis=-1), axis=-1)
    else:
        raise UnsupportedArgumentError(f"np.linalg.matrix_norm(ord={ord!r}): invalid order")
    return reshape(y, shape_of(y) + (1, 1)) if keepdims else y


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """``np.linalg.norm``: vector norms of any order p (``(sum |x|^p)^(1/p)``, and 0,
    inf, -inf) and the matrix norms of :func:`matrix_norm` (over ``axis``, a pair)."""
    if not traced(x):
        return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    nd = len(shape_of(x))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    if axis is None and ord is None:
        return _p_norm(ravel(x) if not keepdims else x, 2, None, keepdims)
    if axis is None:
        axis = tuple(range(nd))
    axis = tuple(int(a) % nd for a in axis)
    if len(axis) == 1:
        return _p_norm(x, ord, axis, keepdims)
    if len(axis) != 2:
        raise UnsupportedArgumentError(f"np.linalg.norm(axis={axis}): one or two axes")
    if ord not in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        raise UnsupportedArgumentError(
            f"np.linalg.norm(ord={ord!r}) of a matrix: ord is one of None, 'fro', 'nuc', "
            "1, -1, 2, -2, inf, -inf"
        )
    moved = moveaxis(x, axis, (-2, -1))
    y = matrix_norm(moved, ord="fro" if ord is None else ord)
    if keepdims:
        y = reshape(y, tuple(1 if i in axis else d for i, d in enumerate(shape_of(x))))
    return y


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``np.cov``: (X - mean)(X - mean)^T / (N - ddof)."""
    _dtype_ok("np.cov", dtype)
    if not traced(m, y):
        return np.cov(m, y, rowvar, bias, ddof, fweights, aweights)
    if fweights is not None or aweights is not None:
        raise UnsupportedArgumentError("np.cov(..., fweights=/aweights=) is not traced")
    x = reshape(m, (1, -1)) if len(shape_of(m)) == 1 else m
    if not rowvar and len(shape_of(m)) > 1:
        x = transpose(x)
    if y is not None:
        yy = reshape(y, (1, -1)) if len(shape_of(y)) == 1 else y
        if not rowvar and len(shape_of(y)) > 1:
            yy = transpose(yy)
        x = concatenate([x, yy], axis=0)
    n = shape_of(x)[1]
    ddof = (0 if bias else 1) if ddof is None else ddof
    xc = subtract(x, _sum(x, axis=1, keepdims=True) * (1.0 / n))
    c = _la.matmul(xc, transpose(xc)) * (1.0 / (n - ddof))
    return reshape(c, ()) if shape_of(c) == (1, 1) else c


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: cov / (std_i std_j)."""
    if not traced(x, y):
        return np.corrcoef(x, y, rowvar)
    c = cov(x, y, rowvar, dtype=dtype)
    if len(shape_of(c)) == 0:
        return c / c
    d = sqrt(diagonal(c))
    return c / _la.outer(d, d)


def eig_error(*args: Any, **kwargs: Any) -> Any:
    """``np.linalg.eig`` / ``eigvals``: not supported (complex results); a clear error."""
    raise UnsupportedOperationError(
        "numpy.linalg.eig/eigvals (complex eigenvalues; ad differentiates real float64 "
        "only: for a symmetric matrix use np.linalg.eigh / eigvalsh)"
    )


eig_error.unsupported = True  # listed as not supported in docs/numpy.md


# ----------------------------------------------------------------------------------
# In-place updates
# ----------------------------------------------------------------------------------


def setitem(x: Any, idx: Any, value: Any) -> Any:
    """The array ``x`` with ``x[idx] = value`` (NumPy's broadcasting and last-write-wins
    for repeated indices), as a new array: one gather reading x and value, so the
    derivative flows to the value where it was written and to x elsewhere. The
    ``Tracer.__setitem__`` operator rebinds x to it."""
    idx = _concrete_index(idx)
    if not traced(x, value):
        y = np.array(x, dtype=np.float64)
        y[idx] = value
        return y

    def op(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a.copy()
        out[idx] = b
        return out

    if not traced(value):
        value = np.asarray(value, dtype=np.float64)
    return gather(x, value, idx=index_map(op, shape_of(x), shape_of(value)), label="setitem")


def add_at(x: Any, idx: Any, value: Any) -> Any:
    """x with ``value`` added at ``idx``, repeated indices accumulating (``np.add.at``):
    a scatter_add of the broadcast value."""
    idx = _concrete_index(idx)
    shape = shape_of(x)
    cells = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)[idx]
    v = broadcast_to(value, cells.shape) if traced(value) else np.broadcast_to(value, cells.shape)
    return add(x, scatter_add(v, idx=cells, out_shape=shape))


def _at_method(ufunc: Any, args: Sequence[Any]) -> None:
    target, idx = args[0], args[1]
    value = args[2] if len(args) > 2 else None
    name = ufunc.__name__
    if name not in ("add", "subtract") or value is None:
        raise UnsupportedOperationError(f"numpy.{name}.at (only add.at and subtract.at)")
    if not isinstance(target, Tracer):
        raise UnsupportedArgumentError(
            f"np.{name}.at(buf, idx, value) with buf a NumPy array: NumPy would write a traced "
            "value into it, which cannot be intercepted. Make buf a traced array, "
            f"buf = np.zeros_like(x), then np.{name}.at(buf, idx, value) (or buf[idx] += value)"
        )
    if name == "subtract":
        value = negative(value)
    target._rebind(add_at(target, idx, value))


def copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    """``np.copyto`` into a traced array (rebinds it); into a NumPy array it raises."""
    if not isinstance(dst, Tracer):
        raise UnsupportedArgumentError(
            "np.copyto(dst, value) (also called by np.full(shape, value)) writes a traced "
            "value into a NumPy array, which cannot hold it: use np.broadcast_to(value, "
            "shape), or np.full_like(x, c) / np.zeros_like(x) for a traced buffer"
        )
    m = _mask(where)
    new = broadcast_to(src, shape_of(dst)) if traced(src) else np.broadcast_to(src, shape_of(dst))
    dst._rebind(_as_traced(new if m is True else select(m, new, dst), dst))


def put(a: Any, ind: Any, v: Any, mode: str = "raise") -> None:
    """``np.put`` / ``a.put``: a flat update of a traced array (rebinds it)."""
    if not isinstance(a, Tracer):
        raise UnsupportedArgumentError(
            "np.put(a, ind, v) into a NumPy array cannot hold a traced value: make a a traced "
            "array (np.zeros_like(x))"
        )
    shape = shape_of(a)
    ind = np.asarray(concrete(ind))
    vv = ravel(v) if traced(v) else np.ravel(v)

    def op(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        out = x.copy()
        np.put(out, ind, w, mode=mode)
        return out

    new = gather(a, vv, idx=index_map(op, shape, shape_of(vv)), label="put")
    a._rebind(new)


def fill_diagonal(a: Any, val: Any, wrap: bool = False) -> None:
    """``np.fill_diagonal`` of a traced array (rebinds it)."""
    if not isinstance(a, Tracer):
        raise UnsupportedArgumentError(
            "np.fill_diagonal(a, value) into a NumPy array cannot hold a traced value: make a "
            "a traced array (np.zeros_like(x))"
        )

    def op(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        out = x.copy()
        np.fill_diagonal(out, w, wrap=wrap)
        return out

    vv = val if traced(val) else np.asarray(val, dtype=np.float64)
    a._rebind(gather(a, vv, idx=index_map(op, shape_of(a), shape_of(vv)), label="setitem"))


# ----------------------------------------------------------------------------------
# Ufunc dispatch: __call__, reduce, accumulate, outer, at; out= and where=
# ----------------------------------------------------------------------------------

_IGNORED_UFUNC_KW = {"casting": "same_kind", "order": "K", "subok": True}


def dispatch_ufunc(
    table: dict[Any, Any], ufunc: Any, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]
) -> Any:
    """``Tracer.__array_ufunc__``: run the traced implementation of ``ufunc.method``."""
    kwargs = dict(kwargs)
    name = ufunc.__name__
    out = kwargs.pop("out", None)
    where = kwargs.pop("where", True)
    _dtype_ok(f"np.{name}", kwargs.pop("dtype", None))
    for k, default in _IGNORED_UFUNC_KW.items():
        if k in kwargs and kwargs.pop(k) not in (default, None):
            raise UnsupportedArgumentError(f"np.{name}(..., {k}=) is not traced")
    if "signature" in kwargs:
        raise UnsupportedArgumentError(f"np.{name}(..., signature=) is not traced")
    if method == "at":
        return _at_method(ufunc, inputs)
    fn = table.get(ufunc)
    if method == "__call__":
        if fn is None:
            raise UnsupportedOperationError("numpy." + name)
        result = fn(*inputs, **kwargs)
    elif method == "reduce" and ufunc in REDUCE:
        axis = kwargs.pop("axis", 0)
        result = REDUCE[ufunc](inputs[0], axis=axis, **kwargs)
    elif method == "accumulate" and ufunc in ACCUMULATE:
        result = ACCUMULATE[ufunc](inputs[0], axis=kwargs.pop("axis", 0))
    elif method == "outer" and fn is not None and ufunc.nin == 2:
        a, b = inputs
        sa, sb = np.shape(concrete(a)), np.shape(concrete(b))
        a2 = reshape(a, sa + (1,) * len(sb)) if traced(a) else np.reshape(a, sa + (1,) * len(sb))
        result = fn(a2, b)
    else:
        raise UnsupportedOperationError(f"numpy.{name}.{method}")
    if isinstance(out, tuple) and all(o is None for o in out):
        out = None
    if out is not None:
        o = out[0] if isinstance(out, tuple) else out
        if isinstance(o, Tracer):
            m = _mask(where)
            return o._rebind(_as_traced(result if m is True else select(m, result, o), o))
        if any(o is x for x in inputs):
            raise UnsupportedArgumentError(
                f"an in-place operator on a NumPy array with a traced operand (np.{name} with "
                "out= the array itself, as in buf += x or buf *= x): the NumPy array cannot "
                "hold a traced value. Write buf = buf + x, or create buf from a traced array "
                "(buf = np.zeros_like(x), x.copy())"
            )
        return _finish(f"np.{name}", result, out)
    if _mask(where) is not True:
        raise UnsupportedArgumentError(
            f"np.{name}(..., where=mask) without out=: NumPy leaves the masked-out entries "
            f"uninitialised. Write np.where(mask, np.{name}(...), default), or pass out= a "
            "traced array (np.zeros_like(x)) to keep its entries there"
        )
    return result


def dispatch_function(
    table: dict[Any, Any], func: Any, args: Sequence[Any], kwargs: dict[str, Any]
) -> Any:
    """``Tracer.__array_function__``: run the traced implementation of ``func``."""
    fn = table.get(func)
    if fn is None:
        mod = func.__module__ or "numpy"
        raise UnsupportedOperationError(f"{mod}.{func.__name__}")
    return fn(*args, **kwargs)


# ----------------------------------------------------------------------------------
# SciPy spellings (SciPy converts its arguments to NumPy arrays, so it is not traced)
# ----------------------------------------------------------------------------------

_SCIPY = {
    "logsumexp": "ad.numpy.logsumexp(x, axis=...)",
    "softmax": "ad.numpy.softmax(x, axis=...)",
    "log_softmax": "ad.numpy.log_softmax(x, axis=...)",
    "expit": "ad.numpy.expit(x) (1 / (1 + np.exp(-x)))",
    "logit": "np.log(p / (1 - p))",
    "xlogy": "x * np.log(y)",
}


def scipy_spelling(qualname: str) -> str:
    """The traced spelling of a SciPy function (by its last name), or a general hint."""
    return _SCIPY.get(qualname.rsplit(".", 1)[-1], "NumPy functions on the traced array")


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis`` (gradient softmax-based, stable)."""
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))


def expit(x: Any) -> Any:
    """The logistic sigmoid 1 / (1 + exp(-x)), as exp(-logaddexp(0, -x)) (stable)."""
    return exp(negative(logaddexp(0.0, negative(x))))


# ----------------------------------------------------------------------------------
# Tracer methods (ndarray's), attached to ad.trace.Tracer by ad/numpy.py
# ----------------------------------------------------------------------------------


def _concrete_method(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(np.asarray(concrete(self)), name)(
            *[concrete(a) for a in args], **{k: concrete(v) for k, v in kwargs.items()}
        )

    method.__name__ = name
    method.__doc__ = f"``ndarray.{name}`` on the values (no derivative: a constant result)."
    return method


def _tolist(self: Any) -> Any:
    """A nested list of 0-d traced values (not Python floats, which would drop the
    derivative): ``a, b = x.tolist()`` and ``sum(x.tolist())`` differentiate."""
    if len(self.shape) == 0:
        return self
    return [_tolist(getitem(self, i)) for i in range(self.shape[0])]


def _item(self: Any, *args: Any) -> Any:
    """The entry as a 0-d traced value (a Python float would drop the derivative)."""
    if not args:
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return reshape(self, ())
    if len(args) == 1 and isinstance(args[0], (int, np.integer)):
        return getitem(ravel(self), int(args[0]))
    return getitem(self, tuple(args) if len(args) > 1 else args[0])


def _sort_method(
    self: Any, axis: int = -1, kind: Any = None, order: Any = None, *, stable: Any = None
) -> None:
    """``x.sort()`` sorts in place: the tracer is rebound to the sorted array."""
    self._rebind(sort(self, axis, kind, order))


def _fill(self: Any, value: Any) -> None:
    """``x.fill(c)``: the tracer is rebound to a constant (or a broadcast traced value)."""
    new = broadcast_to(value, self.shape) if traced(value) else np.full(self.shape, float(value))
    self._rebind(_as_traced(new, self))


def _astype(
    self: Any,
    dtype: Any,
    order: str = "K",
    casting: str = "unsafe",
    subok: bool = True,
    copy: bool = True,
) -> Any:
    if np.dtype(dtype) != np.float64:
        raise TracerError(f"astype({dtype}) of a traced value; ad traces float64 only")
    return self.copy() if copy else self


def _resize_method(self: Any, *new_shape: Any, refcheck: bool = True) -> None:
    """``x.resize(shape)`` in place: NumPy's method fills new entries with zeros (unlike
    ``np.resize``, which repeats); the tracer is rebound to the resized array."""
    if len(new_shape) == 1 and isinstance(new_shape[0], (tuple, list)):
        new_shape = tuple(new_shape[0])
    size = int(np.prod(new_shape, dtype=np.int64))

    def op(i: np.ndarray) -> np.ndarray:
        flat = np.zeros(size, dtype=np.int64)
        k = builtins.min(size, i.size)
        flat[:k] = i.ravel()[:k]
        return flat.reshape(new_shape)

    self._rebind(_structural("resize", op, self), same_shape=False)


def _view(self: Any, dtype: Any = None, type: Any = None) -> Any:  # noqa: A002
    """``x.view()``: the same array (writes through it update x, as NumPy's view)."""
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TracerError(f"view({dtype}) of a traced value; ad traces float64 only")
    return self


def _method(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda self, *args, **kwargs: fn(self, *args, **kwargs)


METHODS: dict[str, Any] = {
    "sum": _method(sum),
    "mean": _method(mean),
    "prod": _method(prod),
    "max": _method(max),
    "min": _method(min),
    "var": _method(var),
    "std": _method(std),
    "clip": _method(clip),
    "cumsum": _method(cumsum),
    "cumprod": _method(cumprod),
    "round": _method(round_),
    "trace": lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None: _sum(
        diagonal(self, offset, axis1, axis2), axis=-1
    ),
    "diagonal": lambda self, offset=0, axis1=0, axis2=1: diagonal(self, offset, axis1, axis2),
    "repeat": lambda self, repeats, axis=None: _moves("repeat", np.repeat)(self, repeats, axis),
    "take": _method(take),
    "swapaxes": lambda self, a1, a2: _moves("swapaxes", np.swapaxes)(self, a1, a2),
    "flatten": lambda self, order="C": ravel(self) if len(self.shape) != 1 else self.copy(),
    "conj": lambda self: self.copy(),
    "conjugate": lambda self: self.copy(),
    "astype": _astype,
    "tolist": _tolist,
    "item": _item,
    "sort": _sort_method,
    "fill": _fill,
    "put": lambda self, ind, v, mode="raise": put(self, ind, v, mode),
    "compress": lambda self, condition, axis=None, out=None: compress(condition, self, axis, out),
    "choose": lambda self, choices, out=None, mode="raise": choose(
        np.asarray(concrete(self)).astype(np.int64), choices, out, mode
    ),
    "resize": _resize_method,
    "view": _view,
    "to_device": lambda self, device, /, *, stream=None: self,
    "device": property(lambda self: "cpu"),
    "nonzero": _concrete_method("nonzero"),
    "argmax": _concrete_method("argmax"),
    "argmin": _concrete_method("argmin"),
    "argsort": _concrete_method("argsort"),
    "argpartition": _concrete_method("argpartition"),
    "searchsorted": _concrete_method("searchsorted"),
    "any": _concrete_method("any"),
    "all": _concrete_method("all"),
    "__pos__": lambda self: self.copy(),
    "__contains__": lambda self, v: bool(np.any(np.asarray(concrete(self)) == concrete(v))),
    "real": property(lambda self: self.copy()),
    "imag": property(lambda self: constant_like(self, np.zeros(self.shape))),
    "mT": property(lambda self: _moves("matrix_transpose", lambda a: np.swapaxes(a, -1, -2))(self)),
    "nbytes": property(lambda self: 8 * self.size),
    "itemsize": property(lambda self: 8),
}


# ----------------------------------------------------------------------------------
# Tables merged into ad/numpy.py's
# ----------------------------------------------------------------------------------


def _concrete_ufunc(u: Any) -> Callable[..., Any]:
    """``u`` on the values of its arguments (nested lists and tuples too): a constant."""

    def deep(x: Any) -> Any:
        return type(x)(deep(v) for v in x) if isinstance(x, (list, tuple)) else concrete(x)

    fn = lambda *xs, **kw: u(*[deep(x) for x in xs], **{k: deep(v) for k, v in kw.items()})
    fn.__name__ = u.__name__
    return fn


UFUNCS: dict[Any, Any] = {
    np.log2: log2,
    np.log10: log10,
    np.exp2: exp2,
    np.reciprocal: reciprocal,
    np.cbrt: cbrt,
    np.deg2rad: deg2rad,
    np.radians: deg2rad,
    np.rad2deg: rad2deg,
    np.degrees: rad2deg,
    np.logaddexp: logaddexp,
    np.logaddexp2: logaddexp2,
    np.hypot: hypot,
    np.arctan2: arctan2,
    np.arcsinh: arcsinh,
    np.arccosh: arccosh,
    np.arctanh: arctanh,
    np.remainder: remainder,
    np.fmod: fmod,
    np.divmod: divmod_,
    np.modf: modf,
    np.fmax: fmax,
    np.fmin: fmin,
    np.float_power: power,
    np.copysign: copysign,
    np.positive: copy,
    np.conjugate: real,
    np.floor_divide: floor_divide,
    np.heaviside: heaviside,
    np.vecdot: vecdot,
}
if hasattr(np, "matvec"):  # NumPy >= 2.2
    UFUNCS[np.matvec] = matvec
    UFUNCS[np.vecmat] = vecmat
for _u in (np.trunc, np.logical_and, np.logical_or, np.logical_xor, np.logical_not):
    UFUNCS[_u] = _concrete_ufunc(_u)

REDUCE: dict[Any, Any] = {
    np.add: lambda x, axis=0, keepdims=False, initial=None, where=True, **k: sum(
        x, axis, keepdims=keepdims, initial=initial, where=where
    ),
    np.multiply: lambda x, axis=0, keepdims=False, initial=None, where=True, **k: prod(
        x, axis, keepdims=keepdims, initial=initial, where=where
    ),
    np.maximum: lambda x, axis=0, keepdims=False, initial=None, where=True, **k: max(
        x, axis, keepdims=keepdims, initial=initial, where=where
    ),
    np.minimum: lambda x, axis=0, keepdims=False, initial=None, where=True, **k: min(
        x, axis, keepdims=keepdims, initial=initial, where=where
    ),
    np.logaddexp: lambda x, axis=0, keepdims=False, **k: logsumexp(x, axis, keepdims),
}
ACCUMULATE: dict[Any, Any] = {
    np.add: lambda x, axis=0: cumsum(x, axis),
    np.multiply: lambda x, axis=0: cumprod(x, axis),
    np.maximum: lambda x, axis=0: _running_extreme(x, axis, np.maximum),
    np.minimum: lambda x, axis=0: _running_extreme(x, axis, np.minimum),
}

FUNCTIONS: dict[Any, Any] = {
    np.sum: sum,
    np.mean: mean,
    np.prod: prod,
    np.max: max,
    np.amax: max,
    np.min: min,
    np.amin: min,
    np.ptp: ptp,
    np.var: var,
    np.std: std,
    np.average: average,
    np.nansum: nansum,
    np.nanmean: nanmean,
    np.nanvar: nanvar,
    np.nanstd: nanstd,
    np.nanmax: nanmax,
    np.nanmin: nanmin,
    np.nanprod: nanprod,
    np.median: median,
    np.quantile: quantile,
    np.percentile: percentile,
    np.sort: sort,
    np.unique: unique,
    np.cumsum: cumsum,
    np.cumprod: cumprod,
    np.diff: diff,
    np.ediff1d: ediff1d,
    np.gradient: gradient,
    np.round: round_,
    np.around: round_,
    np.fix: fix,
    np.sinc: sinc,
    np.nan_to_num: nan_to_num,
    np.real: real,
    np.imag: imag,
    np.conj: real,
    np.angle: angle,
    np.real_if_close: lambda a, tol=100: copy(a),
    np.iscomplexobj: lambda x: False,
    np.isrealobj: lambda x: True,
    np.roll: roll,
    np.rot90: rot90,
    np.fliplr: fliplr,
    np.flipud: flipud,
    np.rollaxis: rollaxis,
    np.diagflat: diagflat,
    np.resize: resize,
    np.delete: delete,
    np.insert: insert,
    np.append: append,
    np.take: take,
    np.take_along_axis: take_along_axis,
    np.permute_dims: permute_dims,
    np.matrix_transpose: matrix_transpose,
    np.reshape: reshape_,
    np.split: split,
    np.array_split: array_split,
    np.hsplit: hsplit,
    np.vsplit: vsplit,
    np.dsplit: dsplit,
    np.atleast_1d: atleast_1d,
    np.atleast_2d: atleast_2d,
    np.atleast_3d: atleast_3d,
    np.column_stack: column_stack,
    np.dstack: dstack,
    np.block: block,
    np.broadcast_arrays: broadcast_arrays,
    np.meshgrid: meshgrid,
    np.pad: pad,
    np.clip: clip,
    np.copy: copy,
    np.zeros_like: zeros_like,
    np.ones_like: ones_like,
    np.full_like: full_like,
    np.empty_like: empty_like,
    np.select: select_,
    np.bincount: bincount,
    np.linspace: linspace,
    np.interp: interp,
    np.polyval: polyval,
    np.convolve: convolve,
    np.correlate: correlate,
    np.einsum: einsum,
    np.tensordot: tensordot,
    np.kron: kron,
    np.vdot: vdot,
    np.inner: inner,
    np.dot: dot,
    np.cross: cross,
    np.cov: cov,
    np.corrcoef: corrcoef,
    np.copyto: copyto,
    np.put: put,
    np.fill_diagonal: fill_diagonal,
    np.linalg.qr: _la.qr,
    np.linalg.pinv: _la.pinv,
    np.linalg.lstsq: _la.lstsq,
    np.linalg.matrix_power: matrix_power,
    np.linalg.multi_dot: multi_dot,
    np.linalg.cond: cond,
    np.linalg.matrix_rank: matrix_rank,
    np.linalg.norm: norm,
    np.linalg.vector_norm: vector_norm,
    np.linalg.matrix_norm: matrix_norm,
    np.linalg.cross: cross,
    np.linalg.outer: _la.outer,
    np.linalg.matrix_transpose: matrix_transpose,
    np.linalg.tensordot: tensordot,
    np.linalg.vecdot: vecdot,
    np.linalg.matmul: _la.matmul,
    np.linalg.eig: eig_error,
    np.linalg.eigvals: eig_error,
}
for _name in ("trapezoid", "cumulative_sum", "cumulative_prod", "unstack", "concat"):
    if hasattr(np, _name) and _name in globals():
        FUNCTIONS[getattr(np, _name)] = globals()[_name]
if hasattr(np, "trapezoid"):
    FUNCTIONS[np.trapezoid] = trapezoid
FUNCTIONS.update(
    {
        np.nancumsum: nancumsum,
        np.nancumprod: nancumprod,
        np.extract: extract,
        np.compress: compress,
        np.choose: choose,
        np.trim_zeros: trim_zeros,
        np.unwrap: unwrap,
        np.vander: vander,
        np.polyfit: polyfit,
        np.polyder: polyder,
        np.polymul: polymul,
        np.polyadd: polyadd,
        np.polysub: polysub,
        np.logspace: logspace,
        np.apply_along_axis: apply_along_axis,
        np.piecewise: piecewise,
        np.histogram: histogram,
        np.may_share_memory: lambda a, b, max_work=None: a is b,
        np.shares_memory: lambda a, b, max_work=None: a is b,
    }
)
if hasattr(np, "astype"):  # NumPy >= 2.1
    FUNCTIONS[np.astype] = lambda x, dtype, /, *, copy=True, device=None: _astype(
        x, dtype, copy=copy
    )
if hasattr(np, "unique_values"):
    FUNCTIONS[np.unique_values] = unique_values
UFUNCS[np.ldexp] = ldexp
UFUNCS[np.frexp] = frexp
for _u in (np.spacing, np.nextafter, np.gcd, np.lcm):
    UFUNCS[_u] = _concrete_ufunc(_u)
for _f in (
    np.argwhere,
    np.flatnonzero,
    np.count_nonzero,
    np.searchsorted,
    np.array_equal,
    np.array_equiv,
    np.digitize,
    np.isreal,
    np.iscomplex,
    np.nonzero,
    np.argpartition,
    np.isin,
    np.isneginf,
    np.isposinf,
    np.nanargmax,
    np.nanargmin,
    np.lexsort,
    np.unravel_index,
    np.ravel_multi_index,
    np.ix_,
    np.histogram_bin_edges,
):
    FUNCTIONS[_f] = _concrete_ufunc(_f)
if hasattr(np.linalg, "trace"):
    FUNCTIONS[np.linalg.trace] = lambda x, /, *, offset=0, dtype=None: _sum(
        diagonal(x, offset, -2, -1), axis=-1
    )
    FUNCTIONS[np.linalg.diagonal] = lambda x, /, *, offset=0: diagonal(x, offset, -2, -1)

#: np.linalg names this module adds to ad.numpy.linalg
LINALG: dict[str, Any] = {
    "qr": _la.qr,
    "pinv": _la.pinv,
    "lstsq": _la.lstsq,
    "matrix_power": matrix_power,
    "multi_dot": multi_dot,
    "cond": cond,
    "matrix_rank": matrix_rank,
    "norm": norm,
    "vector_norm": vector_norm,
    "matrix_norm": matrix_norm,
    "cross": cross,
    "outer": _la.outer,
    "matrix_transpose": matrix_transpose,
    "tensordot": tensordot,
    "vecdot": vecdot,
    "matmul": _la.matmul,
}
