"""The cost model: hand-counted small graphs, the calibration file, the mode choice, the
explanation, the calibration fit and the evaluation against a results table."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import ad
from ad import cost
from ad.ir import GraphBuilder


def calibration(c=1.0, **overheads):
    """Textbook ratios, c seconds per unit of work for every kind, given overheads (else 0)."""
    kinds = {k: {"c": c, **cost.TEXTBOOK} for k in cost.KINDS}
    over = {k: overheads.get(k, 0.0) for k in cost.TEXTBOOK_OVERHEADS}
    return cost.Calibration(kinds, over, "test")


def scalar_graph(n):
    """n scalar inputs, added up by n - 1 scalar adds, then sin: T = n nodes, m = 1."""
    b = GraphBuilder()
    xs = [b.input(()) for _ in range(n)]
    acc = xs[0]
    for x in xs[1:]:
        acc = b.apply("add", acc, x)
    return b.build(b.apply("sin", acc))


# -- counts and hand-computed estimates ------------------------------------------------


def test_estimate_counts_a_small_graph_by_hand():
    est = cost.estimate(scalar_graph(3), calibration=calibration())
    assert (est.n, est.m, est.nodes, est.work) == (3, 1, 3, 3.0)
    assert est.primal_s == pytest.approx(3.0)  # 3 scalar ops of work 1, c = 1
    assert est.jvp == pytest.approx(2.5)  # f0 + f1 = 1 + 1.5 per unit of work
    assert est.vjp == pytest.approx(4.0)  # r0 + r1 = 1.5 + 2.5
    assert est.chunk_forward == 3 and est.chunk_reverse == 1
    assert est.jacobian_forward == pytest.approx(1 + 1.5 * 3)  # one sweep of 3 directions
    # reverse: the recording (1 x f) once, then one adjoint sweep (r0 - 1 + r1 = 3)
    assert est.jacobian_reverse == pytest.approx(4.0)
    assert est.mode == "reverse"


def test_overheads_by_hand_flip_the_choice_on_a_tiny_graph():
    cal = calibration(
        call_primal=10,
        call_forward=20,
        call_reverse=30,
        call_jacobian=40,
        fill=1,
        seed=0.5,
        entry=0.25,
    )
    est = cost.estimate(scalar_graph(3), calibration=cal)  # 6 slots: 3 inputs, 3 results
    assert est.primal_s == pytest.approx(10 + 3)
    assert est.jvp_s == pytest.approx(20 + 3 * 2.5 + 0.5 * (3 + 1))
    assert est.vjp_s == pytest.approx(30 + 3 + 3 * 3.0 + 1 * 6 + 0.5 * 4)
    # forward: 1 sweep of p = 3: call + 3 (1 + 1.5 * 3) + seed (n + m) p; + assembly
    assert est.jacobian_forward_s == pytest.approx(40 + 0.25 * 3 + 20 + 16.5 + 0.5 * 4 * 3)
    # reverse: assembly + recording + 1 adjoint sweep (call + work + fill + seed)
    assert est.jacobian_reverse_s == pytest.approx(40 + 0.25 * 3 + 3 + 30 + 9 + 6 + 2)
    assert est.mode == "forward"  # the reverse sweep's fixed costs outweigh 3 directions


def test_array_instructions_and_inactive_equations_are_counted():
    b = GraphBuilder()
    x = b.input((4,))
    c = b.const(np.arange(4.0))
    s = b.apply("sin", c)  # depends on no input: computed, never differentiated
    g = b.build(b.apply("mul", x, s))
    cnt = cost.counts(g)
    assert cnt.work["elementwise"] == 8.0 and cnt.active_work["elementwise"] == 4.0
    assert (cnt.array_instructions, cnt.active_array_instructions) == (2, 1)
    # adjoint rows: x, the product, and the fused group's scratch for sin(c) (4 each);
    # the tape adds c and sin(c)'s own slots (inactive)
    assert cnt.slots == 3 * 4 and cnt.tape_bytes == 8 * 5 * 4
    cal = calibration(i_primal=100.0, i_forward=200.0, i_reverse=300.0)
    est = cost.estimate(g, calibration=cal)
    assert est.primal_s == pytest.approx(8 + 2 * 100)
    # forward with p = 1: the inactive sin at primal cost 4, mul at 4 (1 + 1.5)
    assert est.jvp_s == pytest.approx(4 + 4 * 2.5 + 2 * 200)
    # VJP: recording (8 + 200) + adjoint of the active mul only: 4 (0.5 + 2.5) + 300
    assert est.vjp_s == pytest.approx(8 + 200 + 4 * 3.0 + 300)


def test_kinds_and_work_come_from_the_instruction_table():
    def counted(f, *args):
        cnt = cost.counts(ad.trace(f, *args))
        return {k: v for k, v in cnt.work.items() if v}

    A = np.ones((4, 3))
    assert counted(lambda x: A @ x, np.ones(3)) == {"matmul": 2 * 4 * 3}
    assert counted(np.sin, np.ones(4)) == {"elementwise": 4}
    assert counted(np.sum, np.ones(4)) == {"structural": 4}  # the entries summed
    assert counted(lambda x: x[0] + x[1], np.ones(4)) == {"scalar": 1}  # x[i]: aliases
    assert counted(lambda x: x.T, np.ones((2, 3))) == {"structural": 6}  # a strided move
    assert counted(np.linalg.inv, np.eye(5) * 2) == {"linalg": 125}


def test_terms_are_the_estimate_written_as_a_linear_form():
    g = ad.trace(lambda x: np.tanh(np.ones((6, 5)) @ x), np.ones(5))
    cal = cost.load_calibration()
    theta = cost.linear(cal)
    cnt = cost.counts(g)
    est = cost.estimate(g, calibration=cal)
    for target, width, want in [
        ("primal", 1, est.primal_s),
        ("jvp", 1, est.jvp_s),
        ("vjp", 1, est.vjp_s),
        ("jacobian_forward", est.chunk_forward, est.jacobian_forward_s),
        ("jacobian_reverse", est.chunk_reverse, est.jacobian_reverse_s),
    ]:
        got = sum(theta[k] * v for k, v in cost.terms(cnt, target, width).items())
        assert got == pytest.approx(want)
    back = cost.linear(cost.from_linear(theta))
    assert all(back[k] == pytest.approx(theta[k]) for k in cost.LINEAR)


@pytest.mark.parametrize("target", ["jvp", "vjp"])
def test_a_sweeps_line_is_the_prediction_at_every_width(target):
    g = ad.trace(lambda x: np.tanh(np.ones((6, 5)) @ x) * x[:1], np.ones(5))
    cnt, cal = cost.counts(g), calibration(c=1e-9, call_forward=3e-6, seed=1e-9, fill=2e-9)
    a, b = cost.sweep_line(cnt, target, cost.linear(cal))
    for width in (0, 1, 3, 32):
        assert a + b * width == pytest.approx(cost.predict(cnt, target, width, cal), rel=1e-12)
    with pytest.raises(ValueError, match="'jvp' or 'vjp'"):
        cost.sweep_line(cnt, "primal", cost.linear(cal))


def test_the_linear_parameters_are_the_callers_to_change():
    cal = calibration(c=2.0)
    theta = cost.linear(cal)
    theta["c.matmul"] = -1.0  # the caller's copy: the next reading is unchanged
    assert cost.linear(cal)["c.matmul"] == 2.0
    assert cost.linear(calibration(c=3.0))["c.matmul"] == 3.0  # another calibration
    assert cost.linear(cal)["c.matmul"] == 2.0  # and back: the last one read is replaced


def test_the_programs_tally_is_each_instructions_work_summed():
    """``counts`` sums what validation tallied per instruction kind: the same as the
    table's work expression evaluated for every instruction on its own."""
    from ad.kernels import run, table

    b = GraphBuilder()
    x = b.input((3,))
    c = b.const(np.arange(12.0).reshape(4, 3))
    s = b.apply("sin", c)  # depends on no input: computed, never differentiated
    y = b.apply("tanh", b.apply("matmul", s, x))
    A = np.ones((4, 3))
    g1 = b.build(b.apply("mul", y, y))
    g2 = ad.trace(
        lambda x: (
            np.sum(np.sin(A @ x) * x[0]) + np.linalg.inv(np.outer(x, x) + 3 * np.eye(3))[0, 1]
        ),
        np.ones(3),
    )
    partly_active = []
    for g in (g1, g2):
        prog = run.compile(g)
        want: dict[str, list[float]] = {}
        for i, op in enumerate(prog.ops.tolist()):
            ins = table.INSTRUCTIONS[op]
            row = prog.code[prog.ptr[i] : prog.ptr[i + 1]]
            env = {f.name: int(v) for f, v in zip(ins.fields, row) if f.kind == "int"}
            work = float(eval(ins.work, {"min": min, "max": max}, env))  # noqa: S307
            got = want.setdefault(ins.name, [0.0, 0.0, 0, 0])
            active = bool(prog.act[i] & 1)
            got[0] += work
            got[1] += work * active
            got[2] += 1
            got[3] += active
        assert {k: list(v) for k, v in prog.tally.items()} == want
        partly_active.append(any(v[1] < v[0] for v in want.values()))
    assert partly_active[0]  # sin(c) runs, inactive: counted in the work, not the active work


