"""ad.jit: trace once per signature, replay under guards, re-trace when a guard fails."""

import numpy as np
import pytest

import ad
from ad.jit import StaleConstantError
from ad.trace import concrete


def tiny(x):
    return np.sin(x[0]) * np.tanh(x[1]) * x[2]


def taylor_sine(x, eps=1e-12):
    """The seminar's loop: the number of terms depends on x."""
    term, total, k = x, x, 1
    while np.abs(term) > eps:
        term = -term * x * x / ((2 * k) * (2 * k + 1))
        total = total + term
        k += 1
    return total


def test_jit_of_f_and_of_its_gradient_trace_once_per_signature():
    f, g = ad.jit(tiny), ad.jit(ad.grad(tiny))
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.uniform(-1, 1, 3)
        np.testing.assert_allclose(f(x), tiny(x), rtol=1e-14)
        np.testing.assert_allclose(g(x), ad.grad(tiny)(x), rtol=1e-14)
    assert f.traces == 1 and g.traces == 1
    g(np.ones(4))  # another shape: another signature
    assert g.traces == 2


@pytest.mark.parametrize("x", [0.1, 3.0, 0.5, 2.0, 0.1, 3.0])
def test_the_taylor_loop_retraces_when_its_iteration_count_changes(x):
    d = ad.jit(ad.grad(taylor_sine))
    assert d(np.float64(x)) == pytest.approx(np.cos(x), rel=1e-10)
    assert d(np.float64(x + 1e-3)) == pytest.approx(np.cos(x + 1e-3), rel=1e-10)


def test_variants_are_reused_and_every_answer_is_the_untraced_one():
    d = ad.jit(ad.grad(taylor_sine))
    xs = [0.1, 3.0, 0.1, 3.0, 1.0, 0.1]
    got = [d(np.float64(x)) for x in xs]
    np.testing.assert_allclose(got, [ad.grad(taylor_sine)(x) for x in xs], rtol=1e-13)
    assert d.traces == 3  # 0.1, 3.0 and 1.0 need different term counts; the rest replay
    assert d.variants() == 3


def test_a_changing_where_mask_gives_the_untraced_answer_every_time():
    def f(x):
        return np.sum(np.where(x > 0, np.sqrt(np.abs(x)) * x, 2.0 * x))

    jf, jg = ad.jit(f), ad.jit(ad.grad(f))
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.standard_normal(6)
        assert jf(x) == pytest.approx(f(x), rel=1e-13)
        np.testing.assert_allclose(jg(x), ad.grad(f)(x), rtol=1e-13)


def test_max_ties_and_branches_in_derivative_rules_are_guarded():
    f = lambda x: np.max(x) + np.sum(np.maximum(x, 0.5)) + np.sum(np.abs(x))
    jg = ad.jit(ad.grad(f))
    for x in ([1.0, 0.5, -0.2], [1.0, 1.0, 0.0], [0.3, 0.9, -2.0], [1.0, 0.5, -0.2]):
        x = np.array(x)
        np.testing.assert_allclose(jg(x), ad.grad(f)(x), rtol=1e-14)


def test_a_replay_along_the_wrong_branch_raises_nothing_and_retraces():
    def f(x):
        return np.sqrt(x) if x > 0 else -x

    jf = ad.jit(f)
    assert jf(np.float64(4.0)) == 2.0
    assert jf(np.float64(-1.0)) == 1.0  # sqrt(-1) on the traced path: no NaN, no error
    assert jf.traces == 2


def test_higher_order_transformations_under_jit():
    f = lambda x: np.sum(x**3) / 3 + np.sin(x[0]) * x[1]
    x, v = np.array([0.5, -1.2, 2.0]), np.array([1.0, 0.5, -0.3])
    np.testing.assert_allclose(ad.jit(ad.hessian(f))(x), ad.hessian(f)(x), rtol=1e-13)
    np.testing.assert_allclose(ad.jit(ad.hvp(f))(x, v), ad.hvp(f)(x, v), rtol=1e-13)
    np.testing.assert_allclose(ad.jit(ad.jacfwd(np.sin))(x), ad.jacfwd(np.sin)(x), rtol=1e-14)
    vg = ad.jit(ad.value_and_grad(f))(x)
    assert vg[0] == pytest.approx(f(x)) and np.allclose(vg[1], ad.grad(f)(x))


