"""Linear-algebra primitives: check_grads at order 2 in both modes on several shapes,
batched tangents and cotangents against JAX, and the numerically delicate points
(det at singular matrices, repeated singular values and eigenvalues, singular primals).

``CASES`` maps each primitive of ``ad/primitives/linalg.py`` to plain-NumPy functions
that exercise it; ``tests/primitives/test_primitives.py`` reads its keys for the
registry test.
"""

import numpy as np
import pytest

import ad
from ad.errors import (
    DegenerateDerivativeError,
    ShapeError,
    SingularMatrixError,
)
from ad.examples.seminar import orthogonal, well_conditioned
from ad.primitives import linalg as la
from ad.primitives.core import Primitive

# ----------------------------------------------------------------------------------
# Samplers: rng -> array
# ----------------------------------------------------------------------------------


def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def wellcond(n):
    """Non-symmetric, singular values in [1, 3]."""
    return lambda rng: well_conditioned(rng, n)


def spd(n):
    """Symmetric positive definite, eigenvalues in [1, 1 + n]."""
    return lambda rng: _with_spectrum(rng, n, 1.0 + np.arange(n) + rng.uniform(0, 0.5, n))


def sym(n):
    """Symmetric, indefinite, eigenvalues at least 0.7 apart."""
    return lambda rng: _with_spectrum(rng, n, np.arange(n) - n / 2 + rng.uniform(0, 0.3, n))


def separated(m, n):
    """An m x n matrix with singular values k, k-1, ... (+ noise): gaps of at least 0.7."""

    def make(rng):
        k = min(m, n)
        s = np.arange(k, 0, -1) + rng.uniform(0, 0.3, k)
        return orthogonal(rng, m)[:, :k] * s @ orthogonal(rng, n)[:, :k].T

    return make


def _with_spectrum(rng, n, w):
    q = orthogonal(rng, n)
    return (q * w) @ q.T