def test_chunk_is_capped_at_the_number_of_seeds():
    est = cost.estimate(scalar_graph(3), chunk=8, calibration=calibration())
    assert (est.chunk_forward, est.chunk_reverse) == (3, 1)
    assert (est.sweeps_forward, est.sweeps_reverse) == (1, 1)


# -- the calibration file --------------------------------------------------------------


def test_a_calibration_made_by_the_user_is_read_from_its_path(tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    monkeypatch.setenv(cost.CALIBRATION_ENV, str(path))
    assert cost.calibration_path() == path
    assert cost.load_calibration().source == "textbook"  # not made yet
    path.write_text(json.dumps({"kinds": {"matmul": {"c": 3e-10}}, "revision": "abc"}))
    cal = cost.load_calibration()
    assert cal.source == str(path) and cal.kinds["matmul"]["c"] == 3e-10
    assert cal.meta["revision"] == "abc"
    monkeypatch.delenv(cost.CALIBRATION_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert cost.calibration_path() == tmp_path / "admodes" / "cost_calibration.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")  # the path follows HOME too (built once per value)
    for home in (tmp_path / "a", tmp_path / "b"):
        monkeypatch.setenv("HOME", str(home))
        assert cost.calibration_path() == home / ".config" / "admodes" / "cost_calibration.json"


def test_calibration_file_is_read_and_missing_entries_fall_back(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(
        json.dumps({"kinds": {"scalar": {"c": 2e-8, "f1": 0.25}}, "overheads": {"fill": 1e-9}})
    )
    cal = cost.load_calibration(path)
    assert cal.kinds["scalar"]["c"] == 2e-8 and cal.kinds["scalar"]["f1"] == 0.25
    assert cal.kinds["scalar"]["f0"] == cost.TEXTBOOK["f0"]  # not in the file
    assert cal.kinds["matmul"] == cost.textbook().kinds["matmul"]
    assert cal.overheads["fill"] == 1e-9
    assert cal.overheads["call_primal"] == cost.TEXTBOOK_OVERHEADS["call_primal"]
    est = cost.estimate(scalar_graph(2), calibration=path)
    assert est.calibration == str(path)
    assert est.primal_s == pytest.approx(cost.TEXTBOOK_OVERHEADS["call_primal"] + 2 * 2e-8)


def test_textbook_constants_without_a_calibration_file(tmp_path, monkeypatch):
    monkeypatch.setenv(cost.CALIBRATION_ENV, str(tmp_path / "absent.json"))
    cal = cost.load_calibration()
    assert cal.source == "textbook"
    assert all(cal.kinds[k]["f1"] == 1.5 and cal.kinds[k]["r1"] == 2.5 for k in cost.KINDS)
    est = cost.estimate(scalar_graph(4))
    assert est.calibration == "textbook"


# -- the choice --------------------------------------------------------------------------


@pytest.mark.parametrize("n, m, mode", [(1000, 1, "reverse"), (1, 1000, "forward")])
def test_auto_picks_the_right_mode_at_the_extremes(n, m, mode, monkeypatch, tmp_path):
    monkeypatch.setenv(cost.CALIBRATION_ENV, str(tmp_path / "absent.json"))
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, n))
    f = lambda x: np.tanh(A @ x)
    assert cost.choose_mode(ad.trace(f, np.ones(n))) == mode
    J = ad.jacobian(f, mode="auto")(np.ones(n) * 0.01)
    np.testing.assert_allclose(J, (1 - np.tanh(A @ (np.ones(n) * 0.01)) ** 2)[:, None] * A)


