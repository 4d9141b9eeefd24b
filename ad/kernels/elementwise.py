"""Elementwise instructions: one line of maths per primitive, the loops generated.

An elementwise rule is diagonal, so one partial derivative per operand serves both
modes: forward ``ans_dot[k] = d_k * x_dot[k]`` and reverse ``x_bar[k] += d_k * ans_bar[k]``
(for each of the p, or q, directions). Each primitive is therefore one row of a table
below: its value and its partial derivatives as Python expressions of the element
values ``x`` (``y``) and of the recorded result ``ans`` (the tape), never recomputing
the primal. :mod:`ad.kernels.generate` turns every row into the kernels of the three
sweeps, two instructions per primitive:

- ``<name>``: the whole-array loop, ``[out, x, size(, n)]`` for unary and
  ``[out, x, y, size, sx, sy]`` for binary primitives. ``sx``/``sy`` are the operand's
  element strides, 1 or 0: an operand broadcast from one number (``2.0 * x``) is read
  in place, never materialised. Loops run over slices, so LLVM vectorises them;
- ``<name>.s``: the scalar fast path (size 1), pasted into the sweep's dispatch loop
  (a scalar Wengert list spends ~15 ns per instruction, so a call would dominate).
- the ``tangents`` kernel of ``<name>``: its forward rule inside a fused group at
  2 <= p <= ``fusion.TANGENT_MAX_P`` directions, over ``(p, block)`` columns of tangents
  (:mod:`ad.kernels.fusion`).

Only active operands contribute (activity bits, see :mod:`ad.kernels.table`): the
derivative of an inactive operand is never formed, so ``pow(x, c)`` never evaluates
``log(x) * 0``.

To add an elementwise primitive: one row here (with its rule block in
``ad/primitives/elementwise.py`` and its test case), then ``make generate``.
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Any

import numpy as np

from ad.kernels.jit import bits_as_float, kjit
from ad.kernels.table import Generated, Inline, Instruction, arg, declare, lowering, num, out

# ==================================================================================
# The maths: value and partial derivatives of each elementwise primitive
# ==================================================================================

#: unary primitive -> (value of x, d ans / d x given x and ans). ``n``: integer_pow's
#: exponent (an int field of that instruction only).
UNARY: dict[str, tuple[str, str]] = {
    "neg": ("-x", "-1.0"),
    "sin": ("math.sin(x)", "math.cos(x)"),
    "cos": ("math.cos(x)", "-math.sin(x)"),
    "tan": ("math.tan(x)", "1.0 + ans * ans"),  # sec^2 = 1 + tan^2
    "exp": ("_exp(x)", "ans"),
    "log": ("_log(x)", "_div(1.0, x)"),
    "log1p": ("_log1p(x)", "_div(1.0, 1.0 + x)"),
    "expm1": ("math.expm1(x)", "ans + 1.0"),
    "sqrt": ("_sqrt(x)", "_div(0.5, ans)"),
    "tanh": ("math.tanh(x)", "1.0 - ans * ans"),
    "sinh": ("math.sinh(x)", "math.cosh(x)"),
    "cosh": ("math.cosh(x)", "math.sinh(x)"),
    "arctan": ("math.atan(x)", "_div(1.0, 1.0 + x * x)"),
    "arcsin": ("_asin(x)", "_div(1.0, _sqrt(1.0 - x * x))"),
    "arccos": ("_acos(x)", "_div(-1.0, _sqrt(1.0 - x * x))"),
    "abs": ("abs(x)", "_sign(x)"),  # sign(0) = 0: PyTorch's convention, as the reference rule
    "integer_pow": ("_ipow(x, n)", "_dipow(x, n)"),  # n x^(n-1)
}

#: binary primitive -> (value, d ans / d x, d ans / d y), given x, y and ans.
BINARY: dict[str, tuple[str, str, str]] = {
    "add": ("x + y", "1.0", "1.0"),
    "sub": ("x - y", "1.0", "-1.0"),
    "mul": ("x * y", "y", "x"),
    "div": ("_div(x, y)", "_div(1.0, y)", "-_div(ans, y)"),
    # d/dy x^y = x^y log x, and 0 at x == 0 (as JAX: the limit along x^y = 0)
    "pow": ("_pow(x, y)", "y * _pow(x, y - 1.0)", "_log(1.0 if x == 0.0 else x) * ans"),
    "maximum": ("_max(x, y)", "_pick(x, y)", "_pick(y, x)"),  # ties split equally
    "minimum": ("_min(x, y)", "_pick(y, x)", "_pick(x, y)"),
    # atan2(x, y) (NumPy's arctan2(x1, x2)): d = (y dx - x dy) / (x^2 + y^2)
    "arctan2": ("math.atan2(x, y)", "_div(y, x * x + y * y)", "-_div(x, x * x + y * y)"),
    "logaddexp": ("_logaddexp(x, y)", "math.exp(x - ans)", "math.exp(y - ans)"),
}

# ==================================================================================
# Scalar helpers with NumPy's semantics (IEEE results where Python's math raises;
# the same code runs as plain Python under NUMBA_DISABLE_JIT=1)
# ==================================================================================


@kjit
def _div(x, y):
    """x / y with IEEE semantics (no ZeroDivisionError)."""
    if y == 0.0:
        if x == 0.0 or x != x:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


# exp by a table of 2^(j/64) (Tang's method, ACM TOMS 1989): x = (64 k' + j) ln2/64 + r
# with |r| <= ln2/128, e^x = 2^k' 2^(j/64) e^r, e^r - 1 by its Taylor polynomial to r^5
# (what it leaves out is below 2^-60). ln2/64 comes in two parts (fdlibm's split of
# ln 2, over 64), the first with trailing zeros, so that k ln2/64 is exact for every
# k in range. The table holds each 2^(j/64) correctly rounded (computed in decimal).
with decimal.localcontext(prec=40):
    _EXP_TABLE = np.array(
        [float(decimal.Decimal(2) ** (decimal.Decimal(j) / 64)) for j in range(64)]
    )
_EXP_SCALE = 64.0 / math.log(2.0)
_LN2_64_HI = 6.93147180369123816490e-01 / 64.0
_LN2_64_LO = 1.90821492927058770002e-10 / 64.0


@kjit
def _exp(x):
    """e^x within 1 ulp of np.exp (equal to it on 3 inputs in 4, and at 0), inf above
    709.78, 0 below -745.13 (subnormal in between), NaN at NaN.

    Not ``math.exp``: libm's exp is a call, and a call keeps LLVM from vectorising the
    loop around it. Every step here is arithmetic, a table read, a select or a bit
    cast, so a loop of ``_exp`` vectorises. Measured on this project's host (AVX-512,
    10^4 entries, one core): 10.9 us against 43 us for libm's exp in the same loop
    (NumPy's own SIMD exp: 8.1 us). Where the loop does not vectorise (p partials per
    entry) it is about libm's speed: faster in throughput (66 against 80 us with 5
    products per entry), slower on a dependency chain (20 against 11 ns a step). The
    power 2^k' is two factors, each normal for every k' in range, so overflow,
    underflow and subnormal results come out of one rounded product."""
    xc = 710.0 if x > 710.0 else x  # e^710 overflows, e^-746 underflows: k stays small
    xc = -746.0 if xc < -746.0 else xc  # NaN passes both through
    k = math.floor((0.0 if xc != xc else xc) * _EXP_SCALE + 0.5)
    r = (xc - k * _LN2_64_HI) - k * _LN2_64_LO
    t = float(_EXP_TABLE[k & 63])  # a Python float under NUMBA_DISABLE_JIT
    y = t + t * (r + r * r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0)))))
    e = k >> 6
    e1 = e >> 1
    return y * bits_as_float((e1 + 1023) << 52) * bits_as_float((e - e1 + 1023) << 52)


@kjit
def _log(x):
    """np.log: -inf at 0, NaN below 0 or at NaN."""
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


@kjit
def _log1p(x):
    return math.log1p(x) if x > -1.0 else _log(x + 1.0)


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
def _dipow(x, n):
    """d x^n / dx = n x^(n-1)."""
    return 2.0 * x if n == 2 else n * _ipow(x, n - 1)


@kjit
def _pow(x, y):
    if x == 0.0 and y < 0.0:
        return math.inf
    if x < 0.0 and y != math.floor(y):
        return math.nan
    return x**y


@kjit
def _max(x, y):
    return x if (x > y or x != x) else y  # NaN propagates, as np.maximum


@kjit
def _min(x, y):
    return x if (x < y or x != x) else y


@kjit
def _pick(x, y):
    """Weight of x in max(x, y): 1 if larger, 0.5 on a tie, 0 if smaller."""
    if x > y:
        return 1.0
    return 0.5 if x == y else 0.0


@kjit
def _logaddexp(x, y):
    """log(e^x + e^y) = max + log1p(e^-|x - y|), as np.logaddexp (inf at inf, NaN in)."""
    if x == y:
        return x + math.log(2.0)
    if x != x or y != y:
        return math.nan
    hi, d = (x, y - x) if x > y else (y, x - y)
    return hi + math.log1p(math.exp(d))


#: The helpers the generated kernels call (imported by the generated module).
HELPERS = (
    "_acos _asin _dipow _div _exp _ipow _log _log1p _logaddexp _max _min _pick _pow _sign _sqrt"
).split()

# ==================================================================================
# Kernel sources, from the expressions (every line below is a template)
# ==================================================================================

_UNARY_PRIMAL = """\
@kjit
def {fn}(act, pool, values, work, out, x_, size{extra}):
    o_v, x_v = values[out : out + size], values[x_ : x_ + size]
    for k in range(size):
        x = x_v[k]
        o_v[k] = {value}
    return 0