def rel_err(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(np.linalg.norm(want), 1e-300)
    return float(np.linalg.norm(got - want) / scale)


def assert_rel(got, want, tol=1e-10):
    err = rel_err(got, want)
    assert err <= tol, f"relative error {err:.2e} > {tol:.0e}"


# ----------------------------------------------------------------------------------
# check_grads at order 2, both modes: every primitive, several shapes
# ----------------------------------------------------------------------------------


def _eigh_both(a):
    w, v = np.linalg.eigh(a)
    return w, v


def symmetric(fn):
    """``fn`` of the symmetric part of its argument. cholesky, eigh and eigvalsh follow
    JAX's symmetric convention (a tangent H enters as (H + H^T) / 2), which is the
    derivative of NumPy's function along symmetric directions; check_grads draws
    non-symmetric ones, so it differentiates fn((A + A^T) / 2), as JAX's tests do."""
    return lambda a: fn((a + np.swapaxes(a, -1, -2)) / 2)


def _svd_thin(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return u, s, vt


# name -> list of (label, function, [samplers for its arguments])
CASES = {
    "inv": [(f"{n}x{n}", np.linalg.inv, [wellcond(n)]) for n in (1, 2, 4)],
    "solve": [
        ("vector 1", np.linalg.solve, [wellcond(1), normal(1)]),
        ("vector 4", np.linalg.solve, [wellcond(4), normal(4)]),
        ("matrix 3x2", np.linalg.solve, [wellcond(3), normal(3, 2)]),
        ("matrix 2x1", lambda a, b: np.sin(np.linalg.solve(a, b)), [wellcond(2), normal(2, 1)]),
    ],
    "det": [(f"{n}x{n}", np.linalg.det, [normal(n, n)]) for n in (1, 2, 3, 5)],
    "adjugate": [(f"{n}x{n}", ad.numpy.linalg.adjugate, [normal(n, n)]) for n in (1, 2, 4)],
    "slogdet": [
        ("logabsdet 3x3", lambda x: np.linalg.slogdet(x)[1], [normal(3, 3)]),
        ("sign * logabsdet", lambda x: np.multiply(*np.linalg.slogdet(x)), [normal(4, 4)]),
        ("1x1", lambda x: np.linalg.slogdet(x).logabsdet, [normal(1, 1)]),
    ],
    "cholesky": [(f"{n}x{n}", symmetric(np.linalg.cholesky), [spd(n)]) for n in (1, 3, 5)]
    + [("upper", symmetric(lambda a: np.linalg.cholesky(a, upper=True)), [spd(3)])],
    "eigh": [(f"{n}x{n}", symmetric(_eigh_both), [sym(n)]) for n in (1, 2, 4)]
    + [("UPLO=U", symmetric(lambda a: np.linalg.eigh(a, UPLO="U")[1]), [sym(3)])],
    "eigvalsh": [
        ("3x3", symmetric(np.linalg.eigvalsh), [sym(3)]),
        ("UPLO=U", symmetric(lambda a: np.linalg.eigvalsh(a, UPLO="U") ** 2), [sym(4)]),
    ],
    "svd": [
        ("square 3x3", lambda a: tuple(np.linalg.svd(a)), [separated(3, 3)]),
        ("tall 5x3", _svd_thin, [separated(5, 3)]),
        ("wide 2x4", _svd_thin, [separated(2, 4)]),
        ("column 4x1", _svd_thin, [separated(4, 1)]),
    ],
    "svdvals": [
        ("3x5", lambda a: np.linalg.svd(a, compute_uv=False), [separated(3, 5)]),
        ("4x4 nuclear", lambda a: np.linalg.norm(a, "nuc"), [separated(4, 4)]),
        ("5x2 spectral", lambda a: np.linalg.norm(a, 2), [separated(5, 2)]),
        ("svdvals", lambda a: np.linalg.svdvals(a) ** 2, [separated(2, 3)]),
    ],
    "qr": [
        ("tall 5x3", lambda a: tuple(np.linalg.qr(a)), [separated(5, 3)]),
        ("square 3x3", lambda a: tuple(np.linalg.qr(a)), [wellcond(3)]),
        ("wide 2x4 (composite)", lambda a: tuple(np.linalg.qr(a)), [separated(2, 4)]),
        ("mode r", lambda a: np.linalg.qr(a, mode="r"), [separated(4, 2)]),
    ],
    "pinv": [
        ("tall 4x2", np.linalg.pinv, [separated(4, 2)]),
        ("wide 2x5", np.linalg.pinv, [separated(2, 5)]),
        ("square 3x3", np.linalg.pinv, [wellcond(3)]),
        ("lstsq", lambda a, b: np.linalg.lstsq(a, b)[0], [separated(5, 3), normal(5)]),
    ],
}


def test_every_linalg_primitive_has_cases():
    prims = {p.name for p in vars(la).values() if isinstance(p, Primitive)}
    assert prims - {"matmul"} <= set(CASES), prims - set(CASES)  # matmul: test_primitives


# ----------------------------------------------------------------------------------
# JAX: Jacobians with batched tangents (jacfwd, chunk 3) and cotangents (jacrev,
# chunk 2), and Hessians (nested rules, batched at the outer level), to 1e-10.
# Functions are written once against a NumPy-like module m (numpy or jax.numpy);
# eigen- and singular vectors enter through sign-invariant expressions.
# ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jnp():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax.numpy


def _eigh_mix(m, b):
    w, v = m.linalg.eigh(b + b.T)
    return m.concatenate([w, m.ravel((v * m.cos(w)) @ v.T), m.ravel(v[:, :1] @ v[:, :1].T)])


def _svd_mix(m, a):
    u, s, vt = m.linalg.svd(a, full_matrices=False)
    parts = [s, m.ravel((u * m.sin(s)) @ vt), m.ravel(u[:, :1] @ u[:, :1].T)]
    return m.concatenate(parts + [m.ravel(vt[:1].T @ vt[:1])])


def _norms(m, a):
    ords = ["fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf]
    return m.stack([m.linalg.norm(a, o) for o in ords])


def _chol(m, b):
    n = b.shape[0]
    return m.linalg.cholesky(b @ b.T + n * np.eye(n))


JAX_CASES = [
    ("inv", lambda m, x: m.linalg.inv(x), [wellcond(3)]),
    ("solve vector", lambda m, a, b: m.linalg.solve(a, b), [wellcond(4), normal(4)]),
    ("solve matrix", lambda m, a, b: m.linalg.solve(a, b), [wellcond(3), normal(3, 2)]),
    ("det", lambda m, x: m.linalg.det(x), [normal(4, 4)]),
    ("slogdet", lambda m, x: m.linalg.slogdet(x)[1], [normal(3, 3)]),
    ("cholesky", _chol, [normal(3, 3)]),
    ("eigh", _eigh_mix, [lambda rng: sym(3)(rng) / 2]),
    ("eigvalsh", lambda m, b: m.linalg.eigvalsh(b + b.T), [normal(4, 4)]),
    ("svd square", _svd_mix, [separated(3, 3)]),
    ("svd tall", _svd_mix, [separated(4, 2)]),
    ("svd wide", _svd_mix, [separated(2, 3)]),
    ("svdvals", lambda m, a: m.linalg.svd(a, compute_uv=False), [separated(3, 4)]),
    ("norms", _norms, [separated(3, 4)]),
    # compositions
    (
        "tr(A X^-1 B)",
        lambda m, x, a, b: m.trace(a @ m.linalg.inv(x) @ b),
        [wellcond(3), normal(2, 3), normal(3, 2)],
    ),
    (
        "logdet two ways",
        lambda m, x: m.stack(
            [
                m.linalg.slogdet(x.T @ x + np.eye(3))[1],
                2 * m.sum(m.log(m.diagonal(m.linalg.cholesky(x.T @ x + np.eye(3))))),
                m.sum(m.log(m.linalg.eigvalsh(x.T @ x + np.eye(3)))),
            ]
        ),
        [normal(4, 3)],
    ),
    (
        "solve after inv",
        lambda m, x, b: m.linalg.solve(x @ x, m.linalg.inv(x) @ b) * m.linalg.det(x),
        [wellcond(3), normal(3, 2)],
    ),
    (
        "nuclear of A X^-1",
        lambda m, x, a: m.linalg.norm(a @ m.linalg.inv(x), "nuc"),
        [wellcond(3), separated(2, 3)],
    ),
    (
        "qr tall",
        lambda m, a: m.concatenate([m.ravel(q) for q in m.linalg.qr(a)]),
        [separated(5, 3)],
    ),  # fmt: skip
    ("qr square", lambda m, a: m.linalg.qr(a)[0] @ m.diag(m.linalg.qr(a)[1]), [wellcond(3)]),
    ("qr wide", lambda m, a: m.linalg.qr(a)[1], [separated(3, 5)]),
    ("pinv tall", lambda m, a: m.linalg.pinv(a), [separated(4, 3)]),
    ("pinv wide", lambda m, a: m.tanh(m.linalg.pinv(a)), [separated(2, 4)]),
    ("lstsq", lambda m, a, b: m.linalg.lstsq(a, b)[0], [separated(6, 3), normal(6, 2)]),
    ("lstsq residuals", lambda m, a, b: m.linalg.lstsq(a, b)[1], [separated(6, 3), normal(6)]),
    (
        "pinv by svd",
        lambda m, a: (lambda u, s, vt: (vt.T / s) @ u.T)(*m.linalg.svd(a, full_matrices=False)),
        [separated(4, 2)],
    ),
]


def _jax_params():
    return [pytest.param(f, s, id=name) for name, f, s in JAX_CASES]


@pytest.mark.parametrize("f, samplers", _jax_params())
def test_jacobians_and_hessians_match_jax(f, samplers, jnp, rng):
    """Batched tangents (jacfwd, chunk 3) and cotangents (jacrev, chunk 2); Hessians of a
    scalarisation (nested rules, forward over reverse, batched at the outer level)."""
    import jax

    args = [s(rng) for s in samplers]
    nums = tuple(range(len(args)))
    w = rng.standard_normal(np.shape(f(np, *args)))

    def scalar(m):
        return lambda x, *rest: m.sum(m.sin(f(m, x, *rest)) * w)

    def reference(*a):  # one compiled JAX call per case keeps the test fast
        return jax.jacfwd(lambda *b: f(jnp, *b), argnums=nums)(*a), jax.hessian(scalar(jnp))(*a)

    jac, hess = jax.jit(reference)(*args)
    for how in (
        ad.jacfwd(lambda *a: f(np, *a), argnums=nums, chunk=3),
        ad.jacrev(lambda *a: f(np, *a), argnums=nums, chunk=2),
    ):
        for got, want in zip(how(*args), jac):
            assert_rel(got, np.asarray(want))
    assert_rel(ad.hessian(scalar(np))(*args), np.asarray(hess))


@pytest.mark.parametrize("f, samplers", _jax_params())
def test_nested_vector_modes_agree(f, samplers, rng):
    """Two batch axes: vector mode over vector mode, in the four combinations."""
    args = [s(rng) for s in samplers]
    w = rng.standard_normal(np.shape(f(np, *args)))
    g = lambda x, *rest: np.sum(np.sin(f(np, x, *rest)) * w)  # noqa: E731
    want = ad.hessian(g)(*args)
    for outer, inner in [(ad.jacfwd, ad.jacfwd), (ad.jacrev, ad.jacrev), (ad.jacrev, ad.jacfwd)]:
        assert_rel(outer(inner(g, chunk=2), chunk=3)(*args), want)


def test_det_hessian_matches_jax_at_the_identity(jnp):
    """The adjugate's own derivative (repeated singular values: no division anywhere)."""
    import jax

    hess = jax.jit(jax.hessian(jnp.linalg.det))
    for x in (np.eye(4), 2.0 * orthogonal(np.random.default_rng(3), 4)):
        assert_rel(ad.hessian(np.linalg.det)(x), np.asarray(hess(x)))


# ----------------------------------------------------------------------------------
# det at singular matrices: the adjugate (finite, correct at rank n-1; zero below)
# ----------------------------------------------------------------------------------


def cofactor_matrix(x):
    """C_ij = (-1)^(i+j) det(x without row i and column j): grad det = C (= adj(x)^T)."""
    n = x.shape[0]
    c = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(x, i, axis=0), j, axis=1)
            c[i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return c


def rank_deficient(rng, n, rank):
    s = np.concatenate([rng.uniform(1, 2, rank), np.zeros(n - rank)])
    return (orthogonal(rng, n) * s) @ orthogonal(rng, n).T


def _exactly_singular(rng, n):
    """Rank n-1 exactly in floating point: the last row repeats the first."""
    x = rng.standard_normal((n, n))
    x[-1] = x[0]
    return x


@pytest.mark.parametrize("n", [2, 3, 5])
def test_det_gradient_at_rank_n_minus_1_is_the_cofactor_matrix(n, rng):
    for x in (_exactly_singular(rng, n), rank_deficient(rng, n, n - 1)):
        want = cofactor_matrix(x)
        assert np.linalg.norm(want) > 0.1  # rank n-1: the adjugate has rank one, nonzero
        g_rev = ad.grad(np.linalg.det)(x)
        g_fwd = ad.jacfwd(np.linalg.det)(x)
        assert np.all(np.isfinite(g_rev)) and np.all(np.isfinite(g_fwd))
        assert_rel(g_rev, want, 1e-12)
        assert_rel(g_fwd, want, 1e-12)
        assert np.linalg.matrix_rank(g_rev, tol=1e-8) == 1
        ad.check_grads(np.linalg.det, (x,), order=2)  # the Hessian there too


@pytest.mark.parametrize("n", [3, 4])
def test_det_gradient_below_rank_n_minus_1_is_zero(n, rng):
    x = rank_deficient(rng, n, n - 2)
    g = ad.grad(np.linalg.det)(x)
    assert np.max(np.abs(g)) <= 1e-14
    assert np.max(np.abs(ad.jacfwd(np.linalg.det)(x))) <= 1e-14
    assert np.all(ad.grad(np.linalg.det)(np.zeros((n, n))) == 0.0)
    # the Hessian at rank n-2 is not zero (adjugate entries are (n-1)-minors)
    h = ad.hessian(np.linalg.det)(x)
    assert np.max(np.abs(h)) > 0.1
    ad.check_grads(np.linalg.det, (x,), order=2)


def test_det_gradient_at_a_singular_matrix_matches_jax(jnp, rng):
    import jax

    x = _exactly_singular(rng, 4)
    assert_rel(ad.grad(np.linalg.det)(x), np.asarray(jax.grad(jnp.linalg.det)(x)), 1e-12)


def test_log_det_and_det_in_plain_numpy_code_at_a_singular_matrix(rng):
    """Seminar problems at a singular point: det -> adjugate, log det -> a clear error."""
    x = _exactly_singular(rng, 3)
    assert_rel(ad.grad(lambda x: np.linalg.det(x) ** 2 + np.linalg.det(x))(x), cofactor_matrix(x))
    with pytest.raises(SingularMatrixError, match="slogdet"):
        ad.grad(lambda x: np.linalg.slogdet(x)[1])(x)


def test_third_derivative_of_det(rng):
    """Nested once more, the adjugate's rules are themselves recorded (inverse route)."""
    ad.check_grads(ad.grad(np.linalg.det), (wellcond(3)(rng),), order=2)
    with pytest.raises(SingularMatrixError, match="adjugate"):
        ad.jacfwd(ad.hessian(np.linalg.det))(_exactly_singular(rng, 3))


# ----------------------------------------------------------------------------------
# Repeated singular values / eigenvalues
# ----------------------------------------------------------------------------------


def repeated_singular(rng, m, n, s):
    k = min(m, n)
    return orthogonal(rng, m)[:, :k] * np.asarray(s, float) @ orthogonal(rng, n)[:, :k].T


def u_vt(w):
    u, _, vt = np.linalg.svd(w, full_matrices=False)
    return u @ vt


REPEATED = [
    ("3x5 (2,2,1)", lambda rng: repeated_singular(rng, 3, 5, [2, 2, 1])),
    ("5x3 all equal", lambda rng: repeated_singular(rng, 5, 3, [1, 1, 1])),
    ("4x4 orthogonal", lambda rng: orthogonal(rng, 4)),
    ("identity", lambda rng: np.eye(3)),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=i) for i, m in REPEATED])
def test_singular_values_only_gradient_is_u_vt_at_repeated_values(make, engine, rng):
    w = make(rng)
    want = u_vt(w)  # basis-independent within a repeated cluster
    for f in (
        lambda w: np.linalg.norm(w, "nuc"),
        lambda w: np.sum(np.linalg.svd(w, compute_uv=False)),
        lambda w: np.sum(np.linalg.svd(w)[1]),  # full svd, only S used: reverse is fine
    ):
        assert_rel(ad.grad(f, engine=engine)(w), want, 1e-12)
    for f in (
        lambda w: np.linalg.norm(w, "nuc"),
        lambda w: np.sum(np.linalg.svd(w, compute_uv=False)),
    ):
        assert_rel(ad.jacfwd(f, engine=engine)(w), want, 1e-12)
        ad.check_grads(f, (w,), order=1, engine=engine)


def test_nuclear_norm_at_repeated_values_matches_jax(jnp, rng):
    import jax

    w = repeated_singular(rng, 3, 5, [2, 2, 1])
    want = jax.grad(lambda a: jnp.linalg.norm(a, "nuc"))(w)
    assert_rel(ad.grad(lambda a: np.linalg.norm(a, "nuc"))(w), np.asarray(want), 1e-12)


def test_spectral_norm_tie_shares_the_gradient():
    """An exact tie of the largest singular value: the tied terms share the gradient
    (a subgradient, the same whatever basis LAPACK picks for the pair)."""
    w = np.zeros((4, 3))
    w[0, 0] = w[1, 1] = 2.0
    w[2, 2] = 1.0
    want = np.zeros((4, 3))
    want[0, 0] = want[1, 1] = 0.5
    assert_rel(ad.grad(lambda a: np.linalg.norm(a, 2))(w), want, 1e-12)


def test_eigenvalues_only_gradient_at_repeated_eigenvalues(rng):
    """sum(exp(w)) = tr(expm(S)): grad expm(S), a symmetric matrix (JAX's convention)."""
    q = orthogonal(rng, 4)
    s = (q * np.array([1.0, 1.0, 1.0, 2.0])) @ q.T
    w, v = np.linalg.eigh(s)
    e = (v * np.exp(w)) @ v.T
    want = (e + e.T) / 2
    f = lambda a: np.sum(np.exp(np.linalg.eigvalsh(a)))  # noqa: E731
    assert_rel(ad.grad(f)(s), want, 1e-12)
    assert_rel(ad.jacfwd(f)(s), want, 1e-12)
    assert_rel(ad.grad(lambda a: np.sum(np.exp(np.linalg.eigh(a)[0])))(s), want, 1e-12)


def test_full_svd_vectors_at_repeated_values_raise(rng):
    w = repeated_singular(rng, 3, 4, [2, 2, 1])
    uses_u = lambda w: np.sum(np.linalg.svd(w, full_matrices=False)[0] ** 3)  # noqa: E731
    uses_vt = lambda w: np.sum(np.linalg.svd(w, full_matrices=False)[2] ** 3)  # noqa: E731
    for f in (uses_u, uses_vt):
        with pytest.raises(DegenerateDerivativeError, match=r"svd: s\[0\] = 2 and s\[1\] = 2"):
            ad.grad(f)(w)
        with pytest.raises(DegenerateDerivativeError, match="gap"):
            ad.jacfwd(f)(w)
    # only S used: reverse mode needs no vector derivative; forward mode always does
    only_s = lambda w: np.sum(np.linalg.svd(w, full_matrices=False)[1])  # noqa: E731
    assert_rel(ad.grad(only_s)(w), u_vt(w), 1e-12)
    with pytest.raises(DegenerateDerivativeError, match="compute_uv=False"):
        ad.jacfwd(only_s)(w)
    # second derivative of the nuclear norm at repeated values: U, V are differentiated
    with pytest.raises(DegenerateDerivativeError, match="repeated"):
        ad.hessian(lambda a: np.linalg.norm(a, "nuc"))(w)


def test_full_matrices_svd_of_a_rectangular_matrix(rng):
    """NumPy's default full_matrices=True: the completed columns have no derivative."""
    for shape in ((5, 3), (3, 5)):
        w = separated(*shape)(rng)
        k = min(shape)
        thin = lambda w: np.linalg.svd(w)[0][:, :k] @ np.linalg.svd(w)[2][:k] * 2.0  # noqa: E731
        only_s = lambda w: np.sum(np.linalg.svd(w)[1])  # noqa: E731
        assert_rel(ad.grad(only_s)(w), u_vt(w), 1e-12)
        assert_rel(ad.jacrev(thin)(w), ad.jacrev(lambda w: 2.0 * u_vt_traced(w))(w), 1e-12)
        with pytest.raises(DegenerateDerivativeError, match="full_matrices=False"):
            ad.grad(lambda w: np.sum(np.linalg.svd(w)[0] + np.sum(np.linalg.svd(w)[2])))(w)
        with pytest.raises(DegenerateDerivativeError, match="not unique"):
            ad.jacfwd(only_s)(w)


def u_vt_traced(w):
    u, _, vt = np.linalg.svd(w, full_matrices=False)
    return u @ vt


def test_svd_of_rectangular_rank_deficient_matrix_names_the_zero(rng):
    w = repeated_singular(rng, 4, 2, [1.5, 0.0])
    with pytest.raises(DegenerateDerivativeError, match=r"s\[1\] = .* is zero"):
        ad.grad(lambda a: np.sum(np.linalg.svd(a, full_matrices=False)[0] ** 3))(w)


def test_eigh_vectors_at_repeated_eigenvalues_raise(rng):
    q = orthogonal(rng, 3)
    s = (q * np.array([1.0, 1.0, 3.0])) @ q.T
    uses_v = lambda a: np.sum(np.linalg.eigh(a)[1] ** 3)  # noqa: E731
    with pytest.raises(DegenerateDerivativeError, match=r"eigh: w\[0\] = 1 and w\[1\] = 1"):
        ad.grad(uses_v)(s)
    with pytest.raises(DegenerateDerivativeError, match="eigvalsh"):
        ad.jacfwd(uses_v)(s)
    assert np.all(np.isfinite(ad.grad(lambda a: np.sum(np.linalg.eigh(a)[0] ** 2))(s)))


# ----------------------------------------------------------------------------------
# Singular and invalid primals: clear errors naming the operation
# ----------------------------------------------------------------------------------

SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])


