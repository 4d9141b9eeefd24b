"""The forward sweep with its fused groups interpreted and compiled into loops of their
own (``ad.kernels.specialise``), on the ``sparse`` bench's problems.

Usage: ``python -m bench.micro.specialise [n]`` (default n = 10^4; pinned to one core,
best of 7 repeats of 50 sweeps each; the same inputs and seeds for both, and the
outputs' values and partials checked equal). The sweep alone: no seeding, no reading
of the results.
"""

from __future__ import annotations

import sys
import timeit

from bench.machine import pin_cpu


def _sweep_times(variant: str, n: int, widths: tuple[int, ...]) -> list[str]:
    import numpy as np

    from ad.kernels import run, specialise
    from ad.kernels.sweeps import forward_sweep
    from ad.sparse import api as sparse_api
    from bench.problems import sparse as problems

    pr = problems.make(n, n, 0, seed=0, variant=variant)
    if pr.notes["kind"] == "hessian":
        G = sparse_api.hessian_plan(pr.graph, pr.args).grad_graph
    else:
        G = pr.notes["jacobian_graph"]
    prog = run.compile(G)
    outs = np.concatenate([np.arange(o, o + k) for o, k, _ in prog.outputs])
    lines = []
    for p in widths:
        ws = prog.acquire()
        prog.load(ws, list(pr.args))
        P = ws.duals("forward", p)
        P[:] = np.random.default_rng(p).random(P.shape)
        plan = specialise.ForwardPlan(prog, p)

        def interpreted(P=P, ws=ws):
            args = (prog.ops, prog.ptr, prog.code, prog.pool, prog.act)
            forward_sweep(*args, ws.values, P, ws.work, run.NO_UNIT)

        def compiled(P=P, ws=ws, plan=plan):
            plan.run(prog, ws.values, P, ws.work, run.NO_UNIT)

        results = []
        for fn in (interpreted, compiled):
            fn()
            results.append((ws.values[outs].copy(), P[outs].copy()))
        same = all(np.allclose(a, b, rtol=1e-13, atol=0) for a, b in zip(*results))
        t = [min(timeit.repeat(fn, number=50, repeat=7)) / 50 for fn in (interpreted, compiled)]
        lines.append(
            f"{variant:20s} p={p:2d}  groups {plan.groups}  interpreted {t[0] * 1e6:7.1f} us  "
            f"compiled {t[1] * 1e6:7.1f} us  ({t[0] / t[1]:.2f}x)  equal: {same}"
        )
        prog.release(ws)
    return lines


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 10_000
    core = pin_cpu()  # before NumPy is imported
    print(f"forward sweep at n = {n}, pinned to core {core}")
    for variant in ("banded3", "banded11", "laplace2d", "rosenbrock_hessian"):
        size = round(n**0.5) ** 2 if variant == "laplace2d" else n
        for line in _sweep_times(variant, size, (1, 3, 5)):
            print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
