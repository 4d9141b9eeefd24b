"""The ``sparse`` family and its tool: closed forms, the grid, every column's cases,
and the report section computed from a results table."""

import numpy as np
import pandas as pd
import pytest

import ad
from bench import grid, problems, sparse_report
from bench.problems import sparse as family
from bench.sparse_tools import SparseTool, sparse_error


@pytest.mark.parametrize("variant", family.VARIANTS)
def test_closed_forms_match_ad(variant):
    p = problems.make(f"sparse:{variant}", 64, 64, 0, 2)
    x = p.args[0]
    J = ad.forward.jacobian(p.notes["jacobian_graph"], x)
    np.testing.assert_allclose(p.notes["sparse_jacobian"](x).toarray(), J, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(p.graph(x), p.f(x), rtol=1e-13)
    assert p.jacobian is None and p.notes["tools"] == ("sparse",)
    if variant == "rosenbrock_hessian":
        np.testing.assert_allclose(p.notes["residual"](x), ad.grad(p.f)(x), rtol=1e-12)
        assert p.m == 1
    else:
        assert p.m == p.n


def test_laplace_needs_a_square_and_variants_are_checked():
    with pytest.raises(ValueError, match="k\\^2"):
        problems.make("sparse:laplace2d", 50, 50, 0, 0)
    with pytest.raises(ValueError, match="unknown sparse variant"):
        problems.make("sparse:bogus", 50, 50, 0, 0)
    assert family.sizes("laplace2d", [100, 1000, 10_000]) == [100, 1024, 10_000]


def test_every_grid_has_every_variant():
    for kind in ("full", "quick", "tiny"):
        cells = grid.cells(kind, ["sparse"])["sparse"]
        assert {c.family for c in cells} == {f"sparse:{v}" for v in family.VARIANTS}
    full = grid.cells("full", ["sparse"])["sparse"]
    assert {c.n for c in full if c.family == "sparse:banded3"} == {
        100,
        316,
        1000,
        3162,
        10_000,
        100_000,
    }


def test_sparse_error_is_adbench_error():
    a = np.array([[1.0, 0.0], [0.0, 4.0]])
    assert sparse_error(a, __import__("scipy").sparse.csr_array(a)) == 0.0
    b = a.copy()
    b[1, 1] = 5.0
    assert sparse_error(b, __import__("scipy").sparse.csr_array(a)) == pytest.approx(1 / 9)


def test_the_tool_prepares_every_column_with_small_errors():
    p = problems.make("sparse:rosenbrock_hessian", 30, 1, 0, 0)
    cases = SparseTool().cases(p, (), (None,), None)
    got = {(c.key["engine"], c.key["mode"]) for c in cases}
    ours = {
        "primal",
        "detect",
        "detect_color",
        "plan",
        "jac_fwd",
        "jac_rev",
        "jac_cfwd",
        "jac_crev",
        "jac_auto",
    }
    assert {("compiled", m) for m in ours | {"sweep_cfwd", "hess_star"}} <= got
    assert {("jax", "primal"), ("jax", "jac_fwd"), ("scipy", "jac_fd")} <= got
    for c in cases:
        err = c.info.get("error")
        if err is not None and c.key["engine"] != "scipy":
            assert err < 1e-12, c.id
        c.fn()  # every case runs again (what the timer does)
    assert all(
        not c.key["problem"].startswith("sparse")
        for c in SparseTool().cases(problems.make("linear", 4, 4, 0, 0), (), (None,), None)
    )
    auto = next(c for c in cases if c.key["mode"] == "jac_auto")
    assert auto.info["choice"] in ("forward", "reverse", "colored_forward", "colored_reverse")


def _fake_rows():
    rows = []
    for v, f_s, jac, plan in (("banded3", 1e-4, 5e-4, 1e-3), ("laplace2d", 1e-4, 2e-3, 3e-3)):
        n = 10_000

        def add(engine, mode, t, **kw):
            rows.append(
                {
                    "problem": f"sparse:{v}",
                    "engine": engine,
                    "mode": mode,
                    "n": n,
                    "median_s": t,
                    "ratio_to_f": t / f_s,
                    **kw,
                }
            )

        add("compiled", "primal", f_s)
        add("compiled", "detect", plan / 3)
        add("compiled", "detect_color", plan * 0.8)
        add("compiled", "plan", plan)
        add("compiled", "jac_fwd", 1.0)
        add("compiled", "jac_rev", 1.2)
        add("compiled", "jac_cfwd", jac, colors=3, colors_bound=3, nnz=3 * n)
        add("compiled", "jac_crev", jac * 1.3, colors=3, colors_bound=3, nnz=3 * n)
        add("compiled", "jac_auto", jac, choice="colored_forward", nnz=3 * n)
        add("compiled", "sweep_cfwd", jac / 2)
        add("asdex", "jac_sparse", jac * 2, colors=3)
        add("scipy", "jac_fd", jac * 9, colors=5)
    return pd.DataFrame(rows)


def test_report_section_computes_the_issue_figures():
    text = sparse_report.section(_fake_rows())
    assert "jac_auto: 5" in text and "<= 10: PASS" in text  # banded: 5 x f
    assert "jac_auto: 20" in text and "<= 15: FAIL" in text  # laplace: 20 x f
    assert "<= 20: PASS" in text  # detection + colouring 8 x f and 24 x f
    assert "<= 20: FAIL" in text
    assert "| 10 |" in text and "| 30 |" in text  # the whole plan: beside the target
    assert "100 % of 2 cells" in text
    assert "PASS for 'faster than every peer" in text
    assert "| banded3 | 10000 | 30000 | 3 / 3 (1x) |" in text


def test_figure_is_drawn(tmp_path):
    path = sparse_report.fig_sparse(_fake_rows(), tmp_path)
    assert path.exists() and path.stat().st_size > 1000
    assert sparse_report.fig_sparse(pd.DataFrame({"problem": ["linear"]}), tmp_path) is None


def _auto_cell(choice, colors, auto_s, n=1000):
    """One arrowhead-like cell: coloured forward fastest, the dense forward slower."""
    rows = [
        {"engine": "compiled", "mode": "jac_fwd", "median_s": 2.0, "n": n, "m": n},
        {"engine": "compiled", "mode": "jac_rev", "median_s": 3.0, "n": n, "m": n},
        {
            "engine": "compiled",
            "mode": "jac_cfwd",
            "median_s": 1.0,
            "colors": colors,
            "n": n,
            "m": n,
        },
        {"engine": "compiled", "mode": "jac_crev", "median_s": 4.0, "colors": n, "n": n, "m": n},
        {
            "engine": "compiled",
            "mode": "jac_auto",
            "median_s": auto_s,
            "choice": choice,
            "n": n,
            "m": n,
        },
    ]
    d = pd.DataFrame(rows)
    d["variant"] = "arrowhead"
    return d


def test_auto_table_counts_a_dense_and_a_coloured_mode_with_as_many_colours_as_one():
    # one colour per column: forward and coloured forward run the same sweeps
    _, frac, frac10, cells = sparse_report.auto_table(_auto_cell("forward", 1000, 1.02))
    assert (frac, frac10, cells) == (1.0, 1.0, 1)
    # a real compression (3 colours): choosing dense forward is a miss, and slower
    _, frac, frac10, _ = sparse_report.auto_table(_auto_cell("forward", 3, 2.0))
    assert (frac, frac10) == (0.0, 0.0)
    # the time counted is the auto call's own, not the chosen mode's column
    _, frac, frac10, _ = sparse_report.auto_table(_auto_cell("colored_forward", 3, 1.5))
    assert (frac, frac10) == (1.0, 0.0)