@pytest.mark.parametrize(
    "f, word",
    [
        (lambda x: np.sum(np.linalg.inv(x)), "inv"),
        (lambda x: np.sum(np.linalg.solve(x, np.ones(3))), "solve"),
        (lambda x: np.sum(np.linalg.solve(x, np.ones((3, 2)))), "solve"),
        (lambda x: np.trace(np.ones((2, 3)) @ np.linalg.inv(x) @ np.ones((3, 2))), "inv"),
        (lambda x: np.linalg.slogdet(x)[1], "slogdet"),
        (lambda x: np.sum(np.linalg.cholesky(x)), "positive definite"),
    ],
)
def test_singular_matrix_errors_name_the_operation(f, word):
    for run in (ad.grad(f), ad.jacfwd(f)):
        with pytest.raises(SingularMatrixError, match=word):
            run(SINGULAR)


def test_singular_matrix_error_outside_tracing():
    with pytest.raises(SingularMatrixError, match="inv: the 3x3 matrix is singular"):
        ad.numpy.linalg.inv(SINGULAR)


def test_shape_and_unsupported_errors(rng):
    with pytest.raises(ShapeError, match="inv needs a square matrix"):
        ad.grad(lambda x: np.sum(np.linalg.inv(x)))(rng.standard_normal((2, 3)))
    with pytest.raises(ShapeError, match="solve"):
        ad.grad(lambda a: np.sum(np.linalg.solve(a, np.ones(4))))(np.eye(3))
    with pytest.raises(ValueError, match="Invalid norm order"):  # NumPy's error
        ad.grad(lambda a: np.linalg.norm(a, "bad"))(np.eye(2))