"""

_UNARY_FORWARD = """\
@kjit
def {fn}(act, pool, values, duals, work, unit, out, x_, size{extra}):
    o_v, x_v = values[out : out + size], values[x_ : x_ + size]
    if not act & 1:
        for k in range(size):
            x = x_v[k]
            o_v[k] = {value}
        return 0
    p = duals.shape[1]
    o_d, x_d = duals[out : out + size], duals[x_ : x_ + size]
    if p == 1:
        o_1, x_1 = o_d.reshape(size), x_d.reshape(size)
        for k in range(size):
            x = x_v[k]
            ans = {value}
            o_v[k] = ans
            o_1[k] = ({deriv}) * x_1[k]
        return 0
{rows_forward}    return 0
"""

_UNARY_REVERSE = """\
@kjit
def {fn}(act, pool, values, duals, work, unit, out, x_, size{extra}):
    o_v, x_v = values[out : out + size], values[x_ : x_ + size]
    q = duals.shape[1]
    o_d, x_d = duals[out : out + size], duals[x_ : x_ + size]
    if q == 1:
        o_1, x_1 = o_d.reshape(size), x_d.reshape(size)
        for k in range(size):
            x, ans = x_v[k], o_v[k]
            x_1[k] += ({deriv}) * o_1[k]
        return 0
{rows_reverse}    return 0
"""

# Tangent-major kernels of a fused group's forward sweep (:mod:`ad.kernels.fusion`):
# the block's values and partials first (one pass, partials into D), then each of the
# p tangent rows of the output column ``T[co]`` as one contiguous loop over the block
# (LLVM vectorises it at any p, where the row-major ``[k, r]`` loops above run one
# entry at a time).
_UNARY_TANGENTS = """\
@kjit
def {fn}(act, values, T, D, co, cx, cy, out, x_, size{extra}):
    o_v, x_v = values[out : out + size], values[x_ : x_ + size]
    d_v = D[0, :size]
    for k in range(size):
        x = x_v[k]
        ans = {value}
        o_v[k] = ans
        {store_d}
    O, X = T[co], T[cx]
    for r in range(O.shape[0]):
        o_r, x_r = O[r], X[r]
        for k in range(size):
            o_r[k] = {d_k} * x_r[k]
    return 0
