"""More of NumPy on tracers: composites, structural functions, in-place updates, methods.

Everything here is built from the primitives (``ad/primitives/``) and the core of
``ad/numpy.py`` (its reductions, products, norms and argument conventions, imported
from it: each NumPy function has one implementation), so it traces, and its derivative
is the chain rule through what it records. ``ad/numpy.py`` merges the tables at the
bottom (``UFUNCS``, ``FUNCTIONS``, ``METHODS``) into its own, and refuses a function
implemented in both; so ``np.var(x)``, ``x.std()``, ``np.einsum(...)`` on a tracer
dispatch here. Each function has NumPy's signature (the conformance test compares
them) and says how it is traced:

- composite: a few primitives (``var``: mean, sub, square, sum; ``logaddexp``: select,
  exp, log1p; ``einsum``: transposes, reshapes and matmuls in a contraction order);
- structural: one ``gather`` whose index map is the NumPy function applied to an array
  of indices (:func:`_moves`: ``roll``, ``split``, ``take``, ``block``, ...), so NumPy
  itself checks the other arguments and decides every shape;
- concrete: a piecewise-constant function (``round``, ``floor_divide``, ``argmax``)
  evaluated by NumPy on the values; its derivative is zero wherever it exists (as in JAX).

Keywords follow ``ad/numpy.py``'s conventions: NumPy's defaults (``np._NoValue``),
``out=`` a traced array updated in place, ``dtype=`` float64 only; an argument ad cannot
follow raises :class:`ad.errors.UnsupportedArgumentError` naming it, and a wrong one
NumPy's own error.

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
import inspect
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ad import numpy as _np  # the core (partly initialised: only what it defines first)
from ad.errors import ShapeError, TracerError, UnsupportedOperationError
from ad.numpy import (
    _casting,
    _count,
    _deep_concrete,
    _empty_slice_warning,
    _finish,
    _flag,
    _float64,
    _mask,
    _NoValue,
    _order,
    _signature_of,
    _unsupported,
    concrete_fn,
    constant_like,
    copy,
    max,
    mean,
    min,
    norm,
    prod,
    sum,
)
from ad.numpy import pad as _pad
from ad.primitives import linalg as _la
from ad.primitives.cumulative import cumsum as _cumsum
from ad.primitives.elementwise import (
    add,
    arctan2,
    divide,
    exp,
    log,
    log1p,
    logaddexp,
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
from ad.trace import Tracer, concrete, guard, shape_of

LN2 = math.log(2.0)
LN10 = math.log(10.0)


# ----------------------------------------------------------------------------------
# Elementwise composites (each with the derivative its formula gives)
# ----------------------------------------------------------------------------------


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


def _sign_or_one(x: Any) -> np.ndarray:
    return np.where(np.asarray(x) < 0, -1.0, 1.0)


def _sign_const(x: Any) -> np.ndarray:
    """+1 where x >= 0, -1 where x < 0: a constant, never 0 (unlike sign); a guard."""
    return guard(_sign_or_one, x)


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


def logaddexp2(a: Any, b: Any) -> Any:
    """``np.logaddexp2`` = log2(2^a + 2^b) = logaddexp(a ln 2, b ln 2) / ln 2."""
    if not traced(a, b):
        return np.logaddexp2(a, b)
    return logaddexp(multiply(a, LN2), multiply(b, LN2)) * (1.0 / LN2)


def _pow2_scale(a: Any, b: Any) -> np.ndarray:
    """The power of two at or above max(|a|, |b|) (1 where that is 0 or not finite)."""
    m = np.maximum(np.abs(a), np.abs(b))
    s = np.ldexp(1.0, np.frexp(m)[1])
    return np.where((m > 0) & np.isfinite(m), s, 1.0)


def hypot(a: Any, b: Any) -> Any:
    """``np.hypot`` = s sqrt((a/s)^2 + (b/s)^2) with s a constant power of two at the
    larger magnitude (no overflow, exact scaling; a guard on its exponent). The
    derivative is (a da + b db) / hypot, undefined at the origin."""
    if not traced(a, b):
        return np.hypot(a, b)
    s = guard(_pow2_scale, a, b)
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
    q = guard(np.floor_divide, x, y)  # a replay holds while the quotients are the same
    return x - q * y


def fmod(x: Any, y: Any) -> Any:
    """``np.fmod`` = x - trunc(x / y) y with the quotient a constant."""
    if not traced(x, y):
        return np.fmod(x, y)
    q = guard(_trunc_divide, x, y)
    return x - q * y


def _trunc_divide(x: Any, y: Any) -> np.ndarray:
    return np.trunc(np.asarray(x) / np.asarray(y))


#: ``x // y``: piecewise constant, so NumPy's on the values (zero derivative).
floor_divide = concrete_fn(np.floor_divide)


def divmod_(x: Any, y: Any) -> tuple[Any, Any]:
    """``divmod(x, y)`` / ``np.divmod``: (x // y, x % y)."""
    return floor_divide(x, y), remainder(x, y)


def _rounding(npfn: Any) -> Any:
    """``np.round`` / ``np.around`` / ``np.fix``: piecewise constant, so NumPy's on the
    values (zero derivative, as JAX); ``out=`` a traced array is updated."""
    sig = inspect.signature(npfn)

    def on_array(x: Any, *args: Any, **kwargs: Any) -> Any:
        return npfn(np.asarray(x), *args, **kwargs)

    on_array.__name__ = npfn.__name__
    of_values = concrete_fn(on_array)  # a guard: a replay holds while the result is equal

    def fn(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        out = bound.arguments.pop("out", None)
        return _finish(npfn.__name__, of_values(*bound.args, **bound.kwargs), out)

    fn.__doc__ = f"``numpy.{npfn.__name__}`` on the values (piecewise constant)."
    return _signature_of(npfn, fn)


round_ = _rounding(np.round)
around = _rounding(np.around)
fix = _rounding(np.fix)


def _trunc(x: Any) -> np.ndarray:
    return np.trunc(np.asarray(x, dtype=np.float64))


def modf(x: Any) -> tuple[Any, Any]:
    """``np.modf``: (x - trunc(x), trunc(x)); the fractional part has derivative 1."""
    t = guard(_trunc, x)
    return (subtract(x, t) if traced(x) else np.modf(x)[0]), t


def fmax(a: Any, b: Any) -> Any:
    """``np.fmax``: maximum that ignores NaN (select on the NaN masks)."""
    if not traced(a, b):
        return np.fmax(a, b)
    na, nb = guard(np.isnan, a), guard(np.isnan, b)
    return select(nb, a, select(na, b, maximum(a, b)))


def fmin(a: Any, b: Any) -> Any:
    """``np.fmin``: minimum that ignores NaN."""
    if not traced(a, b):
        return np.fmin(a, b)
    na, nb = guard(np.isnan, a), guard(np.isnan, b)
    return select(nb, a, select(na, b, minimum(a, b)))


def copysign(x: Any, y: Any) -> Any:
    """``np.copysign`` = x times a constant +-1: derivative +-1 in x, 0 in y."""
    if not traced(x, y):
        return np.copysign(x, y)
    if not traced(x):
        return np.copysign(x, concrete(y))  # a constant
    return x * guard(_flip, x, y)


def _flip(x: Any, y: Any) -> np.ndarray:
    """-1 where copysign changes the sign of x, else 1."""
    return np.where(np.signbit(x) != np.signbit(y), -1.0, 1.0)


def _is_zero(x: Any) -> np.ndarray:
    return np.asarray(x) == 0


def sinc(x: Any) -> Any:
    """``np.sinc`` = sin(pi x) / (pi x), 1 at 0 (derivative 0 there; the second
    derivative at exactly 0 is not given: the point is a select)."""
    if not traced(x):
        return np.sinc(x)
    zero = guard(_is_zero, x)
    xs = math.pi * select(zero, 1.0, x)
    return select(zero, 1.0, sin(xs) / xs)


def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    """``np.nan_to_num``: NaN and infinities replaced by constants (select)."""
    if not traced(x):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    kind = guard(_nonfinite_kind, x)  # 0 finite, 1 NaN, 2 +inf, 3 -inf
    fixed = np.nan_to_num(
        np.choose(kind, (0.0, np.nan, np.inf, -np.inf)),
        nan=concrete(nan),
        posinf=concrete(posinf),
        neginf=concrete(neginf),
    )
    y = select(kind == 0, x, fixed)
    return y if copy else x._rebind(y)  # copy=False: in place, as NumPy


def _nonfinite_kind(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return np.select([np.isnan(x), x == np.inf, x == -np.inf], [1, 2, 3], 0)


def real(val: Any) -> Any:
    """``np.real`` of a real array: a copy."""
    return copy(val)


def imag(val: Any) -> Any:
    """``np.imag`` of a real array: zeros (a traced constant)."""
    return constant_like(val, np.zeros(shape_of(val)))


def real_if_close(a: Any, tol: float = 100) -> Any:
    """``np.real_if_close`` of a real array: a copy."""
    return copy(a)


#: ``np.angle`` of a real array: 0 or pi, a constant.
angle = concrete_fn(np.angle)
#: ``np.heaviside``: a step, a constant.
heaviside = concrete_fn(np.heaviside)


# ----------------------------------------------------------------------------------
# Reductions beyond ad/numpy.py's (sum, prod, mean, max, min): NumPy's keywords
# ----------------------------------------------------------------------------------


def ptp(a: Any, axis: Any = None, out: Any = None, keepdims: Any = _NoValue) -> Any:
    """``np.ptp`` = max - min."""
    if not traced(a, out):
        return np.ptp(a, axis, out, keepdims)
    return _finish("ptp", subtract(max(a, axis, None, keepdims), min(a, axis, None, keepdims)), out)


def var(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: Any = 0,
    keepdims: Any = _NoValue,
    *,
    where: Any = _NoValue,
    mean: Any = _NoValue,  # noqa: A002 - NumPy's keyword (a precomputed mean)
    correction: Any = _NoValue,
) -> Any:
    """``np.var`` = sum((x - mean)^2) / (n - ddof) over the entries ``where`` selects;
    ``mean=`` a precomputed mean (keepdims shape), ``correction=`` NumPy 2's name for
    ddof. With n - ddof <= 0 it is inf or nan, with NumPy's warning."""
    if not traced(a, mean, out):
        return np.var(
            a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction
        )
    _float64("var", dtype)
    if correction is not _NoValue:
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    m = _mask(where)
    _axes(len(shape_of(a)), axis)  # NumPy's AxisError / repeated-axis ValueError
    if m is not None:  # masked-out entries (NaN in nanvar) must not reach a derivative
        a = select(m, a, 0.0)
    mu = _mean(a, axis, m) if mean is _NoValue else mean
    d = subtract(a, mu)
    ss = sum(multiply(d, d), axis, keepdims=keepdims, where=True if m is None else m)
    count = _count(shape_of(a), axis, m, keepdims)
    dof = np.maximum(count - concrete(ddof), 0.0)
    _empty_slice_warning(dof, "Degrees of freedom <= 0 for slice")
    return _finish("var", divide(ss, dof), out)


def _mean(a: Any, axis: Any, m: Any) -> Any:
    """The mean over ``axis`` with keepdims (``var`` has a parameter called ``mean``)."""
    return mean(a, axis, keepdims=True, where=True if m is None else m)


def std(
    a: Any,
    axis: Any = None,
    dtype: Any = None,
    out: Any = None,
    ddof: Any = 0,
    keepdims: Any = _NoValue,
    *,
    where: Any = _NoValue,
    mean: Any = _NoValue,  # noqa: A002
    correction: Any = _NoValue,
) -> Any:
    """``np.std`` = sqrt(var); its derivative is infinite at zero variance."""
    if not traced(a, mean, out):
        return np.std(
            a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction
        )
    v = var(a, axis, dtype, None, ddof, keepdims, where=where, mean=mean, correction=correction)
    return _finish("std", sqrt(v), out)


def average(
    a: Any,
    axis: Any = None,
    weights: Any = None,
    returned: bool = False,
    *,
    keepdims: Any = _NoValue,
) -> Any:
    """``np.average``: sum(a w) / sum(w) (weights may be traced too; 1-d weights along
    ``axis``), the plain mean without weights; ``returned`` adds sum(w)."""
    if not traced(a, weights):
        return np.average(a, axis, weights, returned, keepdims=keepdims)
    keep = _flag(keepdims)
    sa = shape_of(a)
    if weights is None:
        avg = mean(a, axis, keepdims=keep)
        n = np.sum(np.ones(sa), axis=axis, keepdims=keep)
        return (avg, np.broadcast_to(n, shape_of(avg)).copy()) if returned else avg
    sw = shape_of(weights)
    w = weights
    if sw != sa:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        axes = _axes(len(sa), axis)
        if len(sw) != len(axes) or sw != tuple(sa[i] for i in axes):
            raise ValueError(
                "Shape of weights must be consistent with shape of a along specified axis."
            )
        w = reshape(w, tuple(sa[i] if i in axes else 1 for i in range(len(sa))))
        w = broadcast_to(w, sa)
    wsum = _sum(w, axis=axis, keepdims=keep)
    if guard(_any_zero, wsum):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    avg = divide(_sum(multiply(a, w), axis=axis, keepdims=keep), wsum)
    if returned:
        return avg, broadcast_to(wsum, shape_of(avg))
    return avg


def _any_zero(x: Any) -> bool:
    return bool(np.any(np.asarray(x) == 0.0))


def _not_nan(x: Any) -> np.ndarray:
    return ~np.isnan(np.asarray(x))


def _nan_mask(a: Any, where: Any = _NoValue) -> np.ndarray:
    """The entries a nan-reduction counts: not NaN, and selected by ``where``."""
    ok = guard(_not_nan, a)
    m = _mask(where)
    return ok if m is None else ok & m


def nansum(a, axis=None, dtype=None, out=None, keepdims=_NoValue, initial=_NoValue, where=_NoValue):
    """``np.nansum``: NaN counts as 0."""
    if not traced(a, initial, out):
        return np.nansum(a, axis, dtype, out, keepdims, initial, where)
    return sum(a, axis, dtype, out, keepdims, initial, where=_nan_mask(a, where))


def nanprod(
    a, axis=None, dtype=None, out=None, keepdims=_NoValue, initial=_NoValue, where=_NoValue
):
    """``np.nanprod``: NaN counts as 1."""
    if not traced(a, initial, out):
        return np.nanprod(a, axis, dtype, out, keepdims, initial, where)
    return prod(a, axis, dtype, out, keepdims, initial, where=_nan_mask(a, where))


def nanmean(a, axis=None, dtype=None, out=None, keepdims=_NoValue, *, where=_NoValue):
    """``np.nanmean``: the mean of the non-NaN entries (nan, with a warning, where there
    are none)."""
    if not traced(a, out):
        return np.nanmean(a, axis, dtype, out, keepdims, where=where)
    return mean(a, axis, dtype, out, keepdims, where=_nan_mask(a, where))


def _nan_moment(fn: Any, npfn: Any, a, axis, dtype, out, ddof, keepdims, where, mean, correction):
    """``np.nanvar`` / ``np.nanstd``: ``fn`` (var, std) of the non-NaN entries."""
    kw = {"where": where, "mean": mean, "correction": correction}
    if not traced(a, mean, out):
        return npfn(a, axis, dtype, out, ddof, keepdims, **kw)
    return fn(a, axis, dtype, out, ddof, keepdims, **{**kw, "where": _nan_mask(a, where)})


def nanvar(
    a,
    axis=None,
    dtype=None,
    out=None,
    ddof=0,
    keepdims=_NoValue,
    *,
    where=_NoValue,
    mean=_NoValue,
    correction=_NoValue,
):  # noqa: A002
    """``np.nanvar``: the variance of the non-NaN entries."""
    return _nan_moment(var, np.nanvar, a, axis, dtype, out, ddof, keepdims, where, mean, correction)


def nanstd(
    a,
    axis=None,
    dtype=None,
    out=None,
    ddof=0,
    keepdims=_NoValue,
    *,
    where=_NoValue,
    mean=_NoValue,
    correction=_NoValue,
):  # noqa: A002
    """``np.nanstd``: the standard deviation of the non-NaN entries."""
    return _nan_moment(std, np.nanstd, a, axis, dtype, out, ddof, keepdims, where, mean, correction)


def _nan_extreme(name: str, a, axis, out, keepdims, initial, where) -> Any:
    """``np.nanmax`` / ``np.nanmin``: NaN entries ignored; a slice with none left is
    nan (NumPy's RuntimeWarning), unless ``initial`` is given."""
    red, fill = (max, -np.inf) if name == "nanmax" else (min, np.inf)
    ok = _nan_mask(a)
    y = red(select(ok, a, fill), axis, None, keepdims, initial, where)
    if initial is _NoValue:
        m = _mask(where)
        some = np.any(ok if m is None else ok & m, axis=axis, keepdims=_flag(keepdims))
        if not np.all(some):
            _empty_slice_warning(0, "All-NaN slice encountered")
            y = select(some, y, np.nan)
    return _finish(name, y, out)


def nanmax(a, axis=None, out=None, keepdims=_NoValue, initial=_NoValue, where=_NoValue):
    """``np.nanmax``: the maximum of the non-NaN entries."""
    if not traced(a, initial, out):
        return np.nanmax(a, axis, out, keepdims, initial, where)
    return _nan_extreme("nanmax", a, axis, out, keepdims, initial, where)


def nanmin(a, axis=None, out=None, keepdims=_NoValue, initial=_NoValue, where=_NoValue):
    """``np.nanmin``: the minimum of the non-NaN entries."""
    if not traced(a, initial, out):
        return np.nanmin(a, axis, out, keepdims, initial, where)
    return _nan_extreme("nanmin", a, axis, out, keepdims, initial, where)


# ----------------------------------------------------------------------------------
# Order statistics: sort (a primitive), median, quantiles
# ----------------------------------------------------------------------------------


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``np.sort`` (the ``sort`` primitive: a gather by the permutation found at run
    time); ``kind``/``stable`` are checked by NumPy and accepted (ties keep their order,
    which changes no value); ``order`` (structured arrays) is not traced."""
    if not traced(a):
        return np.sort(a, axis, kind, order, stable=stable)
    if order is not None:  # NumPy's error for an array without fields (a traced one)
        raise ValueError("Cannot specify order when the array has no fields.")
    np.sort(np.zeros(1), kind=kind, stable=stable)  # NumPy's errors for kind / stable
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


_QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


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
):
    """``np.quantile`` over a sort: methods "linear" (default), "lower", "higher",
    "nearest", "midpoint" (the others, and ``weights``, raise naming the argument); the
    derivative goes to the one or two order statistics used. ``q`` is a constant."""
    if not traced(a, out):
        return np.quantile(a, q, axis, out, overwrite_input, method, keepdims, weights=weights)
    return _finish("quantile", _quantile("quantile", a, q, axis, method, keepdims, weights), out)


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
):
    """``np.percentile`` = quantile(a, q / 100)."""
    if not traced(a, out):
        return np.percentile(a, q, axis, out, overwrite_input, method, keepdims, weights=weights)
    if traced(q):
        raise _unsupported("percentile", "q", "q must be a constant, not traced")
    qv = np.true_divide(np.asarray(q, dtype=np.float64), 100.0)
    if np.any((qv < 0) | (qv > 1)):
        raise ValueError("Percentiles must be in the range [0, 100]")
    return _finish(
        "percentile", _quantile("percentile", a, qv, axis, method, keepdims, weights), out
    )


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.median``: the middle order statistic (the mean of the two middle ones); nan
    for an empty array, with NumPy's warning."""
    if not traced(a, out):
        return np.median(a, axis, out, overwrite_input, keepdims)
    if 0 in shape_of(a):
        return _finish("median", mean(a, axis, keepdims=keepdims), out)
    return _finish("median", _quantile("median", a, 0.5, axis, "linear", keepdims, None), out)


def _quantile(
    name: str, a: Any, q: Any, axis: Any, method: str, keepdims: bool, weights: Any
) -> Any:
    if traced(q):
        raise _unsupported(name, "q", "q must be a constant, not traced")
    if weights is not None:
        raise _unsupported(name, "weights", "weighted quantiles are not traced")
    if method not in _QUANTILE_METHODS:
        np.quantile(np.zeros(1), 0.5, method=method)  # NumPy's error for an unknown method
        raise _unsupported(name, f"method={method!r}", f"one of {_QUANTILE_METHODS}")
    qv = np.asarray(q, dtype=np.float64)
    if np.any((qv < 0) | (qv > 1)):
        raise ValueError("Quantiles must be in the range [0, 1]")
    shape = shape_of(a)
    flat, kept, axes = _last_axis(a, axis)
    s = _sort(flat, -1)
    n = shape_of(s)[-1]
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
    return y


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
    indices, inverse and counts are NumPy's (constants)."""
    if not traced(ar):
        return np.unique(
            ar,
            return_index,
            return_inverse,
            return_counts,
            axis,
            equal_nan=equal_nan,
            sorted=sorted,
        )
    res = np.unique(
        np.asarray(concrete(ar)),
        True,
        return_inverse,
        return_counts,
        axis,
        equal_nan=equal_nan,
        sorted=sorted,
    )
    first = res[1]
    values = take(ar, first, axis=axis) if axis is not None else getitem(ravel(ar), first)
    extra = [first] if return_index else []
    extra.extend(res[2:])
    return (values, *extra) if extra else values


def unique_values(x):
    """``np.unique_values``: the sorted distinct values, a gather."""
    return unique(x)


# ----------------------------------------------------------------------------------
# Cumulative operations and differences
# ----------------------------------------------------------------------------------


def cumsum(a, axis=None, dtype=None, out=None):
    """``np.cumsum`` (the ``cumsum`` primitive; its transpose is a reversed cumsum)."""
    if not traced(a, out):
        return np.cumsum(a, axis, dtype, out)
    _float64("cumsum", dtype)
    return _finish("cumsum", _cumsum(a, axis), out)


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
    if not traced(a, out):
        return np.cumprod(a, axis, dtype, out)
    _float64("cumprod", dtype)
    y = ravel(a) if axis is None else a
    ax = 0 if axis is None else _axes(len(shape_of(a)), axis)[0]
    n, d = shape_of(y)[ax], 1
    while d < n:
        y = multiply(y, _shift_in(y, d, ax, 1.0))
        d *= 2
    return _finish("cumprod", y, out)


def running_extreme(a: Any, axis: Any, better: Any) -> Any:
    """maximum.accumulate / minimum.accumulate: a gather of the running arg-extreme."""
    if not traced(a):
        return better.accumulate(a, axis=axis)
    shape = shape_of(a)
    ax = _axes(len(shape), axis)[0]
    c = np.asarray(concrete(a))
    run = better.accumulate(c, axis=ax)
    pos = np.arange(shape[ax]).reshape((-1,) + (1,) * (len(shape) - ax - 1))
    arg = np.maximum.accumulate(np.where(c == run, pos, 0), axis=ax)
    return _structural("accumulate", lambda i: np.take_along_axis(i, arg, axis=ax), a)


def _with_initial(y: Any, ax: int, fill: float) -> Any:
    """y with one entry ``fill`` (the empty sum or product) put before it along ``ax``."""
    shape = shape_of(y)
    return concatenate([np.full(shape[:ax] + (1,) + shape[ax + 1 :], fill), y], axis=ax)


def _cumulative(name: str, scan: Any, fill: float, x, axis, dtype, out, include_initial):
    """``np.cumulative_sum`` / ``np.cumulative_prod`` (NumPy >= 2.1): the scan along
    ``axis`` (required beyond one dimension), ``include_initial`` puts the empty sum /
    product first."""
    if not traced(x, out):
        fn = getattr(np, name)
        return fn(x, axis=axis, dtype=dtype, out=out, include_initial=include_initial)
    nd = len(shape_of(x))
    if nd == 0:  # NumPy treats a scalar as one entry
        x, nd = reshape(x, (1,)), 1
    if axis is None:
        if nd > 1:
            raise ValueError(
                "For arrays which have more than one dimension ``axis`` argument is required."
            )
        axis = 0
    ax = _axes(nd, axis)[0]
    y = scan(x, ax, dtype)
    if include_initial:
        y = _with_initial(y, ax, fill)
    return _finish(name, y, out)


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_sum`` (NumPy >= 2.1)."""
    return _cumulative("cumulative_sum", cumsum, 0.0, x, axis, dtype, out, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_prod`` (NumPy >= 2.1)."""
    return _cumulative("cumulative_prod", cumprod, 1.0, x, axis, dtype, out, include_initial)


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``np.diff``: a[1:] - a[:-1] along ``axis``, n times (with prepend/append)."""
    if not traced(a, prepend, append):
        return np.diff(a, n, axis, prepend=prepend, append=append)
    shape = shape_of(a)
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    if not shape:
        raise ValueError("diff requires input that is at least one dimensional")
    ax = _axes(len(shape), axis)[0]
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
    spacings = [np.asarray(concrete(h)) for h in varargs]
    np.gradient(np.zeros(shape), *spacings, axis=axis, edge_order=edge_order)  # NumPy's errors
    axes = tuple(range(len(shape))) if axis is None else _axes(len(shape), axis)
    if len(varargs) == 0:
        hs = [1.0] * len(axes)
    elif len(varargs) == 1:
        hs = list(varargs) * len(axes)
    else:
        hs = list(varargs)
    if any(np.ndim(concrete(h)) != 0 for h in hs):
        raise _unsupported(
            "gradient", "varargs", "only scalar spacings are traced, not coordinates"
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


def _gather_part(name: str, part: np.ndarray, ops: list[Any], starts: list[int]) -> Any:
    """One output of a structural function: a gather from the operands it reads, its
    index map re-based to them (``part``: 1-based positions in all operands, 0 a zero)."""
    part = np.asarray(part, dtype=np.int64)
    flat = part.reshape(-1)
    used = [
        k
        for k, op in enumerate(ops)
        if np.any((flat >= starts[k]) & (flat < starts[k] + _size(op)))
    ]
    if not used:
        return np.zeros(part.shape)
    idx, base = np.full(part.shape, -1, dtype=np.int64), 0
    for k in used:
        inside = (part >= starts[k]) & (part < starts[k] + _size(ops[k]))
        idx[inside] = part[inside] - starts[k] + base
        base += _size(ops[k])
    if len(used) == 1 and part.shape == shape_of(ops[used[0]]):
        if np.array_equal(idx.reshape(-1), np.arange(idx.size)):
            return copy(ops[used[0]])  # the identity: no node
    return gather(*[ops[k] for k in used], idx=idx, label=name)


def _size(x: Any) -> int:
    return int(np.prod(shape_of(x), dtype=np.int64))


def _moves(npfn: Callable[..., Any], *arrays: str) -> Callable[..., Any]:
    """A NumPy function that only moves entries of the arguments named ``arrays``
    (default: the first parameter; an argument may be a sequence or nested lists of
    arrays, as ``np.block``'s), traced as one gather per output: its index map is
    ``npfn`` itself applied to index arrays, so NumPy checks every other argument and
    decides every shape. The wrapper has NumPy's signature; ``out=`` is honoured."""
    sig = inspect.signature(npfn)
    names = arrays or (next(iter(sig.parameters)),)
    from ad.tree import flatten, unflatten

    def fn(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        out = bound.arguments.pop("out", None)
        trees = {n: flatten(bound.arguments[n]) for n in names if n in bound.arguments}
        ops = [leaf for leaves, _ in trees.values() for leaf in leaves]
        for k, v in bound.arguments.items():
            if k not in names:
                bound.arguments[k] = _deep_concrete(v)
        if not traced(*ops, out):
            for n, (leaves, tdef) in trees.items():
                vals = [np.asarray(concrete(x), dtype=np.float64) for x in leaves]
                bound.arguments[n] = unflatten(tdef, vals)
            return npfn(*bound.args, **bound.kwargs, **({} if out is None else {"out": out}))
        starts, start = [], 1
        for n, (leaves, tdef) in trees.items():
            ix = []
            for leaf in leaves:
                starts.append(start)
                ix.append(
                    np.arange(start, start + _size(leaf), dtype=np.int64).reshape(shape_of(leaf))
                )
                start += _size(leaf)
            bound.arguments[n] = unflatten(tdef, ix)
        parts = npfn(*bound.args, **bound.kwargs)
        if isinstance(parts, (list, tuple)):
            outs = [_gather_part(npfn.__name__, p, ops, starts) for p in parts]
            return _finish(
                npfn.__name__, type(parts)(outs) if isinstance(parts, tuple) else outs, out
            )
        return _finish(npfn.__name__, _gather_part(npfn.__name__, parts, ops, starts), out)

    name = npfn.__name__
    fn.__doc__ = f"``numpy.{name}``: a gather whose index map is np.{name} of index arrays."
    return _signature_of(npfn, fn)


roll = _moves(np.roll)
rot90 = _moves(np.rot90)
fliplr = _moves(np.fliplr)
flipud = _moves(np.flipud)
rollaxis = _moves(np.rollaxis)
diagflat = _moves(np.diagflat)
resize = _moves(np.resize)
delete = _moves(np.delete)
insert = _moves(np.insert, "arr", "values")
append = _moves(np.append, "arr", "values")
take = _moves(np.take)
take_along_axis = _moves(np.take_along_axis)
compress = _moves(np.compress, "a")
extract = _moves(np.extract, "arr")
choose = _moves(np.choose, "choices")
matrix_transpose = _moves(np.matrix_transpose)
linalg_matrix_transpose = _moves(np.linalg.matrix_transpose)
split = _moves(np.split)
array_split = _moves(np.array_split)
hsplit = _moves(np.hsplit)
vsplit = _moves(np.vsplit)
dsplit = _moves(np.dsplit)
unstack = _moves(np.unstack)
atleast_1d = _moves(np.atleast_1d, "arys")
atleast_2d = _moves(np.atleast_2d, "arys")
atleast_3d = _moves(np.atleast_3d, "arys")
column_stack = _moves(np.column_stack, "tup")
dstack = _moves(np.dstack, "tup")
block = _moves(np.block, "arrays")
broadcast_arrays = _moves(np.broadcast_arrays, "args")
meshgrid = _moves(np.meshgrid, "xi")


def select_(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    """``np.select``: nested selects with constant conditions (the first true wins)."""
    conds = [concrete(c) for c in condlist]
    if not traced(*choicelist, default):
        return np.select(conds, choicelist, default)
    empty = [np.zeros(shape_of(c)) for c in choicelist]
    y = np.select(conds, empty, np.zeros(shape_of(default)))  # NumPy's errors and shape
    y = (
        broadcast_to(default, shape_of(y))
        if traced(default)
        else np.broadcast_to(default, shape_of(y))
    )
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        y = select(concrete(cond), choice, y)
    return y


def bincount(x, /, weights=None, minlength=0):
    """``np.bincount``: the counts are NumPy's; with traced weights, a scatter_add of the
    weights into the bins."""
    ix = concrete(x)
    counts = np.bincount(ix, None if weights is None else np.zeros(shape_of(weights)), minlength)
    if not traced(weights):
        return np.bincount(ix, weights, minlength)
    return scatter_add(weights, idx=np.asarray(ix, dtype=np.int64), out_shape=counts.shape)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``np.linspace`` with traced end points: start + (stop - start) t, the samples
    along ``axis``."""
    if not traced(start, stop):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis, device=device)
    _float64("linspace", dtype)
    ref = np.linspace(
        np.zeros(shape_of(start)),
        np.zeros(shape_of(stop)),
        num,
        endpoint,
        dtype=dtype,
        axis=axis,
        device=device,
    )  # NumPy's errors and shape
    num = int(num)
    div = (num - 1) if endpoint else num
    t = np.arange(num, dtype=np.float64) / (div if div > 0 else 1)
    rest = np.broadcast_shapes(shape_of(start), shape_of(stop))
    t = t.reshape((-1,) + (1,) * len(rest))
    delta = subtract(stop, start)
    step = multiply(delta, 1.0 / div if div > 0 else np.nan)
    y = add(start, multiply(delta, t))
    if endpoint and num > 1:  # the last sample is exactly stop, as NumPy sets it
        y = setitem(y, -1, broadcast_to(stop, rest) if traced(stop) else stop)
    y = moveaxis(y, 0, axis) if shape_of(y) != ref.shape else y
    return (y, step) if retstep else y


def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise linear; the segment of each x is found on the values
    (a constant), then fp[j] + (x - xp[j]) (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]).
    Outside [xp[0], xp[-1]]: ``left`` / ``right`` (default fp[0] / fp[-1])."""
    if not traced(x, xp, fp, left, right):
        return np.interp(x, xp, fp, left, right, period)
    lr = [None if v is None else concrete(v) for v in (left, right)]
    np.interp(concrete(x), concrete(xp), concrete(fp), *lr, period)  # NumPy's errors
    if period is not None:
        raise _unsupported("interp", "period", "a periodic interpolation is not traced")
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
    if not traced(a, out):
        return np.nancumsum(a, axis, dtype, out)
    return cumsum(select(_nan_mask(a), a, 0.0), axis, dtype, out)


def nancumprod(a, axis=None, dtype=None, out=None):
    """``np.nancumprod``: NaN counts as 1."""
    if not traced(a, out):
        return np.nancumprod(a, axis, dtype, out)
    return cumprod(select(_nan_mask(a), a, 1.0), axis, dtype, out)


def trim_zeros(filt, trim="fb", axis=None):
    """``np.trim_zeros``: the box around the nonzero entries along ``axis`` (None: every
    axis) is found on the values, as NumPy finds it; then a gather."""
    if not traced(filt):
        return np.trim_zeros(filt, trim, axis)
    c = np.asarray(concrete(filt))
    np.trim_zeros(c, trim, axis)  # NumPy's errors
    axes = _axes(c.ndim, axis)
    nz = np.argwhere(c)
    lo = nz.min(axis=0) if nz.size else np.zeros(c.ndim, dtype=np.int64)
    hi = nz.max(axis=0) + 1 if nz.size else np.zeros(c.ndim, dtype=np.int64)
    t = trim.lower()
    sl = tuple(
        slice(
            int(lo[i]) if "f" in t or not nz.size else None,
            int(hi[i]) if "b" in t or not nz.size else None,
        )
        if i in axes
        else slice(None)
        for i in range(c.ndim)
    )
    return getitem(filt, sl)


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
    for name, value in (("full", full), ("w", w), ("cov", cov)):
        if value is not None and value is not False:
            raise _unsupported("polyfit", name, "only the coefficients are traced")
    n = shape_of(x)[0]
    rcond = n * np.finfo(np.float64).eps if rcond is None else rcond
    return _la.lstsq(vander(x, int(deg) + 1), y, rcond)[0]


def polyder(p, m=1):
    """``np.polyder``: coefficients times constant exponents."""
    if not traced(p):
        return np.polyder(p, m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
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
    return _pad(a, (n - k, 0)) if traced(a) else np.pad(np.asarray(a, dtype=float), (n - k, 0))


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
    if not traced(start, stop, base):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num, endpoint, dtype=dtype, axis=axis)
    b = np.expand_dims(base, axis) if np.ndim(concrete(base)) else base
    return power(b, y)


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``np.apply_along_axis``: func1d traced on each 1-d slice, the results stacked."""
    if not traced(arr):
        return np.apply_along_axis(func1d, axis, arr, *args, **kwargs)
    shape = shape_of(arr)
    ax = _axes(len(shape), axis)[0]
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


def histogram_bin_edges(a, bins=10, range=None, weights=None):  # noqa: A002
    """``np.histogram_bin_edges``: NumPy's edges. Where NumPy spaces them evenly from the
    data's minimum to its maximum (``bins`` a count or an estimator's name, no ``range``),
    they move with the data, so they are traced: linspace(min(a), max(a), n + 1)."""
    ca = np.asarray(concrete(a))
    cw = None if weights is None else np.asarray(concrete(weights))
    edges = np.histogram_bin_edges(ca, concrete(bins), range, cw)
    if not traced(a) or np.ndim(concrete(bins)) == 1 or range is not None or ca.size == 0:
        return edges
    lo, hi = min(a), max(a)
    if ca.min() == ca.max():  # NumPy widens a single value by 1/2 on both sides
        lo, hi = lo - 0.5, hi + 0.5
    return linspace(lo, hi, edges.size)


def histogram(a, bins=10, range=None, density=None, weights=None):  # noqa: A002
    """``np.histogram``: the counts are NumPy's (piecewise constant); traced ``weights``
    are summed into the bins (a scatter_add); the edges are those of
    :func:`histogram_bin_edges` (traced when they move with the data), and so is the
    ``density``, counts / (total * bin width)."""
    ca = np.asarray(concrete(a))
    cw = None if weights is None else np.asarray(concrete(weights))
    counts, cedges = np.histogram(ca, concrete(bins), range, None, cw)  # NumPy's errors
    if not traced(a, weights):
        return np.histogram(ca, concrete(bins), range, density, cw)
    edges = histogram_bin_edges(a, bins, range, weights)
    if traced(weights):
        flat = ca.ravel()
        idx = np.searchsorted(cedges, flat, side="right") - 1
        idx[flat == cedges[-1]] = cedges.size - 2  # the last bin includes its right edge
        idx[(flat < cedges[0]) | (flat > cedges[-1])] = -1
        counts = scatter_add(ravel(weights), idx=idx, out_shape=(cedges.size - 1,))
    if density:
        widths = subtract(getitem(edges, slice(1, None)), getitem(edges, slice(None, -1)))
        counts = divide(divide(counts, widths), _sum(counts))
    return counts, edges


def ldexp(x, i):
    """``np.ldexp`` = x 2^i (i a constant integer array)."""
    scale = np.ldexp(1.0, concrete(i))  # NumPy's TypeError for a float exponent
    if not traced(x):
        return np.ldexp(x, concrete(i))
    return multiply(x, scale)


def frexp(x, *, dtype=None):
    """``np.frexp``: (mantissa, exponent), the exponent a constant: d mantissa = 2^-e dx."""
    if dtype is not None:  # NumPy: an integer output has no loop for another dtype
        _float64("frexp", dtype)
        raise TypeError(
            "No loop matching the specified signature and casting was found for ufunc frexp"
        )
    m, e = np.frexp(np.asarray(concrete(x), dtype=np.float64))
    if not traced(x):
        return m, e
    return multiply(x, np.ldexp(1.0, -e)), e


frexp.keywords = ("dtype",)  # checked here, not by ad.numpy.ufunc_kwargs


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
    if operands and not isinstance(operands[0], str):  # einsum(a, [0, 1], b, [1, 2], [0, 2])
        subscripts, operands = _interleaved(operands)
    else:
        subscripts, operands = operands[0], operands[1:]
    if not traced(*operands, out):
        return np.einsum(subscripts, *operands, out=out, optimize=optimize, dtype=dtype, **kwargs)
    _float64("einsum", dtype)
    for key, value in kwargs.items():  # NumPy's other keywords: the layout and casting rule
        if key not in ("order", "casting"):
            raise TypeError(f"Did not understand the following kwargs: ['{key}']")
        if key == "casting":
            _casting(value)
        else:
            _order(value)
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
        return _finish("einsum", _permute(x, spec, outs), out)
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
    return _finish("einsum", _permute(x, spec, outs), out)


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


def linalg_tensordot(x1, x2, /, *, axes=2):
    """``np.linalg.tensordot``."""
    return tensordot(x1, x2, axes)


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


def vdot(a, b, /):
    """``np.vdot``: the dot product of the flattened arrays (real)."""
    if not traced(a, b):
        return np.vdot(a, b)
    return _la.matmul(ravel(a), ravel(b))


def _core(name: str, x: Any, k: int, which: int) -> tuple[int, ...]:
    """The shape of a gufunc operand with at least ``k`` core axes (NumPy's error)."""
    shape = shape_of(x)
    if len(shape) < k:
        raise ValueError(
            f"{name}: Input operand {which} does not have enough dimensions (has "
            f"{len(shape)}, gufunc core requires {k})"
        )
    return shape


def _mismatch(name: str, which: int, got: int, want: int) -> ValueError:
    return ValueError(
        f"{name}: Input operand {which} has a mismatch in its core dimension "
        f"(size {got} is different from {want})"
    )


def vecdot(x1, x2, /, *, axis=-1):
    """``np.vecdot`` (a gufunc, (n),(n)->()) / ``np.linalg.vecdot``: sum(x1 * x2) along
    ``axis`` of both."""
    s1, s2 = _core("vecdot", x1, 1, 0), _core("vecdot", x2, 1, 1)
    a1, a2 = _axes(len(s1), axis)[0], _axes(len(s2), axis)[0]
    if s1[a1] != s2[a2]:
        raise _mismatch("vecdot", 1, s2[a2], s1[a1])
    return _sum(multiply(moveaxis(x1, a1, -1), moveaxis(x2, a2, -1)), axis=-1)


vecdot.keywords = ("axis",)  # the ufunc keyword vecdot takes (ad.numpy.dispatch_ufunc)


def matvec(x1, x2, /):
    """``np.matvec`` (NumPy >= 2.2, a gufunc (m,n),(n)->(m)): matrix times vector."""
    s1, s2 = _core("matvec", x1, 2, 0), _core("matvec", x2, 1, 1)
    if s1[-1] != s2[-1]:
        raise _mismatch("matvec", 1, s2[-1], s1[-1])
    y = _la.matmul(x1, reshape(x2, s2 + (1,)))
    return reshape(y, shape_of(y)[:-1])


def vecmat(x1, x2, /):
    """``np.vecmat`` (NumPy >= 2.2, a gufunc (n),(n,m)->(m)): vector times matrix."""
    s1, s2 = _core("vecmat", x1, 1, 0), _core("vecmat", x2, 2, 1)
    if s1[-1] != s2[-2]:
        raise _mismatch("vecmat", 1, s2[-2], s1[-1])
    y = _la.matmul(reshape(x1, s1[:-1] + (1, s1[-1])), x2)
    return reshape(y, shape_of(y)[:-2] + (shape_of(y)[-1],))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross`` of 3-vectors (and 2-vectors, whose cross product is the z entry)."""
    if not traced(a, b):
        return np.cross(a, b, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, _axes(len(shape_of(a)), axisa)[0], -1)
    b = moveaxis(b, _axes(len(shape_of(b)), axisb)[0], -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    np.broadcast_shapes(shape_of(a)[:-1], shape_of(b)[:-1])  # NumPy's error

    def comp(x: Any, i: int, n: int) -> Any:
        return getitem(x, (Ellipsis, i)) if i < n else 0.0

    a0, a1, a2 = (comp(a, i, na) for i in range(3))
    b0, b1, b2 = (comp(b, i, nb) for i in range(3))
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z], axis=-1)
    return moveaxis(c, -1, _axes(len(shape_of(c)), axisc)[0])


def linalg_cross(x1, x2, /, *, axis=-1):
    """``np.linalg.cross``: the cross product of 3-vectors."""
    if shape_of(x1)[axis] != 3 or shape_of(x2)[axis] != 3:
        raise ValueError(
            "Both input arrays must be (arrays of) 3-dimensional vectors, but "
            f"they are {shape_of(x1)[axis]} and {shape_of(x2)[axis]} "
            "dimensional instead."
        )
    return cross(x1, x2, axis=axis)


# ----------------------------------------------------------------------------------
# Linear algebra composites
# ----------------------------------------------------------------------------------


def matrix_power(a, n):
    """``np.linalg.matrix_power``: repeated squaring with matmul (inv first for n < 0)."""
    if not traced(a):
        return np.linalg.matrix_power(a, n)
    try:
        n = operator.index(n)
    except TypeError as err:
        raise TypeError("exponent must be an integer") from err
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
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
    if not traced(*arrays, out):
        return np.linalg.multi_dot(arrays, out=out)
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    if len(arrays) == 2:
        return _finish("multi_dot", _la.dot(arrays[0], arrays[1]), out)
    nds = [len(shape_of(x)) for x in arrays]
    if nds[0] not in (1, 2) or nds[-1] not in (1, 2) or any(d != 2 for d in nds[1:-1]):
        raise np.linalg.LinAlgError(
            "multi_dot: the first and last arrays must be 1-d or 2-d, the others 2-d"
        )
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
    return _finish("multi_dot", y, out)


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


#: ``np.linalg.matrix_rank``: an integer, NumPy's on the values.
matrix_rank = concrete_fn(np.linalg.matrix_rank)


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``np.cov``: (X - mean)(X - mean)^T / (N - ddof), the variables in rows (columns
    with ``rowvar=False``); the weights are not traced."""
    if not traced(m, y):
        return np.cov(m, y, rowvar, bias, ddof, fweights, aweights, dtype=dtype)
    _float64("cov", dtype)
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is not None:
            raise _unsupported("cov", name, "weighted covariances are not traced")
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")

    def rows(v: Any) -> Any:
        if len(shape_of(v)) > 2:
            raise ValueError("m has more than 2 dimensions")
        v = reshape(v, (1, -1)) if len(shape_of(v)) < 2 else v
        return transpose(v) if not rowvar and shape_of(v)[0] != 1 else v

    x = rows(m)
    if y is not None:
        x = concatenate([x, rows(y)], axis=0)
    n = shape_of(x)[1]
    ddof = (0 if bias else 1) if ddof is None else ddof
    fact = builtins.max(n - ddof, 0)
    if fact == 0:
        _empty_slice_warning(0, "Degrees of freedom <= 0 for slice")
    xc = subtract(x, mean(x, axis=1, keepdims=True))
    c = divide(_la.matmul(xc, transpose(xc)), float(fact))
    return reshape(c, ()) if shape_of(c) == (1, 1) else c


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: cov / (std_i std_j)."""
    if not traced(x, y):
        return np.corrcoef(x, y, rowvar, dtype=dtype)
    c = cov(x, y, rowvar, dtype=dtype)
    if len(shape_of(c)) == 0:
        return c / c
    d = sqrt(diagonal(c))
    return c / _la.outer(d, d)


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


def ufunc_at(ufunc: Any, target: Any, idx: Any, value: Any = None, /) -> None:
    """``np.add.at(y, idx, v)`` / ``np.subtract.at`` on a traced ``y``: rebinds it."""
    name = ufunc.__name__
    if name not in ("add", "subtract") or value is None:
        raise UnsupportedOperationError(f"numpy.{name}.at (only add.at and subtract.at)")
    if not isinstance(target, Tracer):
        raise _unsupported(
            f"{name}.at",
            "a",
            f"np.{name}.at(buf, idx, value) with buf a NumPy array would write a traced value "
            "into it, which cannot be intercepted. Make buf a traced array, "
            f"buf = np.zeros_like(x), then np.{name}.at(buf, idx, value) (or buf[idx] += value)",
        )
    if name == "subtract":
        value = negative(value)
    target._rebind(add_at(target, idx, value))


def copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    """``np.copyto`` into a traced array (rebinds it); into a NumPy array it raises."""
    if not isinstance(dst, Tracer):
        raise _unsupported(
            "copyto",
            "dst",
            "np.copyto(dst, value) (also called by np.full(shape, value)) writes a traced "
            "value into a NumPy array, which cannot hold it: use np.broadcast_to(value, "
            "shape), or np.full_like(x, c) / np.zeros_like(x) for a traced buffer",
        )
    _casting(casting)
    m = _mask(where)
    new = broadcast_to(src, shape_of(dst)) if traced(src) else np.broadcast_to(src, shape_of(dst))
    new = new if m is None else select(m, new, dst)
    dst._rebind(new if traced(new) else constant_like(dst, new))


def put(a: Any, ind: Any, v: Any, mode: str = "raise") -> None:
    """``np.put`` / ``a.put``: a flat update of a traced array (rebinds it)."""
    if not isinstance(a, Tracer):
        raise _unsupported(
            "put",
            "a",
            "np.put(a, ind, v) into a NumPy array a, which cannot hold a traced value: make "
            "a a traced array (np.zeros_like(x))",
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
        raise _unsupported(
            "fill_diagonal",
            "a",
            "np.fill_diagonal(a, value) into a NumPy array a, which cannot hold a traced "
            "value: make a a traced array (np.zeros_like(x))",
        )

    def op(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        out = x.copy()
        np.fill_diagonal(out, w, wrap=wrap)
        return out

    vv = val if traced(val) else np.asarray(val, dtype=np.float64)
    a._rebind(gather(a, vv, idx=index_map(op, shape_of(a), shape_of(vv)), label="setitem"))


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
# Tracer methods (ndarray's), attached to ad.trace.Tracer by ad/numpy.py; each is the
# function of the same name with the array first (ad/trace.py defines reshape, ravel,
# flatten, transpose, sum, mean, prod, max, min, dot, squeeze, astype and copy)
# ----------------------------------------------------------------------------------


def may_share_memory(a, b, /, max_work=0):
    """``np.may_share_memory``: traced arrays share memory only if they are the same
    array (a view, ``x.view()``, is the array itself; writing through other views is not
    emulated)."""
    return a is b


def shares_memory(a, b, /, max_work=-1):
    """``np.shares_memory``: as :func:`may_share_memory`."""
    return a is b


def astype(x, dtype, /, *, copy=True, device=None):
    """``np.astype`` (NumPy >= 2.1): ``x.astype(dtype, copy=copy)``."""
    return x.astype(dtype, copy=copy)


def linalg_outer(x1, x2, /):
    """``np.linalg.outer`` of two vectors."""
    if len(shape_of(x1)) != 1 or len(shape_of(x2)) != 1:
        raise ValueError(
            f"Input arrays must be one-dimensional, but they are "
            f"x1.ndim={len(shape_of(x1))} and x2.ndim={len(shape_of(x2))}."
        )
    return _la.outer(x1, x2)


def linalg_matmul(x1, x2, /):
    """``np.linalg.matmul``."""
    return _la.matmul(x1, x2)


def linalg_trace(x, /, *, offset=0, dtype=None):
    """``np.linalg.trace``: the sum of the diagonals of the last two axes."""
    return _np.trace(x, offset, -2, -1, dtype)


def linalg_diagonal(x, /, *, offset=0):
    """``np.linalg.diagonal``: the diagonals of the last two axes."""
    return diagonal(x, offset, -2, -1)


def _method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``x.name(*args)`` = ``fn(x, *args)``."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    method.__doc__ = f"``ndarray.{getattr(fn, '__name__', 'method')}``: see the function."
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
    self._rebind(sort(self, axis, kind, order, stable=stable))


def _fill(self: Any, value: Any) -> None:
    """``x.fill(c)``: the tracer is rebound to a constant (or a broadcast traced value)."""
    new = broadcast_to(value, self.shape) if traced(value) else np.full(self.shape, float(value))
    self._rebind(new if traced(new) else constant_like(self, new))


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


def _choose_method(self: Any, choices: Any, out: Any = None, mode: str = "raise") -> Any:
    """``idx.choose(choices)``: ``self`` holds the (constant) indices."""
    return choose(np.asarray(concrete(self)).astype(np.int64), choices, out, mode)


# ----------------------------------------------------------------------------------
# Tables merged into ad/numpy.py's (each NumPy function in one table only)
# ----------------------------------------------------------------------------------

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
    np.conjugate: copy,
    np.floor_divide: floor_divide,
    np.heaviside: heaviside,
    np.ldexp: ldexp,
    np.frexp: frexp,
    np.vecdot: vecdot,
    np.matvec: matvec,
    np.vecmat: vecmat,
}

FUNCTIONS: dict[Any, Any] = {
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
    np.unique_values: unique_values,
    np.cumsum: cumsum,
    np.cumprod: cumprod,
    np.cumulative_sum: cumulative_sum,
    np.cumulative_prod: cumulative_prod,
    np.nancumsum: nancumsum,
    np.nancumprod: nancumprod,
    np.diff: diff,
    np.ediff1d: ediff1d,
    np.gradient: gradient,
    np.trapezoid: trapezoid,
    np.round: round_,
    np.around: around,
    np.fix: fix,
    np.sinc: sinc,
    np.nan_to_num: nan_to_num,
    np.real: real,
    np.imag: imag,
    np.angle: angle,
    np.real_if_close: real_if_close,
    np.iscomplexobj: concrete_fn(np.iscomplexobj),
    np.isrealobj: concrete_fn(np.isrealobj),
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
    np.compress: compress,
    np.extract: extract,
    np.choose: choose,
    np.matrix_transpose: matrix_transpose,
    np.split: split,
    np.array_split: array_split,
    np.hsplit: hsplit,
    np.vsplit: vsplit,
    np.dsplit: dsplit,
    np.unstack: unstack,
    np.atleast_1d: atleast_1d,
    np.atleast_2d: atleast_2d,
    np.atleast_3d: atleast_3d,
    np.column_stack: column_stack,
    np.dstack: dstack,
    np.block: block,
    np.broadcast_arrays: broadcast_arrays,
    np.meshgrid: meshgrid,
    np.select: select_,
    np.bincount: bincount,
    np.linspace: linspace,
    np.logspace: logspace,
    np.interp: interp,
    np.polyval: polyval,
    np.polyfit: polyfit,
    np.polyder: polyder,
    np.polymul: polymul,
    np.polyadd: polyadd,
    np.polysub: polysub,
    np.vander: vander,
    np.convolve: convolve,
    np.correlate: correlate,
    np.trim_zeros: trim_zeros,
    np.unwrap: unwrap,
    np.apply_along_axis: apply_along_axis,
    np.piecewise: piecewise,
    np.histogram: histogram,
    np.histogram_bin_edges: histogram_bin_edges,
    np.einsum: einsum,
    np.tensordot: tensordot,
    np.kron: kron,
    np.vdot: vdot,
    np.cross: cross,
    np.cov: cov,
    np.corrcoef: corrcoef,
    np.copyto: copyto,
    np.put: put,
    np.fill_diagonal: fill_diagonal,
    np.may_share_memory: may_share_memory,
    np.shares_memory: shares_memory,
    np.astype: astype,
    np.linalg.matrix_power: matrix_power,
    np.linalg.multi_dot: multi_dot,
    np.linalg.cond: cond,
    np.linalg.matrix_rank: matrix_rank,
    np.linalg.cross: linalg_cross,
    np.linalg.outer: linalg_outer,
    np.linalg.matrix_transpose: linalg_matrix_transpose,
    np.linalg.tensordot: linalg_tensordot,
    np.linalg.vecdot: vecdot,
    np.linalg.matmul: linalg_matmul,
    np.linalg.trace: linalg_trace,
    np.linalg.diagonal: linalg_diagonal,
}
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
):
    FUNCTIONS[_f] = concrete_fn(_f)


def _impl(f: Any) -> Any:
    return FUNCTIONS[f] if f in FUNCTIONS else _np.FUNCTIONS[f]


METHODS: dict[str, Any] = {
    "var": _method(var),
    "std": _method(std),
    "clip": _method(_np.clip),
    "cumsum": _method(cumsum),
    "cumprod": _method(cumprod),
    "round": _method(round_),
    "trace": _method(_np.trace),
    "diagonal": _method(_np.diagonal),
    "repeat": _method(_np.repeat),
    "swapaxes": _method(_np.swapaxes),
    "take": _method(take),
    "compress": lambda self, condition, axis=None, out=None: compress(condition, self, axis, out),
    "choose": _choose_method,
    "put": _method(put),
    "nonzero": _method(_impl(np.nonzero)),
    "argmax": _method(_impl(np.argmax)),
    "argmin": _method(_impl(np.argmin)),
    "argsort": _method(_impl(np.argsort)),
    "argpartition": _method(_impl(np.argpartition)),
    "searchsorted": _method(_impl(np.searchsorted)),
    "any": _method(_impl(np.any)),
    "all": _method(_impl(np.all)),
    "conj": _method(copy),
    "conjugate": _method(copy),
    "tolist": _tolist,
    "item": _item,
    "sort": _sort_method,
    "fill": _fill,
    "resize": _resize_method,
    "view": _view,
    "to_device": lambda self, device, /, *, stream=None: self,
    "device": property(lambda self: "cpu"),
    "__contains__": lambda self, v: bool(np.any(np.asarray(concrete(self)) == concrete(v))),
    "real": property(copy),
    "imag": property(imag),
    "mT": property(matrix_transpose),
    "nbytes": property(lambda self: 8 * self.size),
    "itemsize": property(lambda self: 8),
}
