"""The cost model: hand-counted small graphs, the mode choice, the explanation."""

import numpy as np
import pytest

import ad
from ad import cost
from ad.ir import GraphBuilder

TEXTBOOK = {k: dict(cost.TEXTBOOK) for k in cost.KINDS}


def scalar_graph(n):
    """n scalar inputs, added up by n - 1 scalar adds, then sin: T = n nodes, m = 1."""
    b = GraphBuilder()
    xs = [b.input(()) for _ in range(n)]
    acc = xs[0]
    for x in xs[1:]:
        acc = b.apply("add", acc, x)
    return b.build(b.apply("sin", acc))


def test_estimate_counts_a_small_graph_by_hand():
    est = cost.estimate(scalar_graph(3), calibration=TEXTBOOK)
    assert (est.n, est.m, est.nodes, est.work) == (3, 1, 3, 3.0)
    assert est.jvp == pytest.approx(2.5)  # f0 + f1 = 1 + 1.5 per unit of work
    assert est.vjp == pytest.approx(4.0)  # r0 + r1 = 1.5 + 2.5
    assert est.chunk_forward == 3 and est.chunk_reverse == 1
    assert est.jacobian_forward == pytest.approx(1 + 1.5 * 3)  # one sweep of 3 directions
    assert est.jacobian_reverse == pytest.approx(4.0)  # one adjoint sweep
    assert est.mode == "reverse"


def test_work_of_a_matmul_is_its_flop_count():
    g = ad.trace(lambda A, x: A @ x, np.ones((4, 3)), np.ones(3))
    (e,) = [e for e in g.eqns if e.prim.name == "matmul"]
    assert cost.kind(e) == "matmul" and cost.work(e) == 2 * 4 * 3


@pytest.mark.parametrize("n, m, mode", [(1000, 1, "reverse"), (1, 1000, "forward")])
def test_auto_picks_the_right_mode_at_the_extremes(n, m, mode):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, n))
    f = lambda x: np.tanh(A @ x)
    assert cost.choose_mode(ad.trace(f, np.ones(n))) == mode
    J = ad.jacobian(f, mode="auto")(np.ones(n) * 0.01)
    np.testing.assert_allclose(J, (1 - np.tanh(A @ (np.ones(n) * 0.01)) ** 2)[:, None] * A)


def test_explain_answers_the_seminars_question():
    text = cost.explain(lambda x: np.sum(np.sin(x)), np.ones(50))
    assert "n = 50 inputs, m = 1 outputs" in text
    assert "choose reverse mode" in text and "tape" in text


def test_peer_rules():
    assert cost.RULES["adolc"](10, 6) == "forward" and cost.RULES["adolc"](10, 4) == "reverse"
    assert cost.RULES["casadi"](10, 5) == "forward" and cost.RULES["casadi"](10, 4) == "reverse"
