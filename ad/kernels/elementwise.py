"""Kernel blocks of the elementwise instructions: value, derivative, and the three
sweeps' loops, one block per family.

Every elementwise rule is diagonal, so one partial derivative per operand serves both
modes: forward ``ans_dot[r] = d * x_dot[r]`` and reverse ``x_bar[r] += d * ans_bar[r]``
for each of the p (q) directions r. The derivative is computed from the operand and
the recorded result ``ans`` (the tape), never by recomputing the primal.

The forward blocks are inlined into the sweep (``kjit(inline=True)``) so that their
opcode is a constant there and LLVM folds the if/elif chains of :func:`unary` and
:func:`binary` out of the element loop; as separate functions they were too large for
LLVM to inline, every element went through the chain, and the forward sweep cost
about 4.5 ns per element against 0.4-0.8 for the primal's (Rosenbrock, n = 1000).
Their ``p == 1`` branches (one direction: a Hessian-vector product) have no inner loop.

Payloads (``j`` indexes the instruction's slice of ``code``; offsets are slots):

- unary ``[out, x, size, n]`` (``n``: the exponent of ``integer_pow``, else 0);
- binary ``[out, x, y, size]``;
- select ``[out, a, b, size, mask]`` (``mask``: offset of a 0/1 map in the int pool);
- scalar fast paths ``[out, x]`` and ``[out, x, y]`` (size 1, no loop).

``act`` is the instruction's activity word: bit 0 = its derivative is needed (the
output depends on an input and reaches an output); bit 1 + i = operand i depends on
an input. Partials of an operand that does not are never read (so ``pow(x, c)``
never forms ``log(x) * 0``) and its adjoint is never written.
"""

from __future__ import annotations

import math

from ad.kernels.jit import kjit
from ad.kernels.opcodes import (
    ABS,
    ADD,
    ADD_S,
    ARCCOS,
    ARCSIN,
    ARCTAN,
    COS,
    COS_S,
    COSH,
    DIV,
    EXP,
    EXPM1,
    INTEGER_POW,
    LOG,
    LOG1P,
    MAXIMUM,
    MINIMUM,
    MUL,
    MUL_S,
    NEG,
    POW,
    SIN,
    SIN_S,
    SINH,
    SQRT,
    SUB,
    SUB_S,
    TAN,
    TANH,
    TANH_S,
)

# ==================================================================================
# unary: ans = f(x);  d = f'(x), written with ans where that is cheaper
# ==================================================================================


@kjit
def unary(op, x, ans, n, value):
    """``f(x)`` if ``value`` else ``f'(x)`` (given ``ans = f(x)``) for unary ``op``."""
    if op == NEG:
        return -x if value else -1.0
    elif op == SIN:  # d sin = cos
        return math.sin(x) if value else math.cos(x)
    elif op == COS:  # d cos = -sin
        return math.cos(x) if value else -math.sin(x)
    elif op == TAN:  # d tan = 1 + tan^2
        return math.tan(x) if value else 1.0 + ans * ans
    elif op == EXP:
        return math.exp(x) if value else ans
    elif op == LOG:
        return _log(x) if value else _div(1.0, x)
    elif op == LOG1P:
        return (math.log1p(x) if x > -1.0 else _log(x + 1.0)) if value else _div(1.0, 1.0 + x)
    elif op == EXPM1:
        return math.expm1(x) if value else ans + 1.0
    elif op == SQRT:  # d sqrt = 1 / (2 sqrt)
        return _sqrt(x) if value else _div(0.5, ans)
    elif op == TANH:  # d tanh = 1 - tanh^2
        return math.tanh(x) if value else 1.0 - ans * ans
    elif op == SINH:
        return math.sinh(x) if value else math.cosh(x)
    elif op == COSH:
        return math.cosh(x) if value else math.sinh(x)
    elif op == ARCTAN:  # d atan = 1 / (1 + x^2)
        return math.atan(x) if value else _div(1.0, 1.0 + x * x)
    elif op == ARCSIN:  # d asin = 1 / sqrt(1 - x^2)
        return _asin(x) if value else _div(1.0, _sqrt(1.0 - x * x))
    elif op == ARCCOS:  # d acos = -1 / sqrt(1 - x^2)
        return _acos(x) if value else _div(-1.0, _sqrt(1.0 - x * x))
    elif op == ABS:  # d|x| = sign(x), 0 at 0 (PyTorch's convention, as the reference rule)
        return abs(x) if value else _sign(x)
    elif op == INTEGER_POW:  # d x^n = n x^(n-1)
        if value:
            return _ipow(x, n)
        return 2.0 * x if n == 2 else n * _ipow(x, n - 1)
    return math.nan


