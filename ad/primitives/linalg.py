"""Linear-algebra primitives with matrix rules.

References for the rules:

- [Giles] M. Giles, "An extended collection of matrix derivative results for forward and
  reverse mode algorithmic differentiation", Oxford NA report 08/01 (2008);
- [Cookbook] K. B. Petersen and M. S. Pedersen, "The Matrix Cookbook" (2012);
- [Townsend] J. Townsend, "Differentiating the singular value decomposition" (2016);
- [Murray] I. Murray, "Differentiation of the Cholesky decomposition", arXiv:1602.07527
  (2016);
- [Magnus] J. R. Magnus, "On differentiating eigenvalues and eigenvectors", Econometric
  Theory 1 (1985).

Conventions. Every primitive here works on single matrices: its operands in the IR are
2-d (a stack of matrices is unrolled by the public function, one node per matrix), and
its ``impl`` is plain NumPy/LAPACK on 2-d arrays. Tangents and cotangents carry leading
batch axes (see ``core``), so the rules use ``mT`` (swap the last two axes), negative
axes and matmul broadcasting; a rule that needs a primitive on a batched operand (a
``solve`` with a batched right-hand side) folds the batch axes into matrix columns.

Numerically delicate points, each tested at the point itself:

- ``det``: the derivative is the adjugate, computed from an SVD (never det(X) X^-T), so it
  is finite and correct at rank n-1 and exactly zero at rank < n-1 (``adjugate`` block);
- ``svd`` / ``eigh`` vectors at repeated values: no derivative; the rules raise
  ``DegenerateDerivativeError`` naming the pair, and only when a vector derivative is
  needed (a JVP, or a VJP with a nonzero U / V cotangent);
- ``svdvals`` / ``eigvalsh`` (values only): the derivative of a symmetric function of the
  values (nuclear norm, trace, log det) is well defined at repeated values, and the rules
  give it (grad ||X||_* = U V^T whatever basis of a repeated cluster LAPACK returns);
- ``inv`` / ``solve`` of an exactly singular matrix: ``SingularMatrixError`` naming the
  operation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ad.errors import (
    DegenerateDerivativeError,
    ShapeError,
    SingularMatrixError,
    UnsupportedArgumentError,
    UnsupportedOperationError,
)
from ad.primitives.core import Primitive, defjvp, defsparsity, defvjp
from ad.primitives.elementwise import add, divide, multiply, negative, subtract
from ad.primitives.reductions import sum as _sum
from ad.primitives.shape import (
    broadcast_to,
    diagonal,
    getitem,
    moveaxis,
    mT,
    reshape,
    stack,
    traced,
    tril,
    triu,
)
from ad.trace import Tracer, as_float_array, concrete


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


def matmul_sparsity(S, a, b):
    """dC = dA B + A dB: C[i, j] depends on A[i, k] where B[k, j] may be nonzero and on
    B[k, j] where A[i, k] may be; against a variable operand that is all of row i of A
    (column j of B), against a constant one only its nonzeros (exact for A @ x)."""
    A = np.arange(math.prod(a.shape)).reshape(a.shape if len(a.shape) >= 2 else (1,) + a.shape)
    B = np.arange(math.prod(b.shape)).reshape(b.shape if len(b.shape) >= 2 else b.shape + (1,))
    batch, r, c = A.shape[:-2], A.shape[-2], B.shape[-1]
    out_shape = _matmul_shape(a.shape, b.shape)
    O = np.arange(math.prod(out_shape)).reshape(batch + (r, c))
    lead = np.arange(math.prod(batch)).reshape(batch + (1, 1))
    terms = []
    for x, X, other, is_a in ((a, A, S.nonzero(b), True), (b, B, S.nonzero(a), False)):
        if x.constant:
            continue
        if other.all():  # the union of a whole row of A (column of B), then broadcast
            line = lead * r + np.arange(r)[:, None] if is_a else lead * c + np.arange(c)
            union = S.add_into(x, np.broadcast_to(line, X.shape).reshape(x.shape), line.size)
            terms.append(S.take((union,), np.broadcast_to(line, O.shape).reshape(out_shape)))
            continue
        # (batch, k, j) nonzero in B pairs C[.., i, j] with A[.., i, k] for every i; mirrored
        m = other.reshape(B.shape if is_a else A.shape)
        t, u, v = np.nonzero(m.reshape((-1,) + m.shape[-2:]))
        if is_a:
            out = O.reshape(-1, r, c)[t[:, None], np.arange(r), v[:, None]]
            src = A.reshape(-1, r, A.shape[-1])[t[:, None], np.arange(r), u[:, None]]
        else:
            out = O.reshape(-1, r, c)[t[:, None], u[:, None], np.arange(c)]
            src = B.reshape(-1, B.shape[-2], c)[t[:, None], v[:, None], np.arange(c)]
        terms.append(S.pairs(out_shape, out.reshape(-1), x, src.reshape(-1)))
    # C[i, j] is known zero where every product A[i, k] B[k, j] has a known-zero factor;
    # each term above knows exactly those entries (its pairs skip the other factor's
    # zeros, its row unions read only zero rows there), so linear() keeps them
    return S.linear(*terms) if terms else S.constant(out_shape)


defsparsity(matmul_p, matmul_sparsity)


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
    rows = sa[-2:-1] if len(sa) >= 2 else ()  # NumPy drops the axis a 1-d operand gained
    cols = sb[-1:] if len(sb) >= 2 else ()
    return reshape(out, batch + rows + cols)


# ----------------------------------------------------------------------------------
# Helpers shared by the rules below. All accept arrays and tracers, with leading batch
# axes on the tangent / cotangent operands.
# ----------------------------------------------------------------------------------


def _diag_part(x: Any) -> Any:
    """The diagonals of the trailing matrices: batch + (k, k) -> batch + (k,)."""
    return diagonal(x, 0, -2, -1)


def _diag_embed(v: Any) -> Any:
    """Diagonal matrices from trailing vectors: batch + (k,) -> batch + (k, k)."""
    return multiply(_col(v), np.eye(np.shape(v)[-1]))


def _inner2(a: Any, b: Any) -> Any:
    """<a, b> = sum_ij a_ij b_ij over the last two axes (batch axes kept)."""
    return _sum(multiply(a, b), axis=(-2, -1))


def _scalar2(t: Any) -> Any:
    """A batch of scalars as batch + (1, 1), to scale a batch of matrices."""
    return reshape(t, np.shape(t) + (1, 1))


def _sym(h: Any, uplo: str = "L") -> Any:
    """The tangent a symmetric-matrix function sees: (H + H^T) / 2 (JAX's convention).

    ``cholesky``, ``eigh`` and ``eigvalsh`` are functions of a symmetric matrix. NumPy
    computes their value from one triangle (``uplo``); their derivative follows JAX,
    which symmetrises the input, ``symmetrize(x) = (x + x^H) / 2``, before the
    decomposition (``jax/_src/lax/linalg.py``: ``cholesky``/``eigh`` with
    ``symmetrize_input=True``, the default of ``jnp.linalg.cholesky``, ``eigh`` and
    ``eigvalsh``). So a tangent H enters as its symmetric part, the gradient is
    symmetric, and a gradient step keeps a symmetric matrix symmetric. Along symmetric
    directions, the only ones that keep the input symmetric, this is the derivative of
    NumPy's function too; ``uplo`` no longer matters for it.
    """
    return multiply(add(h, mT(h)), 0.5)


def _sym_adjoint(q: Any, uplo: str = "L") -> Any:
    """The adjoint of ``_sym``, which is self-adjoint: (Q + Q^T) / 2, a symmetric gradient."""
    return multiply(add(q, mT(q)), 0.5)


def _nonzero(ct: Any) -> bool:
    """Whether a cotangent can contribute: present, and traced or not all zero."""
    if ct is None:
        return False
    return isinstance(ct, Tracer) or bool(np.any(np.asarray(ct) != 0))


#: Two eigen- or singular values closer than GAP_RTOL * k * max|value| count as repeated:
#: LAPACK computes them to within a small multiple of k * eps * ||A||, so a smaller gap
#: cannot be told from zero, and 1 / gap would only amplify round-off.
GAP_RTOL = 64 * np.finfo(np.float64).eps


def _check_gaps(values: Any, op: str, name: str, vectors: str, alone: str) -> None:
    """Raise DegenerateDerivativeError if two of ``values`` coincide (round-off level)."""
    v = np.asarray(concrete(values), dtype=np.float64)
    k = v.size
    if k < 2:
        return
    scale = float(np.max(np.abs(v)))
    tol = GAP_RTOL * k * scale
    order = np.argsort(v, kind="stable")
    gaps = np.diff(v[order])
    i = int(np.argmin(gaps))
    if gaps[i] <= tol:
        a, b = sorted((int(order[i]), int(order[i + 1])))
        raise DegenerateDerivativeError(
            f"{op}: {name}[{a}] = {v[a]:.6g} and {name}[{b}] = {v[b]:.6g} are repeated "
            f"(gap {gaps[i]:.1e} <= {tol:.1e}), so the derivative of the {vectors} does not "
            f"exist there (it needs 1 / gap). A function of the {alone} alone is "
            "differentiable there: use the values-only function instead."
        )


def _gap_inverse(d: Any) -> Any:
    """F with F_ij = 1 / d_ij off the diagonal and 0 on it (d has a zero diagonal).

    Written as (1 - I) / (d + I) so that the diagonal never divides by zero, also in
    the derivative of F (a higher-order rule).
    """
    k = np.shape(d)[-1]
    eye = np.eye(k)
    return divide(1.0 - eye, add(d, eye))


# ==================================================================================
# inv: Y = X^-1  ->  dY = -Y dX Y ;  X_bar = -Y^T Y_bar Y^T
# [Giles, "Inverse"; Cookbook sec. 2.2]. The seminar's d(X^-1) = -X^-1 (dX) X^-1.
# ==================================================================================
def _square_shape(name: str, x: tuple[int, ...]) -> None:
    if len(x) != 2 or x[0] != x[1]:
        raise ShapeError(f"{name} needs a square matrix, got shape {x}")


def _dims(x: np.ndarray) -> str:
    return "x".join(str(d) for d in x.shape)


def _singular(op: str, x: np.ndarray, consequence: str) -> str:
    return f"{op}: the {_dims(x)} matrix is singular (LU met an exactly zero pivot), {consequence}"


def _inv_shape(x):
    _square_shape("inv", x)
    return x


def _inv_impl(x):
    try:
        y = np.linalg.inv(x)
    except np.linalg.LinAlgError:
        raise SingularMatrixError(_singular("inv", x, "so it has no inverse")) from None
    if not np.all(np.isfinite(y)) and np.all(np.isfinite(x)):
        raise SingularMatrixError(f"inv: the inverse of the {_dims(x)} matrix overflows")
    return y


inv_p = Primitive("inv", _inv_shape, _inv_impl, n_in=1)


def inv_jvp(x_dot, ans, x):
    return negative(matmul(ans, matmul(x_dot, ans)))


def inv_vjp(ans_bar, ans, x):
    return negative(matmul(mT(ans), matmul(ans_bar, mT(ans))))


defjvp(inv_p, inv_jvp)
defvjp(inv_p, inv_vjp)


def inv(a: Any) -> Any:
    """``np.linalg.inv``: the inverse of a square matrix (or of each matrix of a stack).

    Raises ``SingularMatrixError`` for an exactly singular matrix. Reverse mode reuses
    the inverse itself (the output) as the residual: X_bar = -Y^T Y_bar Y^T.
    """
    return _per_matrix(lambda m: _apply(inv_p, m), _operand(a))


def _inv_for(x: Any, op: str) -> Any:
    """X^-1 inside the rule of ``op``: a singular X is named as that operation's error."""
    try:
        return inv(x)
    except SingularMatrixError:
        raise SingularMatrixError(
            f"{op}: the derivative needs the inverse of a singular matrix, which does not exist"
        ) from None


# ==================================================================================
# solve: x = A^-1 b  ->  dx = A^-1 (db - dA x) ;  b_bar = A^-T x_bar,  A_bar = -b_bar x^T
# [Giles, "Matrix inverse product"]. b is a vector (n,) or a matrix (n, k). The seminar's
# linear least-squares layer: dL/db = A^-T g, dL/dA = -A^-T g x^T with g = dL/dx.
# ==================================================================================
def _solve_shape(a, b):
    _square_shape("solve", a)
    if len(b) not in (1, 2) or b[0] != a[0]:
        raise ShapeError(
            f"solve: the right-hand side must be ({a[0]},) or ({a[0]}, k), got shape {b}"
        )
    return b


def _solve_impl(a, b):
    try:
        x = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise SingularMatrixError(
            _singular("solve", a, "so A x = b has no unique solution")
        ) from None
    if not np.all(np.isfinite(x)) and np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
        raise SingularMatrixError(f"solve: the solution with the {_dims(a)} matrix overflows")
    return x


solve_p = Primitive("solve", _solve_shape, _solve_impl, n_in=2)


def _solve_batched(a: Any, b: Any, core: int) -> Any:
    """A^-1 b for b of shape batch + (n,) (core 1) or batch + (n, k) (core 2).

    The primitive solves with one matrix right-hand side, so the batch axes are moved
    into its columns: (n,) + batch + rest -> (n, prod(batch) * k), solved once.
    """
    shape = np.shape(b)
    batch = shape[: len(shape) - core]
    if not batch:
        return solve_p.bind(a, b)
    n, rest = shape[-core], shape[len(shape) - core + 1 :]
    cols = reshape(moveaxis(b, -core, 0), (n, -1))
    x = solve_p.bind(a, cols)
    return moveaxis(reshape(x, (n,) + batch + rest), 0, -core)


def solve_jvp_a(a_dot, ans, a, b):  # dx = -A^-1 dA x
    return negative(_solve_batched(a, matmul(a_dot, ans), np.ndim(b)))


def solve_jvp_b(b_dot, ans, a, b):  # dx = A^-1 db
    return _solve_batched(a, b_dot, np.ndim(b))


def solve_vjp_a(ans_bar, ans, a, b):  # A_bar = -(A^-T x_bar) x^T
    b_bar = _solve_batched(mT(a), ans_bar, np.ndim(b))
    if np.ndim(b) == 1:
        return negative(multiply(_col(b_bar), ans))  # an outer product per direction
    return negative(matmul(b_bar, mT(ans)))


def solve_vjp_b(ans_bar, ans, a, b):  # b_bar = A^-T x_bar
    return _solve_batched(mT(a), ans_bar, np.ndim(b))


defjvp(solve_p, solve_jvp_a, solve_jvp_b)
defvjp(solve_p, solve_vjp_a, solve_vjp_b)


def solve(a: Any, b: Any) -> Any:
    """``np.linalg.solve``: x with A x = b, for b a vector (n,) or a matrix (n, k).

    A stack of matrices ``a`` (and of right-hand sides ``b``) is solved one by one.
    Raises ``SingularMatrixError`` for an exactly singular A. Reverse mode solves once
    more, with A^T (the factorisation is not kept in the IR).
    """
    a, b = _operand(a), _operand(b)
    if np.ndim(a) > 2:
        batch = np.shape(a)[:-2]
        if np.ndim(b) > 1 and np.shape(b)[:-2] != batch:
            raise ShapeError(f"solve: stacks of shapes {np.shape(a)} and {np.shape(b)} differ")
        parts = [solve(getitem(a, i), b if np.ndim(b) == 1 else getitem(b, i)) for i in _cells(a)]
        return _restack(parts, batch)
    _solve_shape(np.shape(a), np.shape(b))
    return solve_p.bind(a, b)


# ==================================================================================
# adjugate: adj(X), the transposed cofactor matrix; adj(X) = det(X) X^-1 when X is
# invertible, and a polynomial in the entries of X everywhere. It is the derivative of
# det (d det X = tr(adj(X) dX)), computed here so that it stays finite at singular X.
#
# impl (an SVD route, in the spirit of JAX's cofactor solve, which works from an LU):
#   X = U S V^T  ->  adj(X) = adj(V^T) adj(S) adj(U) = c V diag(pi) U^T,
#   using adj(ABC) = adj(C) adj(B) adj(A), adj(Q) = det(Q) Q^T for orthogonal Q,
#   c = det(U) det(V) = +-1 and pi_i = prod_{j != i} s_j (no division). At rank n-1 only
#   pi_n is nonzero (adj = c prod_{j<n} s_j v_n u_n^T, rank one); at rank < n-1 all are 0.
# JVP: adj(X + H) = c V adj(S + U^T H V) U^T exactly, so with K = U^T H V
#   d adj(X)[H] = c V D(K) U^T,  D(K)_ii = sum_{k != i} K_kk P_ik,  D(K)_ij = -K_ij P_ij,
#   P_ij = prod_{l != i, j} s_l: the derivative of the adjugate of a diagonal matrix,
#   read off the cofactor expansion (no division, so finite at every rank).
# VJP: D is self-adjoint (P is symmetric), so X_bar = c U D(V^T adj_bar U) V^T.
# Nested (third and higher derivatives of det): when X itself is traced the rules use
#   d adj = tr(adj dX) X^-1 - X^-1 dX adj (d of det(X) X^-1 [Cookbook secs. 2.1, 2.2]), which
#   needs X invertible, so that the recorded rule is again differentiable.
# ==================================================================================
def _adjugate_shape(x):
    _square_shape("adjugate (the derivative of det)", x)
    return x


def _prefix_suffix(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pre_i = prod_{j < i} s_j and suf_i = prod_{j > i} s_j."""
    pre = np.concatenate([[1.0], np.cumprod(s[:-1])])
    suf = np.concatenate([np.cumprod(s[::-1][:-1])[::-1], [1.0]])
    return pre, suf


def _pair_products(s: np.ndarray) -> np.ndarray:
    """P_ij = prod_{l != i, j} s_l for i != j, and 0 on the diagonal (O(n^2) work)."""
    n = s.size
    pre, suf = _prefix_suffix(s)
    p = np.zeros((n, n))
    for i in range(n - 1):
        mid = np.concatenate([[1.0], np.cumprod(s[i + 1 : -1])])  # prod_{i < l < j}
        p[i, i + 1 :] = pre[i] * mid * suf[i + 1 :]
    return p + p.T


def _adjugate_svd(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(x)
    c = np.linalg.slogdet(u)[0] * np.linalg.slogdet(vt)[0]  # det(U) det(V) = +-1
    return float(c), u, s, vt


def _adjugate_impl(x):
    c, u, s, vt = _adjugate_svd(x)
    pre, suf = _prefix_suffix(s)
    return c * ((vt.T * (pre * suf)) @ u.T)  # c V diag(pi) U^T


adjugate_p = Primitive("adjugate", _adjugate_shape, _adjugate_impl, n_in=1)


def _adjugate_d(k: Any, p: np.ndarray) -> Any:
    """D(K) = diag(P diag(K)) - P o K, batch-polymorphic in K (P has a zero diagonal)."""
    return subtract(_diag_embed(matmul(_diag_part(k), p)), multiply(k, p))


def adjugate_jvp(x_dot, ans, x):
    if traced(x):  # d adj = tr(adj dX) X^-1 - X^-1 dX adj (needs X invertible)
        xi = _inv_for(x, "adjugate (a third derivative of det)")
        return subtract(
            multiply(_scalar2(_inner2(mT(ans), x_dot)), xi), matmul(xi, matmul(x_dot, ans))
        )
    c, u, s, vt = _adjugate_svd(np.asarray(x))
    k = matmul(u.T, matmul(x_dot, vt.T))  # K = U^T dX V
    return multiply(c, matmul(vt.T, matmul(_adjugate_d(k, _pair_products(s)), u.T)))


def adjugate_vjp(ans_bar, ans, x):
    if traced(x):  # the adjoint of the map above: <G, X^-1> adj^T - X^-T G adj^T
        xi = _inv_for(x, "adjugate (a third derivative of det)")
        return subtract(
            multiply(_scalar2(_inner2(ans_bar, xi)), mT(ans)),
            matmul(mT(xi), matmul(ans_bar, mT(ans))),
        )
    c, u, s, vt = _adjugate_svd(np.asarray(x))
    k = matmul(vt, matmul(ans_bar, u))  # V^T adj_bar U
    return multiply(c, matmul(u, matmul(_adjugate_d(k, _pair_products(s)), vt)))


defjvp(adjugate_p, adjugate_jvp)
defvjp(adjugate_p, adjugate_vjp)


def adjugate(a: Any) -> Any:
    """The adjugate (transposed cofactor matrix) of a square matrix: det(A) A^-1 when A is
    invertible, finite at every rank. ``grad(np.linalg.det)(A) == adjugate(A).T``."""
    return _per_matrix(lambda m: _apply(adjugate_p, m), _operand(a))


# ==================================================================================
# det: d det X = tr(adj(X) dX) = <adj(X)^T, dX> ;  X_bar = det_bar adj(X)^T
# [Giles, "Determinant"; Cookbook sec. 2.1]. The seminar's
# d det X = det X <X^-T, dX> holds when X is invertible (adj = det X^-1); the adjugate is
# the derivative everywhere, so the rules never form det(X) X^-T (NaN / inf at singular X).
# ==================================================================================
def _det_shape(x):
    _square_shape("det", x)
    return ()


def _det_impl(x):
    return np.asarray(np.linalg.det(x))


det_p = Primitive("det", _det_shape, _det_impl, n_in=1)


def det_jvp(x_dot, ans, x):
    return _inner2(mT(adjugate(x)), x_dot)


def det_vjp(ans_bar, ans, x):
    return multiply(_scalar2(ans_bar), mT(adjugate(x)))


defjvp(det_p, det_jvp)
defvjp(det_p, det_vjp)


def det(a: Any) -> Any:
    """``np.linalg.det``. Its derivative is the adjugate, finite at singular matrices:
    ``grad(det)(A) = adj(A)^T`` (= det(A) A^-T when A is invertible)."""
    return _per_matrix(lambda m: _apply(det_p, m), _operand(a))


# ==================================================================================
# slogdet: (sign, log|det X|)  ->  d log|det X| = tr(X^-1 dX) ;  X_bar = lad_bar X^-T
# [Giles, "Determinant"; Cookbook sec. 2.1]. The sign is piecewise constant: no
# derivative. The seminar's log det X -> X^-T.
# ==================================================================================
class SlogdetResult(NamedTuple):
    """Like NumPy's: ``sign, logabsdet = slogdet(a)``."""

    sign: Any
    logabsdet: Any


def _slogdet_shape(x):
    _square_shape("slogdet", x)
    return (), ()


def _slogdet_impl(x):
    sign, lad = np.linalg.slogdet(x)
    return np.asarray(sign, dtype=np.float64), np.asarray(lad, dtype=np.float64)


slogdet_p = Primitive("slogdet", _slogdet_shape, _slogdet_impl, n_in=1, n_out=2)


def slogdet_jvp(x_dot, ans, x):
    return None, _inner2(mT(_inv_for(x, "slogdet")), x_dot)


def slogdet_vjp(ans_bar, ans, x):
    _, lad_bar = ans_bar
    if lad_bar is None:
        return None
    return multiply(_scalar2(lad_bar), mT(_inv_for(x, "slogdet")))


defjvp(slogdet_p, slogdet_jvp)
defvjp(slogdet_p, slogdet_vjp)


def slogdet(a: Any) -> SlogdetResult:
    """``np.linalg.slogdet``: (sign, log|det A|); the gradient of the second is A^-T.

    At a singular matrix the primal is (0, -inf) and the derivative raises
    ``SingularMatrixError``.
    """
    return _per_matrix(lambda m: SlogdetResult(*_apply(slogdet_p, m)), _operand(a))


# ==================================================================================
# cholesky: A = L L^T, L lower triangular [Murray, eq. (9) and alg. 2; Giles, "Cholesky"]
#   JVP: dL = L Phi(L^-1 S L^-T),  Phi(M) = tril(M) - diag(M) / 2,  S = (dA + dA^T) / 2
#   VJP: A_bar = sym(L^-T Phi(L^T L_bar) L^-1) (the adjoint, Phi being self-adjoint)
# Symmetric convention, as JAX (jax/_src/lax/linalg.py: jnp.linalg.cholesky symmetrises
# its input, (x + x^H) / 2, before cholesky_p; see ``_sym``): the tangent enters as its
# symmetric part and A_bar is symmetric, so a gradient step keeps A symmetric. (NumPy's
# value reads the lower triangle; for symmetric A and symmetric dA the two agree.)
# ==================================================================================
def _cholesky_shape(x):
    _square_shape("cholesky", x)
    return x


def _cholesky_impl(x):
    try:
        return np.linalg.cholesky(x)
    except np.linalg.LinAlgError:
        raise SingularMatrixError(
            f"cholesky: the {x.shape[0]}x{x.shape[1]} matrix is not positive definite"
        ) from None


cholesky_p = Primitive("cholesky", _cholesky_shape, _cholesky_impl, n_in=1)


def _phi(m: Any) -> Any:
    """Phi(M) = tril(M) - diag(M) / 2: the lower triangle with half the diagonal."""
    return subtract(tril(m), multiply(m, 0.5 * np.eye(np.shape(m)[-1])))


def cholesky_jvp(x_dot, ans, x):
    li = _inv_for(ans, "cholesky")
    return matmul(ans, _phi(matmul(li, matmul(_sym(x_dot), mT(li)))))


def cholesky_vjp(ans_bar, ans, x):
    li = _inv_for(ans, "cholesky")
    q = matmul(mT(li), matmul(_phi(matmul(mT(ans), ans_bar)), li))
    return _sym_adjoint(q)


defjvp(cholesky_p, cholesky_jvp)
defvjp(cholesky_p, cholesky_vjp)


def cholesky(a: Any, *, upper: bool = False) -> Any:
    """``np.linalg.cholesky``: L lower triangular with A = L L^T (reads A's lower triangle;
    ``upper=True`` reads the upper one and returns L^T). Raises ``SingularMatrixError``
    when A is not positive definite."""
    a = _operand(a)
    if upper:
        return mT(cholesky(mT(a)))
    return _per_matrix(lambda m: _apply(cholesky_p, m), a)


# ==================================================================================
# eigh: A = V diag(w) V^T, w ascending  [Giles, "Eigenvalues and eigenvectors"; Magnus]
#   JVP: K = V^T dA V;  dw = diag(K);  dV = V (F o K),  F_ij = 1 / (w_j - w_i), F_ii = 0
#   VJP: A_bar = sym(V (diag(w_bar) + F o (V^T V_bar)) V^T),  sym(Q) = (Q + Q^T) / 2
# Symmetric convention, as JAX (jax/_src/lax/linalg.py: jnp.linalg.eigh symmetrises its
# input, (x + x^H) / 2, before eigh_p, whose JVP then uses V^T dA V; see ``_sym``): K is
# formed from (dA + dA^T) / 2 and A_bar is symmetric, so a gradient step keeps A
# symmetric (the F o (V^T V_bar) term alone is not symmetric).
# dV needs distinct eigenvalues: DegenerateDerivativeError otherwise (when needed).
# The static ``uplo`` ("L" or "U", NumPy's UPLO) names the triangle LAPACK reads for the
# value; it is a parameter, not a transpose, because LAPACK's eigenvector signs depend on it.
# ==================================================================================
class EighResult(NamedTuple):
    """Like NumPy's: ``eigenvalues, eigenvectors = eigh(a)``."""

    eigenvalues: Any
    eigenvectors: Any


def _eigh_shape(x, *, uplo="L"):
    _square_shape("eigh", x)
    if uplo not in ("L", "U"):
        raise ShapeError(f"eigh: UPLO must be 'L' or 'U', not {uplo!r}")
    return x[:1], x


def _eigh_impl(x, *, uplo="L"):
    w, v = np.linalg.eigh(x, UPLO=uplo)
    return w, v


eigh_p = Primitive("eigh", _eigh_shape, _eigh_impl, n_in=1, n_out=2)


def _check_eigh(w: Any) -> None:
    _check_gaps(w, "eigh", "w", "eigenvectors", "eigenvalues (np.linalg.eigvalsh)")


def _eig_gaps(w: Any) -> Any:
    """F_ij = 1 / (w_j - w_i), F_ii = 0."""
    return _gap_inverse(subtract(_row(w), _col(w)))


def eigh_jvp(x_dot, ans, x, *, uplo="L"):
    w, v = ans
    _check_eigh(w)
    k = matmul(mT(v), matmul(_sym(x_dot, uplo), v))
    return _diag_part(k), matmul(v, multiply(_eig_gaps(w), k))


def eigh_vjp(ans_bar, ans, x, *, uplo="L"):
    w, v = ans
    w_bar, v_bar = ans_bar
    inner = None if w_bar is None else _diag_embed(w_bar)
    if _nonzero(v_bar):
        _check_eigh(w)
        term = multiply(_eig_gaps(w), matmul(mT(v), v_bar))
        inner = term if inner is None else add(inner, term)
    if inner is None:
        return None
    return _sym_adjoint(matmul(v, matmul(inner, mT(v))), uplo)


defjvp(eigh_p, eigh_jvp)
defvjp(eigh_p, eigh_vjp)


def eigh(a: Any, UPLO: str = "L") -> EighResult:
    """``np.linalg.eigh``: eigenvalues (ascending) and eigenvectors of a symmetric matrix,
    read from its lower (``UPLO="L"``) or upper triangle.

    The eigenvector derivative needs distinct eigenvalues; at repeated ones it raises
    ``DegenerateDerivativeError`` (use ``eigvalsh`` for functions of the values alone).
    """
    return _per_matrix(lambda m: EighResult(*_apply(eigh_p, m, uplo=UPLO)), _operand(a))


# ==================================================================================
# eigvalsh: the eigenvalues alone. Outputs (w, V) like eigh, but V is a residual kept for
# the rules (the tape), with no derivative of its own: the public function returns w.
#   JVP: dw = diag(V^T dA V) ;  VJP: A_bar = V diag(w_bar) V^T   [Magnus; Cookbook sec. 2.3]
# with JAX's symmetric convention as eigh (dA enters as (dA + dA^T) / 2; A_bar symmetric:
# jnp.linalg.eigvalsh is eigh of the symmetrised input, jax/_src/lax/linalg.py).
# For a symmetric function of w (sum, log det, ...) these are basis-independent within a
# repeated eigenvalue, so no gap is checked. Nested, the rules take V from a traced eigh
# (the residual would be a constant), so second derivatives need distinct eigenvalues.
# ==================================================================================
eigvalsh_p = Primitive("eigvalsh", _eigh_shape, _eigh_impl, n_in=1, n_out=2)


def _eigvecs(ans: Any, x: Any, uplo: str) -> Any:
    return eigh_p.bind(x, uplo=uplo)[1] if traced(x) else ans[1]


def eigvalsh_jvp(x_dot, ans, x, *, uplo="L"):
    v = _eigvecs(ans, x, uplo)
    return _diag_part(matmul(mT(v), matmul(_sym(x_dot, uplo), v))), None


def eigvalsh_vjp(ans_bar, ans, x, *, uplo="L"):
    w_bar = ans_bar[0]
    if w_bar is None:
        return None
    v = _eigvecs(ans, x, uplo)
    return _sym_adjoint(matmul(v, matmul(_diag_embed(w_bar), mT(v))), uplo)


defjvp(eigvalsh_p, eigvalsh_jvp)
defvjp(eigvalsh_p, eigvalsh_vjp)


def eigvalsh(a: Any, UPLO: str = "L") -> Any:
    """``np.linalg.eigvalsh``: the eigenvalues (ascending) of a symmetric matrix. Its
    derivative exists for symmetric functions of them even at repeated eigenvalues."""
    return _per_matrix(lambda m: _apply(eigvalsh_p, m, uplo=UPLO)[0], _operand(a))


# ==================================================================================
# svd: A = U diag(s) V^T, A (m, n), k = min(m, n); thin: U (m, k), s (k,) descending,
# Vt (k, n)  [Townsend, the real case; Giles, "Singular value decomposition"]
#   JVP: dP = U^T dA V;  ds = diag(dP);  F_ij = 1 / (s_j^2 - s_i^2), F_ii = 0
#        dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V S^-1
#        dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1
#   VJP: A_bar = U [ (F o (U^T U_bar - U_bar^T U)) S + diag(s_bar)
#                    + S (F o (V^T V_bar - V_bar^T V)) ] V^T
#              + (I - U U^T) U_bar S^-1 V^T + U S^-1 V_bar^T (I - V V^T)
# The (I - U U^T) terms appear only for m > k (the V ones only for n > k) and need s > 0.
# dU and dV need distinct singular values: DegenerateDerivativeError otherwise (when
# needed: a JVP, or a VJP with a nonzero U or V cotangent).
# ``full=True`` (NumPy's full_matrices) of a rectangular matrix adds columns to U (or rows
# to Vt) that complete an orthonormal basis: they are not unique, so they have no
# derivative. The VJP accepts them with a zero cotangent (U[:, :k] or S used); the JVP,
# which must give every output a tangent, raises.
# ==================================================================================
class SVDResult(NamedTuple):
    """Like NumPy's: ``U, S, Vh = svd(a)``."""

    U: Any
    S: Any
    Vh: Any


def _svd_shape(x, *, full=False):
    if len(x) != 2:
        raise ShapeError(f"svd needs a matrix, got shape {x}")
    m, n = x
    if full:
        return (m, m), (min(m, n),), (n, n)
    k = min(m, n)
    return (m, k), (k,), (k, n)


def _svd_impl(x, *, full=False):
    u, s, vt = np.linalg.svd(x, full_matrices=full)
    return u, s, vt


svd_p = Primitive("svd", _svd_shape, _svd_impl, n_in=1, n_out=3)


def _check_svd(s: Any, shape: tuple[int, int], need_u: bool, need_v: bool) -> None:
    if not (need_u or need_v):
        return
    alone = "singular values (svd(x, compute_uv=False), norm(x, 'nuc'))"
    _check_gaps(s, "svd", "s", "singular vectors", alone)
    m, n = shape
    k = min(m, n)
    sv = np.asarray(concrete(s))
    if (need_u and m > k) or (need_v and n > k):
        tol = GAP_RTOL * k * float(np.max(sv, initial=0.0))
        i = int(np.argmin(sv))
        if sv[i] <= tol:
            raise DegenerateDerivativeError(
                f"svd: s[{i}] = {sv[i]:.1e} of the {m}x{n} (non-square) matrix is zero "
                f"(<= {tol:.1e}), so the derivative of the singular vectors does not exist "
                f"there (it needs 1 / s). A function of the {alone} alone is differentiable."
            )


def _completion_error(m: int, n: int) -> DegenerateDerivativeError:
    what = f"the last {m - n} columns of U" if m > n else f"the last {n - m} rows of Vt"
    return DegenerateDerivativeError(
        f"svd(full_matrices=True) of a {m}x{n} matrix: {what} complete an orthonormal basis "
        "and are not unique, so they have no derivative. Pass full_matrices=False (or "
        "compute_uv=False for the singular values alone)."
    )


def _svd_gaps(s: Any) -> Any:
    """F_ij = 1 / (s_j^2 - s_i^2), F_ii = 0."""
    s2 = multiply(s, s)
    return _gap_inverse(subtract(_row(s2), _col(s2)))


def svd_jvp(x_dot, ans, x, *, full=False):
    u, s, vt = ans
    m, n = np.shape(x)
    k = min(m, n)
    if full and m != n:
        raise _completion_error(m, n)
    _check_svd(s, (m, n), True, True)
    v = mT(vt)
    s_row, s_col = _row(s), _col(s)
    dp = matmul(mT(u), matmul(x_dot, v))  # dP = U^T dA V
    dpt = mT(dp)
    f = _svd_gaps(s)
    u_dot = matmul(u, multiply(f, add(multiply(dp, s_row), multiply(s_col, dpt))))
    v_dot = matmul(v, multiply(f, add(multiply(s_col, dp), multiply(dpt, s_row))))
    if m > k:  # (I - U U^T) dA V S^-1 = (dA V - U dP) S^-1
        u_dot = add(u_dot, divide(subtract(matmul(x_dot, v), matmul(u, dp)), s_row))
    if n > k:  # (I - V V^T) dA^T U S^-1 = (dA^T U - V dP^T) S^-1
        v_dot = add(v_dot, divide(subtract(matmul(mT(x_dot), u), matmul(v, dpt)), s_row))
    return u_dot, _diag_part(dp), mT(v_dot)


def _thin_part(ct: Any, keep: Any, drop: Any, m: int, n: int) -> Any:
    """The cotangent of the thin factor; the completing part must be zero."""
    if ct is None:
        return None
    if _nonzero(getitem(ct, drop)):
        raise _completion_error(m, n)
    return getitem(ct, keep)


def svd_vjp(ans_bar, ans, x, *, full=False):
    u, s, vt = ans
    u_bar, s_bar, vt_bar = ans_bar
    m, n = np.shape(x)
    k = min(m, n)
    if full and m > n:  # drop U's completing columns
        u = getitem(u, (slice(None), slice(0, k)))
        u_bar = _thin_part(u_bar, (..., slice(0, k)), (..., slice(k, None)), m, n)
    if full and n > m:  # drop Vt's completing rows
        vt = getitem(vt, slice(0, k))
        vt_bar = _thin_part(
            vt_bar, (..., slice(0, k), slice(None)), (..., slice(k, None), slice(None)), m, n
        )
    need_u, need_v = _nonzero(u_bar), _nonzero(vt_bar)
    _check_svd(s, (m, n), need_u, need_v)
    inner = None if s_bar is None else _diag_embed(s_bar)
    extra = None
    if need_u:
        ut_ubar = matmul(mT(u), u_bar)  # U^T U_bar
        term = multiply(multiply(_svd_gaps(s), subtract(ut_ubar, mT(ut_ubar))), _row(s))
        inner = term if inner is None else add(inner, term)
        if m > k:  # (I - U U^T) U_bar S^-1 V^T
            extra = matmul(divide(subtract(u_bar, matmul(u, ut_ubar)), _row(s)), vt)
    if need_v:
        v_bar = mT(vt_bar)
        vt_vbar = matmul(vt, v_bar)  # V^T V_bar
        term = multiply(_col(s), multiply(_svd_gaps(s), subtract(vt_vbar, mT(vt_vbar))))
        inner = term if inner is None else add(inner, term)
        if n > k:  # U S^-1 V_bar^T (I - V V^T) = U S^-1 (V_bar - V V^T V_bar)^T
            t = matmul(divide(u, _row(s)), mT(subtract(v_bar, matmul(mT(vt), vt_vbar))))
            extra = t if extra is None else add(extra, t)
    if inner is None:
        return extra
    x_bar = matmul(u, matmul(inner, vt))
    return x_bar if extra is None else add(x_bar, extra)


defjvp(svd_p, svd_jvp)
defvjp(svd_p, svd_vjp)


# ==================================================================================
# svdvals: the singular values alone (svd(a, compute_uv=False)). Outputs (U, s, Vt) like
# svd, but U and Vt are residuals kept for the rules (the tape), with no derivative of
# their own: the public function returns s.
#   JVP: ds = diag(U^T dA V) ;  VJP: A_bar = U diag(s_bar) V^T   [Townsend; Giles]
# For a symmetric function of s (the nuclear norm: grad = U V^T; the seminar's R(W) =
# tr(Sigma)) this is independent of the basis LAPACK picks inside a repeated singular
# value, so no gap is checked. Nested, the rules take U, V from a traced svd.
# ==================================================================================
svdvals_p = Primitive("svdvals", _svd_shape, _svd_impl, n_in=1, n_out=3)


def _singular_vectors(ans: Any, x: Any) -> tuple[Any, Any]:
    if traced(x):
        u, _, vt = svd_p.bind(x)
        return u, vt
    return ans[0], ans[2]


def svdvals_jvp(x_dot, ans, x):
    u, vt = _singular_vectors(ans, x)
    return None, _diag_part(matmul(mT(u), matmul(x_dot, mT(vt)))), None


def svdvals_vjp(ans_bar, ans, x):
    s_bar = ans_bar[1]
    if s_bar is None:
        return None
    u, vt = _singular_vectors(ans, x)
    return matmul(u, matmul(_diag_embed(s_bar), vt))


defjvp(svdvals_p, svdvals_jvp)
defvjp(svdvals_p, svdvals_vjp)


def svdvals(a: Any) -> Any:
    """``np.linalg.svdvals``: the singular values, descending. Differentiable at repeated
    singular values for symmetric functions of them (e.g. ``sum``: grad = U V^T)."""
    return _per_matrix(lambda m: _apply(svdvals_p, m)[1], _operand(a))


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """``np.linalg.svd``: ``(U, S, Vh)``, or ``S`` alone with ``compute_uv=False``.

    The derivative of U and V needs distinct (and, for a rectangular matrix, nonzero)
    singular values; ``compute_uv=False`` has a derivative at repeated ones too. With
    ``full_matrices=True`` (NumPy's default) a rectangular matrix's completed columns of
    U (rows of Vh) have no derivative: reverse mode accepts them unused, forward mode
    raises ``DegenerateDerivativeError`` (pass ``full_matrices=False``).
    """
    if not traced(a):
        return np.linalg.svd(a, full_matrices, compute_uv, hermitian)
    if not compute_uv:
        return svdvals(a)
    if hermitian:
        raise UnsupportedOperationError("numpy.linalg.svd(hermitian=True) with compute_uv=True")

    def one(m: Any) -> SVDResult:  # a square matrix has nothing to complete: thin it is
        full = bool(full_matrices) and np.shape(m)[0] != np.shape(m)[1]
        return SVDResult(*_apply(svd_p, m, full=full))

    return _per_matrix(one, a)


# ----------------------------------------------------------------------------------
# Stacks of matrices: the primitives take one matrix; NumPy's functions take stacks.
# ----------------------------------------------------------------------------------


def _operand(a: Any) -> Any:
    return a if isinstance(a, Tracer) else as_float_array(a)


def _apply(prim: Primitive, m: Any, **params: Any) -> Any:
    """Bind ``prim`` to one matrix, checking its shape first (traced or not)."""
    prim.out_shapes([np.shape(m)], params)
    return prim.bind(m, **params)


def _cells(a: Any) -> list[tuple[int, ...]]:
    return list(np.ndindex(np.shape(a)[:-2]))


def _restack(parts: list[Any], batch: tuple[int, ...]) -> Any:
    if not parts:
        raise ShapeError(f"an empty stack of matrices (batch shape {batch})")
    return reshape(stack(parts), batch + np.shape(parts[0]))


def _per_matrix(fn: Callable[[Any], Any], a: Any) -> Any:
    """``fn`` on a matrix, or on each matrix of a stack (the results restacked)."""
    if np.ndim(a) < 2:
        raise ShapeError(f"a matrix is needed, got shape {np.shape(a)}")
    if np.ndim(a) == 2:
        return fn(a)
    batch = np.shape(a)[:-2]
    outs = [fn(getitem(a, i)) for i in _cells(a)]
    if isinstance(outs[0], tuple):
        fields = [_restack([o[j] for o in outs], batch) for j in range(len(outs[0]))]
        return type(outs[0])(*fields)
    return _restack(outs, batch)


# ----------------------------------------------------------------------------------
# Composites (no primitive of their own)
# ----------------------------------------------------------------------------------


def dot(a: Any, b: Any) -> Any:
    """``np.dot``: a product with a 0-d operand, ``matmul`` for 1-d and 2-d operands, and
    for N-d ``dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m])`` (the last axis of a
    against the second-to-last of b), one matmul of the flattened operands."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return multiply(a, b)
    if np.ndim(a) <= 2 and np.ndim(b) <= 2:
        return matmul(a, b)
    sa, sb = np.shape(a), np.shape(b)
    k = sb[-2] if len(sb) >= 2 else sb[0]
    if sa[-1] != k:
        raise ShapeError(f"np.dot shapes {sa} and {sb} not aligned: {sa[-1]} != {k}")
    a2 = reshape(a, (-1, sa[-1]))
    if len(sb) == 1:
        return reshape(matmul(a2, b), sa[:-1])
    b2 = reshape(moveaxis(b, -2, 0), (k, -1))  # (k, rest of b)
    return reshape(matmul(a2, b2), sa[:-1] + sb[:-2] + sb[-1:])


def outer(a: Any, b: Any) -> Any:
    """``np.outer``: a column times a row (one ``mul`` in the IR)."""
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def inner(a: Any, b: Any) -> Any:
    """``np.inner``: the sum over the LAST axes of both operands, of shape
    ``a.shape[:-1] + b.shape[:-1]`` (``A @ B.T`` for matrices, ``A @ v`` and ``B @ v``
    for a vector; a product with a 0-d operand)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return multiply(a, b)
    sa, sb = np.shape(a), np.shape(b)
    if sa[-1] != sb[-1]:
        raise ShapeError(f"np.inner shapes {sa} and {sb} not aligned: {sa[-1]} != {sb[-1]}")
    if len(sb) == 1:
        return matmul(a, b)  # a @ b sums a's last axis against b
    if len(sa) == 1:
        return matmul(b, a)  # B @ a: shape b.shape[:-1]
    a2, b2 = reshape(a, (-1, sa[-1])), reshape(b, (-1, sb[-1]))
    return reshape(matmul(a2, mT(b2)), sa[:-1] + sb[:-1])


# ==================================================================================
# qr: A = Q R, A (m, n) with m >= n, Q (m, n) with orthonormal columns, R (n, n) upper
# triangular (LAPACK's signs: R's diagonal may be negative; the rules hold for any fixed
# sign pattern, which is locally constant where A has full column rank).
#   [Walter & Lehmann, "On evaluating higher-order derivatives of the QR decomposition
#   of tall matrices with full column rank in forward and reverse mode AD" (2018);
#   Liao, Liu, Wang, Xiang, "Differentiable programming tensor networks" (2019),
#   appendix (the reverse rule); JAX's qr_jvp_rule.]
#   JVP: dA = dQ R + Q dR. With M = dA R^-1 and C = Q^T M: Q^T dQ = Omega is
#        antisymmetric and dR R^-1 = C - Omega upper triangular, so
#        Omega = tril(C, -1) - tril(C, -1)^T,  dR = (C - Omega) R,  dQ = M - Q (C - Omega).
#   VJP: the adjoint of that map: with G = R_bar R^T - Q^T Q_bar and
#        H = triu(G) + tril(G^T, -1) (G's upper triangle copied to the lower),
#        A_bar = (Q_bar + Q H) R^-T.
# Delicate point: R^-1 exists only for full column rank. At rank < n (a zero R[i, i])
# Q's i-th column is any unit vector orthogonal to the others, so Q has no derivative:
# DegenerateDerivativeError, naming the diagonal entry. A wide A (m < n) is the
# composite Q, U = qr(A[:, :m]), R = [U, Q^T A[:, m:]] (Householder QR of the first m
# columns gives the same Q), so the primitive only takes m >= n.
# ==================================================================================
class QRResult(NamedTuple):
    """Like NumPy's: ``Q, R = qr(a)``."""

    Q: Any
    R: Any


def _qr_shape(x):
    if len(x) != 2 or x[0] < x[1]:
        raise ShapeError(f"qr (the primitive) needs a matrix with m >= n, got shape {x}")
    m, n = x
    return (m, n), (n, n)


def _qr_impl(x):
    q, r = np.linalg.qr(x, mode="reduced")
    return q, r


qr_p = Primitive("qr", _qr_shape, _qr_impl, n_in=1, n_out=2)


def _check_qr(r: Any, shape: tuple[int, int]) -> None:
    rv = np.asarray(concrete(r))
    d = np.abs(np.diagonal(rv))
    tol = GAP_RTOL * max(shape) * float(np.max(np.abs(rv), initial=0.0))
    if d.size and float(d.min()) <= tol:
        i = int(np.argmin(d))
        m, n = shape
        raise DegenerateDerivativeError(
            f"qr: R[{i}, {i}] = {rv[i, i]:.1e} (<= {tol:.1e}): the {m}x{n} matrix does not "
            f"have full column rank, so column {i} of Q is not determined and QR has no "
            "derivative there. For least squares with a rank-deficient matrix use "
            "np.linalg.lstsq or np.linalg.pinv (derivative at constant rank)."
        )


def _right_solve(b: Any, a: Any) -> Any:
    """b A^-1 for b of shape batch + (k, n): (A^-T b^T)^T, one solve."""
    return mT(_solve_batched(mT(a), mT(b), 2))


def qr_jvp(x_dot, ans, x):
    q, r = ans
    _check_qr(r, np.shape(x))
    m_ = _right_solve(x_dot, r)  # M = dA R^-1
    c = matmul(mT(q), m_)  # C = Q^T dA R^-1
    low = tril(c, -1)
    dr_rinv = subtract(c, subtract(low, mT(low)))  # C - Omega = dR R^-1
    return subtract(m_, matmul(q, dr_rinv)), matmul(dr_rinv, r)


def qr_vjp(ans_bar, ans, x):
    q, r = ans
    q_bar, r_bar = ans_bar
    if q_bar is None and r_bar is None:
        return None
    _check_qr(r, np.shape(x))
    g = None if r_bar is None else matmul(r_bar, mT(r))  # G = R_bar R^T - Q^T Q_bar
    if q_bar is not None:
        qtq = matmul(mT(q), q_bar)
        g = negative(qtq) if g is None else subtract(g, qtq)
    h = add(triu(g), tril(mT(g), -1))
    b = matmul(q, h) if q_bar is None else add(q_bar, matmul(q, h))
    return _right_solve(b, mT(r))  # (Q_bar + Q H) R^-T


defjvp(qr_p, qr_jvp)
defvjp(qr_p, qr_vjp)


def qr(a: Any, mode: str = "reduced") -> Any:
    """``np.linalg.qr``: ``(Q, R)`` (mode "reduced" or "complete"), or R (mode "r").

    Differentiable where A has full rank (column rank for m >= n; for a wide A, its
    first m columns); ``DegenerateDerivativeError`` otherwise. ``mode="complete"`` of a
    tall matrix adds columns of Q that are not unique (no derivative), and ``mode="raw"``
    gives LAPACK's Householder reflectors: both raise UnsupportedArgumentError.
    """
    if not traced(a):
        return np.linalg.qr(a, mode=mode)
    if mode not in ("reduced", "complete", "r"):
        if mode != "raw":
            np.linalg.qr(np.eye(1), mode=mode)  # NumPy's error for an unknown mode
        raise UnsupportedArgumentError(
            "numpy.linalg.qr", "mode='raw'", "LAPACK's Householder reflectors are not traced"
        )
    from ad.primitives.shape import concatenate

    def one(m: Any) -> Any:
        rows, cols = np.shape(m)
        if mode == "complete" and rows > cols:
            raise UnsupportedArgumentError(
                "numpy.linalg.qr",
                "mode='complete'",
                f"of a {rows}x{cols} matrix the last {rows - cols} columns of Q complete an "
                "orthonormal basis and are not unique, so they have no derivative; use "
                "mode='reduced'",
            )
        if rows >= cols:
            q, r = _apply(qr_p, m)
        else:
            q, u = _apply(qr_p, getitem(m, (slice(None), slice(0, rows))))
            rest = matmul(mT(q), getitem(m, (slice(None), slice(rows, None))))
            r = concatenate([u, rest], axis=1)
        return r if mode == "r" else QRResult(q, r)

    return _per_matrix(one, _operand(a))


# ==================================================================================
# pinv: P = A^+ (Moore-Penrose), A (m, n), P (n, m), from NumPy's SVD with cut-off rcond.
#   [G. H. Golub and V. Pereyra, "The differentiation of pseudo-inverses and nonlinear
#   least squares problems whose variables separate", SIAM J. Numer. Anal. 10 (1973),
#   thm. 4.3; JAX's pinv_jvp uses the same formula.]
#   JVP: dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P
#   VJP: A_bar = -P^T P_bar P^T + (I - A P) P_bar^T P P^T + P^T P P_bar^T (I - P A)
#        (the adjoint, term by term: <P_bar, B dA^T C> = <C P_bar^T B, dA>).
# Delicate point: P is a smooth function of A only where the rank is constant; the
# formula is the derivative along directions that keep the rank (exact for a matrix of
# full rank, where every direction does). At a rank-deficient A (numerical rank by
# rcond) it is the constant-rank derivative, as JAX's; a direction that raises the rank
# makes P jump, and no derivative exists there.
# ==================================================================================
def _pinv_shape(x, *, rcond):
    if len(x) != 2:
        raise ShapeError(f"pinv needs a matrix, got shape {x}")
    return (x[1], x[0])


def _pinv_impl(x, *, rcond):
    return np.linalg.pinv(x, rcond=rcond)


pinv_p = Primitive("pinv", _pinv_shape, _pinv_impl, n_in=1)


def _pinv_projectors(p: Any, x: Any) -> tuple[Any, Any]:
    """(I - A P, I - P A): the projectors onto the complements of range(A), range(A^T)."""
    m, n = np.shape(x)
    return subtract(np.eye(m), matmul(x, p)), subtract(np.eye(n), matmul(p, x))


def pinv_jvp(x_dot, ans, x, *, rcond):
    p = ans
    i_ap, i_pa = _pinv_projectors(p, x)
    dat = mT(x_dot)
    t1 = negative(matmul(p, matmul(x_dot, p)))
    t2 = matmul(matmul(p, mT(p)), matmul(dat, i_ap))
    t3 = matmul(i_pa, matmul(dat, matmul(mT(p), p)))
    return add(add(t1, t2), t3)


def pinv_vjp(ans_bar, ans, x, *, rcond):
    p = ans
    i_ap, i_pa = _pinv_projectors(p, x)
    pbt = mT(ans_bar)
    t1 = negative(matmul(mT(p), matmul(ans_bar, mT(p))))
    t2 = matmul(i_ap, matmul(pbt, matmul(p, mT(p))))
    t3 = matmul(matmul(mT(p), p), matmul(pbt, i_pa))
    return add(add(t1, t2), t3)


defjvp(pinv_p, pinv_jvp)
defvjp(pinv_p, pinv_vjp)

_NO_RTOL = object()


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _NO_RTOL) -> Any:
    """``np.linalg.pinv``: the Moore-Penrose pseudo-inverse, singular values below
    ``rcond`` times the largest cut off (NumPy's defaults). Its derivative is Golub and
    Pereyra's: exact at full rank, the constant-rank derivative at a rank-deficient A.
    ``hermitian`` only selects NumPy's algorithm; the result is the same."""
    if not traced(a):
        if rtol is _NO_RTOL:
            return np.linalg.pinv(a, rcond, hermitian)
        return np.linalg.pinv(a, rcond, hermitian, rtol=rtol)
    a = _operand(a)
    if rcond is None:
        if rtol is _NO_RTOL:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(np.shape(a)[-2:]) * np.finfo(np.float64).eps
        else:
            rcond = rtol
    return _per_matrix(lambda m: _apply(pinv_p, m, rcond=float(rcond)), a)


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple[Any, Any, int, Any]:
    """``np.linalg.lstsq``: ``(x, residuals, rank, s)``, x = A^+ b the minimum-norm
    least-squares solution (a composite over ``pinv``, so rank deficiency gets the
    constant-rank derivative); residuals ||b - A x||^2 per column when A has full
    column rank and m > n (else empty), rank as NumPy counts it, s the singular values.
    """
    if not traced(a, b):
        return np.linalg.lstsq(a, b, rcond=rcond)
    from ad.primitives.elementwise import square

    a, b = _operand(a), _operand(b)
    if np.ndim(a) != 2 or np.ndim(b) not in (1, 2) or np.shape(b)[0] != np.shape(a)[0]:
        raise ShapeError(f"lstsq: shapes {np.shape(a)} and {np.shape(b)} (need (m, n), (m,[k]))")
    m, n = np.shape(a)
    if rcond is None:
        rcond = np.finfo(np.float64).eps * max(m, n)
    x = matmul(_apply(pinv_p, a, rcond=float(rcond)), b)
    s = svdvals(a)
    sv = np.asarray(concrete(s))
    rank = int(np.sum(sv > float(rcond) * sv.max())) if sv.size else 0
    if rank == n and m > n:
        res = _sum(square(subtract(b, matmul(a, x))), axis=0)
        if np.ndim(b) == 1:
            res = reshape(res, (1,))
    else:
        res = np.zeros(0)
    return x, res, rank, s
