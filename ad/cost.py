"""Cost model: which mode would you choose for this graph?

The seminar's question, answered from the Graph. Every equation has a *kind*
(scalar, elementwise, structural, matmul, linalg) and a *work* (entries touched, or
flops for matrix products and factorisations). A sweep costs, per equation,

    forward sweep with p directions:    w_e * (f0[kind] + f1[kind] * p) + overhead
    reverse (record + q adjoints):      w_e * (r0[kind] + r1[kind] * q) + overhead

in units of one primal evaluation's per-work cost, and a full Jacobian costs
ceil(n / p) forward sweeps or ceil(m / q) reverse sweeps. The constants come from a
calibration that the benchmark measures (``python -m bench calibrate`` writes
``ad/cost_calibration.json``); without one, Griewank and Walther's textbook ratios are
used (one tangent ~ 2.5 x f, p tangents 1 + 1.5 p, one adjoint ~ 4 x f, q adjoints
1.5 + 2.5 q; Evaluating Derivatives, 2nd ed., ch. 4).

For comparison, ``RULES`` holds the rules peers use: CasADi weighs reverse as twice
forward (``ad_weight`` 0.33: forward when 0.33 n <= 0.67 m), ADOL-C runs forward when
n / 2 < m.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ad.engine import pick_chunk
from ad.errors import GraphError
from ad.ir import Eqn, Graph

CALIBRATION = Path(__file__).with_name("cost_calibration.json")

#: Textbook constants (Griewank & Walther, ch. 4), used when no calibration is present.
TEXTBOOK = {"f0": 1.0, "f1": 1.5, "r0": 1.5, "r1": 2.5, "overhead": 0.0}

KINDS = ("scalar", "elementwise", "structural", "matmul", "linalg")
_LINALG = {
    "inv",
    "solve",
    "det",
    "slogdet",
    "cholesky",
    "eigh",
    "svd",
    "svdvals",
    "eigvalsh",
    "adjugate",
}


def kind(e: Eqn) -> str:
    """The cost kind of an equation."""
    name = e.prim.name
    if name == "matmul":
        return "matmul"
    if name in _LINALG:
        return "linalg"
    if name in ("gather", "scatter_add"):
        return "structural"
    if all(v.size == 1 for v in e.outputs):
        return "scalar"
    return "elementwise"


def work(e: Eqn) -> float:
    """Work of one equation: entries touched, or flops of a matrix operation."""
    name = e.prim.name
    if name == "matmul":
        a, b = e.inputs[0].shape, e.inputs[1].shape
        rows = a[-2] if len(a) >= 2 else 1
        cols = b[-1] if len(b) >= 2 else 1
        batch = math.prod(a[:-2]) if len(a) > 2 else 1
        return 2.0 * batch * rows * a[-1] * cols
    if name in _LINALG:
        nmax = max(max(v.shape[-2:], default=1) for v in e.inputs)
        return float(nmax) ** 3
    return float(max([v.size for v in e.inputs + e.outputs] + [1]))


def load_calibration(path: Path | None = None) -> dict[str, dict[str, float]]:
    """Per-kind constants from the calibration file, or the textbook ones."""
    path = path or CALIBRATION
    if path.exists():
        data = json.loads(path.read_text())
        return {k: {**TEXTBOOK, **data.get("kinds", {}).get(k, {})} for k in KINDS}
    return {k: dict(TEXTBOOK) for k in KINDS}


@dataclass(frozen=True)
class CostEstimate:
    """Predicted costs, in units of one primal evaluation (``primal`` = 1)."""

    n: int
    m: int
    nodes: int
    work: float
    chunk_forward: int
    chunk_reverse: int
    jvp: float
    vjp: float
    jacobian_forward: float
    jacobian_reverse: float
    tape_bytes: int
    mode: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sweeps(graph: Graph, consts: dict[str, dict[str, float]], p: int, q: int):
    primal = fwd = rev = 0.0
    for e in graph.eqns:
        c = consts[kind(e)]
        w = work(e)
        primal += w
        fwd += w * (c["f0"] + c["f1"] * p) + c["overhead"]
        rev += w * (c["r0"] + c["r1"] * q) + c["overhead"]
    primal = max(primal, 1.0)
    return fwd / primal, rev / primal, primal


def _tape_bytes(graph: Graph) -> int:
    try:
        from ad import reverse

        return int(reverse.tape_bytes(graph))
    except (ImportError, AttributeError, GraphError):  # not lowerable: count values only
        return 8 * sum(v.size for v in graph.variables())


def estimate(graph: Graph, chunk: int | None = None, calibration: Any = None) -> CostEstimate:
    """Predicted cost of one JVP, one VJP and the full Jacobian by each mode.

    Costs are in units of one primal sweep; ``chunk`` fixes p = q (``None``: the
    engines' default rule). Example::

        ad.cost.estimate(ad.trace(f, x)).mode        # "forward" or "reverse"
    """
    consts = calibration if isinstance(calibration, dict) else load_calibration(calibration)
    n, m = graph.n_in, graph.n_out
    p = chunk or pick_chunk(n)
    q = chunk or pick_chunk(m)
    jvp1, vjp1, total = _sweeps(graph, consts, 1, 1)
    fwd_p, _, _ = _sweeps(graph, consts, p, 1)
    _, rev_q, _ = _sweeps(graph, consts, 1, q)
    jac_f = math.ceil(n / p) * fwd_p
    jac_r = math.ceil(m / q) * rev_q
    return CostEstimate(
        n=n,
        m=m,
        nodes=len(graph.eqns),
        work=total,
        chunk_forward=p,
        chunk_reverse=q,
        jvp=jvp1,
        vjp=vjp1,
        jacobian_forward=jac_f,
        jacobian_reverse=jac_r,
        tape_bytes=_tape_bytes(graph),
        mode="forward" if jac_f <= jac_r else "reverse",
    )


def choose_mode(graph: Graph, chunk: int | None = None) -> str:
    """ "forward" or "reverse": the mode the model predicts is cheaper for the Jacobian."""
    return estimate(graph, chunk).mode


#: Mode-choice rules of peers, as functions of (n, m), for the benchmark's regret table.
RULES: dict[str, Callable[[int, int], str]] = {
    "casadi": lambda n, m: "forward" if 0.33 * n <= 0.67 * m else "reverse",
    "adolc": lambda n, m: "forward" if n / 2 < m else "reverse",
}


def explain(f_or_graph: Any, *args: Any, chunk: int | None = None) -> str:
    """A short answer to "which mode would you choose?" for a function or a Graph.

    Example::

        print(ad.cost.explain(lambda x: A @ x, np.ones(100)))
    """
    from ad.trace import trace

    graph = f_or_graph if isinstance(f_or_graph, Graph) else trace(f_or_graph, *args)
    est = estimate(graph, chunk)
    other = "reverse" if est.mode == "forward" else "forward"
    best, worst = sorted([est.jacobian_forward, est.jacobian_reverse])
    ratio = worst / best if best > 0 else float("inf")
    why = (
        f"forward needs ceil(n/p) = {math.ceil(est.n / est.chunk_forward)} sweeps of "
        f"{est.chunk_forward} directions, reverse ceil(m/q) = "
        f"{math.ceil(est.m / est.chunk_reverse)} sweeps of {est.chunk_reverse} adjoints"
    )
    return "\n".join(
        [
            f"n = {est.n} inputs, m = {est.m} outputs, T = {est.nodes} nodes (work {est.work:.3g})",
            f"full Jacobian, in primal evaluations: forward {est.jacobian_forward:.3g}, "
            f"reverse {est.jacobian_reverse:.3g}",
            f"one JVP {est.jvp:.3g} x f, one VJP (gradient) {est.vjp:.3g} x f; "
            f"reverse-mode tape {est.tape_bytes:,} bytes",
            f"choose {est.mode} mode: {ratio:.3g}x cheaper than {other} ({why})",
        ]
    )
