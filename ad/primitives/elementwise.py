"""Elementwise primitives.

The Jacobian of an elementwise map is diagonal, so its JVP and its VJP are the same
product with the partial derivative: ``x_dot * d`` and ``ans_bar * d``. Each
primitive below is therefore one block: the primitive, then ``defderiv`` with one
partial-derivative function per operand, written as array code (so it traces).
Operands of a binary primitive have equal shapes: the public functions broadcast
explicitly first (a ``gather`` in the IR).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.errors import ShapeError
from ad.primitives.core import ELEMENTWISE, Primitive, defjvp, defsparsity, defvjp
from ad.primitives.shape import broadcast_to, traced
from ad.trace import Tracer, concrete, guard, lift, shape_of


def _same_shape(*shapes, **params):
    for s in shapes[1:]:
        if s != shapes[0]:
            raise ShapeError(f"elementwise operands have different shapes {shapes}")
    return shapes[0]


def elementwise(name: str, impl: Any, n_in: int = 1) -> Primitive:
    """An elementwise primitive: equal operand shapes, output of the same shape (and
    output entry k depends on entry k of each operand: its sparsity rule)."""
    prim = Primitive(name, _same_shape, impl, n_in=n_in)
    defsparsity(prim, ELEMENTWISE)
    return prim


def defderiv(prim: Primitive, *partials: Any) -> None:
    """JVP and VJP rules of an elementwise primitive from its partial derivatives.

    ``partials[i](ans, *xs, **params)`` is d ans / d x_i, elementwise; ``None``
    marks a non-differentiable operand.
    """

    def make(d):
        if d is None:
            return None
        return lambda t, ans, *xs, **p: t * d(ans, *xs, **p)

    rules = [make(d) for d in partials]
    defjvp(prim, *rules)
    defvjp(prim, *rules)


def _broadcast(x: Any, y: Any) -> tuple[Any, Any]:
    """Both operands at their common shape. A constant that needs broadcasting is
    recorded at its own size and broadcast in the graph (``2.0 * x`` keeps one number,
    which the compiled engine reads with stride 0, not an array of 2.0)."""
    sx, sy = shape_of(x), shape_of(y)
    if sx == sy:
        return x, y
    # a number against an array (2.0 * x) is the common case: no shape arithmetic
    shape = sy if sx == () else sx if sy == () else np.broadcast_shapes(sx, sy)
    if sx != shape and not traced(x):
        x = lift(x, y)
    if sy != shape and not traced(y):
        y = lift(y, x)
    return broadcast_to(x, shape), broadcast_to(y, shape)


#: NumPy ufunc -> the public function of the elementwise primitive that computes it
#: (filled as the primitives are defined; ``ad.numpy`` dispatches those ufuncs to them).
NUMPY: dict[Any, Any] = {}


def _register(prim: Primitive, fn: Any) -> Any:
    if isinstance(prim.impl, np.ufunc):
        NUMPY.setdefault(prim.impl, fn)
    return fn


def _unary(prim: Primitive):
    def fn(x: Any) -> Any:
        if not traced(x):
            return prim.impl(np.asarray(x, dtype=np.float64))
        return prim.bind(x)

    fn.__name__ = prim.name
    fn.__doc__ = f"Elementwise ``np.{prim.name}``; traced as the primitive '{prim.name}'."
    return _register(prim, fn)


def _binary(prim: Primitive, shortcut: Any = None):
    """The public function of a binary primitive; ``shortcut(x, y)``, if given, may
    answer a traced call without recording it (None: record)."""

    def fn(x: Any, y: Any) -> Any:
        if not traced(x, y):
            return prim.impl(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        if shortcut is not None:
            got = shortcut(x, y)
            if got is not None:
                return got
        return prim.bind(*_broadcast(x, y))

    fn.__name__ = prim.name
    fn.__doc__ = f"Elementwise ``{prim.name}`` with NumPy broadcasting (made explicit)."
    return _register(prim, fn)


# -- neg ---------------------------------------------------------------------------
neg_p = elementwise("neg", np.negative)
defjvp(neg_p, lambda x_dot, ans, x: negative(x_dot))
defvjp(neg_p, lambda ans_bar, ans, x: negative(ans_bar))
defsparsity(neg_p, lambda S, x: S.linear(x))  # keeps known zeros
negative = _unary(neg_p)

# -- add / sub ---------------------------------------------------------------------
add_p = elementwise("add", np.add, 2)
defjvp(add_p, lambda x_dot, ans, x, y: x_dot, lambda y_dot, ans, x, y: y_dot)
defvjp(add_p, lambda ans_bar, ans, x, y: ans_bar, lambda ans_bar, ans, x, y: ans_bar)
defsparsity(add_p, lambda S, x, y: S.linear(x, y))
add = _binary(add_p)

sub_p = elementwise("sub", np.subtract, 2)
defjvp(sub_p, lambda x_dot, ans, x, y: x_dot, lambda y_dot, ans, x, y: negative(y_dot))
defvjp(sub_p, lambda ans_bar, ans, x, y: ans_bar, lambda ans_bar, ans, x, y: negative(ans_bar))
defsparsity(sub_p, lambda S, x, y: S.linear(x, y))
subtract = _binary(sub_p)

# -- mul: d(xy) = y dx + x dy -----------------------------------------------------------
mul_p = elementwise("mul", np.multiply, 2)
defderiv(mul_p, lambda ans, x, y: y, lambda ans, x, y: x)
defsparsity(mul_p, lambda S, x, y: S.product(x, y))  # a known-zero factor: no dependency


def _unit_factor(x: Any, y: Any) -> Any:
    """``x * y`` when one factor is a constant 1 everywhere that broadcasts nothing:
    the other, bit for bit (x * 1.0 is x in IEEE arithmetic), not recorded. The
    cotangent of a ``sum`` (ones) multiplies every partial of a gradient graph. A new
    tracer of the same variable: an in-place update of one does not rebind the other."""
    for a, b in ((x, y), (y, x)):
        if type(a) is Tracer and not isinstance(b, Tracer):
            sb = np.shape(b)
            if sb == () or sb == a.shape:
                flat = np.asarray(b).reshape(-1)  # a few entries first: other arrays
                if flat.dtype.kind not in "biuf":  # complex, object: the usual error
                    return None
                step = max(1, flat.size // 8)  # (weights) cost O(1), not a pass
                if (flat[::step] == 1.0).all() and (flat == 1.0).all():
                    return Tracer(a._trace, a._var, a._value)
    return None


multiply = _binary(mul_p, _unit_factor)

# -- div: d(x/y) = dx / y - (x/y) dy / y ----------------------------------------------
div_p = elementwise("div", np.divide, 2)
defderiv(div_p, lambda ans, x, y: 1.0 / y, lambda ans, x, y: negative(ans / y))
defsparsity(div_p, lambda S, x, y: S.quotient(x, y))
divide = _binary(div_p)

# -- pow: d(x^y) = y x^(y-1) dx + log(x) x^y dy ---------------------------------------
# At x == 0 the dy term is taken as 0 (log is evaluated at 1 there), as JAX does: it is
# the limit of log(x) x^y as x -> 0+ for y > 0 (so d/dp 0**p = 0), and 0**y = inf for
# y < 0 keeps the derivative nan (0 * inf).
pow_p = elementwise("pow", np.power, 2)


def _is_zero(x: Any) -> Any:
    return x == 0.0


def _pow_dy(ans: Any, x: Any, y: Any) -> Any:
    return log(select(guard(_is_zero, x), np.ones(shape_of(x)), x)) * ans


defderiv(pow_p, lambda ans, x, y: y * power(x, y - 1.0), _pow_dy)
_pow = _binary(pow_p)


# -- integer_pow: d(x^n) = n x^(n-1) dx (exact for negative x) -------------------------
def _integer_pow_impl(x, *, n):
    return np.power(x, n)


integer_pow_p = Primitive("integer_pow", _same_shape, _integer_pow_impl, n_in=1)
defsparsity(integer_pow_p, lambda S, x, *, n: S.product(x))  # n >= 1: zero stays zero


def _integer_pow_deriv(ans, x, *, n):
    if n == 2:
        return 2.0 * x
    return float(n) * integer_pow(x, n - 1)


defderiv(integer_pow_p, _integer_pow_deriv)


def integer_pow(x: Any, n: int) -> Any:
    """``x ** n`` for a Python integer n, recorded as one primitive."""
    n = int(n)
    if n == 0:
        return np.ones(shape_of(x))
    if n == 1:
        return x
    if not traced(x):
        return np.power(np.asarray(x, dtype=np.float64), n)
    return integer_pow_p.bind(x, n=n)


def power(x: Any, y: Any) -> Any:
    """``x ** y``: integer exponents and 0.5 get their own primitives."""
    if not isinstance(y, (np.ndarray,)) and not traced(y):
        yv = float(y)
        if yv.is_integer() and abs(yv) <= 64:
            return integer_pow(x, int(yv)) if yv >= 0 else 1.0 / integer_pow(x, -int(yv))
        if yv == 0.5:
            return sqrt(x)
    return _pow(x, y)


def square(x: Any) -> Any:
    """``np.square``: ``integer_pow(x, 2)``."""
    return integer_pow(x, 2)


# -- the transcendental functions: one line each, the derivative beside it -------------
sin_p = elementwise("sin", np.sin)
defderiv(sin_p, lambda ans, x: cos(x))
sin = _unary(sin_p)

cos_p = elementwise("cos", np.cos)
defderiv(cos_p, lambda ans, x: negative(sin(x)))
cos = _unary(cos_p)

tan_p = elementwise("tan", np.tan)
defderiv(tan_p, lambda ans, x: 1.0 + square(ans))  # sec^2 = 1 + tan^2
tan = _unary(tan_p)

exp_p = elementwise("exp", np.exp)
defderiv(exp_p, lambda ans, x: ans)
exp = _unary(exp_p)

log_p = elementwise("log", np.log)
defderiv(log_p, lambda ans, x: 1.0 / x)
log = _unary(log_p)

log1p_p = elementwise("log1p", np.log1p)
defderiv(log1p_p, lambda ans, x: 1.0 / (1.0 + x))
log1p = _unary(log1p_p)

expm1_p = elementwise("expm1", np.expm1)
defderiv(expm1_p, lambda ans, x: ans + 1.0)
expm1 = _unary(expm1_p)

sqrt_p = elementwise("sqrt", np.sqrt)
defderiv(sqrt_p, lambda ans, x: 0.5 / ans)
sqrt = _unary(sqrt_p)

tanh_p = elementwise("tanh", np.tanh)
defderiv(tanh_p, lambda ans, x: 1.0 - square(ans))
tanh = _unary(tanh_p)

sinh_p = elementwise("sinh", np.sinh)
defderiv(sinh_p, lambda ans, x: cosh(x))
sinh = _unary(sinh_p)

cosh_p = elementwise("cosh", np.cosh)
defderiv(cosh_p, lambda ans, x: sinh(x))
cosh = _unary(cosh_p)

arctan_p = elementwise("arctan", np.arctan)
defderiv(arctan_p, lambda ans, x: 1.0 / (1.0 + square(x)))
arctan = _unary(arctan_p)

arcsin_p = elementwise("arcsin", np.arcsin)
defderiv(arcsin_p, lambda ans, x: 1.0 / sqrt(1.0 - square(x)))
arcsin = _unary(arcsin_p)

arccos_p = elementwise("arccos", np.arccos)
defderiv(arccos_p, lambda ans, x: -1.0 / sqrt(1.0 - square(x)))
arccos = _unary(arccos_p)

# -- abs: d|x| = sign(x) dx --------------------------------------------------------------
# At x = 0 the derivative is 0: PyTorch's convention (JAX takes 1, the right derivative).
# 0 is the smallest subgradient, and it is what |x| = maximum(x, -x) gives here, where a
# tie splits the derivative equally (so both ways of writing |x| agree, and so do the
# norms built on it). The kernels (ad/kernels/elementwise.py, ABS) use the same _sign.
abs_p = elementwise("abs", np.abs)
defderiv(abs_p, lambda ans, x: guard(np.sign, x))
abs = _unary(abs_p)  # noqa: A001  (the NumPy name)


# -- maximum / minimum: the derivative follows the larger (smaller) operand; ties split --
def _weights(first: Any) -> Any:
    def weights(cx: Any, cy: Any) -> np.ndarray:
        return np.where(first(cx, cy), 1.0, np.where(cx == cy, 0.5, 0.0))

    weights.__name__ = f"{first.__name__}_weight"
    return weights


_WEIGHTS = {np.greater: _weights(np.greater), np.less: _weights(np.less)}


def _pick(first: Any, x: Any, y: Any) -> np.ndarray:
    """Weight of x in max(x, y) (first = greater) or min: 1, 0.5 on a tie, 0 (a guard)."""
    return guard(_WEIGHTS[first], x, y)


maximum_p = elementwise("maximum", np.maximum, 2)
defderiv(
    maximum_p,
    lambda ans, x, y: _pick(np.greater, x, y),
    lambda ans, x, y: _pick(np.greater, y, x),
)
maximum = _binary(maximum_p)

minimum_p = elementwise("minimum", np.minimum, 2)
defderiv(minimum_p, lambda ans, x, y: _pick(np.less, x, y), lambda ans, x, y: _pick(np.less, y, x))
minimum = _binary(minimum_p)


# -- select: where(mask, a, b) with a concrete mask -------------------------------------
# Masked branches, e.g. np.where(x > 0, np.sqrt(np.abs(x)), 0.0) at x = 0, as JAX does:
# - forward mode gives the derivative of the branch taken (0 here): the tangent of the
#   other branch is dropped, even where it is inf or nan;
# - reverse mode gives the other branch a zero cotangent, and upstream an infinite
#   partial derivative (sqrt at 0) turns it into 0 * inf = nan, as in JAX (and PyTorch).
#   Under the "raise" policy (ad.policy) that is a NonFiniteError saying exactly this (a
#   zero cotangent met an infinite partial derivative of `sqrt`) and how to mask the
#   operand instead; under "propagate" the nan is returned.
# We keep JAX's answer rather than forcing 0 * inf = 0 in the adjoint sweep: the product
# is 0 only when the zero is structural (a dropped branch), not when it is computed (at
# x = 0, y = sqrt(x) gets the cotangent 2 y = 0 from y**2, yet d/dx sqrt(x)**2 = 1), so a
# blanket 0 would turn an error into a silent wrong answer.
def _select_impl(a, b, *, mask):
    return np.where(mask, a, b)


select_p = Primitive("select", _same_shape, _select_impl, n_in=2)


def select_a_rule(t, ans, a, b, *, mask):
    return select(mask, t, np.zeros(shape_of(t)))


def select_b_rule(t, ans, a, b, *, mask):
    return select(mask, np.zeros(shape_of(t)), t)


defjvp(select_p, select_a_rule, select_b_rule)
defvjp(select_p, select_a_rule, select_b_rule)


def select_sparsity(S, a, b, *, mask):
    # exact: entry k follows a where mask[k] and b elsewhere (the mask is concrete)
    k = np.arange(mask.size).reshape(mask.shape)
    return S.take((a, b), np.where(mask, k, k + mask.size), in_ndims=mask.ndim)


defsparsity(select_p, select_sparsity)


def select(mask: Any, a: Any, b: Any) -> Any:
    """``np.where(mask, a, b)`` for a concrete boolean mask (it has no derivative).

    The unselected branch gets an exact zero tangent / cotangent from this node; see
    the comment above the rules for an infinite derivative upstream of it.
    """
    mask = np.asarray(concrete(mask), dtype=bool)
    if not traced(a, b):
        return np.where(mask, a, b)
    shape = np.broadcast_shapes(mask.shape, shape_of(a), shape_of(b))
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    return select_p.bind(a, b, mask=np.broadcast_to(mask, shape[len(shape) - mask.ndim :]).copy())


def sign(x: Any) -> Any:
    """``np.sign``: piecewise constant, so a constant (zero derivative), a guard."""
    return guard(np.sign, x)


# -- arctan2: d atan2(y, x) = (x dy - y dx) / (x^2 + y^2) ------------------------------
# Its own primitive: a composite through arctan(y / x) would divide by zero on the
# y axis and need quadrant corrections; the rule is undefined only at the origin.
def _atan2_denominator(y: Any, x: Any) -> Any:
    return add(square(x), square(y))


arctan2_p = elementwise("arctan2", np.arctan2, 2)
defderiv(
    arctan2_p,
    lambda ans, y, x: divide(x, _atan2_denominator(y, x)),
    lambda ans, y, x: negative(divide(y, _atan2_denominator(y, x))),
)
arctan2 = _binary(arctan2_p)


# -- logaddexp: log(e^x + e^y) ;  d/dx = e^(x - ans), d/dy = e^(y - ans) ----------------
# Its own primitive (the softplus of a logistic loss): the partials are computed from
# the result, stably, and are exact to every order, also at x == y, where a
# max-and-log1p composite would lose the second derivative.
logaddexp_p = elementwise("logaddexp", np.logaddexp, 2)
defderiv(
    logaddexp_p,
    lambda ans, x, y: exp(subtract(x, ans)),
    lambda ans, x, y: exp(subtract(y, ans)),
)
logaddexp = _binary(logaddexp_p)