"""

# The row loops of the p >= 2 (q >= 2) unary kernels: one entry at a time over its p
# partials, or, with a constant partial (neg), one flat loop over the (size, p) block.
_UNARY_ROWS = {
    "forward": """\
    for k in range(size):
        x = x_v[k]
        ans = {value}
        o_v[k] = ans
        d = {deriv}
        for r in range(p):
            o_d[k, r] = d * x_d[k, r]
""",
    "reverse": """\
    for k in range(size):
        x, ans = x_v[k], o_v[k]
        d = {deriv}
        for r in range(q):
            x_d[k, r] += d * o_d[k, r]
""",
}
_UNARY_ROWS_CONSTANT = {
    "forward": """\
    for k in range(size):
        x = x_v[k]
        o_v[k] = {value}
    o_f, x_f = o_d.reshape(size * p), x_d.reshape(size * p)
    for j in range(size * p):
        o_f[j] = ({deriv}) * x_f[j]
""",
    "reverse": """\
    o_f, x_f = o_d.reshape(size * q), x_d.reshape(size * q)
    for j in range(size * q):
        x_f[j] += ({deriv}) * o_f[j]
""",
}


def constant(expr: str) -> bool:
    """True if a partial derivative is a number (add, sub, neg): its kernels need not
    store it per entry, and its loops over (entries, directions) run flat."""
    try:
        float(expr)
    except ValueError:
        return False
    return True


_UNARY_SCALAR = {
    "primal": "x = values[{x}]\nvalues[{out}] = {value}",
    "forward": """\
