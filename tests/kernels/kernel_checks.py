"""The one comparison every kernel test goes through: compiled vs reference."""

from __future__ import annotations

from typing import Any

import numpy as np
from kernel_graphs import close

import ad
from ad import engine, reference


def widths(total: int) -> list[int]:
    """Chunk widths {1, n/3, n/2, n, n+1} (ForwardDiff's test set)."""
    return sorted({1, max(1, total // 3), max(1, total // 2), total, total + 1})


def check_against_reference(graph: ad.Graph, args: list[np.ndarray], seed: int = 0) -> None:
    """Primal, JVP, VJP and both Jacobians at every chunk width agree to 1e-12."""
    rng = np.random.default_rng(seed)
    env = reference.evaluate(graph, args)
    want = [env[v.id] for v in graph.outputs]
    got = graph(*args)
    close(got if graph.out_tree is not None else (got,), want)

    # JVP with p = 3 random directions, one input left None (a zero tangent)
    p = 3
    tans: list[Any] = [rng.standard_normal((p,) + v.shape) for v in graph.inputs]
    if len(tans) > 1:
        tans[-1] = None
    outs, touts = engine.run_jvp(graph, args, tans, "compiled")
    r_outs, r_touts = reference.jvp(graph, args, tans)
    close(outs, r_outs)
    for t, rt, v in zip(touts, r_touts, graph.outputs):
        close(
            np.zeros((p,) + v.shape) if t is None else t,
            np.zeros((p,) + v.shape) if rt is None else rt,
        )

    # VJP with q = 2 random cotangents
    q = 2
    cts = [rng.standard_normal((q,) + v.shape) for v in graph.outputs]
    outs, bars = engine.run_vjp(graph, args, cts, "compiled")
    _, r_bars = reference.vjp(graph, args, cts)
    for b, rb, v in zip(bars, r_bars, graph.inputs):
        close(
            np.zeros((q,) + v.shape) if b is None else b,
            np.zeros((q,) + v.shape) if rb is None else rb,
        )

    # full Jacobians at every chunk width, both modes
    J_ref = ad.forward.jacobian(graph, tuple(args), engine="reference")
    for c in widths(graph.n_in):
        close(ad.forward.jacobian(graph, tuple(args), chunk=c, engine="compiled"), J_ref)
    for c in widths(graph.n_out):
        close(ad.reverse.jacobian(graph, tuple(args), chunk=c, engine="compiled"), J_ref)
