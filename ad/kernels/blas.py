"""BLAS matrix products on the flat buffers, callable from the kernels.

:func:`gemm` is ``C = alpha op(A) op(B) + beta C`` on row-major matrices that live at
element offsets of 1-d float64 buffers (``values``, or a dual buffer flattened with
``duals.reshape(-1)``), with leading dimensions (row strides) ``lda``, ``ldb``, ``ldc``.
It calls the same ``dgemm`` as Numba's own ``np.dot`` (SciPy's BLAS, through Numba's
helper library), so a product inside a sweep runs at BLAS speed without copying its
operands out of the buffers. Row-major ``C = op(A) op(B)`` is column-major
``C^T = op(B)^T op(A)^T``: the call swaps the operands and keeps the flags.

Under ``NUMBA_DISABLE_JIT=1`` the same function runs as NumPy on strided views.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.np.linalg import _BLAS

from ad.kernels.jit import kjit

_xxgemm = _BLAS().numba_xxgemm(types.float64)
#: ``y = alpha op(A) x + beta y`` (column-major A, unit strides), Numba's own binding.
_xxgemv = types.ExternalFunction(
    "numba_xxgemv",
    types.intc(
        types.char,  # kind
        types.char,  # trans
        types.intp,  # m
        types.intp,  # n
        types.CPointer(types.float64),  # alpha
        types.CPointer(types.float64),  # a
        types.intp,  # lda
        types.CPointer(types.float64),  # x
        types.CPointer(types.float64),  # beta
        types.CPointer(types.float64),  # y
    ),
)

#: alpha / beta values, passed to BLAS by pointer.
_SCALARS = np.array([0.0, 1.0, -1.0])


@kjit
def _scalar(x):
    """A one-element view of 0, 1 or -1 (BLAS takes alpha and beta by pointer)."""
    k = 0 if x == 0.0 else (1 if x == 1.0 else 2)
    return _SCALARS[k : k + 1]


@kjit
def _gemv(trans, rows, cols, alpha, M, mo, ld, X, xo, beta, Y, yo, ny):
    """``Y = alpha op(M) X + beta Y`` on the column-major (rows, cols) matrix at M[mo:]
    (``trans``: op = transpose); with beta = 0, Y is zeroed first (BLAS may scale it
    by 0, and 0 * NaN is NaN)."""
    if beta == 0.0:
        Y[yo : yo + ny] = 0.0
    _xxgemv(
        ord("d"),
        ord("t") if trans else ord("n"),
        rows,
        cols,
        _scalar(alpha).ctypes,
        M[mo:].ctypes,
        ld,
        X[xo:].ctypes,
        _scalar(beta).ctypes,
        Y[yo:].ctypes,
    )


@kjit
def gemm(ta, tb, m, n, k, alpha, A, ao, lda, B, bo, ldb, beta, C, co, ldc):
    """Row-major ``C[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta C`` (alpha, beta in
    {0, 1, -1}); ``ta``/``tb`` True to transpose; offsets and strides in elements."""
    if m == 0 or n == 0:
        return
    if k == 0:
        if beta == 0.0:
            for i in range(m):
                C[co + i * ldc : co + i * ldc + n] = 0.0
        return
    # a matrix-vector product through gemv (gemm packs the matrix: a second pass over
    # it, where the product itself is one pass); the vectors must be contiguous.
    # Row-major X (r, c) is column-major X^T: op(A) b = (A^T)^T b is trans "t".
    if n == 1 and (tb or ldb == 1) and ldc == 1:  # C[:, 0] = op(A) b
        _gemv(
            not ta, k if not ta else m, m if not ta else k, alpha, A, ao, lda, B, bo, beta, C, co, m
        )
        return
    if m == 1 and (not ta or lda == 1):  # C[0, :] = op(B)^T a
        _gemv(tb, n if not tb else k, k if not tb else n, alpha, B, bo, ldb, A, ao, beta, C, co, n)
        return
    _xxgemm(
        ord("d"),
        ord("T") if tb else ord("N"),
        ord("T") if ta else ord("N"),
        n,
        m,
        k,
        _scalar(alpha).ctypes,
        B[bo:].ctypes,
        ldb,
        A[ao:].ctypes,
        lda,
        _scalar(beta).ctypes,
        C[co:].ctypes,
        ldc,
    )


if numba.config.DISABLE_JIT:  # plain Python: the BLAS binding is not callable

    def _view(X, off, rows, cols, ld, trans):
        """op(X) as an (rows, cols) view of the flat buffer X at offset off."""
        r, c = (cols, rows) if trans else (rows, cols)
        M = np.lib.stride_tricks.as_strided(X[off:], (r, c), (ld * 8, 8), writeable=True)
        return M.T if trans else M

    def gemm(ta, tb, m, n, k, alpha, A, ao, lda, B, bo, ldb, beta, C, co, ldc):  # noqa: F811
        if m == 0 or n == 0:
            return
        Cv = np.lib.stride_tricks.as_strided(C[co:], (m, n), (ldc * 8, 8), writeable=True)
        prod = _view(A, ao, m, k, lda, ta) @ _view(B, bo, k, n, ldb, tb) if k else 0.0
        Cv[...] = alpha * prod + (beta * Cv if beta != 0.0 else 0.0)