o_, x_ = {out}, {x}
x = values[x_]
ans = {value}
values[o_] = ans
if a & 1:
    d = {deriv}
    for r in range(duals.shape[1]):
        duals[o_, r] = d * duals[x_, r]""",
    "reverse": """\
o_, x_ = {out}, {x}
x, ans = values[x_], values[o_]
d = {deriv}
for r in range(duals.shape[1]):
    duals[x_, r] += d * duals[o_, r]""",
}

# Binary: sx, sy in {1, 0}; the fast loops take both strides 1, the general ones
# index by k * s (an operand broadcast from one number).
_BINARY_PRIMAL = """\
@kjit
def {fn}(act, pool, values, work, out, x_, y_, size, sx, sy):
    o_v = values[out : out + size]
    if sx == 1 and sy == 1:
        x_v, y_v = values[x_ : x_ + size], values[y_ : y_ + size]
        for k in range(size):
            x, y = x_v[k], y_v[k]
            o_v[k] = {value}
    elif sx == 0 and sy == 1:
        x, y_v = values[x_], values[y_ : y_ + size]
        for k in range(size):
            y = y_v[k]
            o_v[k] = {value}
    elif sx == 1 and sy == 0:
        x_v, y = values[x_ : x_ + size], values[y_]
        for k in range(size):
            x = x_v[k]
            o_v[k] = {value}
    else:
        for k in range(size):
            x, y = values[x_ + k * sx], values[y_ + k * sy]
            o_v[k] = {value}
    return 0
