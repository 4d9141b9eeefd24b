"""Linear-algebra primitives with matrix rules.

References for the rules: M. Giles, "An extended collection of matrix derivative
results for forward and reverse mode AD" (2008), cited as [Giles]; K. Petersen and
M. Pedersen, "The Matrix Cookbook", cited as [Cookbook].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.errors import ShapeError
from ad.primitives.core import Primitive, defjvp, defvjp
from ad.primitives.elementwise import multiply
from ad.primitives.shape import broadcast_to, mT, reshape, traced


# ==================================================================================
# matmul: C = A B  ->  dC = dA B + A dB ;  A_bar = C_bar B^T,  B_bar = A^T C_bar  [Giles 2.2.1]
# NumPy semantics for 1-d operands; batch axes, if any, lead and are equal.
# ==================================================================================
def _matmul_shape(a, b):
    if not a or not b:
        raise ShapeError(f"matmul of a 0-d operand: shapes {a} and {b} (use multiply)")
    k_a = a[-1]
    k_b = b[-2] if len(b) >= 2 else b[0]
    if k_a != k_b:
        raise ShapeError(f"matmul shapes {a} and {b} do not align ({k_a} != {k_b})")
    if (len(a) > 2 or len(b) > 2) and (len(a) != len(b) or a[:-2] != b[:-2]):
        raise ShapeError(f"matmul batch axes of {a} and {b} differ (broadcast them first)")
    rows = a[-2:-1] if len(a) >= 2 else ()
    cols = b[-1:] if len(b) >= 2 else ()
    return a[:-2] + rows + cols


matmul_p = Primitive("matmul", _matmul_shape, np.matmul, n_in=2)


def matmul_jvp_a(a_dot, ans, a, b):
    return matmul(a_dot, b)


def matmul_jvp_b(b_dot, ans, a, b):
    if np.ndim(b) == 1:  # A b_dot, written so leading tangent axes broadcast
        return matmul(b_dot, mT(a))
    return matmul(a, b_dot)


def matmul_vjp_a(ans_bar, ans, a, b):
    if np.ndim(b) == 1:  # A_bar = C_bar b^T (an outer product)
        return multiply(_col(ans_bar), b)
    return matmul(ans_bar, mT(b))


def matmul_vjp_b(ans_bar, ans, a, b):
    if np.ndim(a) == 1:  # B_bar = a C_bar^T (outer) or a * c_bar for a dot product
        if np.ndim(b) == 1:
            return multiply(_col(ans_bar), a)
        return multiply(_col(a), _row(ans_bar))
    if np.ndim(b) == 1:
        return matmul(ans_bar, a)
    return matmul(mT(a), ans_bar)


def _col(x: Any) -> Any:
    return reshape(x, np.shape(x) + (1,))


def _row(x: Any) -> Any:
    s = np.shape(x)
    return reshape(x, s[:-1] + (1, s[-1]))


defjvp(matmul_p, matmul_jvp_a, matmul_jvp_b)
defvjp(matmul_p, matmul_vjp_a, matmul_vjp_b)


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` with NumPy semantics; batch axes are broadcast explicitly in the IR."""
    if not traced(a, b):
        return np.matmul(a, b)
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) <= 2 and len(sb) <= 2:
        return matmul_p.bind(a, b)
    a2 = a if len(sa) >= 2 else reshape(a, (1,) + sa)
    b2 = b if len(sb) >= 2 else reshape(b, sb + (1,))
    s2a, s2b = np.shape(a2), np.shape(b2)
    batch = np.broadcast_shapes(s2a[:-2], s2b[:-2])
    out = matmul_p.bind(broadcast_to(a2, batch + s2a[-2:]), broadcast_to(b2, batch + s2b[-2:]))
    return reshape(out, np.matmul(np.empty(sa), np.empty(sb)).shape)


def dot(a: Any, b: Any) -> Any:
    """``np.dot`` for 0-d, 1-d and 2-d operands."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return multiply(a, b)
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        raise ShapeError("np.dot of arrays with more than 2 axes: use matmul or einsum-free code")
    return matmul(a, b)


def outer(a: Any, b: Any) -> Any:
    """``np.outer``: a column times a row (one ``mul`` in the IR)."""
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def inner(a: Any, b: Any) -> Any:
    """``np.inner`` for 1-d operands."""
    return matmul(a, b)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """``np.linalg.norm``: vector norms (2, 1, inf) and the Frobenius norm.

    The 2-norm is ``sqrt(sum(x * x))``; its derivative x / ||x|| does not exist at 0.
    """
    from ad.primitives.elementwise import abs as _abs
    from ad.primitives.elementwise import sqrt
    from ad.primitives.reductions import max as _max
    from ad.primitives.reductions import sum as _sum

    if not traced(x):
        return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    matrix = (axis is None and np.ndim(x) == 2) or (isinstance(axis, tuple) and len(axis) == 2)
    if ord is None or ord == "fro" or (ord == 2 and not matrix):
        return sqrt(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
    if ord == 1 and not matrix:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf and not matrix:
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    from ad.errors import UnsupportedOperationError

    raise UnsupportedOperationError(f"numpy.linalg.norm(ord={ord!r}) on shape {np.shape(x)}")