# ----------------------------------------------------------------------------------
# Stacks of matrices, composites, log-sum-exp
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f",
    [
        np.linalg.inv,
        np.linalg.det,
        lambda x: np.linalg.slogdet(x)[1],
        lambda x: np.linalg.svd(x, compute_uv=False),
        lambda x: np.linalg.svd(x)[0] @ np.linalg.svd(x)[2],
        lambda x: np.linalg.eigvalsh(x @ np.swapaxes(x, -1, -2)),
        lambda x: np.linalg.cholesky(x @ np.swapaxes(x, -1, -2) + np.eye(3)),
        lambda x: np.linalg.solve(x, np.ones((2, 3, 2))),
    ],
    ids=["inv", "det", "slogdet", "svdvals", "svd", "eigvalsh", "cholesky", "solve"],
)
def test_stacks_of_matrices(f, rng):
    x = np.stack([well_conditioned(rng, 3) for _ in range(2)])
    traced = ad.jvp(f, (x,), (np.zeros_like(x),))[0]
    assert_rel(traced, f(x), 1e-13)
    ad.check_grads(f, (x,), order=1)


COMPOSITE_PRIMITIVES = {"gather", "scatter_add", "mul", "matmul", "sin", "integer_pow", "add"}
COMPOSITES = [
    ("trace offset", lambda x: np.trace(x, 1) * np.trace(x), [normal(3, 4)]),
    ("diag of vector", lambda v: np.diag(v, -1) @ np.diag(v**2, -1).T, [normal(3)]),
    ("diag of matrix", lambda x: np.diag(x) * np.diag(x, 1).sum(), [normal(3, 3)]),
    ("diagonal", lambda x: np.diagonal(x, 1) ** 2, [normal(3, 4)]),
    ("outer", lambda a, b: np.outer(a, np.sin(b)), [normal(2, 2), normal(3)]),
    ("tril triu", lambda x: np.tril(x, -1) @ np.triu(x, 1) + np.tril(x) * x, [normal(3, 3)]),
]