"""

# Binary kernels for one direction (p = 1 or q = 1) are written per stride case, so
# that every loop runs over contiguous slices (LLVM vectorises them): operands with
# stride 1 are read as slices, an operand with stride 0 (one number) is read once.
_CASES = (
    ("sx == 1 and sy == 1", True, True),
    ("sx == 0 and sy == 1", False, True),
    ("sx == 1 and sy == 0", True, False),
)


def _load(x_full: bool, y_full: bool, pad: str) -> list[str]:
    """Lines loading the operands: slices for stride 1, numbers for stride 0."""
    lines = []
    lines.append(pad + ("x_v = values[x_ : x_ + size]" if x_full else "x = values[x_]"))
    lines.append(pad + ("y_v = values[y_ : y_ + size]" if y_full else "y = values[y_]"))
    return lines


def _elem(x_full: bool, y_full: bool) -> str:
    """The per-entry reads of the stride-1 operands."""
    reads = [f"{v} = {v}_v[k]" for v, full in (("x", x_full), ("y", y_full)) if full]
    return "; ".join(reads) if reads else "pass"


def _binary_forward_one(value: str, dx: str, dy: str) -> list[str]:
    """The p = 1 branch of the forward kernel: o_dot = dx x_dot + dy y_dot."""
    out = ["    if p == 1:", "        o_1 = o_d.reshape(size)"]
    for n, (cond, xf, yf) in enumerate(_CASES):
        out.append(f"        {'if' if n == 0 else 'elif'} {cond}:")
        out += _load(xf, yf, "            ")
        for m, (act, terms) in enumerate(
            (("ax and ay", ("x", "y")), ("ax", ("x",)), ("ay", ("y",)))
        ):
            out.append(f"            {'if' if m == 0 else 'elif'} {act}:")
            for v, full in (("x", xf), ("y", yf)):
                if v in terms:
                    src = f"duals[{v}_ : {v}_ + size].reshape(size)" if full else f"duals[{v}_, 0]"
                    out.append(f"                {v}_1 = {src}")
            dot = {"x": dx, "y": dy}
            expr = " + ".join(
                f"({dot[v]}) * {v}_1" + ("[k]" if full else "")
                for v, full in (("x", xf), ("y", yf))
                if v in terms
            )
            out += [
                "                for k in range(size):",
                f"                    {_elem(xf, yf)}",
                f"                    ans = {value}",
                "                    o_v[k] = ans",
                f"                    o_1[k] = {expr}",
            ]
        out.append("            return 0")
    return out


def _binary_reverse_one(dx: str, dy: str) -> list[str]:
    """The q = 1 branch of the reverse kernel: x_bar += dx o_bar, y_bar += dy o_bar
    (an operand of stride 0 sums its contributions)."""
    out = ["    if q == 1:", "        o_1 = o_d.reshape(size)"]
    for n, (cond, xf, yf) in enumerate(_CASES):
        out.append(f"        {'if' if n == 0 else 'elif'} {cond}:")
        out += _load(xf, yf, "            ")
        for v, full, d in (("x", xf, dx), ("y", yf, dy)):
            out.append(f"            if a{v}:")
            if full:
                out += [
                    f"                {v}_1 = duals[{v}_ : {v}_ + size].reshape(size)",
                    "                for k in range(size):",
                    f"                    {_elem(xf, yf)}",
                    "                    ans = o_v[k]",
                    f"                    {v}_1[k] += ({d}) * o_1[k]",
                ]
            else:
                out += [
                    "                acc = 0.0",
                    "                for k in range(size):",
                    f"                    {_elem(xf, yf)}",
                    "                    ans = o_v[k]",
                    f"                    acc += ({d}) * o_1[k]",
                    f"                duals[{v}_, 0] += acc",
                ]
        out.append("            return 0")
    return out


# Binary kernels with constant partials (add, sub) at p >= 2 (q >= 2): operands of
# stride 1 read their (size, p) blocks as flat runs.
_BINARY_FLAT_FORWARD = """\
    if sx == 1 and sy == 1:
        x_v, y_v = values[x_ : x_ + size], values[y_ : y_ + size]
        for k in range(size):
            x, y = x_v[k], y_v[k]
            o_v[k] = {value}
        o_f = o_d.reshape(size * p)
        if ax and ay:
            x_f = duals[x_ : x_ + size].reshape(size * p)
            y_f = duals[y_ : y_ + size].reshape(size * p)
            for j in range(size * p):
                o_f[j] = ({dx}) * x_f[j] + ({dy}) * y_f[j]
        elif ax:  # an inactive operand has no dual rows
            x_f = duals[x_ : x_ + size].reshape(size * p)
            for j in range(size * p):
                o_f[j] = ({dx}) * x_f[j]
        else:
            y_f = duals[y_ : y_ + size].reshape(size * p)
            for j in range(size * p):
                o_f[j] = ({dy}) * y_f[j]
        return 0