def test_jitted_hessian_runs_the_gradient_graph_and_keeps_its_guards():
    def f(x):  # the branch depends on x: a guard of f's graph, checked before the sweeps
        if np.sum(x) > 0:
            return np.sum(x**3) / 3 + np.prod(x)
        return np.linalg.norm(x) ** 3 / 3.0

    jh = ad.jit(ad.hessian(f))
    rng = np.random.default_rng(3)
    for _ in range(6):
        x = rng.standard_normal((2, 3))
        H = jh(x)
        assert H.shape == (2, 3, 2, 3)
        np.testing.assert_allclose(H, ad.hessian(f, engine="reference")(x), rtol=1e-12)
    assert jh.traces == 2  # one variant per branch, then replays only
    variant = jh._cache[("arrays", ((2, 3),))][0]
    assert type(variant).__name__ == "_HessianVariant"


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.sum(np.abs(x) ** 3),  # abs's rule bakes sign(x) into the gradient graph
        lambda x: np.sum(np.abs(x) * x),
        lambda x: np.max(x) * np.sum(x**2),  # max's rule bakes in where the maximum is
    ],
    ids=["abs_cubed", "abs_times_x", "max"],
)
def test_jitted_hessian_checks_the_guards_of_its_gradient_graph(f):
    # f's own graph has no guard here: only the gradient graph's do, and a replay that
    # skipped them answered with the old signs (H of |x|^3 at x0 = -1 read -6, not 6)
    jh = ad.jit(ad.hessian(f))
    points = [np.array([1.0, 2.0]), np.array([-1.0, 2.0]), np.array([3.0, 2.0])]
    for x in points + points:
        np.testing.assert_allclose(jh(x), ad.hessian(f, engine="reference")(x), rtol=1e-13)
    assert jh.traces == 2  # one variant per side, then replays only


def test_transformations_of_a_jitted_function_record_the_function_itself():
    """grad(jit(f)), jacfwd(jit(f)), hessian(jit(f)), jit(jit(f)): with traced arguments
    a jitted function runs fun on them (the enclosing trace records it, guards
    included) and leaves its own cache alone."""

    def f(x):
        return np.sum(np.sin(x) * x[::-1]) if x[0] > 0 else np.sum(np.cos(x) ** 2)

    jf = ad.jit(f)
    for x in (np.array([0.5, -1.0, 2.0]), np.array([-0.5, -1.0, 2.0])):
        np.testing.assert_allclose(ad.grad(jf)(x), ad.grad(f)(x), rtol=1e-14)
        np.testing.assert_allclose(ad.hessian(jf)(x), ad.hessian(f)(x), rtol=1e-14)
        np.testing.assert_allclose(ad.jacfwd(ad.jit(np.sin))(x), np.diag(np.cos(x)), rtol=1e-14)
        np.testing.assert_allclose(ad.jit(ad.grad(jf))(x), ad.grad(f)(x), rtol=1e-14)
        assert ad.jit(jf)(x) == pytest.approx(f(x), rel=1e-14)
    assert jf.traces == 0 and jf.variants() == 0
    outer = ad.jit(jf, max_variants=3)  # its own settings and cache, not jf's
    assert outer.max_variants == 3 and outer._cache is not jf._cache


def test_constants_are_baked_in_and_the_check_says_so():
    A = np.eye(3)
    f = lambda x: A @ x
    jf, checked = ad.jit(f), ad.jit(f, check_constants=True)
    x = np.arange(3.0)
    np.testing.assert_array_equal(jf(x), x)
    np.testing.assert_array_equal(checked(x), x)
    A[0, 0] = 10.0  # changed after tracing
    np.testing.assert_array_equal(jf(x), x)  # documented: the traced value of A
    with pytest.raises(StaleConstantError, match="constant"):
        checked(x)
    np.testing.assert_array_equal(ad.jit(f)(x), A @ x)  # a new jit sees the new A


