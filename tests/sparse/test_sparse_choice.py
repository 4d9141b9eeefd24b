"""``mode="auto"`` colours the rows only when coloured reverse could win, and then
chooses exactly what the full comparison of the four modes chooses."""

import numpy as np
import pytest

import ad
from ad.sparse import api, choice, compress
from bench.problems import sparse as family


def fastest_of_all_four(plan):
    pred = choice.predict(plan)
    return min(choice.MODES, key=lambda k: (pred[k].seconds, choice.MODES.index(k)))


def wide_rows(rng):
    """Few outputs, each reading every input: reverse modes win."""
    A = rng.standard_normal((3, 300))
    return ad.trace(lambda x: np.tanh(A @ x), rng.standard_normal(300))


def stripes(rng):
    """A few dense rows over a diagonal: the row colouring's bound is low (2) while
    the column colours are many, so coloured reverse is a candidate."""
    n = 400

    def f(x):
        return np.concatenate([x[:5] * np.sum(x), np.sin(x[5:])])

    return ad.trace(f, rng.standard_normal(n))


GRAPHS = {
    **{
        v: (lambda rng, v=v: family.make(400, 400, 0, 1, v).notes["jacobian_graph"])
        for v in family.VARIANTS
    },
    "wide_rows": wide_rows,
    "stripes": stripes,
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_auto_chooses_what_comparing_all_four_modes_chooses(name, rng):
    g = GRAPHS[name](rng)
    fresh = api.JacobianPlan(g)
    chosen = choice.choose(fresh)
    assert chosen == fastest_of_all_four(api.JacobianPlan(g))


@pytest.mark.parametrize("variant", ["banded3", "laplace2d"])
def test_a_banded_jacobian_pays_one_colouring_on_its_first_call(variant):
    p = family.make(2025, 2025, 0, 0, variant)
    plan = api.JacobianPlan(p.notes["jacobian_graph"])
    assert plan.mode() == "colored_forward"
    assert "row" not in plan._colorings  # the row colouring could not have won
    assert "row_bound" not in vars(plan)  # settled by the mean count per column
    plan.coloring("row")  # explain and the explicit mode still colour on demand
    assert plan.mode() == "colored_forward"


def test_the_rows_are_coloured_where_coloured_reverse_could_win(rng):
    plan = api.JacobianPlan(wide_rows(rng))  # 3 outputs: dense reverse, no colouring
    assert plan.row_bound == 3 and plan.mode() == "reverse"
    plan = api.JacobianPlan(stripes(rng))  # 400 column colours against 6 row colours
    assert plan.row_bound == 6 and plan.mode() == "colored_reverse"
    assert plan.coloring("row").n_colors == 6


def test_a_plans_dense_modes_sweep_at_the_width_of_its_coloured_modes():
    """On the arrowhead every colouring has one colour per column (row): the dense
    and coloured modes are then the same sweeps, at the cache-bounded width."""
    g = family.make(400, 400, 0, 0, "arrowhead").notes["jacobian_graph"]
    plan = api.JacobianPlan(g)
    assert plan.coloring("column").n_colors == 400
    for dense, coloured, k in (
        ("forward", "colored_forward", 400),
        ("reverse", "colored_reverse", 400),
    ):
        width = plan.compression(dense).width
        assert width == plan.compression(coloured).width == compress.sweep_width(g, k)
    pred = choice.predict(plan)
    assert pred["forward"].seconds == pred["colored_forward"].seconds


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_sweep_costs_equal_the_cost_models_prediction_at_every_width(name):
    # SweepCosts reads each sweep's prediction as a line in its width: it must be the
    # cost model's own prediction (cost.predict) wherever the plan asks
    from ad import cost

    g = GRAPHS[name](np.random.default_rng(0))
    costs = choice.SweepCosts(g)
    cal, cnt = cost.load_calibration(), cost.counts(g)
    for kind, target in (("forward", "jvp"), ("reverse", "vjp")):
        for w in (1, 2, 3, 7, 32, 400):
            want = cost.predict(cnt, target, w, cal)
            assert costs(kind, w) == pytest.approx(want, rel=1e-12, abs=1e-18)
    assert costs("primal") == pytest.approx(cost.predict(cnt, "primal", 1, cal), rel=1e-12)
    for c in (1, 5, 400, 10**5):
        assert costs.width(c) == compress.sweep_width(g, c)
