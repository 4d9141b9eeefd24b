"""``ad.kernels.blas.gemm`` against NumPy on strided views of flat buffers: every
transpose, offset, leading dimension and alpha/beta, including the matrix-vector
shapes it sends to gemv, and garbage (NaN) in C when beta = 0."""

from __future__ import annotations

import numpy as np
import pytest

from ad.kernels.blas import gemm


def _view(buf, off, rows, cols, ld):
    return np.lib.stride_tricks.as_strided(buf[off:], (rows, cols), (ld * 8, 8))


@pytest.mark.parametrize("seed", range(4))
def test_gemm_matches_numpy_on_strided_buffers(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        m, n, k = (int(v) for v in rng.integers(1, 6, 3))
        shape = rng.integers(3)  # general, a matrix-vector (n = 1), a vector-matrix (m = 1)
        n, m = (1, m) if shape == 1 else (n, 1) if shape == 2 else (n, m)
        ta, tb = bool(rng.integers(2)), bool(rng.integers(2))
        alpha, beta = float(rng.choice([1.0, -1.0])), float(rng.choice([0.0, 1.0, -1.0]))
        lda = (m if ta else k) + int(rng.integers(2))
        ldb = (k if tb else n) + int(rng.integers(2))
        ldc = n + int(rng.integers(2))
        ao, bo, co = (int(v) for v in rng.integers(0, 4, 3))
        A = rng.standard_normal(ao + (k if ta else m) * lda + 3)
        B = rng.standard_normal(bo + (n if tb else k) * ldb + 3)
        C = rng.standard_normal(co + m * ldc + 3)
        before = _view(C, co, m, n, ldc).copy()
        if beta == 0.0:
            C[co:] = np.nan  # what a reused buffer may hold: must not reach the result
        opA = _view(A, ao, k, m, lda).T if ta else _view(A, ao, m, k, lda)
        opB = _view(B, bo, n, k, ldb).T if tb else _view(B, bo, k, n, ldb)
        expect = alpha * (opA @ opB) + (beta * before if beta else 0.0)
        gemm(ta, tb, m, n, k, alpha, A, ao, lda, B, bo, ldb, beta, C, co, ldc)
        np.testing.assert_allclose(_view(C, co, m, n, ldc), expect, rtol=1e-13, atol=1e-13)
