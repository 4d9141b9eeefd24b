"""The seminar's problems and its table of differentiation rules, checked against the
closed forms to 1e-10 relative, in both modes and on both engines.

The ``engine`` fixture (tests/conftest.py) runs each test on "reference" and on
"compiled"; the compiled one is skipped only when ``ad.kernels`` cannot be found.
"""

import zlib

import numpy as np
import pytest

import ad
from ad.examples import seminar


def assert_rel(got, want, tol=1e-10):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
    assert err <= tol, f"relative error {err:.2e} > {tol:.0e}"


def _instances():
    for p in seminar.PROBLEMS.values():
        for size in p.sizes:
            yield pytest.param(p, size, id=f"{p.name}-{size}")


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("problem, size", list(_instances()))
def test_gradient_matches_the_closed_form(problem, size, mode, engine):
    rng = np.random.default_rng(zlib.crc32(f"{problem.name} {size}".encode()))
    inst = problem.make(rng, size)
    nums = tuple(range(len(inst.args)))
    if mode == "reverse":
        got = ad.grad(inst.f, argnums=nums, engine=engine)(*inst.args)
    else:
        got = ad.jacfwd(inst.f, argnums=nums, engine=engine)(*inst.args)
    for g, want in zip(got, inst.grad):
        assert_rel(g, want)


@pytest.mark.parametrize("n", [1, 4, 7])
def test_hessians_of_problems_1_and_3(n, engine):
    rng = np.random.default_rng(n)
    A, b, x = rng.standard_normal((n, n)), rng.standard_normal(n), rng.standard_normal(n)
    h = ad.hessian(lambda x: seminar.quadratic(x, A, b, 0.5), engine=engine)(x)
    assert_rel(h, seminar.quadratic_hessian(A))
    h = ad.hessian(seminar.cubic_norm, engine=engine)(x)
    assert_rel(h, seminar.cubic_norm_hessian(x))


@pytest.mark.parametrize("s", [[2.0, 2.0, 1.0], [1.0, 1.0, 1.0]], ids=["(2,2,1)", "(1,1,1)"])
def test_singular_regularizer_at_repeated_singular_values(s, engine):
    """Problem 5 where the SVD's vectors have no derivative: dR/dW = U V^T still."""
    rng = np.random.default_rng(5)
    W = seminar.orthogonal(rng, 5)[:, :3] * s @ seminar.orthogonal(rng, 3).T
    want = seminar.singular_regularizer_grad(W)
    assert_rel(ad.grad(seminar.singular_regularizer, engine=engine)(W), want)
    assert_rel(ad.jacfwd(seminar.singular_regularizer, engine=engine)(W), want)


def test_determinant_problem_at_a_singular_matrix(engine):
    """det X -> det(X) X^-T is 0 * inf at a singular X; ad returns the adjugate."""
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # rank 2
    cof = np.array([[4.0, 4.0, -4.0], [-2.0, -2.0, 2.0], [0.0, 0.0, 0.0]])  # cofactors
    assert_rel(ad.grad(seminar.determinant, engine=engine)(X), cof, 1e-14)
    assert_rel(ad.jacfwd(seminar.determinant, engine=engine)(X), cof, 1e-14)


# ----------------------------------------------------------------------------------
# The table "Differentiation Rules / Standard Derivatives", each rule in both modes
# ----------------------------------------------------------------------------------

RULES = seminar.rules(np.random.default_rng(2024))


def jacobian_of_differential(rule):
    """J_i[out, in] from the table's differential, applied to unit directions."""
    zeros = [np.zeros_like(a, dtype=float) for a in rule.args]
    out_shape = np.shape(rule.f(*rule.args))
    blocks = []
    for i, a in enumerate(rule.args):
        cols = []
        for j in range(a.size):
            d = list(zeros)
            d[i] = np.zeros(a.size)
            d[i][j] = 1.0
            d[i] = d[i].reshape(a.shape)
            cols.append(np.ravel(rule.df(*rule.args, *d)))
        J = np.stack(cols, axis=-1) if cols else np.zeros((int(np.prod(out_shape)), 0))
        blocks.append(J.reshape(out_shape + a.shape))
    return blocks


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("rule", [pytest.param(r, id=r.text) for r in RULES])
def test_differentiation_rule(rule, mode, engine):
    nums = tuple(range(len(rule.args)))
    jac = ad.jacfwd if mode == "forward" else ad.jacrev
    got = jac(rule.f, argnums=nums, engine=engine)(*rule.args)
    for g, want in zip(got, jacobian_of_differential(rule)):
        if np.any(want):
            assert_rel(g, want)
        else:  # dA = 0
            assert np.all(np.asarray(g) == 0.0)


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.text) for r in RULES])
def test_differentiation_rule_as_jvp_and_vjp(rule, engine):
    """df(X)[dX] from ad.jvp equals the table's formula; the VJP is its adjoint."""
    rng = np.random.default_rng(11)
    dargs = tuple(rng.standard_normal(np.shape(a)) for a in rule.args)
    y, y_dot = ad.jvp(rule.f, rule.args, dargs, engine=engine)
    want = rule.df(*rule.args, *dargs)
    if np.any(want):
        assert_rel(y_dot, want)
    u = rng.standard_normal(np.shape(y))
    _, pullback = ad.vjp(rule.f, *rule.args, engine=engine)
    lhs = float(np.sum(u * want))
    rhs = sum(float(np.sum(b * d)) for b, d in zip(pullback(u), dargs))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))