"""
_BINARY_FLAT_REVERSE = """\
    if sx == 1 and sy == 1:
        o_f = o_d.reshape(size * q)
        if ax:
            x_f = duals[x_ : x_ + size].reshape(size * q)
            for j in range(size * q):
                x_f[j] += ({dx}) * o_f[j]
        if ay:
            y_f = duals[y_ : y_ + size].reshape(size * q)
            for j in range(size * q):
                y_f[j] += ({dy}) * o_f[j]
        return 0
"""


def _binary_forward(value: str, dx: str, dy: str) -> str:
    head = [
        "@kjit",
        "def {fn}(act, pool, values, duals, work, unit, out, x_, y_, size, sx, sy):",
        "    if not act & 1:",
        "        return {fn_primal}(act, pool, values, work, out, x_, y_, size, sx, sy)",
        "    p = duals.shape[1]",
        "    o_v = values[out : out + size]",
        "    o_d = duals[out : out + size]",
        "    ax, ay = act & 2, act & 4",
    ]
    general = """\
    for k in range(size):
        i, j = x_ + k * sx, y_ + k * sy
        x, y = values[i], values[j]
        ans = {value}
        o_v[k] = ans
        if ax and ay:
            d, e = {dx}, {dy}
            for r in range(p):
                o_d[k, r] = d * duals[i, r] + e * duals[j, r]
        elif ax:
            d = {dx}
            for r in range(p):
                o_d[k, r] = d * duals[i, r]
        else:
            e = {dy}
            for r in range(p):
                o_d[k, r] = e * duals[j, r]
    return 0
"""
    if constant(dx) and constant(dy):  # add, sub: the (size, p) blocks as flat runs
        general = _BINARY_FLAT_FORWARD + general
    body = "\n".join(head + _binary_forward_one(value, dx, dy))
    return (
        body.replace("{", "{{")
        .replace("}", "}}")
        .replace("{{fn}}", "{fn}")
        .replace("{{fn_primal}}", "{fn_primal}")
        + "\n"
        + general
    )


def _binary_reverse(dx: str, dy: str) -> str:
    head = [
        "@kjit",
        "def {fn}(act, pool, values, duals, work, unit, out, x_, y_, size, sx, sy):",
        "    q = duals.shape[1]",
        "    o_v = values[out : out + size]",
        "    o_d = duals[out : out + size]",
        "    ax, ay = act & 2, act & 4",
    ]
    general = """\
    for k in range(size):
        i, j = x_ + k * sx, y_ + k * sy
        x, y, ans = values[i], values[j], o_v[k]
        if ax:
            d = {dx}
            for r in range(q):
                duals[i, r] += d * o_d[k, r]
        if ay:
            e = {dy}
            for r in range(q):
                duals[j, r] += e * o_d[k, r]
    return 0
