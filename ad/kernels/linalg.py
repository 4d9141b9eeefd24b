"""Kernel blocks of the matrix instructions.

References: M. Giles, "An extended collection of matrix derivative results for
forward and reverse mode AD" (2008) [Giles]; rules are written beside the code.

Matrices are row-major blocks of slots. Partials and adjoints of a matrix entry are a
row of p (q) directions, so the loops keep the direction index r innermost (unit
stride, vectorised by LLVM).

- matmul ``[out, a, b, batch, m, k, n]``: ``C[t] = A[t] B[t]`` for each of the batch
  matrices (NumPy's 1-d operands are the m = 1 or n = 1 cases: same memory layout).

The matrix functions (one 2-d operand each, as the primitives of
``ad.primitives.linalg``) call np.linalg inside the kernel and apply their rules at
matrix level, one direction at a time: the direction's matrix is read out of the
dual buffer, the rule is a few matrix products, the result is written back. Their
primal functions return a status (0, or STATUS_SINGULAR / STATUS_DEGENERATE, turned
into ``SingularMatrixError`` / ``DegenerateDerivativeError`` naming the node in
Python) instead of raising inside Numba. Residuals (kept on the tape, in slots after
the Vars, only when the instruction's derivative is needed) are listed per block:

===========  ========================================  ===============================
opcode       payload                                    residual slots
===========  ========================================  ===============================
INV          ``[out, x, n]``                            none (Y = X^-1 is the output)
SOLVE        ``[out, a, b, n, k, res]``                 A^-1 (n^2)
DET          ``[out, x, n, res]``                       adj(X) (n^2)
ADJUGATE     ``[out, x, n, res]``                       U, s, V^T, c (2 n^2 + n + 1)
SLOGDET      ``[sign, logabsdet, x, n, res]``           X^-1 (n^2)
CHOLESKY     ``[out, x, n, res]``                       L^-1 (n^2)
EIGH         ``[w, V, x, n, upper]``                    none (w, V are outputs)
EIGVALSH     ``[w, V, x, n, upper]``                    none
SVD          ``[U, s, Vt, x, m, n, full]``              none (U, s, Vt are outputs)
SVDVALS      ``[U, s, Vt, x, m, n]``                    none
===========  ========================================  ===============================
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.np.linalg import _LAPACK

from ad.kernels.jit import kjit

#: Two eigen/singular values closer than GAP_RTOL * k * max|value| count as repeated
#: (the same rule as ad.primitives.linalg, whose value is used when it exists).
try:
    from ad.primitives.linalg import GAP_RTOL
except ImportError:  # pragma: no cover
    GAP_RTOL = 64 * np.finfo(np.float64).eps

OK = 0
SINGULAR = 1  # = sweeps.STATUS_SINGULAR: no inverse / not positive definite
DEGENERATE = 2  # = sweeps.STATUS_DEGENERATE: repeated eigen/singular values
COMPLETION = 3  # = sweeps.STATUS_COMPLETION: full_matrices columns have no derivative
ZERO_SINGULAR = 4  # = sweeps.STATUS_ZERO_SINGULAR: rectangular svd with s_i = 0

#: LAPACK's dsyevd as Numba binds it (np.linalg.eigh has no UPLO argument in Numba).
_xxxevd = _LAPACK().numba_ez_xxxevd(types.float64)

# ==================================================================================
# matmul: C = A B ;  dC = dA B + A dB ;  A_bar += C_bar B^T ;  B_bar += A^T C_bar [Giles 2.2.1]
# ==================================================================================


@kjit
def matmul_primal(code, j, values):
    o, a, b = code[j], code[j + 1], code[j + 2]
    batch, m, k, n = code[j + 3], code[j + 4], code[j + 5], code[j + 6]
    for t in range(batch):
        A, B, C = a + t * m * k, b + t * k * n, o + t * m * n
        for i in range(m):
            for jj in range(n):
                values[C + i * n + jj] = 0.0
            for kk in range(k):  # row i of C accumulates A[i, kk] * row kk of B
                aik = values[A + i * k + kk]
                for jj in range(n):
                    values[C + i * n + jj] += aik * values[B + kk * n + jj]


@kjit
def matmul_forward(code, j, act, values, partials):
    matmul_primal(code, j, values)
    if not act & 1:
        return
    o, a, b = code[j], code[j + 1], code[j + 2]
    batch, m, k, n = code[j + 3], code[j + 4], code[j + 5], code[j + 6]
    p = partials.shape[1]
    for t in range(batch):
        A, B, C = a + t * m * k, b + t * k * n, o + t * m * n
        for i in range(m * n):
            for r in range(p):
                partials[C + i, r] = 0.0
        for i in range(m):
            for kk in range(k):
                aik = values[A + i * k + kk]
                for jj in range(n):
                    c = C + i * n + jj
                    if act & 2:  # dA B
                        bkj = values[B + kk * n + jj]
                        for r in range(p):
                            partials[c, r] += partials[A + i * k + kk, r] * bkj
                    if act & 4:  # A dB
                        for r in range(p):
                            partials[c, r] += aik * partials[B + kk * n + jj, r]


@kjit
def matmul_reverse(code, j, act, values, adjoints):
    o, a, b = code[j], code[j + 1], code[j + 2]
    batch, m, k, n = code[j + 3], code[j + 4], code[j + 5], code[j + 6]
    q = adjoints.shape[1]
    for t in range(batch):
        A, B, C = a + t * m * k, b + t * k * n, o + t * m * n
        for i in range(m):
            for kk in range(k):
                aik = values[A + i * k + kk]
                for jj in range(n):
                    c = C + i * n + jj
                    if act & 2:  # A_bar[i, kk] += C_bar[i, jj] B[kk, jj]
                        bkj = values[B + kk * n + jj]
                        for r in range(q):
                            adjoints[A + i * k + kk, r] += adjoints[c, r] * bkj
                    if act & 4:  # B_bar[kk, jj] += A[i, kk] C_bar[i, jj]
                        for r in range(q):
                            adjoints[B + kk * n + jj, r] += aik * adjoints[c, r]


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
def inv_primal(code, j, act, values):
    o, x, n = code[j], code[j + 1], code[j + 2]
    Y, status = _inv(_mat(values, x, n, n))
    if status == OK:
        _store(values, o, Y)
    return status


@kjit
def inv_forward(code, j, act, values, partials):
    status = inv_primal(code, j, act, values)
    if status != OK or not act & 1:
        return status
    o, x, n = code[j], code[j + 1], code[j + 2]
    Y = _mat(values, o, n, n)
    for r in range(partials.shape[1]):
        _put(partials, o, -(Y @ _dir(partials, x, n, n, r) @ Y), r)
    return OK


@kjit
def inv_reverse(code, j, act, values, adjoints):
    o, x, n = code[j], code[j + 1], code[j + 2]
    Yt = _mat(values, o, n, n).T.copy()
    for r in range(adjoints.shape[1]):
        _acc(adjoints, x, -(Yt @ _dir(adjoints, o, n, n, r) @ Yt), r)
    return OK


# ==================================================================================
# solve: X = A^-1 B ;  dX = A^-1 (dB - dA X) ;  B_bar = A^-T X_bar, A_bar = -B_bar X^T
# [Giles 2.3.1]. B is (n, k) (a vector is k = 1: same layout). Residual: A^-1 (LAPACK's
# LU is not exposed by Numba; the inverse serves every direction with two products).
# ==================================================================================


@kjit
def solve_primal(code, j, act, values):
    o, a, b, n, k, res = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4], code[j + 5]
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
def solve_forward(code, j, act, values, partials):
    status = solve_primal(code, j, act, values)
    if status != OK or not act & 1:
        return status
    o, a, b, n, k, res = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4], code[j + 5]
    X = _mat(values, o, n, k)
    Ainv = _mat(values, res, n, n)
    for r in range(partials.shape[1]):
        rhs = _dir(partials, b, n, k, r) if act & 4 else np.zeros((n, k))
        if act & 2:
            rhs -= _dir(partials, a, n, n, r) @ X
        _put(partials, o, Ainv @ rhs, r)
    return OK


@kjit
def solve_reverse(code, j, act, values, adjoints):
    o, a, b, n, k, res = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4], code[j + 5]
    X = _mat(values, o, n, k)
    AinvT = _mat(values, res, n, n).T.copy()
    for r in range(adjoints.shape[1]):
        Bb = AinvT @ _dir(adjoints, o, n, k, r)
        if act & 4:
            _acc(adjoints, b, Bb, r)
        if act & 2:
            _acc(adjoints, a, -(Bb @ X.T), r)
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
def adjugate_primal(code, j, act, values):
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
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
def adjugate_forward(code, j, act, values, partials):
    adjugate_primal(code, j, act, values)
    if not act & 1:
        return OK
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    U, s, Vt, c = _adjugate_residuals(values, res, n)
    P = _pair_products(s)
    for r in range(partials.shape[1]):
        K = U.T @ _dir(partials, x, n, n, r) @ Vt.T
        _put(partials, o, c * (Vt.T @ _adjugate_d(K, P) @ U.T), r)
    return OK


@kjit
def adjugate_reverse(code, j, act, values, adjoints):
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    U, s, Vt, c = _adjugate_residuals(values, res, n)
    P = _pair_products(s)
    for r in range(adjoints.shape[1]):
        K = Vt @ _dir(adjoints, o, n, n, r) @ U
        _acc(adjoints, x, c * (U @ _adjugate_d(K, P) @ Vt), r)
    return OK


# ==================================================================================
# det: d det X = <adj(X)^T, dX> ;  X_bar = det_bar adj(X)^T   [Giles 2.2.4; Cookbook (46)]
# The adjugate (residual) is finite at singular X, unlike det(X) X^-T.
# ==================================================================================


@kjit
def det_primal(code, j, act, values):
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    X = _mat(values, x, n, n)
    values[o] = np.linalg.det(X)
    if act & 1:
        U, s, Vt, c = _svd_parts(X)
        _store(values, res, _adjugate_from(U, s, Vt, c))
    return OK


@kjit
def det_forward(code, j, act, values, partials):
    det_primal(code, j, act, values)
    if not act & 1:
        return OK
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    adjT = _mat(values, res, n, n).T.copy()
    for r in range(partials.shape[1]):
        partials[o, r] = np.sum(adjT * _dir(partials, x, n, n, r))
    return OK


@kjit
def det_reverse(code, j, act, values, adjoints):
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    adjT = _mat(values, res, n, n).T.copy()
    for r in range(adjoints.shape[1]):
        _acc(adjoints, x, adjoints[o, r] * adjT, r)
    return OK


# ==================================================================================
# slogdet: (sign, log|det X|) ;  d log|det X| = <X^-T, dX> ; X_bar = lad_bar X^-T
# [Giles 2.2.4; Cookbook (57)]. The sign is piecewise constant (zero derivative).
# ==================================================================================


@kjit
def slogdet_primal(code, j, act, values):
    o_sign, o_lad, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
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
def slogdet_forward(code, j, act, values, partials):
    status = slogdet_primal(code, j, act, values)
    if status != OK or not act & 1:
        return status
    o_sign, o_lad, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    XinvT = _mat(values, res, n, n).T.copy()
    for r in range(partials.shape[1]):
        partials[o_sign, r] = 0.0
        partials[o_lad, r] = np.sum(XinvT * _dir(partials, x, n, n, r))
    return OK


@kjit
def slogdet_reverse(code, j, act, values, adjoints):
    o_lad, x, n, res = code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    XinvT = _mat(values, res, n, n).T.copy()
    for r in range(adjoints.shape[1]):
        _acc(adjoints, x, adjoints[o_lad, r] * XinvT, r)
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
def cholesky_primal(code, j, act, values):
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
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
def cholesky_forward(code, j, act, values, partials):
    status = cholesky_primal(code, j, act, values)
    if status != OK or not act & 1:
        return status
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    L = _mat(values, o, n, n)
    Linv = _mat(values, res, n, n)
    for r in range(partials.shape[1]):
        S = _sym(_dir(partials, x, n, n, r), False)
        _put(partials, o, L @ _phi(Linv @ S @ Linv.T), r)
    return OK


@kjit
def cholesky_reverse(code, j, act, values, adjoints):
    o, x, n, res = code[j], code[j + 1], code[j + 2], code[j + 3]
    L = _mat(values, o, n, n)
    Linv = _mat(values, res, n, n)
    for r in range(adjoints.shape[1]):
        Q = Linv.T @ _phi(L.T @ _dir(adjoints, o, n, n, r)) @ Linv
        _acc(adjoints, x, _sym_adjoint(Q, False), r)
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
def eigh_primal(code, j, act, values):
    ow, ov, x, n, upper = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4] != 0
    w, V, info = _eigh(_mat(values, x, n, n), upper)
    if info != 0:
        return SINGULAR
    _store(values, ow, w.reshape((1, n)))
    _store(values, ov, V)
    return OK


@kjit
def eigh_forward(vectors, code, j, act, values, partials):
    status = eigh_primal(code, j, act, values)
    if status != OK or not act & 1:
        return status
    ow, ov, x, n, upper = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4] != 0
    w = values[ow : ow + n].copy()
    V = _mat(values, ov, n, n)
    if vectors and not _gaps_ok(w):
        return DEGENERATE
    F = _gap_inverse(w)
    for r in range(partials.shape[1]):
        K = V.T @ _sym(_dir(partials, x, n, n, r), upper) @ V
        _put(partials, ow, np.diag(K).copy().reshape((1, n)), r)
        _put(partials, ov, V @ (F * K) if vectors else np.zeros((n, n)), r)
    return OK


@kjit
def eigh_reverse(vectors, code, j, act, values, adjoints):
    ow, ov, x, n, upper = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4] != 0
    w = values[ow : ow + n].copy()
    V = _mat(values, ov, n, n)
    need_v = vectors and _any_nonzero(adjoints, ov, n * n)
    if need_v and not _gaps_ok(w):
        return DEGENERATE
    F = _gap_inverse(w)
    for r in range(adjoints.shape[1]):
        inner = np.diag(_dir(adjoints, ow, 1, n, r)[0])
        if need_v:
            inner = inner + F * (V.T @ _dir(adjoints, ov, n, n, r))
        _acc(adjoints, x, _sym_adjoint(V @ inner @ V.T, upper), r)
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
def svd_primal(code, j, act, values):
    ou, os_, ovt, x, m, n = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4], code[j + 5]
    full = code[j + 6] != 0
    U, s, Vt = np.linalg.svd(_mat(values, x, m, n), full_matrices=full)
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
def svd_forward(vectors, code, j, act, values, partials):
    svd_primal(code, j, act, values)
    if not act & 1:
        return OK
    ou, os_, ovt, x, m, n = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4], code[j + 5]
    full = code[j + 6] != 0
    k, ucols, vrows = _svd_shapes(m, n, full)
    if vectors and full and m != n:
        return COMPLETION
    U, s, Vt = _svd_thin(values, ou, os_, ovt, m, n, full)
    status = _svd_status(s, m, n, vectors)
    if status != OK:
        return status
    V = Vt.T.copy()
    F = _gap_inverse(s * s)
    for r in range(partials.shape[1]):
        dA = _dir(partials, x, m, n, r)
        dP = U.T @ dA @ V
        _put(partials, os_, np.diag(dP).copy().reshape((1, k)), r)
        if not vectors:
            _zero(partials, ou, m * ucols)
            _zero(partials, ovt, vrows * n)
            continue
        dPt = dP.T.copy()
        dU = U @ (F * (dP * s.reshape((1, k)) + s.reshape((k, 1)) * dPt))
        dV = V @ (F * (s.reshape((k, 1)) * dP + dPt * s.reshape((1, k))))
        if m > k:
            dU = dU + (dA @ V - U @ dP) / s.reshape((1, k))
        if n > k:
            dV = dV + (dA.T @ U - V @ dPt) / s.reshape((1, k))
        _put(partials, ou, dU, r)
        _put(partials, ovt, dV.T.copy(), r)
    return OK


@kjit
def svd_reverse(vectors, code, j, act, values, adjoints):
    ou, os_, ovt, x, m, n = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4], code[j + 5]
    full = code[j + 6] != 0
    k, ucols, vrows = _svd_shapes(m, n, full)
    U, s, Vt = _svd_thin(values, ou, os_, ovt, m, n, full)
    need_u = need_v = False
    if vectors:
        for r in range(adjoints.shape[1]):  # the completing part must carry no cotangent
            Ub = _dir(adjoints, ou, m, ucols, r)
            Vtb = _dir(adjoints, ovt, vrows, n, r)
            if np.any(Ub[:, k:] != 0.0) or np.any(Vtb[k:] != 0.0):
                return COMPLETION
            need_u = need_u or np.any(Ub != 0.0)
            need_v = need_v or np.any(Vtb != 0.0)
    status = _svd_status(s, m, n, need_u or need_v)
    if status != OK:
        return status
    F = _gap_inverse(s * s)
    s_row, s_col = s.reshape((1, k)), s.reshape((k, 1))
    for r in range(adjoints.shape[1]):
        inner = np.diag(_dir(adjoints, os_, 1, k, r)[0])
        extra = np.zeros((m, n))
        if need_u:
            Ub = _dir(adjoints, ou, m, ucols, r)[:, :k].copy()
            UtUb = U.T @ Ub
            inner = inner + (F * (UtUb - UtUb.T)) * s_row
            if m > k:
                extra = extra + ((Ub - U @ UtUb) / s_row) @ Vt
        if need_v:
            Vb = _dir(adjoints, ovt, vrows, n, r)[:k].T.copy()
            VtVb = Vt @ Vb
            inner = inner + s_col * (F * (VtVb - VtVb.T))
            if n > k:
                extra = extra + (U / s_row) @ (Vb - Vt.T @ VtVb).T
        _acc(adjoints, x, U @ inner @ Vt + extra, r)
    return OK