def test_explain_answers_the_seminars_question():
    text = cost.explain(lambda x: np.sum(np.sin(x)), np.ones(50))
    assert "n = 50 inputs, m = 1 outputs, T = 2 nodes" in text
    assert "choose reverse mode" in text and "tape" in text and "bytes" in text
    assert "ceil(n/p) = 1 sweep of 50 directions" in text
    assert "ceil(m/q) = 1 adjoint sweep of 1 cotangent" in text


def test_explain_quotes_the_estimate(monkeypatch, tmp_path):
    monkeypatch.setenv(cost.CALIBRATION_ENV, str(tmp_path / "absent.json"))
    g = scalar_graph(3)
    est = cost.estimate(g)
    text = cost.explain(g)
    assert f"({est.jacobian_forward:.3g} x f, no tape)" in text
    assert f"tape {est.tape_bytes:,} bytes" in text and "constants: textbook" in text


def test_peer_rules():
    from bench.costmodel import RULES

    assert RULES["adolc"](10, 6) == "forward" and RULES["adolc"](10, 4) == "reverse"
    assert RULES["casadi"](10, 5) == "forward" and RULES["casadi"](10, 4) == "reverse"


# -- the calibration fit (bench.calibrate) ---------------------------------------------


def test_fit_recovers_the_timings_of_a_known_model():
    from bench import calibrate

    truth = cost.load_calibration()
    graphs = {
        "scalar": scalar_graph(12),
        "vec": ad.trace(lambda x: np.tanh(np.sin(x) * x), np.ones(20)),
        "mv": ad.trace(lambda x: np.ones((30, 7)) @ x, np.ones(7)),
        "sum": ad.trace(lambda x: x[::-1].reshape(4, 5).sum(axis=1), np.ones(20)),
        "inv": ad.trace(np.linalg.inv, np.eye(4) * 3),
    }
    rows = []
    for name, g in graphs.items():
        cnt = cost.counts(g)
        for target in cost.TARGETS:
            for width in (1, 3, 8):
                feats = cost.terms(cnt, target, width)
                row = {"problem": name, "mode": target, "chunk": width}
                row["median_s"] = cost.predict(cnt, target, width, truth)
                row.update({f"x:{k}": feats.get(k, 0.0) for k in cost.LINEAR})
                rows.append(row)
    df = pd.DataFrame(rows)
    theta, pred = calibrate.fit(df)
    np.testing.assert_allclose(pred, df["median_s"], rtol=0.02)
    assert all(v >= 0 for v in theta.values())