@pytest.mark.parametrize("fn, samplers", [pytest.param(f, s, id=i) for i, f, s in COMPOSITES])
def test_composites_trace_and_differentiate(fn, samplers, rng):
    args = [s(rng) for s in samplers]
    graph = ad.trace(fn, *args)
    assert {e.prim.name for e in graph.eqns} <= COMPOSITE_PRIMITIVES  # no primitive of their own
    ad.check_grads(fn, args, order=2)


def test_composites_match_jax(jnp, rng):
    import jax

    def f(m, x, v):
        a = m.trace(x, 1) * m.diag(x) + m.diagonal(x @ x.T)
        b = m.outer(v, m.diag(m.tril(x) + m.triu(x, 1) ** 2))
        return m.concatenate([a, m.ravel(b), m.ravel(m.diag(v) @ x)])

    args = (rng.standard_normal((3, 3)), rng.standard_normal(3))
    want = jax.jacfwd(lambda *a: f(jnp, *a), argnums=(0, 1))(*args)
    for got in (
        ad.jacfwd(lambda *a: f(np, *a), argnums=(0, 1), chunk=4)(*args),
        ad.jacrev(lambda *a: f(np, *a), argnums=(0, 1), chunk=5)(*args),
    ):
        for g, w in zip(got, want):
            assert_rel(g, np.asarray(w))