"""
    if constant(dx) and constant(dy):
        general = _BINARY_FLAT_REVERSE + general
    body = "\n".join(head + _binary_reverse_one(dx, dy))
    return body.replace("{", "{{").replace("}", "}}").replace("{{fn}}", "{fn}") + "\n" + general


def _binary_tangents(value: str, dx: str, dy: str) -> str:
    """The tangent-major kernel of a binary member (see ``_UNARY_TANGENTS``): values
    and the active operands' partials per stride case, then the p tangent rows."""
    out = [
        "@kjit",
        "def {fn}(act, values, T, D, co, cx, cy, out, x_, y_, size, sx, sy):",
        "    o_v = values[out : out + size]",
        "    d_v, e_v = D[0, :size], D[1, :size]",
        "    ax, ay = act & 2, act & 4",
    ]
    parts = (("ax and ay", (dx, dy)), ("ax", (dx, None)), ("ay", (None, dy)))
    d_k = f"({dx})" if constant(dx) else "d_v[k]"
    e_k = f"({dy})" if constant(dy) else "e_v[k]"
    cases = [(c, xf, yf, _load(xf, yf, "        "), _elem(xf, yf)) for c, xf, yf in _CASES]
    general = "i, j = x_ + k * sx, y_ + k * sy; x, y = values[i], values[j]"
    cases.append(("", None, None, [], general))
    for n, (cond, _, _, load, elem) in enumerate(cases):
        out.append(f"    {'if' if n == 0 else 'elif'} {cond}:" if cond else "    else:")
        out += load
        for m, (act, (d, e)) in enumerate(parts):
            out.append(f"        {'if' if m == 0 else 'elif'} {act}:")
            out.append("            for k in range(size):")
            out.append(f"                {elem}")
            out += [f"                ans = {value}", "                o_v[k] = ans"]
            out += [f"                d_v[k] = {d}"] if d and not constant(d) else []
            out += [f"                e_v[k] = {e}"] if e and not constant(e) else []
    out += [
        "    O = T[co]",
        "    for r in range(O.shape[0]):",
        "        o_r = O[r]",
        "        if ax and ay:",
        "            x_r, y_r = T[cx, r], T[cy, r]",
        "            for k in range(size):",
        f"                o_r[k] = {d_k} * x_r[k] + {e_k} * y_r[k]",
        "        elif ax:",
        "            x_r = T[cx, r]",
        "            for k in range(size):",
        f"                o_r[k] = {d_k} * x_r[k]",
        "        else:",
        "            y_r = T[cy, r]",
        "            for k in range(size):",
        f"                o_r[k] = {e_k} * y_r[k]",
        "    return 0",
    ]
    body = "\n".join(out) + "\n"
    return body.replace("{", "{{").replace("}", "}}").replace("{{fn}}", "{fn}")


_BINARY_SCALAR = {
    "primal": "x, y = values[{x}], values[{y}]\nvalues[{out}] = {value}",
    "forward": """\
o_, x_, y_ = {out}, {x}, {y}
x, y = values[x_], values[y_]
ans = {value}
values[o_] = ans
if a & 1:
    if a & 6 == 6:
        d, e = {dx}, {dy}
        for r in range(duals.shape[1]):
            duals[o_, r] = d * duals[x_, r] + e * duals[y_, r]
    elif a & 2:
        d = {dx}
        for r in range(duals.shape[1]):
            duals[o_, r] = d * duals[x_, r]
    else:
        e = {dy}
        for r in range(duals.shape[1]):
            duals[o_, r] = e * duals[y_, r]""",
    "reverse": """\
o_, x_, y_ = {out}, {x}, {y}
x, y, ans = values[x_], values[y_], values[o_]
if a & 2:
    d = {dx}
    for r in range(duals.shape[1]):
        duals[x_, r] += d * duals[o_, r]
if a & 4:
    e = {dy}
    for r in range(duals.shape[1]):
        duals[y_, r] += e * duals[o_, r]""",
}