def test_static_arguments_and_pytrees():
    def loss(params, X, k):
        return np.sum((X @ params["w"] + params["b"]) ** k)

    g = ad.jit(ad.grad(loss), static_argnums=2)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 3))
    params = {"w": rng.standard_normal(3), "b": np.float64(0.3)}
    for k in (2, 4, 2):
        got, want = g(params, X, k), ad.grad(loss)(params, X, k)
        assert set(got) == {"w", "b"}
        np.testing.assert_allclose(got["w"], want["w"], rtol=1e-13)
        assert got["b"] == pytest.approx(want["b"], rel=1e-13)
    assert g.traces == 2


def test_variants_are_bounded():
    f = ad.jit(lambda x: x if x > 0 else -x, max_variants=2)
    for x in (1.0, -1.0, 2.0, -3.0):
        assert f(np.float64(x)) == abs(x)
    assert f.variants() <= 2


def test_threads_share_a_jitted_function_safely(in_threads):
    g = ad.jit(ad.grad(tiny))
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1, 1, 3) for _ in range(200)]
    assert not in_threads(lambda x: np.allclose(g(x), ad.grad(tiny)(x), rtol=1e-13), xs)


def test_values_that_decide_nothing_new_are_precise_guards_not_retraces():
    """argmax, one-argument np.where, softmax's shift, a 0-norm: a replay holds wherever
    they give the same result, not only at the values traced."""
    fns = {
        "argmax": lambda x: x[np.argmax(x)] * np.sum(x),
        "where": lambda x: np.sum(x[np.where(x > 0.0)] ** 2),
        "softmax": lambda x: np.sum(ad.numpy.softmax(x) * np.arange(4.0)),
        "0-norm": lambda x: np.linalg.norm(x, 0) * np.sum(x),
        "full_like": lambda x: np.sum(np.full_like(x, x[0]) * x),
    }
    rng = np.random.default_rng(5)
    for name, f in fns.items():
        jf, jg = ad.jit(f), ad.jit(ad.grad(f))
        for _ in range(4):
            x = np.array([3.0, -1.0, 0.5, 2.0]) + 0.1 * rng.uniform(size=4)  # same argmax
            np.testing.assert_allclose(jf(x), f(x), rtol=1e-13, err_msg=name)
            np.testing.assert_allclose(jg(x), ad.grad(f)(x), rtol=1e-13, err_msg=name)
        assert (jf.traces, jg.traces) == (1, 1), name


def test_a_function_that_retraces_on_every_call_is_named_in_a_warning():
    f = ad.jit(lambda x: x * concrete(x[0]))  # a guard on the value of x[0]
    with pytest.warns(ad.errors.RetraceWarning, match=r"value_of\(v"):
        for k in range(12):
            x = np.full(2, 1.0 + k)
            np.testing.assert_array_equal(f(x), x * x[0])  # still right every time
    assert f.traces == 12


def test_a_traced_graph_replayed_off_its_path_raises_instead_of_answering():
    def f(x):
        return np.sqrt(x) if x > 0 else -x

    g = ad.trace(f, 4.0)
    assert g(9.0) == 3.0  # the same branch: a plain replay
    with pytest.raises(ad.errors.GuardError, match=r"greater\(v0, 0\)"):
        g(-1.0)  # the other branch: no sqrt(-1), no answer from the wrong path
    assert ad.reverse.gradient(g, 4.0) == 0.25
    with pytest.raises(ad.errors.GuardError):
        ad.reverse.gradient(g, -1.0)
    mask = ad.trace(lambda x: np.sum(np.where(x > 0, x, 0.0)), np.array([1.0, -1.0]))
    assert mask(np.array([2.0, -3.0])) == 2.0
    with pytest.raises(ad.errors.GuardError):
        mask(np.array([-2.0, 3.0]))


def test_a_replay_on_its_path_that_fails_raises_the_real_error_not_a_guard_error():
    def f(x):
        A = x.reshape(2, 2)
        return np.sum(np.linalg.inv(A)) if np.sum(x) > 0 else np.sum(A)

    g = ad.trace(f, np.array([2.0, 0.0, 0.0, 1.0]))
    with pytest.raises(ad.errors.SingularMatrixError):
        g(np.array([1.0, 1.0, 1.0, 1.0]))  # the same branch, a singular matrix
    with pytest.raises(ad.errors.GuardError):
        g(np.array([-1.0, 0.0, 0.0, -1.0]))  # the other branch