def test_logsumexp_is_stable_at_large_inputs():
    from scipy.special import logsumexp as scipy_lse

    lse = ad.numpy.logsumexp
    for x in (
        np.array([1000.0, 1000.0, 999.0]),
        np.array([-1000.0, -1001.0, -1e4]),
        np.array([710.0, 0.0, -710.0]),
        np.array([-np.inf, 0.0, 1.0]),
    ):
        want = scipy_lse(x)
        assert abs(lse(x) - want) <= 1e-13 * abs(want) + 1e-15
        value, g = ad.value_and_grad(lse)(x)
        assert abs(value - want) <= 1e-13 * abs(want) + 1e-15
        soft = np.exp(x - want)
        assert np.all(np.isfinite(g)) and np.allclose(g, soft, rtol=1e-13, atol=1e-300)
        assert_rel(ad.jacfwd(lse)(x), soft, 1e-13)
    x = np.array([[800.0, 801.0, 799.0], [-5.0, 0.0, 5.0]])
    for axis, keepdims in ((None, False), (0, False), (1, True), (-1, False)):
        got = ad.jvp(lambda x: lse(x, axis=axis, keepdims=keepdims), (x,), (np.zeros_like(x),))[0]
        assert_rel(got, scipy_lse(x, axis=axis, keepdims=keepdims), 1e-14)