@kjit(inline=True)
def sin_cos_dual(is_sin, x):
    """(value, derivative) of sin (``is_sin``) or cos at x: the forward rules need both
    (two libm calls; LLVM does not fuse them into one sincos)."""
    s, c = math.sin(x), math.cos(x)
    return (s, c) if is_sin else (c, -s)


@kjit
def _log(x):
    """np.log: -inf at 0, NaN below 0 or at NaN (Python's math.log would raise)."""
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


@kjit
def _sqrt(x):
    return math.sqrt(x) if x >= 0.0 else math.nan


@kjit
def _asin(x):
    return math.asin(x) if -1.0 <= x <= 1.0 else math.nan


@kjit
def _acos(x):
    return math.acos(x) if -1.0 <= x <= 1.0 else math.nan


@kjit
def _sign(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x  # 0.0 (or NaN, as np.sign)


@kjit
def _ipow(x, n):
    """x ** n for an integer n (inf at 0 for n < 0, as NumPy)."""
    if n == 2:
        return x * x
    if x == 0.0 and n < 0:
        return math.inf
    return x ** float(n)


@kjit
def unary_primal(op, code, j, values):
    o, a, size, n = code[j], code[j + 1], code[j + 2], code[j + 3]
    for k in range(size):
        values[o + k] = unary(op, values[a + k], 0.0, n, True)


@kjit(inline=True)
def unary_forward(op, code, j, act, values, partials):
    o, a, size, n = code[j], code[j + 1], code[j + 2], code[j + 3]
    if not act & 1:  # no derivative needed: the primal loop
        unary_primal(op, code, j, values)
        return
    p = partials.shape[1]
    for k in range(size):
        x = values[a + k]
        if op == SIN or op == COS:  # value and derivative from one argument reduction
            ans, d = sin_cos_dual(op == SIN, x)
        else:
            ans = unary(op, x, 0.0, n, True)
            d = unary(op, x, ans, n, False)
        values[o + k] = ans
        if p == 1:  # one direction (a Hessian-vector product): no inner loop
            partials[o + k, 0] = d * partials[a + k, 0]
        else:
            for r in range(p):  # p directions of the dual number
                partials[o + k, r] = d * partials[a + k, r]


@kjit
def unary_reverse(op, code, j, values, adjoints):
    o, a, size, n = code[j], code[j + 1], code[j + 2], code[j + 3]
    q = adjoints.shape[1]
    for k in range(size):
        d = unary(op, values[a + k], values[o + k], n, False)
        for r in range(q):  # x_bar += f'(x) ans_bar, q cotangents at once
            adjoints[a + k, r] += d * adjoints[o + k, r]


# ==================================================================================
# binary: ans = f(x, y);  which = 0 value, 1 df/dx, 2 df/dy
# ==================================================================================


@kjit
def binary(op, x, y, ans, which):
    """``f(x, y)`` (which = 0), ``df/dx`` (1) or ``df/dy`` (2) for binary ``op``."""
    if op == ADD:
        return x + y if which == 0 else 1.0
    elif op == SUB:
        return x - y if which == 0 else (1.0 if which == 1 else -1.0)
    elif op == MUL:  # d(xy) = y dx + x dy
        return x * y if which == 0 else (y if which == 1 else x)
    elif op == DIV:  # d(x/y) = dx / y - (x/y) dy / y
        if which == 0:
            return _div(x, y)
        return _div(1.0, y) if which == 1 else -_div(ans, y)
    elif op == POW:  # d x^y = y x^(y-1) dx + log(x) x^y dy, the dy term 0 at x == 0 (as JAX)
        if which == 0:
            return _pow(x, y)
        return y * _pow(x, y - 1.0) if which == 1 else _log(1.0 if x == 0.0 else x) * ans
    elif op == MAXIMUM:  # the larger operand; ties split equally
        if which == 0:
            return x if (x > y or x != x) else y
        return _pick(x, y) if which == 1 else _pick(y, x)
    elif op == MINIMUM:
        if which == 0:
            return x if (x < y or x != x) else y
        return _pick(y, x) if which == 1 else _pick(x, y)
    return math.nan


@kjit
def _div(x, y):
    """x / y with IEEE semantics (Python's ZeroDivisionError is not wanted here)."""
    if y == 0.0:
        if x == 0.0 or x != x:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


@kjit
def _pow(x, y):
    if x == 0.0 and y < 0.0:
        return math.inf
    if x < 0.0 and y != math.floor(y):
        return math.nan
    return x**y


@kjit
def _pick(x, y):
    """Weight of x in max(x, y): 1 if larger, 0.5 on a tie, 0 if smaller."""
    if x > y:
        return 1.0
    return 0.5 if x == y else 0.0


@kjit
def binary_primal(op, code, j, values):
    o, a, b, size = code[j], code[j + 1], code[j + 2], code[j + 3]
    for k in range(size):
        values[o + k] = binary(op, values[a + k], values[b + k], 0.0, 0)


@kjit(inline=True)
def binary_forward(op, code, j, act, values, partials):
    o, a, b, size = code[j], code[j + 1], code[j + 2], code[j + 3]
    if not act & 1:  # no derivative needed: the primal loop
        binary_primal(op, code, j, values)
        return
    p = partials.shape[1]
    for k in range(size):
        x, y = values[a + k], values[b + k]
        ans = binary(op, x, y, 0.0, 0)
        values[o + k] = ans
        # only active operands contribute: an inactive one has a zero tangent, and
        # its derivative is never formed (pow(x, c) would give log(x) * 0)
        if act & 6 == 6:
            dx, dy = binary(op, x, y, ans, 1), binary(op, x, y, ans, 2)
            if p == 1:
                partials[o + k, 0] = dx * partials[a + k, 0] + dy * partials[b + k, 0]
            else:
                for r in range(p):
                    partials[o + k, r] = dx * partials[a + k, r] + dy * partials[b + k, r]
        else:
            # one active operand c with derivative d
            c, d = (a, binary(op, x, y, ans, 1)) if act & 2 else (b, binary(op, x, y, ans, 2))
            if p == 1:
                partials[o + k, 0] = d * partials[c + k, 0]
            else:
                for r in range(p):
                    partials[o + k, r] = d * partials[c + k, r]


@kjit
def binary_reverse(op, code, j, act, values, adjoints):
    o, a, b, size = code[j], code[j + 1], code[j + 2], code[j + 3]
    q = adjoints.shape[1]
    for k in range(size):
        x, y, ans = values[a + k], values[b + k], values[o + k]
        if act & 2:
            dx = binary(op, x, y, ans, 1)
            for r in range(q):
                adjoints[a + k, r] += dx * adjoints[o + k, r]
        if act & 4:
            dy = binary(op, x, y, ans, 2)
            for r in range(q):
                adjoints[b + k, r] += dy * adjoints[o + k, r]


# ==================================================================================
# select: ans = mask ? a : b  (mask concrete, in the int pool; no derivative of its own)
# ==================================================================================


@kjit
def select_primal(code, j, pool, values):
    o, a, b, size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    for k in range(size):
        values[o + k] = values[a + k] if pool[m + k] else values[b + k]


@kjit
def select_forward(code, j, pool, act, values, partials):
    select_primal(code, j, pool, values)
    if not act & 1:
        return
    o, a, b, size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    p = partials.shape[1]
    for k in range(size):
        src = a if pool[m + k] else b
        live = (act & 2) if pool[m + k] else (act & 4)
        for r in range(p):  # the unselected branch gets an exact zero
            partials[o + k, r] = partials[src + k, r] if live else 0.0


@kjit
def select_reverse(code, j, pool, act, adjoints):
    o, a, b, size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    q = adjoints.shape[1]
    for k in range(size):
        if pool[m + k]:
            if act & 2:
                for r in range(q):
                    adjoints[a + k, r] += adjoints[o + k, r]
        elif act & 4:
            for r in range(q):
                adjoints[b + k, r] += adjoints[o + k, r]


# ==================================================================================
# scalar fast paths: size-1 add, sub, mul, sin, cos, tanh, square (payload [out, x(, y)])
# ==================================================================================


@kjit
def scalar_value(op, x, y):
    if op == ADD_S:
        return x + y
    elif op == SUB_S:
        return x - y
    elif op == MUL_S:
        return x * y
    elif op == SIN_S:
        return math.sin(x)
    elif op == COS_S:
        return math.cos(x)
    elif op == TANH_S:
        return math.tanh(x)
    return x * x  # SQUARE_S


@kjit
def scalar_dx(op, x, y, ans):
    """d ans / d x (the first operand)."""
    if op == ADD_S or op == SUB_S:
        return 1.0
    elif op == MUL_S:
        return y
    elif op == SIN_S:
        return math.cos(x)
    elif op == COS_S:
        return -math.sin(x)
    elif op == TANH_S:
        return 1.0 - ans * ans
    return 2.0 * x  # SQUARE_S


@kjit
def scalar_dy(op, x):
    """d ans / d y (the second operand of add, sub, mul)."""
    if op == ADD_S:
        return 1.0
    elif op == SUB_S:
        return -1.0
    return x  # MUL_S


@kjit(inline=True)
def scalar_forward(op, code, j, act, values, partials):
    o, a = code[j], code[j + 1]
    binary_op = op == ADD_S or op == SUB_S or op == MUL_S
    b = code[j + 2] if binary_op else a
    x, y = values[a], values[b]
    if (op == SIN_S or op == COS_S) and act & 1:  # value and derivative from one reduction
        ans, dx = sin_cos_dual(op == SIN_S, x)
    else:
        ans = scalar_value(op, x, y)
        dx = scalar_dx(op, x, y, ans) if act & 3 == 3 else 0.0
    values[o] = ans
    if not act & 1:
        return
    p = partials.shape[1]
    if p == 1:  # the textbook one-direction sweep: no loop
        t = dx * partials[a, 0] if act & 2 else 0.0
        if binary_op and act & 4:
            t += scalar_dy(op, x) * partials[b, 0]
        partials[o, 0] = t
        return
    if binary_op and act & 4:
        dy = scalar_dy(op, x)
        if act & 2:
            for r in range(p):
                partials[o, r] = dx * partials[a, r] + dy * partials[b, r]
        else:
            for r in range(p):
                partials[o, r] = dy * partials[b, r]
    else:
        for r in range(p):
            partials[o, r] = dx * partials[a, r]


@kjit(inline=True)
def scalar_reverse(op, code, j, act, values, adjoints):
    o, a = code[j], code[j + 1]
    binary_op = op == ADD_S or op == SUB_S or op == MUL_S
    b = code[j + 2] if binary_op else a
    x, y = values[a], values[b]
    q = adjoints.shape[1]
    if q == 1:  # one cotangent (a gradient): no loop
        g = adjoints[o, 0]
        if act & 2:
            adjoints[a, 0] += scalar_dx(op, x, y, values[o]) * g
        if binary_op and act & 4:
            adjoints[b, 0] += scalar_dy(op, x) * g
        return
    if act & 2:
        dx = scalar_dx(op, x, y, values[o])
        for r in range(q):
            adjoints[a, r] += dx * adjoints[o, r]
    if binary_op and act & 4:
        dy = scalar_dy(op, x)
        for r in range(q):
            adjoints[b, r] += dy * adjoints[o, r]
