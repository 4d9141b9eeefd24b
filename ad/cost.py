"""Cost model: predicted cost of the forward and the reverse Jacobian of a Graph.

First version: operation counts only. A full Jacobian costs ceil(n / p) forward
sweeps or ceil(m / q) reverse sweeps; with Griewank and Walther's textbook ratios
(tangent sweep ~ 2.5 x f, adjoint sweep incl. recording ~ 4 x f, vector modes
1 + 1.5 p and 1.5 + 2.5 q) the cheaper mode is chosen.
"""

from __future__ import annotations

import math

from ad.engine import pick_chunk
from ad.ir import Graph


def choose_mode(graph: Graph, chunk: int | None = None) -> str:
    """ "forward" or "reverse", whichever the model predicts is cheaper for the Jacobian."""
    n, m = graph.n_in, graph.n_out
    p = chunk or pick_chunk(n)
    q = chunk or pick_chunk(m)
    fwd = math.ceil(n / p) * (1 + 1.5 * p)
    rev = math.ceil(m / q) * (1.5 + 2.5 * q)
    return "forward" if fwd <= rev else "reverse"