def test_logsumexp_derivatives(rng, jnp):
    import jax

    lse = ad.numpy.logsumexp
    x = rng.standard_normal((3, 4)) * 3 + 500.0
    ad.check_grads(lambda x: lse(x, axis=1), (x,), order=2)
    ad.check_grads(lambda x: lse(x), (x,), order=2)
    want = jax.hessian(lambda a: jax.scipy.special.logsumexp(a))(x)
    assert_rel(ad.hessian(lse)(x), np.asarray(want))


# ----------------------------------------------------------------------------------
# Symmetric matrices: JAX's convention for cholesky, eigh and eigvalsh (issue 15, point 9)
# ----------------------------------------------------------------------------------


def _weights(n):
    return np.arange(1.0, n * n + 1).reshape(n, n) / (n * n)


SYMMETRIC_FUNCTIONS = {
    "cholesky": lambda m, a: m.sum(m.linalg.cholesky(a) ** 2 * _weights(a.shape[0])),
    "cholesky upper": lambda m, a: m.sum(m.sin(m.linalg.cholesky(a, upper=True))),
    "eigh": lambda m, a: m.sum(
        (lambda w, v: (v * m.cos(w)) @ v.T * _weights(a.shape[0]))(*m.linalg.eigh(a))
    ),
    "eigh UPLO=U": lambda m, a: m.sum(
        (lambda w, v: (v * w**2) @ v.T * _weights(a.shape[0]))(*m.linalg.eigh(a, UPLO="U"))
    ),
    "eigvalsh": lambda m, a: m.sum(m.linalg.eigvalsh(a) ** 3 * m.arange(1.0, a.shape[0] + 1)),
}