# -- the evaluation against a results table (bench.costmodel) ---------------------------


def _row(problem, mode, n, m, chunk, t):
    return {
        "problem": problem,
        "engine": "compiled",
        "mode": mode,
        "n": n,
        "m": m,
        "T": 1,
        "seed": 0,
        "chunk": chunk,
        "median_s": t,
        "sweeps": "ratio",
    }


def test_costmodel_accuracy_regret_and_worst_cell():
    from bench import costmodel

    df = pd.DataFrame(
        [
            # n = 100, m = 1: reverse is much faster, as every rule says
            _row("linear", "jac_fwd", 100, 1, 12, 2e-4),
            _row("linear", "jac_rev", 100, 1, 1, 4e-5),
            # n = 1, m = 100: forward measured faster
            _row("linear", "jac_fwd", 1, 100, 1, 3e-5),
            _row("linear", "jac_rev", 1, 100, 12, 3e-4),
            _row("linear", "jac_rev", 1, 100, 1, 9e-4),  # chunk 1: not the default row
            # n = 200, m = 3: measured forward faster (made up): every rule misses it
            _row("linear", "jac_fwd", 200, 3, 12, 1e-4),
            _row("linear", "jac_rev", 200, 3, 3, 1.5e-4),
            _row("linear", "primal", 200, 3, 1, 1e-6),  # other modes are ignored
        ]
    )
    res = costmodel.evaluate(df, calibration=cost.textbook())
    t = res["cells"].set_index(["n", "m"])
    assert list(t["winner"]) == ["forward", "reverse", "forward"]  # sorted (1,100),(100,1),(200,3)
    assert list(t["predicted"]) == ["forward", "reverse", "reverse"]
    assert t.loc[(1, 100), "rev_s"] == 3e-4 and t.loc[(1, 100), "chunk_rev"] == 12
    assert res["accuracy"] == pytest.approx(2 / 3)
    assert t.loc[(200, 3), "regret_ours"] == pytest.approx(1.5)
    reg = res["regret"].set_index("rule")
    assert reg.loc["ours", "max_regret"] == pytest.approx(1.5)
    assert reg.loc["ours", "within_10pct"] == pytest.approx(2 / 3)
    assert reg.loc["ours", "worst_cell"] == "linear n=200 m=3 T=1"
    assert reg.loc["adolc", "right_winner"] == pytest.approx(2 / 3)  # 200/2 < 3 is false
    assert res["boundary"] is None  # no random grid in the table
    assert list(res["misses"]["n"]) == [200]
    text = costmodel.markdown(res)
    assert "67 %" in text and "linear n=200 m=3 T=1" in text


def test_predicted_boundary_flips_where_the_model_says():
    from bench import costmodel

    cal = cost.textbook()
    b = costmodel.boundary(T=300, seed=0, ms=[4], calibration=cal)
    n = int(b["n_flip"].iloc[0])
    assert b["n_over_m"].iloc[0] == pytest.approx(n / 4)
    assert costmodel.predicted_fwd_over_rev(n, 4, 300, 0, calibration=cal) > 1
    assert costmodel.predicted_fwd_over_rev(n - 1, 4, 300, 0, calibration=cal) <= 1
    assert math.isfinite(n) and 1 < n < 150