def _unary(name: str, value: str, deriv: str) -> None:
    has_n = name == "integer_pow"  # the one unary instruction with an int parameter
    fields = (out("out", "size"), arg("x", "size", 0), num("size"))
    subs = {"value": value, "deriv": deriv, "extra": ", n" if has_n else ""}
    rows = _UNARY_ROWS_CONSTANT if constant(deriv) else _UNARY_ROWS
    subs["rows_forward"] = rows["forward"].format(**subs)
    subs["rows_reverse"] = rows["reverse"].format(**subs)
    subs["store_d"] = "pass  # a constant partial" if constant(deriv) else f"d_v[k] = {deriv}"
    subs["d_k"] = f"({deriv})" if constant(deriv) else "d_v[k]"
    kernels = {
        sweep: Generated(fn, tpl.format(fn=fn, **subs))
        for sweep, tpl in (
            ("primal", _UNARY_PRIMAL),
            ("forward", _UNARY_FORWARD),
            ("reverse", _UNARY_REVERSE),
            ("tangents", _UNARY_TANGENTS),
        )
        for fn in [f"_{name}_{sweep}"]
    }
    extra = (num("n"),) if has_n else ()
    declare(
        Instruction(name, fields + extra, **kernels, cost="elementwise", work="size", fusable=True)
    )
    # the scalar path reads the parameter from the payload: n -> {n}
    scalar_subs = {k: re.sub(r"\bn\b", "{n}", v) for k, v in subs.items()}
    inline = {
        s: Inline(t.format(**scalar_subs, out="{out}", x="{x}", n="{n}"))
        for s, t in _UNARY_SCALAR.items()
    }
    fields = (out("out", "1"), arg("x", "1", 0))
    declare(Instruction(name + ".s", fields + extra, **inline, cost="scalar"))


def _binary(name: str, value: str, dx: str, dy: str) -> None:
    fields = (
        out("out", "size"),
        arg("x", "size * sx + 1 - sx", 0),
        arg("y", "size * sy + 1 - sy", 1),
        num("size"),
        num("sx"),
        num("sy"),
    )
    subs = {"value": value, "dx": dx, "dy": dy, "fn_primal": f"_{name}_primal"}
    templates = (
        ("primal", _BINARY_PRIMAL),
        ("forward", _binary_forward(value, dx, dy)),
        ("reverse", _binary_reverse(dx, dy)),
        ("tangents", _binary_tangents(value, dx, dy)),
    )
    kernels = {
        sweep: Generated(fn, tpl.format(fn=fn, **subs))
        for sweep, tpl in templates
        for fn in [f"_{name}_{sweep}"]
    }
    declare(Instruction(name, fields, **kernels, cost="elementwise", work="size", fusable=True))
    scalar = (out("out", "1"), arg("x", "1", 0), arg("y", "1", 1))
    inline = {
        s: Inline(t.format(**subs, out="{out}", x="{x}", y="{y}"))
        for s, t in _BINARY_SCALAR.items()
    }
    declare(Instruction(name + ".s", scalar, **inline, cost="scalar"))


for _name, (_value, _deriv) in UNARY.items():
    _unary(_name, _value, _deriv)
for _name, (_value, _dx, _dy) in BINARY.items():
    _binary(_name, _value, _dx, _dy)


# ==================================================================================
# Lowering: size-1 operands take the scalar path; a broadcast number is read in place
# ==================================================================================


@lowering(*UNARY)
def lower_unary(lw: Any, e: Any) -> None:
    (x,), (o,) = e.inputs, e.outputs
    n = int(e.params.get("n", 0))
    size = o.size
    name = e.prim.name + ".s" if size == 1 else e.prim.name
    lw.emit(name, out=lw.slot(o), x=lw.slot(x), size=size, n=n)


@lowering(*BINARY, broadcast=True)
def lower_binary(lw: Any, e: Any) -> None:
    (x, y), (o,) = e.inputs, e.outputs
    (xs, sx), (ys, sy) = lw.ref(x), lw.ref(y)
    size = o.size
    name = e.prim.name + ".s" if size == 1 else e.prim.name
    lw.emit(name, out=lw.slot(o), x=xs, y=ys, size=size, sx=sx, sy=sy)
