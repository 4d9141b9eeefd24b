"""Issues 11 and 12 in the benchmark: the hand-written NumPy peers, the user-call rows
(``ad``, ``ad.jit``, autograd), the RSS memory measurement, the CPU-time timer, and the
report sections, on tiny cells."""

import time

import numpy as np
import pandas as pd
import pytest

import ad
from bench import problems, report, sweep, timing
from bench.problems import logistic
from bench.tools import Case

REF = "reference"


def _ad_jacobian(p):
    return np.reshape(ad.reverse.jacobian(p.graph, p.args[0], engine=REF), (p.m, p.n))


@pytest.mark.parametrize("n", [2, 7, 50])
def test_rosenbrock_hand_gradient_and_hessian_equal_ad(n):
    p = problems.make("rosenbrock", n, 1, 0, seed=3)
    x = p.args[0]
    np.testing.assert_allclose(
        p.hand["gradient"](x), ad.reverse.gradient(p.graph, x, engine=REF), rtol=1e-10, atol=1e-10
    )
    G = ad.reverse.gradient_graph(p.graph, x)
    H = ad.forward.jacobian(G, x, engine=REF)
    np.testing.assert_allclose(p.hand["hessian"](x), H, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n,m", [(3, 7), (7, 3), (5, 5), (1, 4)])
def test_mlp_hand_chain_equals_ad_in_either_order(n, m):
    p = problems.make("mlp", n, m, 0, seed=1)
    assert p.notes["hand_jacobian"] == ("input side first" if n < m else "output side first")
    np.testing.assert_allclose(
        p.hand["jacobian"](p.args[0]), _ad_jacobian(p), rtol=1e-10, atol=1e-10
    )


def test_linear_hand_jacobian_is_a_copy_of_A():
    p = problems.make("linear", 6, 4, 0, seed=0)
    J = p.hand["jacobian"](p.args[0])
    np.testing.assert_allclose(J, _ad_jacobian(p), rtol=1e-12, atol=1e-12)
    J[0, 0] += 1.0  # a fresh array: changing it leaves the problem alone
    np.testing.assert_allclose(p.hand["jacobian"](p.args[0]), _ad_jacobian(p), atol=1e-12)


@pytest.mark.parametrize("variant,n", [("quadratic", 6), ("cubic_norm", 6), ("trace_inv", 9)])
def test_seminar_closed_forms_equal_ad(variant, n):
    p = problems.make(f"seminar:{variant}", n, 1, 0, seed=2)
    x = p.args[0]
    g = ad.reverse.gradient(p.graph, x, engine=REF)
    np.testing.assert_allclose(p.hand["gradient"](x), g, rtol=1e-10, atol=1e-10)
    if "hessian" in p.hand:
        H = ad.forward.jacobian(ad.reverse.gradient_graph(p.graph, x), x, engine=REF)
        np.testing.assert_allclose(p.hand["hessian"](x), H, rtol=1e-10, atol=1e-10)


def test_small_is_the_seven_node_f_and_its_gradient():
    p = problems.make("small", 3, 1, 0, seed=0)
    assert len(p.graph) == 7
    assert {e.prim.name for e in p.graph.eqns} == {"gather", "sin", "tanh", "mul"}
    np.testing.assert_allclose(
        p.hand["gradient"](p.args[0]), ad.grad(p.f, engine=REF)(p.args[0]), rtol=1e-12
    )


def test_logistic_gradient_and_descent_equal_ad():
    p = problems.make("logistic", 20, 1, 0, seed=0)
    w = np.linspace(-0.3, 0.3, 20)
    np.testing.assert_allclose(
        p.hand["gradient"](w), ad.grad(p.f, engine=REF)(w), rtol=1e-10, atol=1e-12
    )
    hand = logistic.descend(p.hand["gradient"], p.args[0], 50)
    ours = logistic.descend(ad.grad(p.f, engine=REF), p.args[0], 50)
    np.testing.assert_allclose(ours, hand, rtol=0, atol=1e-10)
    assert np.abs(hand).max() > 1e-2  # the loop moved the weights
    assert p.f(hand) < p.f(p.args[0])


def test_other_libraries_compute_the_same_f():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    cells = [("rosenbrock", 9, 1), ("mlp", 5, 3), ("small", 3, 1), ("logistic", 20, 1)]
    cells += [("seminar:cubic_norm", 6, 1), ("seminar:trace_inv", 9, 1), ("linear", 4, 3)]
    for family, n, m in cells:
        p = problems.make(family, n, m, 0, seed=1)
        x = p.args[0] + 0.1
        np.testing.assert_allclose(np.asarray(p.jax_f(x)), p.f(x), rtol=1e-10)
        try:
            import autograd  # noqa: F401
        except ImportError:
            continue
        np.testing.assert_allclose(p.ag_f(x), p.f(x), rtol=1e-10)


# --- the rows, on the tiny grid ------------------------------------------------------

ENGINES = ["reference", "jax", "numpy", "api", "autograd"]
#: A deliberate subset of ``bench.families.FAMILIES``: the families whose rows these
#: tests read (random, linear and sparse would only lengthen the tiny sweep).
PEER_FAMILIES = ["mlp", "rosenbrock", "seminar", "small", "logistic"]


def _sweep(out, monkeypatch, jit: bool):
    if jit:  # a throwaway stand-in for the planned ad.jit: the transformation itself
        monkeypatch.setattr(ad, "jit", lambda fun, static_argnums=(): fun, raising=False)
    else:
        monkeypatch.delattr(ad, "jit", raising=False)
    df = sweep.sweep(out, PEER_FAMILIES, ENGINES, "tiny", timing.TINY, 0)
    report.write_report(out / "results.csv", out)
    return df, (out / "README.md").read_text()


@pytest.fixture(scope="module")
def without_jit(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        return _sweep(tmp_path_factory.mktemp("nojit"), mp, jit=False)


@pytest.fixture(scope="module")
def with_jit(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        return _sweep(tmp_path_factory.mktemp("jit"), mp, jit=True)


def _modes(df, engine, problem=None):
    d = df[df["engine"] == engine]
    if problem is not None:
        d = d[d["problem"] == problem]
    return set(d["mode"])


def test_new_rows_are_there_and_correct(without_jit):
    df, _ = without_jit
    assert list(df.columns) == sweep.COLUMNS
    assert {"primal", "grad", "hessian", "gd"} <= _modes(df, "numpy")
    assert _modes(df, "numpy", "mlp") == {"primal", "jac"}
    assert {"grad", "hessian", "hvp", "gd"} <= _modes(df, "ad")
    assert {"grad", "hessian", "hvp", "gd"} <= _modes(df, "autograd")
    assert {"grad", "hessian", "hvp", "gd"} <= _modes(df, "jax")
    assert {"grad", "jac", "hessian", "hvp", "gd"} <= _modes(df, "reference")
    timed = df[df["available"].astype(bool)]
    assert (timed["median_s"] > 0).all() and timed["timed"].str.len().gt(10).all()
    deriv = timed[timed["mode"].isin(["grad", "jac", "hessian", "hvp"])]
    assert (deriv["error"].dropna() < 1e-8).all() and deriv["error"].notna().sum() > 20
    gd = timed[timed["mode"] == "gd"]
    assert set(gd["engine"]) >= {"reference", "jax", "numpy", "ad", "autograd"}
    assert (gd["error"] < 1e-10).all() and (gd["calls"] == 20).all()
    np.testing.assert_allclose(gd["per_call_s"], gd["median_s"] / 20)
    prim = timed[(timed["engine"] == "reference") & (timed["mode"] == "primal")]
    assert prim["ratio_to_numpy_f"].notna().all()
    auto = timed[(timed["engine"] == "reference") & (timed["mode"] == "jac")]
    assert auto["detail"].str.startswith("auto: ").all()
    # CPU time / wall time: about 1 on a core of its own (more if a peer runs threads)
    assert (timed["cpu_share"] > 0).all() and timed["timer"].notna().all()


def test_ad_jit_rows_wait_for_ad_jit(without_jit):
    df, text = without_jit
    jit = df[df["engine"] == "ad.jit"]
    assert len(jit) and not jit["available"].astype(bool).any()
    assert jit["median_s"].isna().all()
    assert {"primal", "grad", "hessian", "hvp", "gd"} <= set(jit["mode"])
    assert "ad.jit` is not available at this revision" in text
    assert "n/a (ad.jit not available at this revision)" in text


def test_ad_jit_rows_are_timed_once_ad_jit_exists(with_jit):
    df, text = with_jit
    jit = df[df["engine"] == "ad.jit"]
    assert len(jit) and jit["available"].astype(bool).all()
    assert (jit["median_s"] > 0).all() and (jit["error"].dropna() < 1e-8).all()
    rows = [ln for ln in text.splitlines() if ln.startswith("| 12 |")]
    measured = [  # targets whose cells the tiny grid has (n = 1000 and 100 it has not)
        "7-node f, per call",
        "ad.jit(ad.grad(rosenbrock)) / prebuilt gradient",
        "descent loop, ad.jit(ad.grad) per step",
        "descent loop: final weights",
    ]
    for what in measured:
        line = [ln for ln in rows if what in ln]
        assert line and "n/a" not in line[0], (what, line)
    assert all(ln.count("|") == 6 for ln in rows)  # well-formed table rows
    assert any("PASS" in ln and "final weights" in ln for ln in rows)


def test_report_sections(without_jit):
    _, text = without_jit
    for title in (
        "### Targets of issues 11 and 12",
        "### Array programs beside NumPy and JAX",
        "### What a user pays per call",
        "### What each timed call includes",
        "## Spread",
        "cpu_share",
    ):
        assert title in text, title
    assert "| 11 | prebuilt gradient / NumPy f, rosenbrock (worst n) | <= 3 |" in text
    assert "| 12 | ad.grad(f)(x) un-jitted, 7-node f, per call [us] | <= 100 us |" in text
    assert "hand chain" in text and "jax.jit(hessian)" in text


# --- memory and timing ---------------------------------------------------------------


def test_rss_peak_sees_a_large_temporary_array():
    from bench.memory import peak_of

    size = 80 * 2**20
    peak, reset = peak_of(lambda: np.ones(size // 8).sum())
    assert reset
    assert 0.8 * size <= peak <= 1.5 * size
    small, _ = peak_of(lambda: np.ones(1000).sum())
    assert small < 0.1 * size


def test_memory_child_measures_both_calls_in_a_fresh_process():
    pytest.importorskip("jax")
    from bench.memory import measure

    for engine, mode in (("numpy", "jac"), ("jax", "jac_rev")):
        got = measure("mlp", 64, 64, 0, 0, engine, mode)
        assert "rss_error" not in got, got
        assert got["rss_peak_bytes"] >= 0 and got["rss_steady_bytes"] >= 0
        assert "fresh process" in got["rss_method"]


def test_cpu_timer_does_not_count_time_off_the_core():
    """A case that sleeps 2 ms: the wall clock sees it, the process's CPU time does not
    (the same holds while another process runs on the pinned core)."""
    case = Case(
        {"problem": "sleep", "engine": "x", "mode": "primal", "n": 1, "m": 1, "T": 0, "chunk": 1},
        lambda: time.sleep(0.002),
    )
    wall = timing.run([case], timing.TINY)[case.id]
    cpu = timing.run([case], timing.Settings(1e-5, 0.005, 3, 1, timer=timing.CPU_TIMER))[case.id]
    assert wall["median"] > 1.5e-3
    assert cpu["median"] < 0.5e-3
    assert 0 <= cpu["cpu_share"] < 0.5  # it slept most of the time


def test_disturbed_cases_are_measured_again():
    quiet = {"spread": 0.02, "cpu_share": 0.99}
    noisy = {"spread": 0.2, "cpu_share": 0.99}
    shared = {"spread": 0.02, "cpu_share": 0.6}
    assert not sweep.disturbed(quiet) and sweep.disturbed(noisy)
    assert not sweep.disturbed(shared)  # recorded, not repeated: the spread decides


def test_rows_of_an_unavailable_case_have_no_timing():
    case = Case(
        {"problem": "p", "engine": "ad.jit", "mode": "grad", "n": 1, "m": 1, "T": 0, "chunk": 1},
        None,
        {"detail": "not available"},
    )
    rows = sweep.rows_of([case], {}, {"grid": "tiny"})
    assert rows[0]["available"] is False and "median_s" not in rows[0]
    df = pd.DataFrame(rows)
    assert df["per_call_s"].isna().all()
