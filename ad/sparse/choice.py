"""Which of the four Jacobian modes: forward, reverse, coloured forward, coloured reverse.

Each mode is a number of batched sweeps: dense forward n tangent directions, dense
reverse one recording and m adjoints, coloured forward c_col directions, coloured
reverse one recording and c_row adjoints, each in sweeps of the width
:func:`ad.sparse.compress.sweep_width` gives (all directions in one sweep while their
buffer stays in cache, else chunks of at most 32: on the arrowhead, whose colourings
have as many colours as columns, 32 per sweep ran 1.1-1.4x faster than the engines'
dense Jacobian at n = 100-3162, `make bench-sparse` at 16b90f3; at n = 10^4 the
engines' unit-seeded dense Jacobian was faster). The seconds of one sweep of a given
width come from the cost model of :mod:`ad.cost` (:class:`SweepCosts`, the one
place that reads it); reading the nonzeros back costs ``entry`` seconds each (the
cost model's constant for assembling a Jacobian entry). The mode with the smallest
prediction wins; :func:`explain` says why, with the colour counts.

CasADi makes the same choice between its two coloured modes from the colour counts
alone, weighting reverse as twice forward; here the weights are the calibrated
per-sweep costs of this graph, and the dense modes stay candidates (they win on small
dense Jacobians, where colouring buys nothing).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ad import cost
from ad.ir import Graph
from ad.sparse.compress import slots, sweep_width

MODES = ("forward", "reverse", "colored_forward", "colored_reverse")
LABEL = {
    "forward": "forward",
    "reverse": "reverse",
    "colored_forward": "coloured forward",
    "colored_reverse": "coloured reverse",
}


class SweepCosts:
    """Predicted seconds of one sweep of ``graph``: the cost model of :mod:`ad.cost`
    (calibration and the graph's work counts) read once per plan; the only place
    :mod:`ad.sparse` reads it.

    ``costs(kind, width)``: ``kind`` "forward" (one tangent sweep, call included),
    "reverse" (recording plus one adjoint sweep), "primal" (the recording alone),
    "entry" (assembling one nonzero). The model is affine in the width (its terms are
    per sweep or per direction), so each kind is read as a line
    (:func:`ad.cost.sweep_line`; tested against ``cost.predict`` at every width the
    plans use).
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self.calibration = cost.load_calibration()
        self.counts = cost.counts(graph)
        self.slots = slots(graph)
        theta = cost.linear(self.calibration)  # the model's linear parameters
        # a sweep's prediction is affine in its width: a + b * width
        self._lines = {
            "forward": cost.sweep_line(self.counts, "jvp", theta),
            "reverse": cost.sweep_line(self.counts, "vjp", theta),
        }
        self._primal = cost.predict(self.counts, "primal", 1, self.calibration, theta)

    def __call__(self, kind: str, width: int = 1) -> float:
        if kind == "entry":
            return float(self.calibration.overheads.get("entry", 2e-9))
        if kind == "primal":
            return self._primal
        a, b = self._lines[kind]
        return a + b * int(width)

    def width(self, directions: int) -> int:
        """Directions per sweep (:func:`ad.sparse.compress.sweep_width`)."""
        return sweep_width(self.graph, directions, n_slots=self.slots)


class Prediction(NamedTuple):
    """Predicted cost of one Jacobian mode: seconds, sweeps of ``width`` directions,
    the colours (n or m for the dense modes) and their lower bound."""

    mode: str
    seconds: float
    sweeps: int
    width: int
    colors: int
    lower_bound: int


def _mode(
    costs: SweepCosts, mode: str, colors: int, width: int, bound: int, nnz: int
) -> Prediction:
    sweeps = math.ceil(colors / width) if colors else 0
    read = nnz * costs("entry")
    full, last = divmod(colors, width)
    if mode.endswith("forward"):
        t = full * costs("forward", width) + (costs("forward", last) if last else 0.0)
    else:  # one recording, then adjoint sweeps over the same tape
        primal = costs("primal")
        adjoint = lambda q: costs("reverse", q) - primal
        t = primal + full * adjoint(width) + (adjoint(last) if last else 0.0)
    return Prediction(mode, t + read, sweeps, width, colors, bound)


def _colored(plan: Any, costs: SweepCosts, mode: str, colors: int, bound: int) -> Prediction:
    return _mode(costs, mode, colors, costs.width(colors), bound, plan.nnz)


def predict(plan: Any, costs: SweepCosts | None = None) -> dict[str, Prediction]:
    """Predicted seconds of each of the four modes for a :class:`~ad.sparse.api.JacobianPlan`."""
    costs = costs or SweepCosts(plan.graph)
    pred = _uncoloured_rows(plan, costs)
    row = plan.coloring("row")
    pred["colored_reverse"] = _colored(
        plan, costs, "colored_reverse", row.n_colors, row.lower_bound
    )
    return pred


def _uncoloured_rows(plan: Any, costs: SweepCosts) -> dict[str, Prediction]:
    """The predictions of the dense modes (n or m colours) and of the coloured forward
    mode."""
    n, m = plan.n, plan.m
    col = plan.coloring("column")
    return {
        "forward": _colored(plan, costs, "forward", n, n),
        "reverse": _colored(plan, costs, "reverse", m, m),
        "colored_forward": _colored(plan, costs, "colored_forward", col.n_colors, col.lower_bound),
    }


def _fastest(pred: dict[str, Prediction]) -> str:
    return min(pred, key=lambda k: (pred[k].seconds, MODES.index(k)))


def choose(plan: Any) -> str:
    """The mode predicted fastest (ties go to forward modes: no tape).

    The rows are coloured only if coloured reverse could win: its prediction with as
    many colours as a lower bound of the row colours bounds it from below, since more
    colours never cost less. The bound is first the mean number of nonzeros per column
    (no pass over the pattern), then, if that does not settle it, the most nonzeros in
    a column (:attr:`~ad.sparse.api.JacobianPlan.row_bound`). On a square banded or
    stencil Jacobian coloured reverse cannot win (reverse sweeps cost more than tangent
    sweeps of the same width), and a first call then pays one colouring, not two."""
    costs = SweepCosts(plan.graph)
    pred = _uncoloured_rows(plan, costs)

    def could_win(bound: int) -> bool:
        optimistic = _colored(plan, costs, "colored_reverse", bound, bound)
        return _fastest({**pred, "colored_reverse": optimistic}) == "colored_reverse"

    mean = -(-plan.nnz // max(plan.n, 1))  # the most in a column is at least the mean
    if could_win(mean) and could_win(plan.row_bound):
        pred = predict(plan, costs)
    return _fastest(pred)


def _seconds(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def explain_lines(plan: Any) -> list[str]:
    """The sparse part of ``ad.cost.explain``: pattern, colours, the four predictions,
    the choice and why."""
    best = choose(plan)
    pred = predict(plan)
    col, row = plan.coloring("column"), plan.coloring("row")
    dens = plan.nnz / max(plan.n * plan.m, 1)
    lines = [
        f"sparsity: {plan.nnz:,} nonzeros of {plan.m} x {plan.n} ({100 * dens:.3g} %); "
        f"column colours {col.n_colors} (lower bound {col.lower_bound}, the most nonzeros "
        f"in a row), row colours {row.n_colors} (lower bound {row.lower_bound}, the most "
        "in a column)",
    ]
    parts = []
    for k in MODES:
        p = pred[k]
        kind = "tangent" if k.endswith("forward") else "adjoint"
        rec = "" if k.endswith("forward") else "recording + "
        parts.append(
            f"{LABEL[k]} {_seconds(p.seconds)} ({rec}{p.sweeps} {kind} sweep"
            f"{'' if p.sweeps == 1 else 's'} of {p.width})"
        )
    lines.append("predicted Jacobian: " + "; ".join(parts))
    ranked = sorted(MODES, key=lambda k: pred[k].seconds)
    runner = ranked[1]
    ratio = pred[runner].seconds / pred[best].seconds if pred[best].seconds > 0 else math.inf
    why = {
        "colored_forward": f"{col.n_colors} column colours: the whole Jacobian from "
        f"{col.n_colors} tangent directions instead of n = {plan.n}",
        "colored_reverse": f"{row.n_colors} row colours: the whole Jacobian from "
        f"{row.n_colors} adjoints instead of m = {plan.m}",
        "forward": f"colouring saves little here (column colours {col.n_colors} of "
        f"n = {plan.n}, row colours {row.n_colors} of m = {plan.m})",
        "reverse": f"colouring saves little here (row colours {row.n_colors} of "
        f"m = {plan.m}, column colours {col.n_colors} of n = {plan.n})",
    }[best]
    lines.append(f"choose {LABEL[best]}: {ratio:.3g}x faster than {LABEL[runner]} ({why})")
    return lines
