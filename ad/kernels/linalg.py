"""Matrix instructions: matmul through BLAS, and the matrix functions.

References: M. Giles, "An extended collection of matrix derivative results for
forward and reverse mode AD" (2008) [Giles]; rules are written beside the code.

Matrices are row-major blocks of slots, and a dual buffer holds p (q) directions per
slot, so the tangent and adjoint of ``C = A B`` are products too, run by BLAS
(:func:`ad.kernels.blas.gemm`) on the buffers in place:

- ``dC (m, n p) = A (m, k) @ dB (k, n p)`` (the rows of dB are ``n p`` contiguous);
- ``dC[i] (n, p) += B^T (n, k) @ dA[i] (k, p)`` for each row i (one product if p = 1);
- ``B_bar (k, n q) += A^T (k, m) @ C_bar (m, n q)``;
- ``A_bar[i] (k, q) += B (k, n) @ C_bar[i] (n, q)`` for each row i (one product if q = 1).

When an operand's dual rows hold the unit seeds of a Jacobian (the sweep's ``unit``
argument, see :mod:`ad.kernels.generate`), its product with the identity is a copy of
columns (rows) of the other operand: ``W @ I`` is never multiplied out. On an MLP
Jacobian that halves the flops, as a hand-written chain has them.

The matrix functions (one 2-d operand each, as the primitives of
``ad.primitives.linalg``) call np.linalg inside the kernel and apply their rules at
matrix level, one direction at a time: the direction's matrix is read out of the
dual buffer, the rule is a few matrix products, the result is written back. Their
primal functions return a status (:class:`ad.kernels.table.Status`) instead of
raising inside Numba. Residuals (kept on the tape, in slots after the Vars, only when
the instruction's derivative is needed) are declared with each instruction.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.np.linalg import _LAPACK

from ad.kernels.blas import gemm
from ad.kernels.jit import kjit
from ad.kernels.table import Instruction, Status, arg, declare, lowering, num, out, res
from ad.primitives.linalg import GAP_RTOL

OK = int(Status.OK)
SINGULAR = int(Status.SINGULAR)
DEGENERATE = int(Status.DEGENERATE)
COMPLETION = int(Status.COMPLETION)
ZERO_SINGULAR = int(Status.ZERO_SINGULAR)
RANK_DEFICIENT = int(Status.RANK_DEFICIENT)

#: LAPACK's dsyevd as Numba binds it (np.linalg.eigh has no UPLO argument in Numba).
_xxxevd = _LAPACK().numba_ez_xxxevd(types.float64)

# ==================================================================================
# matmul: C = A B ;  dC = dA B + A dB ;  A_bar += C_bar B^T ;  B_bar += A^T C_bar [Giles 2.2.1]
# payload [out, a, b, batch, m, k, n]: batch products of (m, k) by (k, n) matrices
# (NumPy's 1-d operands are the m = 1 or n = 1 cases: the same memory layout)
# ==================================================================================


@kjit
def matmul_primal(act, pool, values, work, out, a, b, batch, m, k, n):
    for t in range(batch):
        A, B, C = a + t * m * k, b + t * k * n, out + t * m * n
        gemm(False, False, m, n, k, 1.0, values, A, k, values, B, n, 0.0, values, C, n)
    return 0


@kjit
def _unit_shift(unit, start, size):
    """The unit column of slot ``start`` (row ``lo + t`` holds ``e_(t - col)``) if the
    ``size`` slots from ``start`` are all unit seeds, else -1 (they are not)."""
    lo, hi, col = unit[0], unit[1], unit[2]
    if size > 0 and lo <= start and start + size <= hi:
        return start - lo - col
    return -1


@kjit
def matmul_forward(act, pool, values, duals, work, unit, out, a, b, batch, m, k, n):
    matmul_primal(act, pool, values, work, out, a, b, batch, m, k, n)
    if not act & 1:
        return 0
    p = duals.shape[1]
    D = duals.reshape(duals.size)
    for t in range(batch):
        A, B, C = a + t * m * k, b + t * k * n, out + t * m * n
        dC = duals[C : C + m * n]
        if act & 4 and _unit_shift(unit, B, k * n) >= 0:
            # dB holds unit seeds: direction r is e_e on entry e = r - shift of B, so
            # dC[i, j, r] = A[i, kk] for (kk, j) = divmod(e, n): columns of A, no product
            shift = _unit_shift(unit, B, k * n)
            dC[:] = 0.0
            for r in range(p):
                e = r - shift
                if 0 <= e < k * n:
                    kk, j = e // n, e % n
                    for i in range(m):
                        dC[i * n + j, r] = values[A + i * k + kk]
            beta = 1.0
        elif act & 4:  # dC = A dB: (m, k) @ (k, n p)
            gemm(
                False, False, m, n * p, k, 1.0, values, A, k, D, B * p, n * p, 0.0, D, C * p, n * p
            )
            beta = 1.0
        else:
            beta = 0.0
        if act & 2 and _unit_shift(unit, A, m * k) >= 0:
            # dA holds unit seeds: dC[i, j, r] += B[kk, j] for (i, kk) = divmod(r - shift, k)
            shift = _unit_shift(unit, A, m * k)
            if beta == 0.0:
                dC[:] = 0.0
            for r in range(p):
                e = r - shift
                if 0 <= e < m * k:
                    i, kk = e // k, e % k
                    for j in range(n):
                        dC[i * n + j, r] += values[B + kk * n + j]
        elif act & 2:  # dC += dA B
            if p == 1:
                gemm(False, False, m, n, k, 1.0, D, A, k, values, B, n, beta, D, C, n)
            else:
                for i in range(m):
                    gemm(
                        True, False, n, p, k, 1.0, values, B, n, D, (A + i * k) * p, p,
                        beta, D, (C + i * n) * p, p,
                    )  # fmt: skip
        elif beta == 0.0:
            dC[:] = 0.0
    return 0


@kjit
def matmul_reverse(act, pool, values, duals, work, unit, out, a, b, batch, m, k, n):
    q = duals.shape[1]
    D = duals.reshape(duals.size)
    for t in range(batch):
        A, B, C = a + t * m * k, b + t * k * n, out + t * m * n
        shift = _unit_shift(unit, C, m * n)
        if shift >= 0:
            # C_bar holds unit seeds: cotangent r is e_e on entry e = r - shift of C, so
            # B_bar[kk, j, r] += A[i, kk] and A_bar[i, kk, r] += B[kk, j], (i, j) = divmod(e, n)
            for r in range(q):
                e = r - shift
                if 0 <= e < m * n:
                    i, j = e // n, e % n
                    if act & 4:
                        for kk in range(k):
                            duals[B + kk * n + j, r] += values[A + i * k + kk]
                    if act & 2:
                        for kk in range(k):
                            duals[A + i * k + kk, r] += values[B + kk * n + j]
            continue
        if act & 4:  # B_bar += A^T C_bar
            gemm(True, False, k, n * q, m, 1.0, values, A, k, D, C * q, n * q, 1.0, D, B * q, n * q)
        if act & 2:  # A_bar += C_bar B^T
            if q == 1:
                gemm(False, True, m, k, n, 1.0, D, C, n, values, B, n, 1.0, D, A, k)
            else:
                for i in range(m):
                    gemm(
                        False, False, k, q, n, 1.0, values, B, n, D, (C + i * n) * q, q,
                        1.0, D, (A + i * k) * q, q,
                    )  # fmt: skip
    return 0


declare(
    Instruction(
        "matmul",
        (
            out("out", "batch * m * n"),
            arg("a", "batch * m * k", 0),
            arg("b", "batch * k * n", 1),
            num("batch"),
            num("m"),
            num("k"),
            num("n"),
        ),
        matmul_primal,
        matmul_forward,
        matmul_reverse,
        cost="matmul",
        work="2 * batch * m * k * n",
        doc="batched matrix product through BLAS",
    )
)


@lowering("matmul")
def lower_matmul(lw: Any, e: Any) -> None:
    (a, b), (o,) = e.inputs, e.outputs
    k = a.shape[-1]
    m = a.shape[-2] if a.ndim >= 2 else 1
    n = b.shape[-1] if b.ndim >= 2 else 1
    batch = int(np.prod(a.shape[:-2], dtype=np.int64)) if a.ndim > 2 else 1
    lw.emit("matmul", out=lw.slot(o), a=lw.slot(a), b=lw.slot(b), batch=batch, m=m, k=k, n=n)


# ==================================================================================
# helpers: matrices in the values buffer, one direction of a dual buffer
# ==================================================================================


@kjit
def _mat(values, off, rows, cols):
    """The (rows, cols) matrix stored at slot ``off`` (a copy)."""
    return values[off : off + rows * cols].copy().reshape((rows, cols))


@kjit
def _store(values, off, M):
    rows, cols = M.shape
    for i in range(rows):
        for j in range(cols):
            values[off + i * cols + j] = M[i, j]


@kjit
def _dir(duals, off, rows, cols, r):
    """Direction r of the matrix at slot ``off`` in a partials/adjoints buffer."""
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = duals[off + i * cols + j, r]
    return out


@kjit
def _put(duals, off, M, r):
    rows, cols = M.shape
    for i in range(rows):
        for j in range(cols):
            duals[off + i * cols + j, r] = M[i, j]


@kjit
def _acc(duals, off, M, r):
    rows, cols = M.shape
    for i in range(rows):
        for j in range(cols):
            duals[off + i * cols + j, r] += M[i, j]


@kjit
def _zero(duals, off, size):
    for i in range(size):
        for r in range(duals.shape[1]):
            duals[off + i, r] = 0.0


@kjit
def _any_nonzero(duals, off, size):
    for i in range(size):
        for r in range(duals.shape[1]):
            if duals[off + i, r] != 0.0:
                return True
    return False


@kjit
def _finite(M):
    for x in M.ravel():
        if not np.isfinite(x):
            return False
    return True


@kjit
def _sym(H, upper):
    """The tangent of a symmetric-matrix function: (H + H^T) / 2, JAX's symmetric
    convention (the rule of ad.primitives.linalg._sym; ``upper`` no longer matters)."""
    return 0.5 * (H + H.T)


@kjit
def _sym_adjoint(Q, upper):
    """Adjoint of ``_sym`` (self-adjoint): (Q + Q^T) / 2, a symmetric gradient."""
    return 0.5 * (Q + Q.T)


@kjit
def _gaps_ok(v):
    """False if two values coincide to round-off (GAP_RTOL * k * max|v|)."""
    k = v.size
    if k < 2:
        return True
    w = np.sort(v)
    tol = GAP_RTOL * k * np.max(np.abs(v))
    for i in range(k - 1):
        if w[i + 1] - w[i] <= tol:
            return False
    return True


@kjit
def _gap_inverse(v):
    """F_ij = 1 / (v_j - v_i) off the diagonal, 0 on it."""
    k = v.size
    F = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                F[i, j] = 1.0 / (v[j] - v[i])
    return F


@kjit
def _inv(X):
    """(X^-1, status): SINGULAR where LAPACK meets an exactly zero pivot."""
    try:
        Y = np.linalg.inv(X)
    except Exception:  # noqa: BLE001 - Numba's LinAlgError
        return X, SINGULAR
    if not _finite(Y) and _finite(X):
        return Y, SINGULAR
    return Y, OK


# ==================================================================================
# inv: Y = X^-1 ;  dY = -Y dX Y ;  X_bar = -Y^T Y_bar Y^T   [Giles 2.2.3]
# ==================================================================================


@kjit
def inv_primal(act, pool, values, work, o, x, n):
    Y, status = _inv(_mat(values, x, n, n))
    if status == OK:
        _store(values, o, Y)
    return status


@kjit
def inv_forward(act, pool, values, duals, work, unit, o, x, n):
    status = inv_primal(act, pool, values, work, o, x, n)
    if status != OK or not act & 1:
        return status
    Y = _mat(values, o, n, n)
    for r in range(duals.shape[1]):
        _put(duals, o, -(Y @ _dir(duals, x, n, n, r) @ Y), r)
    return OK


@kjit
def inv_reverse(act, pool, values, duals, work, unit, o, x, n):
    Yt = _mat(values, o, n, n).T.copy()
    for r in range(duals.shape[1]):
        _acc(duals, x, -(Yt @ _dir(duals, o, n, n, r) @ Yt), r)
    return OK


# ==================================================================================
# solve: X = A^-1 B ;  dX = A^-1 (dB - dA X) ;  B_bar = A^-T X_bar, A_bar = -B_bar X^T
# [Giles 2.3.1]. B is (n, k) (a vector is k = 1: same layout). Residual: A^-1 (LAPACK's
# LU is not exposed by Numba; the inverse serves every direction with two products).
# ==================================================================================


@kjit
def solve_primal(act, pool, values, work, o, a, b, n, k, res):
    A = _mat(values, a, n, n)
    B = _mat(values, b, n, k)
    try:
        X = np.linalg.solve(A, B)
    except Exception:  # noqa: BLE001
        return SINGULAR
    if not _finite(X) and _finite(A):
        return SINGULAR
    _store(values, o, X)
    if act & 1:  # record A^-1 for the derivative sweeps
        Ainv, status = _inv(A)
        if status != OK:
            return status
        _store(values, res, Ainv)
    return OK


@kjit
def solve_forward(act, pool, values, duals, work, unit, o, a, b, n, k, res):
    status = solve_primal(act, pool, values, work, o, a, b, n, k, res)
    if status != OK or not act & 1:
        return status
    X = _mat(values, o, n, k)
    Ainv = _mat(values, res, n, n)
    for r in range(duals.shape[1]):
        rhs = _dir(duals, b, n, k, r) if act & 4 else np.zeros((n, k))
        if act & 2:
            rhs -= _dir(duals, a, n, n, r) @ X
        _put(duals, o, Ainv @ rhs, r)
    return OK


@kjit
def solve_reverse(act, pool, values, duals, work, unit, o, a, b, n, k, res):
    X = _mat(values, o, n, k)
    AinvT = _mat(values, res, n, n).T.copy()
    for r in range(duals.shape[1]):
        Bb = AinvT @ _dir(duals, o, n, k, r)
        if act & 4:
            _acc(duals, b, Bb, r)
        if act & 2:
            _acc(duals, a, -(Bb @ X.T), r)
    return OK


# ==================================================================================
# adjugate: adj(X) = c V diag(pi) U^T from X = U S V^T, c = det(U) det(V), pi_i = prod_{j!=i}
# s_j (finite at every rank). d adj = c V D(K) U^T, K = U^T dX V, D(K)_ii = sum_{k!=i}
# K_kk P_ik, D(K)_ij = -K_ij P_ij, P_ij = prod_{l!=i,j} s_l ; X_bar = c U D(V^T G U) V^T.
# (The rule of ad.primitives.linalg, after JAX's cofactor route.)
# ==================================================================================


@kjit
def _svd_parts(X):
    """U, s, V^T of a square X and c = det(U) det(V^T) = +-1."""
    U, s, Vt = np.linalg.svd(X)
    c = np.linalg.slogdet(U)[0] * np.linalg.slogdet(Vt)[0]
    return U, s, Vt, c


@kjit
def _adjugate_from(U, s, Vt, c):
    n = s.size
    pi = np.ones(n)
    for i in range(n):
        for l in range(n):
            if l != i:
                pi[i] *= s[l]
    return c * ((Vt.T * pi) @ U.T)


@kjit
def _pair_products(s):
    n = s.size
    P = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                p = 1.0
                for l in range(n):
                    if l != i and l != j:
                        p *= s[l]
                P[i, j] = p
    return P


@kjit
def _adjugate_d(K, P):
    """D(K) = diag(P diag(K)) - P o K (P has a zero diagonal)."""
    D = -(P * K)
    dk = np.diag(K).copy()
    for i in range(K.shape[0]):
        D[i, i] = np.dot(P[i], dk)
    return D


@kjit
def adjugate_primal(act, pool, values, work, o, x, n, res):
    U, s, Vt, c = _svd_parts(_mat(values, x, n, n))
    _store(values, o, _adjugate_from(U, s, Vt, c))
    if act & 1:  # residuals: U, s, V^T, c
        _store(values, res, U)
        _store(values, res + n * n, s.reshape((1, n)))
        _store(values, res + n * n + n, Vt)
        values[res + 2 * n * n + n] = c
    return OK


@kjit
def _adjugate_residuals(values, res, n):
    U = _mat(values, res, n, n)
    s = values[res + n * n : res + n * n + n].copy()
    Vt = _mat(values, res + n * n + n, n, n)
    return U, s, Vt, values[res + 2 * n * n + n]


@kjit
def adjugate_forward(act, pool, values, duals, work, unit, o, x, n, res):
    adjugate_primal(act, pool, values, work, o, x, n, res)
    if not act & 1:
        return OK
    U, s, Vt, c = _adjugate_residuals(values, res, n)
    P = _pair_products(s)
    for r in range(duals.shape[1]):
        K = U.T @ _dir(duals, x, n, n, r) @ Vt.T
        _put(duals, o, c * (Vt.T @ _adjugate_d(K, P) @ U.T), r)
    return OK


@kjit
def adjugate_reverse(act, pool, values, duals, work, unit, o, x, n, res):
    U, s, Vt, c = _adjugate_residuals(values, res, n)
    P = _pair_products(s)
    for r in range(duals.shape[1]):
        K = Vt @ _dir(duals, o, n, n, r) @ U
        _acc(duals, x, c * (U @ _adjugate_d(K, P) @ Vt), r)
    return OK


# ==================================================================================
# det: d det X = <adj(X)^T, dX> ;  X_bar = det_bar adj(X)^T   [Giles 2.2.4; Cookbook (46)]
# The adjugate (residual) is finite at singular X, unlike det(X) X^-T.
# ==================================================================================


@kjit
def det_primal(act, pool, values, work, o, x, n, res):
    X = _mat(values, x, n, n)
    values[o] = np.linalg.det(X)
    if act & 1:
        U, s, Vt, c = _svd_parts(X)
        _store(values, res, _adjugate_from(U, s, Vt, c))
    return OK


@kjit
def det_forward(act, pool, values, duals, work, unit, o, x, n, res):
    det_primal(act, pool, values, work, o, x, n, res)
    if not act & 1:
        return OK
    adjT = _mat(values, res, n, n).T.copy()
    for r in range(duals.shape[1]):
        duals[o, r] = np.sum(adjT * _dir(duals, x, n, n, r))
    return OK


@kjit
def det_reverse(act, pool, values, duals, work, unit, o, x, n, res):
    adjT = _mat(values, res, n, n).T.copy()
    for r in range(duals.shape[1]):
        _acc(duals, x, duals[o, r] * adjT, r)
    return OK


# ==================================================================================
# slogdet: (sign, log|det X|) ;  d log|det X| = <X^-T, dX> ; X_bar = lad_bar X^-T
# [Giles 2.2.4; Cookbook (57)]. The sign is piecewise constant (zero derivative).
# ==================================================================================


@kjit
def slogdet_primal(act, pool, values, work, o_sign, o_lad, x, n, res):
    X = _mat(values, x, n, n)
    sign, lad = np.linalg.slogdet(X)
    values[o_sign] = sign
    values[o_lad] = lad
    if act & 1:
        Xinv, status = _inv(X)
        if status != OK:
            return status
        _store(values, res, Xinv)
    return OK


@kjit
def slogdet_forward(act, pool, values, duals, work, unit, o_sign, o_lad, x, n, res):
    status = slogdet_primal(act, pool, values, work, o_sign, o_lad, x, n, res)
    if status != OK or not act & 1:
        return status
    XinvT = _mat(values, res, n, n).T.copy()
    for r in range(duals.shape[1]):
        duals[o_sign, r] = 0.0
        duals[o_lad, r] = np.sum(XinvT * _dir(duals, x, n, n, r))
    return OK


@kjit
def slogdet_reverse(act, pool, values, duals, work, unit, o_sign, o_lad, x, n, res):
    XinvT = _mat(values, res, n, n).T.copy()
    for r in range(duals.shape[1]):
        _acc(duals, x, duals[o_lad, r] * XinvT, r)
    return OK


# ==================================================================================
# cholesky: A = L L^T ;  dL = L Phi(L^-1 S L^-T) ;  A_bar = sym(L^-T Phi(L^T L_bar) L^-1),
# Phi(M) = tril(M) - diag(M) / 2, S = sym(dA) = (dA + dA^T) / 2 (JAX's symmetric
# convention, see ad.primitives.linalg)   [Murray 2016; Giles]
# ==================================================================================


@kjit
def _phi(M):
    n = M.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i):
            out[i, j] = M[i, j]
        out[i, i] = 0.5 * M[i, i]
    return out


@kjit
def cholesky_primal(act, pool, values, work, o, x, n, res):
    try:
        L = np.linalg.cholesky(_mat(values, x, n, n))
    except Exception:  # noqa: BLE001 - not positive definite
        return SINGULAR
    _store(values, o, L)
    if act & 1:
        Linv, status = _inv(L)
        if status != OK:
            return status
        _store(values, res, Linv)
    return OK


@kjit
def cholesky_forward(act, pool, values, duals, work, unit, o, x, n, res):
    status = cholesky_primal(act, pool, values, work, o, x, n, res)
    if status != OK or not act & 1:
        return status
    L = _mat(values, o, n, n)
    Linv = _mat(values, res, n, n)
    for r in range(duals.shape[1]):
        S = _sym(_dir(duals, x, n, n, r), False)
        _put(duals, o, L @ _phi(Linv @ S @ Linv.T), r)
    return OK


@kjit
def cholesky_reverse(act, pool, values, duals, work, unit, o, x, n, res):
    L = _mat(values, o, n, n)
    Linv = _mat(values, res, n, n)
    for r in range(duals.shape[1]):
        Q = Linv.T @ _phi(L.T @ _dir(duals, o, n, n, r)) @ Linv
        _acc(duals, x, _sym_adjoint(Q, False), r)
    return OK


# ==================================================================================
# eigh: A = V diag(w) V^T ;  K = V^T dA V, dw = diag(K), dV = V (F o K), F_ij = 1/(w_j - w_i)
# A_bar = sym(V (diag(w_bar) + F o (V^T V_bar)) V^T), dA entering as sym(dA) (JAX's
# symmetric convention, see ad.primitives.linalg)
# [Giles 3.1; Magnus 1985]. eigvalsh: the same without the V terms (no gap needed).
# ==================================================================================


@kjit
def _eigh(X, upper):
    """np.linalg.eigh(X, UPLO) through LAPACK dsyevd, as NumPy calls it."""
    n = X.shape[0]
    b = X.T.copy()  # row-major X^T = column-major X, which LAPACK overwrites with V
    w = np.empty(n)
    info = _xxxevd(ord("d"), ord("V"), ord("U") if upper else ord("L"), n, b.ctypes, n, w.ctypes)
    return w, b.T, info


if numba.config.DISABLE_JIT:  # plain Python: the LAPACK binding is not callable

    def _eigh(X, upper):  # noqa: F811
        w, V = np.linalg.eigh(X, UPLO="U" if upper else "L")
        return w, V, 0


@kjit
def eigh_primal(act, pool, values, work, ow, ov, x, n, upper):
    up = upper != 0
    w, V, info = _eigh(_mat(values, x, n, n), up)
    if info != 0:
        return SINGULAR
    _store(values, ow, w.reshape((1, n)))
    _store(values, ov, V)
    return OK


@kjit
def eigh_forward(vectors, act, pool, values, duals, work, unit, ow, ov, x, n, upper):
    up = upper != 0
    status = eigh_primal(act, pool, values, work, ow, ov, x, n, upper)
    if status != OK or not act & 1:
        return status
    w = values[ow : ow + n].copy()
    V = _mat(values, ov, n, n)
    if vectors and not _gaps_ok(w):
        return DEGENERATE
    F = _gap_inverse(w)
    for r in range(duals.shape[1]):
        K = V.T @ _sym(_dir(duals, x, n, n, r), up) @ V
        _put(duals, ow, np.diag(K).copy().reshape((1, n)), r)
        _put(duals, ov, V @ (F * K) if vectors else np.zeros((n, n)), r)
    return OK


@kjit
def eigh_reverse(vectors, act, pool, values, duals, work, unit, ow, ov, x, n, upper):
    up = upper != 0
    w = values[ow : ow + n].copy()
    V = _mat(values, ov, n, n)
    need_v = vectors and _any_nonzero(duals, ov, n * n)
    if need_v and not _gaps_ok(w):
        return DEGENERATE
    F = _gap_inverse(w)
    for r in range(duals.shape[1]):
        inner = np.diag(_dir(duals, ow, 1, n, r)[0])
        if need_v:
            inner = inner + F * (V.T @ _dir(duals, ov, n, n, r))
        _acc(duals, x, _sym_adjoint(V @ inner @ V.T, up), r)
    return OK


# ==================================================================================
# svd: A = U diag(s) V^T (thin: k = min(m, n))   [Townsend 2016; Giles 3.2]
#   dP = U^T dA V, ds = diag(dP), F_ij = 1 / (s_j^2 - s_i^2)
#   dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V S^-1      (second term if m > k)
#   dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1    (second term if n > k)
#   A_bar = U [(F o (U^T U_bar - U_bar^T U)) S + diag(s_bar) + S (F o (V^T V_bar - V_bar^T V))] V^T
#         + (I - U U^T) U_bar S^-1 V^T + U S^-1 V_bar^T (I - V V^T)
# full=True of a rectangular A: the completing columns of U (rows of Vt) have no
# derivative: forward mode is DEGENERATE, reverse mode needs their cotangent zero.
# svdvals: ds = diag(U^T dA V), A_bar = U diag(s_bar) V^T (no gap needed).
# ==================================================================================


@kjit
def _svd_shapes(m, n, full):
    k = min(m, n)
    return k, (m if full else k), (n if full else k)


@kjit
def svd_primal(act, pool, values, work, ou, os_, ovt, x, m, n, full):
    fl = full != 0
    U, s, Vt = np.linalg.svd(_mat(values, x, m, n), full_matrices=fl)
    _store(values, ou, U)
    _store(values, os_, s.reshape((1, s.size)))
    _store(values, ovt, Vt)
    return OK


@kjit
def _svd_status(s, m, n, need):
    """OK, or why the singular vectors have no derivative (repeated or zero values)."""
    if not need:
        return OK
    if not _gaps_ok(s):
        return DEGENERATE
    k = s.size
    if (m > k or n > k) and not np.min(s) > GAP_RTOL * k * np.max(s):
        return ZERO_SINGULAR
    return OK


@kjit
def _svd_thin(values, ou, os_, ovt, m, n, full):
    k, ucols, vrows = _svd_shapes(m, n, full)
    U = _mat(values, ou, m, ucols)[:, :k].copy()
    s = values[os_ : os_ + k].copy()
    Vt = _mat(values, ovt, vrows, n)[:k].copy()
    return U, s, Vt


@kjit
def svd_forward(vectors, act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full):
    svd_primal(act, pool, values, work, ou, os_, ovt, x, m, n, full)
    if not act & 1:
        return OK
    fl = full != 0
    k, ucols, vrows = _svd_shapes(m, n, fl)
    if vectors and fl and m != n:
        return COMPLETION
    U, s, Vt = _svd_thin(values, ou, os_, ovt, m, n, fl)
    status = _svd_status(s, m, n, vectors)
    if status != OK:
        return status
    V = Vt.T.copy()
    F = _gap_inverse(s * s)
    for r in range(duals.shape[1]):
        dA = _dir(duals, x, m, n, r)
        dP = U.T @ dA @ V
        _put(duals, os_, np.diag(dP).copy().reshape((1, k)), r)
        if not vectors:
            _zero(duals, ou, m * ucols)
            _zero(duals, ovt, vrows * n)
            continue
        dPt = dP.T.copy()
        dU = U @ (F * (dP * s.reshape((1, k)) + s.reshape((k, 1)) * dPt))
        dV = V @ (F * (s.reshape((k, 1)) * dP + dPt * s.reshape((1, k))))
        if m > k:
            dU = dU + (dA @ V - U @ dP) / s.reshape((1, k))
        if n > k:
            dV = dV + (dA.T @ U - V @ dPt) / s.reshape((1, k))
        _put(duals, ou, dU, r)
        _put(duals, ovt, dV.T.copy(), r)
    return OK


@kjit
def svd_reverse(vectors, act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full):
    fl = full != 0
    k, ucols, vrows = _svd_shapes(m, n, fl)
    U, s, Vt = _svd_thin(values, ou, os_, ovt, m, n, fl)
    need_u = need_v = False
    if vectors:
        for r in range(duals.shape[1]):  # the completing part must carry no cotangent
            Ub = _dir(duals, ou, m, ucols, r)
            Vtb = _dir(duals, ovt, vrows, n, r)
            if np.any(Ub[:, k:] != 0.0) or np.any(Vtb[k:] != 0.0):
                return COMPLETION
            need_u = need_u or np.any(Ub != 0.0)
            need_v = need_v or np.any(Vtb != 0.0)
    status = _svd_status(s, m, n, need_u or need_v)
    if status != OK:
        return status
    F = _gap_inverse(s * s)
    s_row, s_col = s.reshape((1, k)), s.reshape((k, 1))
    for r in range(duals.shape[1]):
        inner = np.diag(_dir(duals, os_, 1, k, r)[0])
        extra = np.zeros((m, n))
        if need_u:
            Ub = _dir(duals, ou, m, ucols, r)[:, :k].copy()
            UtUb = U.T @ Ub
            inner = inner + (F * (UtUb - UtUb.T)) * s_row
            if m > k:
                extra = extra + ((Ub - U @ UtUb) / s_row) @ Vt
        if need_v:
            Vb = _dir(duals, ovt, vrows, n, r)[:k].T.copy()
            VtVb = Vt @ Vb
            inner = inner + s_col * (F * (VtVb - VtVb.T))
            if n > k:
                extra = extra + (U / s_row) @ (Vb - Vt.T @ VtVb).T
        _acc(duals, x, U @ inner @ Vt + extra, r)
    return OK


# ==================================================================================
# qr: A = Q R (A (m, n), m >= n; Q (m, n), R (n, n))   [Walter & Lehmann 2018; JAX]
#   JVP: M = dA R^-1, C = Q^T M, Omega = tril(C, -1) - tril(C, -1)^T,
#        dR = (C - Omega) R, dQ = M - Q (C - Omega)
#   VJP: G = R_bar R^T - Q^T Q_bar, H = triu(G) + tril(G^T, -1), A_bar = (Q_bar + Q H) R^-T
# Rank < n (a zero R[i, i]): Q has no derivative (RANK_DEFICIENT).
# ==================================================================================


@kjit
def qr_primal(act, pool, values, work, q, r, x, m, n):
    Q, R = np.linalg.qr(_mat(values, x, m, n))
    _store(values, q, Q)
    _store(values, r, R)
    if act & 1:  # the derivative needs R^-1
        d = np.abs(np.diag(R))
        if n and not np.min(d) > GAP_RTOL * max(m, n) * np.max(np.abs(R)):
            return RANK_DEFICIENT
    return OK


@kjit
def _strict_lower(C):
    k = C.shape[0]
    L = np.zeros((k, k))
    for i in range(k):
        for j in range(i):
            L[i, j] = C[i, j]
    return L


@kjit
def qr_forward(act, pool, values, duals, work, unit, q, r, x, m, n):
    status = qr_primal(act, pool, values, work, q, r, x, m, n)
    if status != OK or not act & 1:
        return status
    Q, R = _mat(values, q, m, n), _mat(values, r, n, n)
    for t in range(duals.shape[1]):
        M = np.linalg.solve(R.T, _dir(duals, x, m, n, t).T).T  # dA R^-1
        C = Q.T @ M
        low = _strict_lower(C)
        DR = C - (low - low.T)  # dR R^-1
        _put(duals, q, M - Q @ DR, t)
        _put(duals, r, DR @ R, t)
    return OK


@kjit
def qr_reverse(act, pool, values, duals, work, unit, q, r, x, m, n):
    Q, R = _mat(values, q, m, n), _mat(values, r, n, n)
    for t in range(duals.shape[1]):
        Qb, Rb = _dir(duals, q, m, n, t), _dir(duals, r, n, n, t)
        G = Rb @ R.T - Q.T @ Qb
        H = G - _strict_lower(G) + _strict_lower(G.T)  # triu(G) + tril(G^T, -1)
        B = Qb + Q @ H
        _acc(duals, x, np.linalg.solve(R, B.T).T, t)  # B R^-T
    return OK


# ==================================================================================
# pinv: P = A^+ (A (m, n), P (n, m)), singular values below rcond * s_max cut off
#   [Golub & Pereyra 1973, thm. 4.3; JAX's pinv_jvp]
#   JVP: dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
#   VJP: A_bar = -P^T P_bar P^T + (I - A P) P_bar^T P P^T + P^T P P_bar^T (I - P A)
# The constant-rank derivative (exact at full rank).
# ==================================================================================


@kjit
def pinv_primal(act, pool, values, work, out, x, m, n, rcond):
    _store(values, out, np.linalg.pinv(_mat(values, x, m, n), values[rcond]))
    return OK


@kjit
def _pinv_parts(values, out, x, m, n):
    P, A = _mat(values, out, n, m), _mat(values, x, m, n)
    return P, A, np.eye(m) - A @ P, np.eye(n) - P @ A


@kjit
def pinv_forward(act, pool, values, duals, work, unit, out, x, m, n, rcond):
    pinv_primal(act, pool, values, work, out, x, m, n, rcond)
    if not act & 1:
        return OK
    P, A, I_ap, I_pa = _pinv_parts(values, out, x, m, n)
    PPt, PtP = P @ P.T, P.T @ P
    for t in range(duals.shape[1]):
        dA = _dir(duals, x, m, n, t)
        _put(duals, out, -(P @ dA @ P) + PPt @ dA.T @ I_ap + I_pa @ dA.T @ PtP, t)
    return OK


@kjit
def pinv_reverse(act, pool, values, duals, work, unit, out, x, m, n, rcond):
    P, A, I_ap, I_pa = _pinv_parts(values, out, x, m, n)
    PPt, PtP = P @ P.T, P.T @ P
    for t in range(duals.shape[1]):
        Pb = _dir(duals, out, n, m, t)
        _acc(duals, x, -(P.T @ Pb @ P.T) + I_ap @ Pb.T @ PPt + PtP @ Pb.T @ I_pa, t)
    return OK


# ==================================================================================
# The table entries and lowerings of the matrix functions
# ==================================================================================


@kjit
def eigh_forward_v(act, pool, values, duals, work, unit, ow, ov, x, n, upper):
    return eigh_forward(True, act, pool, values, duals, work, unit, ow, ov, x, n, upper)


@kjit
def eigh_reverse_v(act, pool, values, duals, work, unit, ow, ov, x, n, upper):
    return eigh_reverse(True, act, pool, values, duals, work, unit, ow, ov, x, n, upper)


@kjit
def eigvalsh_forward(act, pool, values, duals, work, unit, ow, ov, x, n, upper):
    return eigh_forward(False, act, pool, values, duals, work, unit, ow, ov, x, n, upper)


@kjit
def eigvalsh_reverse(act, pool, values, duals, work, unit, ow, ov, x, n, upper):
    return eigh_reverse(False, act, pool, values, duals, work, unit, ow, ov, x, n, upper)


@kjit
def svd_forward_v(act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full):
    return svd_forward(True, act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full)


@kjit
def svd_reverse_v(act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full):
    return svd_reverse(True, act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full)


@kjit
def svdvals_forward(act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full):
    return svd_forward(False, act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full)


@kjit
def svdvals_reverse(act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full):
    return svd_reverse(False, act, pool, values, duals, work, unit, ou, os_, ovt, x, m, n, full)


_SQUARE = (out("out", "n * n"), arg("x", "n * n", 0), num("n"))
_CUBIC = "n * n * n"

declare(Instruction("inv", _SQUARE, inv_primal, inv_forward, inv_reverse, "linalg", _CUBIC))
declare(
    Instruction(
        "solve",
        (
            out("out", "n * k"),
            arg("a", "n * n", 0),
            arg("b", "n * k", 1),
            num("n"),
            num("k"),
            res("res", "n * n"),  # A^-1 (Numba exposes no LU solve)
        ),
        solve_primal,
        solve_forward,
        solve_reverse,
        "linalg",
        _CUBIC,
    )
)
declare(
    Instruction(
        "det",
        (out("out", "1"), arg("x", "n * n", 0), num("n"), res("res", "n * n")),  # adj(X)
        det_primal,
        det_forward,
        det_reverse,
        "linalg",
        _CUBIC,
    )
)
declare(
    Instruction(
        "adjugate",
        _SQUARE + (res("res", "2 * n * n + n + 1"),),  # U, s, V^T, c
        adjugate_primal,
        adjugate_forward,
        adjugate_reverse,
        "linalg",
        _CUBIC,
    )
)
declare(
    Instruction(
        "slogdet",
        (
            out("sign", "1"),
            out("lad", "1"),
            arg("x", "n * n", 0),
            num("n"),
            res("res", "n * n"),  # X^-1
        ),
        slogdet_primal,
        slogdet_forward,
        slogdet_reverse,
        "linalg",
        _CUBIC,
    )
)
declare(
    Instruction(
        "cholesky",
        _SQUARE + (res("res", "n * n"),),  # L^-1
        cholesky_primal,
        cholesky_forward,
        cholesky_reverse,
        "linalg",
        _CUBIC,
    )
)
_EIGH = (out("w", "n"), out("v", "n * n"), arg("x", "n * n", 0), num("n"), num("upper"))
declare(Instruction("eigh", _EIGH, eigh_primal, eigh_forward_v, eigh_reverse_v, "linalg", _CUBIC))
declare(
    Instruction(
        "eigvalsh", _EIGH, eigh_primal, eigvalsh_forward, eigvalsh_reverse, "linalg", _CUBIC
    )
)
_SVD = (
    out("u", "m * (full * m + (1 - full) * min(m, n))"),
    out("s", "min(m, n)"),
    out("vt", "n * (full * n + (1 - full) * min(m, n))"),
    arg("x", "m * n", 0),
    num("m"),
    num("n"),
    num("full"),
)
_SVD_WORK = "max(m, n) * min(m, n) * min(m, n)"
declare(Instruction("svd", _SVD, svd_primal, svd_forward_v, svd_reverse_v, "linalg", _SVD_WORK))
declare(
    Instruction("svdvals", _SVD, svd_primal, svdvals_forward, svdvals_reverse, "linalg", _SVD_WORK)
)


@lowering("inv", "det", "adjugate", "cholesky")
def lower_square(lw: Any, e: Any) -> None:
    (x,), (o,) = e.inputs, e.outputs
    n = x.shape[-1]
    ins = lw.instruction(e.prim.name)
    fields = {"out": lw.slot(o), "x": lw.slot(x), "n": n}
    if "res" in ins.index:
        fields["res"] = lw.residual(ins, "res", n=n)
    lw.emit(e.prim.name, **fields)


@lowering("solve")
def lower_solve(lw: Any, e: Any) -> None:
    (a, b), (o,) = e.inputs, e.outputs
    n = a.shape[-1]
    k = b.shape[1] if b.ndim == 2 else 1
    ins = lw.instruction("solve")
    lw.emit(
        "solve",
        out=lw.slot(o),
        a=lw.slot(a),
        b=lw.slot(b),
        n=n,
        k=k,
        res=lw.residual(ins, "res", n=n, k=k),
    )


@lowering("slogdet")
def lower_slogdet(lw: Any, e: Any) -> None:
    (x,), (sign, lad) = e.inputs, e.outputs
    n = x.shape[-1]
    res_slot = lw.residual(lw.instruction("slogdet"), "res", n=n)
    lw.emit("slogdet", sign=lw.slot(sign), lad=lw.slot(lad), x=lw.slot(x), n=n, res=res_slot)


@lowering("eigh", "eigvalsh")
def lower_eigh(lw: Any, e: Any) -> None:
    (x,), (w, v) = e.inputs, e.outputs
    upper = 1 if e.params.get("uplo", "L") == "U" else 0
    lw.emit(e.prim.name, w=lw.slot(w), v=lw.slot(v), x=lw.slot(x), n=x.shape[-1], upper=upper)


@lowering("svd", "svdvals")
def lower_svd(lw: Any, e: Any) -> None:
    (x,), (u, s, vt) = e.inputs, e.outputs
    m, n = x.shape
    full = 1 if e.params.get("full", False) else 0
    lw.emit(
        e.prim.name,
        u=lw.slot(u),
        s=lw.slot(s),
        vt=lw.slot(vt),
        x=lw.slot(x),
        m=m,
        n=n,
        full=full,
    )


declare(
    Instruction(
        "qr",
        (out("q", "m * n"), out("r", "n * n"), arg("x", "m * n", 0), num("m"), num("n")),
        qr_primal,
        qr_forward,
        qr_reverse,
        "linalg",
        "m * n * n",
    )
)
declare(
    Instruction(
        "pinv",
        (
            out("out", "n * m"),
            arg("x", "m * n", 0),
            num("m"),
            num("n"),
            res("rcond", "1"),  # the cut-off, a float parameter in the values buffer
        ),
        pinv_primal,
        pinv_forward,
        pinv_reverse,
        "linalg",
        "max(m, n) * min(m, n) * min(m, n)",
    )
)


@lowering("qr")
def lower_qr(lw: Any, e: Any) -> None:
    (x,), (q, r) = e.inputs, e.outputs
    m, n = x.shape
    lw.emit("qr", q=lw.slot(q), r=lw.slot(r), x=lw.slot(x), m=m, n=n)


@lowering("pinv")
def lower_pinv(lw: Any, e: Any) -> None:
    (x,), (o,) = e.inputs, e.outputs
    m, n = x.shape
    rcond = lw.parameter(e.params["rcond"])
    lw.emit("pinv", out=lw.slot(o), x=lw.slot(x), m=m, n=n, rcond=rcond)