@pytest.mark.parametrize("name", list(SYMMETRIC_FUNCTIONS))
def test_symmetric_matrix_gradients_match_jax_and_are_symmetric(name, jnp, engine, rng):
    import jax

    f = SYMMETRIC_FUNCTIONS[name]
    a = spd(4)(rng)
    want = np.asarray(jax.grad(lambda x: f(jnp, x))(a))
    for got in (
        ad.grad(lambda x: f(np, x), engine=engine)(a),
        ad.jacfwd(lambda x: f(np, x), engine=engine)(a),
    ):
        assert_rel(got, want, 1e-10)
        np.testing.assert_array_equal(got, got.T)  # exactly symmetric


@pytest.mark.parametrize("name", list(SYMMETRIC_FUNCTIONS))
def test_a_gradient_step_keeps_a_symmetric_matrix_symmetric(name, engine, rng):
    f = lambda x: SYMMETRIC_FUNCTIONS[name](np, x)  # noqa: E731
    a = spd(3)(rng)
    a = (a + a.T) / 2  # exactly symmetric (spd is, up to round-off)
    for _ in range(3):
        a = a - 0.01 * ad.grad(f, engine=engine)(a)
        np.testing.assert_array_equal(a, a.T)


def test_the_symmetric_derivative_is_numpys_along_symmetric_directions(rng):
    """Along a symmetric direction H (the ones that keep A symmetric), the JVP equals the
    central difference of NumPy's own eigh/cholesky, which read one triangle."""
    a, h = spd(4)(rng), rng.standard_normal((4, 4))
    h = h + h.T
    for f in SYMMETRIC_FUNCTIONS.values():
        g = lambda x: f(np, x)  # noqa: E731
        _, jv = ad.jvp(g, (a,), (h,))
        fd = (g(a + 1e-6 * h) - g(a - 1e-6 * h)) / 2e-6
        assert abs(jv - fd) <= 1e-6 * max(1.0, abs(fd))
