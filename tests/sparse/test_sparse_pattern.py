"""Sparsity detection: the pattern equals the nonzeros of the dense Jacobian at random
x on every benchmark family, on every primitive's test cases (where the rule is exact;
a superset where it is conservative) and on hypothesis-generated programs; Hessian
patterns likewise."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ad
from ad.errors import GraphError, NonScalarOutputError
from ad.primitives import registry
from ad.primitives.core import DENSE
from ad.sparse.pattern import hessian_pattern, jacobian_pattern, propagate
from bench.problems import sparse as family
from tests import test_properties as properties
from tests.primitives.test_linalg import CASES as LINALG_CASES
from tests.primitives.test_primitives import CASES


def dense_jacobian(f, args):
    """(m, n) Jacobian of f over all its arguments (outputs flattened and stacked), by
    the reference forward mode."""
    J = ad.jacfwd(f, argnums=tuple(range(len(args))), engine="reference")(*args)
    outs = f(*args)
    if not isinstance(outs, tuple):
        outs, J = (outs,), (J,)
    rows = []
    for out, per_input in zip(outs, J):
        m = int(np.prod(np.shape(out)))
        rows.append(np.concatenate([np.reshape(b, (m, -1)) for b in per_input], axis=1))
    return np.concatenate(rows, axis=0)


def pattern_of(f, args):
    return jacobian_pattern(ad.trace(f, *args)).toarray()


# -- the benchmark families --------------------------------------------------------


@pytest.mark.parametrize("variant", family.VARIANTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_pattern_is_exact_on_every_family(variant, seed):
    n = 49 if variant == "laplace2d" else 40
    p = family.make(n, n, 0, seed, variant)
    x = p.args[0]
    G = p.notes["jacobian_graph"]
    J = ad.forward.jacobian(G, x, engine="reference")
    P = jacobian_pattern(G)
    assert sp.issparse(P) and P.dtype == bool and P.shape == J.shape
    np.testing.assert_array_equal(P.toarray(), J != 0)
    # and against the closed form
    np.testing.assert_array_equal(P.toarray(), p.notes["sparse_jacobian"](x).toarray() != 0)


@pytest.mark.parametrize("variant", family.VARIANTS)
def test_patterns_past_the_tables_column_limit_are_csr_and_the_same(variant, monkeypatch):
    """Tables hold int32 columns; with more inputs than that (here: a limit lowered to
    20 columns) the inputs are CSR arrays from the start and the pattern is the same."""
    from ad.sparse import pattern as P

    n = 49 if variant == "laplace2d" else 40
    p = family.make(n, n, 0, 0, variant)
    G = p.notes["jacobian_graph"]
    (table,) = propagate(G)
    want = jacobian_pattern(G).toarray()
    monkeypatch.setattr(P, "TABLE_LIMIT", 20)
    (csr,) = propagate(G)
    assert csr.cols is None
    np.testing.assert_array_equal(jacobian_pattern(G).toarray(), want)
    if table.cols is not None:
        assert table.cols.dtype == np.int32


def test_public_sparsity_functions_match_the_dense_derivatives(rng):
    x = rng.standard_normal(12)
    f = lambda x: np.sin(x[1:]) * x[:-1]
    P = ad.jacobian_sparsity(f, x)
    assert isinstance(P, sp.csr_array) and P.shape == (11, 12)
    np.testing.assert_array_equal(P.toarray(), ad.jacfwd(f)(x) != 0)
    g = lambda x: np.sum((x[1:] - x[:-1]) ** 4) + np.sum(x[0] * x[-3:] ** 2)
    H = ad.hessian_sparsity(g, x)
    np.testing.assert_array_equal(H.toarray(), ad.hessian(g)(x) != 0)
    assert (H != H.T).nnz == 0


def test_hessian_pattern_of_every_scalar_family():
    p = family.make(30, 1, 0, 0, "rosenbrock_hessian")
    x = p.args[0]
    H, grad = hessian_pattern(p.graph, x)
    np.testing.assert_array_equal(H.toarray(), ad.hessian(family.rosenbrock)(x) != 0)
    np.testing.assert_array_equal(np.diff(H.indptr)[1:-1], 3)  # tridiagonal
    assert grad.n_out == 30


def test_hessian_sparsity_needs_a_scalar(rng):
    with pytest.raises(NonScalarOutputError):
        ad.hessian_sparsity(np.sin, rng.standard_normal(3))


# -- every primitive's test cases ------------------------------------------------------

#: Cases whose Jacobian has zeros the index sets cannot see: they depend on values
#: (the extreme of max / min, the larger of maximum / minimum), or a matrix function
#: (dense rule). A product with a zero-padded operand (np.diag(x) @ ...) is exact: its
#: known zeros are tracked.
CONSERVATIVE = {
    "reduce_max-all",
    "reduce_max-axis",
    "reduce_min-axis",
    "maximum-pair",
    "maximum-broadcast",
    "minimum-pair",
    "sort-vector",  # which entry lands where depends on the values
    "sort-rows",
    "sort-flattened",
} | {f"{name}-{label}" for name, cases in LINALG_CASES.items() for label, _, _ in cases}


def primitive_cases():
    for name, cases in {**CASES, **LINALG_CASES}.items():
        for label, fn, samplers in cases:
            yield pytest.param(f"{name}-{label}", fn, samplers, id=f"{name}-{label}")


@pytest.mark.parametrize("case, fn, samplers", list(primitive_cases()))
def test_pattern_never_misses_a_nonzero_and_is_exact_where_the_rule_is(case, fn, samplers):
    rng = np.random.default_rng(7)
    args = [s(rng) for s in samplers]
    J = dense_jacobian(fn, args)
    P = pattern_of(fn, args)
    assert P.shape == J.shape
    missed = (J != 0) & ~P
    assert not missed.any(), f"{case}: pattern misses {np.argwhere(missed)[:5].tolist()}"
    if case not in CONSERVATIVE:
        np.testing.assert_array_equal(P, J != 0, err_msg=case)


def test_conservative_cases_are_really_supersets():
    """The allowlist above is not hiding exact cases: each has an extra entry."""
    rng = np.random.default_rng(7)
    strict = 0
    for name, cases in {**CASES, **LINALG_CASES}.items():
        for label, fn, samplers in cases:
            if f"{name}-{label}" in CONSERVATIVE:
                args = [s(rng) for s in samplers]
                strict += bool((pattern_of(fn, args) & (dense_jacobian(fn, args) == 0)).any())
    assert strict >= 5


def test_every_primitive_declares_a_rule_or_is_a_matrix_function():
    dense_ok = set(LINALG_CASES) - {"matmul"}
    for name, prim in registry.items():
        if name in dense_ok:
            assert prim.sparsity in (None, DENSE), name
        else:
            assert prim.sparsity is not None, (
                f"primitive '{name}' has no sparsity rule: add defsparsity(...) to its "
                "block in ad/primitives (elementwise primitives get one from elementwise())"
            )


def test_matmul_with_a_constant_uses_its_zeros(rng):
    A = rng.standard_normal((5, 7))
    A[rng.random((5, 7)) < 0.6] = 0.0
    x = rng.standard_normal(7)
    np.testing.assert_array_equal(pattern_of(lambda x: A @ x, [x]), A != 0)
    X = rng.standard_normal((7, 3))
    P = pattern_of(lambda X: A @ np.tanh(X), [X])
    np.testing.assert_array_equal(P, dense_jacobian(lambda X: A @ np.tanh(X), [X]) != 0)
    P = pattern_of(lambda X: np.tanh(X).T @ A.T, [X])  # constant on the right
    np.testing.assert_array_equal(P, dense_jacobian(lambda X: np.tanh(X).T @ A.T, [X]) != 0)


#: Products with a factor that is zero in places: the adjoint of y[0] is zero-padded, and
#: its product with a constant (or a zero-padded variable) matrix, or its reversed
#: cumsum, is zero where no nonzero meets a nonzero; the gradient multiplies that by a
#: function of x, so an entry not known zero there would add a false diagonal entry.
_A = np.array(
    [[0.0, 0.0, 0.0, 1.0, 0.0, -0.4, 0.0],
     [0.3, 0.0, 0.0, 0.0, 0.8, 0.0, 0.0],
     [0.0, -1.1, 0.0, 0.0, 0.0, 0.0, 0.5],
     [0.0, 0.0, 0.6, 0.2, 0.0, 0.0, 0.0],
     [0.7, 0.0, 0.0, 0.0, 0.0, 0.9, 0.0]]
)  # fmt: skip
KNOWN_ZERO_PRODUCTS = {
    "constant-left": (lambda x: (_A @ np.sin(x))[0] ** 2, (7,)),
    "constant-right": (lambda x: (np.sin(x) @ _A.T)[0] ** 2, (7,)),
    "matrix-constant-left": (lambda X: np.sum((_A @ np.tanh(X))[:2] ** 2), (7, 3)),
    "matrix-constant-right": (lambda X: np.sum((np.tanh(X).T @ _A.T)[:, 0] ** 2), (7, 3)),
    "zero-padded-variables": (
        lambda x: np.sum((np.diag(x[:3]) @ np.diag(np.sin(x[3:6])))[:, 1] ** 2) + x[6],
        (7,),
    ),
    "outer-times-diagonal": (
        lambda x: np.sum((np.outer(x[:3], x[3:6]) @ np.diag(np.sin(x[3:6])))[0] ** 2),
        (7,),
    ),
    "cumsum": (lambda x: np.sum(np.cumsum(np.sin(x))[:2] ** 2), (7,)),
    "cumsum-reversed": (lambda x: np.sum(np.cumsum(np.sin(x[::-1]))[:2] ** 2), (7,)),
}


@pytest.mark.parametrize("case", list(KNOWN_ZERO_PRODUCTS))
def test_hessian_pattern_is_exact_through_products_with_known_zeros(case, rng):
    f, shape = KNOWN_ZERO_PRODUCTS[case]
    x = rng.standard_normal(shape)
    H = ad.hessian(f, engine="reference")(x).reshape(x.size, x.size) != 0
    P = ad.hessian_sparsity(f, x).toarray()
    assert not (H & ~P).any()
    np.testing.assert_array_equal(P, H)


def test_matmul_and_cumsum_know_the_zeros_of_their_output(rng):
    """An entry that only sums products with a known-zero factor is known zero (its
    row is empty): A @ [x0, 0, ...] is zero where A[:, 0] is, cumsum of [0, 0, x2, ...]
    on its first two entries."""
    padded = lambda x: np.concatenate([x[:1], np.zeros(6)])
    x = rng.standard_normal(7)
    (p,) = propagate(ad.trace(lambda x: _A @ padded(x), x))
    np.testing.assert_array_equal(p.zero, _A[:, 0] == 0)
    np.testing.assert_array_equal(np.diff(p.indptr), _A[:, 0] != 0)
    (p,) = propagate(ad.trace(lambda x: padded(x) @ _A.T, x))
    np.testing.assert_array_equal(p.zero, _A[:, 0] == 0)
    (p,) = propagate(ad.trace(lambda x: np.cumsum(np.concatenate([np.zeros(2), x[2:]])), x))
    np.testing.assert_array_equal(p.zero, np.arange(7) < 2)


def test_a_rule_returning_the_wrong_shape_is_reported(monkeypatch, rng):
    prim = registry["sin"]
    monkeypatch.setattr(prim, "sparsity", lambda S, x: S.constant((1,)))
    with pytest.raises(GraphError, match="sparsity rule of 'sin'"):
        ad.jacobian_sparsity(np.sin, rng.standard_normal(3))


def test_a_wrong_rule_is_caught_by_the_exactness_check(monkeypatch, rng):
    """The family test can fail: a gather rule that drops its index map is detected."""
    prim = registry["gather"]
    monkeypatch.setattr(
        prim, "sparsity", lambda S, *xs, idx, in_ndims, label=None: S.take(xs, idx * 0, in_ndims)
    )
    x = rng.standard_normal(6)
    f = lambda x: x[1:] * x[:-1]
    assert not np.array_equal(pattern_of(f, [x]), dense_jacobian(f, [x]) != 0)


def test_large_banded_detection_is_linear_in_n():
    for n in (10_000, 100_000):
        P = jacobian_pattern(family.make(n, n, 0, 0, "banded11").graph)
        assert P.nnz == 11 * n - 2 * sum(range(1, 6))


# -- hypothesis programs ------------------------------------------------------------------

OPS = ["add", "sub", "mul", "sin", "tanh", "square", "rev", "shift", "window", "spmat",
       "where", "sum", "exp", "div", "segment"]  # fmt: skip


def run(prog, M, mask, x):
    """A straight-line program of length-n vectors (the test_properties generator, with
    operations that keep the Jacobian sparse). Exactness needs derivatives that do not
    vanish by accident: the linear combinations use coefficients no chain of them can
    cancel exactly (a + 1.7 b, a - 0.61 b; not a + b then x - 0.5 (2 x)), and M has a
    nonzero diagonal, so no entry is a constant zero multiplying another operand; no
    identity such as sin^2 + cos^2 = 1 (the first values are x and sin x); and values
    stay of order one (weighted means, M scaled), so tanh never rounds to exactly 1 and
    flattens a derivative to an exact zero."""
    n = x.size
    vals = [x, np.sin(x)]
    for kind, i, j in prog:
        a, b = vals[i % len(vals)], vals[j % len(vals)]
        v = {
            "add": lambda: (a + 1.7 * b) / 2.7,
            "sub": lambda: (a - 0.61 * b) / 1.61,
            "mul": lambda: np.tanh(a * b),
            "sin": lambda: np.sin(a),
            "tanh": lambda: np.tanh(a),
            "square": lambda: 0.5 * a**2,
            "rev": lambda: a[::-1],
            "shift": lambda: np.concatenate([a[1:], b[:1]]),
            "window": lambda: np.concatenate([b[:1], (a[:-2] + 2.0 * a[2:]) / 3.0, b[-1:]]),
            "spmat": lambda: M @ a,
            "where": lambda: np.where(mask, a, np.exp(0.5 * b)),
            "sum": lambda: np.sum(a[: n // 3]) * b / n,
            "exp": lambda: np.exp(np.tanh(a)),
            "div": lambda: a / (1.0 + b**2),
            "segment": lambda: (
                np.repeat(np.sum(np.reshape(a[: n - n % 2], (-1, 2)), axis=1), 2)[:n]
                if n % 2 == 0
                else a
            ),
        }[kind]()
        vals.append(v)
    return np.concatenate([vals[-1], vals[-2][:3]])


def sparse_matrix(rng, n):
    M = rng.standard_normal((n, n)) * (rng.random((n, n)) < 0.2)
    M = M + np.diag(rng.uniform(0.5, 1.5, n))
    return M / np.abs(M).sum(axis=1).max()  # values stay O(1): no tanh saturates to 1.0


programs = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prog=programs, n=st.integers(6, 14), seed=st.integers(0, 2**16))
def test_pattern_is_exact_on_random_programs(prog, n, seed):
    rng = np.random.default_rng(seed)
    M = sparse_matrix(rng, n)
    mask = rng.random(n) < 0.5
    x = rng.standard_normal(n)
    f = lambda x: run(prog, M, mask, x)
    J = ad.jacfwd(f, engine="reference")(x)
    np.testing.assert_array_equal(pattern_of(f, [x]), J != 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prog=programs, n=st.integers(6, 10), seed=st.integers(0, 2**16))
@example(  # the gradient's M^T applied to a zero-padded adjoint, times cos(x): known zeros
    prog=[("add", 0, 0)] * 3
    + [("spmat", 1, 0)]
    + [("add", 0, 0)] * 2
    + [("add", 0, 5)]
    + [("add", 0, 0)] * 3
    + [("window", 0, 32), ("where", 12, 0)],
    n=6,
    seed=1,
)
def test_hessian_pattern_is_exact_on_random_programs(prog, n, seed):
    rng = np.random.default_rng(seed)
    M = sparse_matrix(rng, n)
    mask = rng.random(n) < 0.5
    x = rng.standard_normal(n)
    f = lambda x: np.sum(run(prog, M, mask, x) ** 2)
    H = ad.hessian(f, engine="reference")(x)
    P = ad.hessian_sparsity(f, x).toarray()
    assert not ((H != 0) & ~P).any()
    np.testing.assert_array_equal(P, H != 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prog=properties.programs, n=st.integers(13, 17), seed=st.integers(0, 2**16))
def test_pattern_never_misses_a_nonzero_on_the_property_test_programs(prog, n, seed):
    """tests/test_properties.py's own generator (dense M, x - x possible): conservative."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.standard_normal(n)
    f = lambda x: properties.run(prog, M, x)
    J = ad.jacfwd(f, engine="reference")(x)
    assert not ((J != 0) & ~pattern_of(f, [x])).any()
