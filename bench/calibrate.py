"""``python -m bench.calibrate``: measure the cost model's constants on this machine.

Times small graphs of every cost kind (:data:`ad.cost.KINDS`) with the compiled
engines, through the benchmark's own machinery (:class:`bench.tools.Ours` prepares
the cases, :func:`bench.timing.run` times them with pytest-benchmark, the process
pinned to one core as ``python -m bench`` does; four passes, the lowest median of
each case kept), then fits the linear parameters of :func:`ad.cost.terms` by
non-negative least squares in relative error and writes the file
``ad.cost.calibration_path()`` names (``$AD_COST_CALIBRATION``, or
``~/.config/admodes/cost_calibration.json``), which the library reads from then on
(machine, versions, git revision and CPU/wall share of each pass recorded, with every
measured case and its fitted prediction). About a minute; the limit is three.

The calibration graphs (none of them is a cell of the benchmark grid):

- ``tiny``: one scalar ``sin``: the fixed cost of every call;
- ``scalar``: random scalar Wengert lists (:func:`bench.problems.random.random_graph`,
  seed 101) of 300 to 6000 operations, n and m from 1 to 24;
- ``elementwise``: 16 vector ops (sin, mul, add, tanh) on vectors of 4 to 128 entries;
- ``structural``: 8 permutations (gathers) of a vector, then a row sum (scatter_add);
- ``matmul``: a constant matrix times an input vector (r x s from 4 x 16 to 96 x 96)
  and an input matrix times a constant one;
- ``linalg``: the inverse of k x k input matrices, k = 3, 6, 10;
- ``fill``: one ``sin`` beside an unused constant of 2e4 or 2e5 entries (its slots are
  zeroed before every adjoint sweep: the ``fill`` constant).

Each graph is timed as primal, JVP, VJP and both Jacobians (default chunk, and chunk 1
where n or m <= 16); every call takes under about a millisecond, so that on a core
shared with other work most pytest-benchmark rounds fit in one time slice. Example::

    .venv/bin/python -m bench.calibrate            # writes ~/.config/admodes/cost_calibration.json
    .venv/bin/python -m bench.calibrate --out /tmp/cal.json --cpu 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.machine import pin_cpu

if TYPE_CHECKING:  # numerical imports wait until the process is pinned
    import numpy as np
    import pandas as pd

    from ad.ir import Graph
    from bench.problems.base import Problem

#: Seed of every calibration graph (the benchmark grid uses seed 0).
SEED = 101
#: Benchmark modes -> the model's targets (:data:`ad.cost.TARGETS`).
TARGET = {
    "primal": "primal",
    "jvp": "jvp",
    "vjp": "vjp",
    "jac_fwd": "jacobian_forward",
    "jac_rev": "jacobian_reverse",
}


def _problem(name: str, graph: Graph, args: tuple[np.ndarray, ...]) -> Problem:
    """Wrap a calibration graph as a benchmark Problem (so bench.tools can prepare it)."""
    import numpy as np

    from bench.problems.base import Problem

    def f(*xs: np.ndarray) -> Any:
        return graph(*xs)

    return Problem(
        family=name,
        n=graph.n_in,
        m=graph.n_out,
        T=len(graph),
        seed=SEED,
        graph=graph,
        f=f,
        args=tuple(np.asarray(a, dtype=np.float64) for a in args),
    )


def problems(quick: bool = False) -> list[Problem]:
    """The calibration graphs (see the module docstring); ``quick``: a subset for tests."""
    import numpy as np

    import ad
    from ad.ir import GraphBuilder
    from bench.problems.random import random_graph

    rng = np.random.default_rng(SEED)
    out = []

    b = GraphBuilder()
    x = b.input(())
    out.append(_problem("tiny", b.build(b.apply("sin", x)), (np.float64(0.3),)))

    shapes = [(1, 1, 300), (4, 4, 1000), (16, 2, 3000), (2, 16, 3000), (6, 6, 6000)]
    shapes += [(24, 3, 6000), (3, 24, 6000)]
    for n, m, T in shapes[:2] if quick else shapes:
        g = random_graph(n, m, T, SEED)
        out.append(_problem(f"scalar-{n}x{m}x{T}", g, (rng.uniform(-1, 1, n),)))

    def chain(x: Any) -> Any:
        y = x
        for _ in range(4):
            y = np.tanh(np.sin(y) * x + x)
        return y

    for s in (4,) if quick else (4, 32, 128):
        x0 = rng.uniform(-1, 1, s)
        out.append(_problem(f"elementwise-{s}", ad.trace(chain, x0), (x0,)))

    for s in (16,) if quick else (16, 256):
        perms = [rng.permutation(s) for _ in range(8)]

        def shuffle(x: Any, perms: list = perms, s: int = s) -> Any:
            for p in perms:
                x = x[p]
            return x.reshape(s // 4, 4).sum(axis=1)

        x0 = rng.standard_normal(s)
        out.append(_problem(f"structural-{s}", ad.trace(shuffle, x0), (x0,)))

    mv = [(4, 16), (16, 4), (64, 64), (192, 24), (24, 192), (96, 96)]
    for r, s in mv[:3] if quick else mv:
        A = rng.standard_normal((r, s))
        x0 = rng.standard_normal(s)
        out.append(_problem(f"matvec-{r}x{s}", ad.trace(lambda x, A=A: A @ x, x0), (x0,)))
    for k in () if quick else (4, 8):
        B = rng.standard_normal((k, k))
        X0 = rng.standard_normal((k, k))
        out.append(_problem(f"matmat-{k}", ad.trace(lambda X, B=B: X @ B, X0), (X0,)))

    for k in (3,) if quick else (3, 6, 10):
        X0 = rng.standard_normal((k, k)) + k * np.eye(k)
        out.append(_problem(f"linalg-inv-{k}", ad.trace(np.linalg.inv, X0), (X0,)))

    for size in (20_000,) if quick else (20_000, 200_000):
        b = GraphBuilder()
        x = b.input((8,))
        b.const(np.zeros(size))  # never read: only its slots count
        g = b.build(b.apply("sin", x))
        out.append(_problem(f"fill-{size}", g, (rng.uniform(-1, 1, 8),)))
    return out


def prepare(probs: list[Problem]) -> list[Any]:
    """Every problem's cases (compiled engine; chunk 1 as well where n or m <= 16)."""
    from bench.tools import Ours

    tool = Ours("compiled")
    cases = []
    for pb in probs:
        small = max(pb.n, pb.m) <= 16 and max(pb.n, pb.m) > 1
        chunks = (None, 1) if small else (None,)
        cases += tool.cases(pb, ("primal", "jvp", "vjp", "jac_fwd", "jac_rev"), chunks, None)
    return cases


def table(probs: list[Problem], cases: list[Any], stats: dict[str, dict]) -> pd.DataFrame:
    """One row per timed case: key, median seconds and the model's terms (features)."""
    import pandas as pd

    from ad import cost

    graphs = {pb.family: pb.graph for pb in probs}
    rows = []
    for c in cases:
        k = c.key
        feats = cost.terms(cost.counts(graphs[k["problem"]]), TARGET[k["mode"]], int(k["chunk"]))
        s = stats[c.id]
        row = {key: k[key] for key in ("problem", "mode", "n", "m", "T", "chunk")}
        row.update(median_s=s["median"], spread=s["spread"])
        row.update({f"x:{name}": feats.get(name, 0.0) for name in cost.LINEAR})
        rows.append(row)
    return pd.DataFrame(rows)


def fit(df: pd.DataFrame) -> tuple[dict[str, float], pd.Series]:
    """Non-negative least squares of ``median_s`` on the terms, in relative error.

    Returns (theta: the linear parameters of :func:`ad.cost.terms`, the predictions).
    Parameters that no case exercises keep their textbook values.
    """
    import numpy as np
    import pandas as pd
    from scipy.optimize import nnls

    from ad import cost

    names = list(cost.LINEAR)
    X = df[[f"x:{n}" for n in names]].to_numpy(dtype=float)
    y = df["median_s"].to_numpy(dtype=float)
    prior = cost.linear(cost.textbook())
    used = np.abs(X).sum(axis=0) > 0
    w = 1.0 / y
    Xw = X[:, used] * w[:, None]
    # columns scaled to unit norm: the parameters span 1e-10 .. 1e-5 s
    scale = np.linalg.norm(Xw, axis=0)
    scale[scale == 0] = 1.0
    sol, _ = nnls(Xw / scale, y * w, maxiter=50 * Xw.shape[1])
    theta = dict(prior)
    theta.update({n: float(v) for n, v in zip(np.array(names)[used], sol / scale)})
    pred = X @ np.array([theta[n] for n in names])
    return theta, pd.Series(pred, index=df.index)


def _meta(cpu: int, settings: Any, seconds: float, df: pd.DataFrame) -> dict[str, Any]:
    from bench import machine

    rel = (df["predicted_s"] / df["median_s"] - 1.0).abs()
    return {
        "format": 1,
        "written_by": "python -m bench.calibrate",
        "machine": {**machine.machine_info(), "pinned_cpu": cpu},
        "versions": machine.versions(),
        "revision": machine.git_revision(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "timing": {
            k: getattr(settings, k)
            for k in ("min_time", "max_time", "min_rounds", "warmup_iterations")
        },
        "fit": {
            "cases": len(df),
            "seconds": round(seconds, 1),
            "median_abs_rel_error": round(float(rel.median()), 4),
            "p90_abs_rel_error": round(float(rel.quantile(0.9)), 4),
            "max_abs_rel_error": round(float(rel.max()), 4),
        },
    }


def measure(
    cases: list[Any], settings: Any, passes: int, log: Path
) -> tuple[dict[str, dict], list[float]]:
    """Time every case ``passes`` times (pytest-benchmark; the order reversed on every
    other pass) and keep, per case, the pass with the lowest median: on a shared machine
    other work only ever adds time, so the lowest median is the least disturbed one.

    Also returns each pass's CPU time / wall time (1.0: the pinned core was ours alone).
    """
    from bench import timing

    best: dict[str, dict] = {}
    shares = []
    for k in range(passes):
        order = cases if k % 2 == 0 else cases[::-1]
        w0, c0 = time.perf_counter(), time.process_time()
        stats = timing.run(order, settings, log=log)
        wall = time.perf_counter() - w0
        shares.append(round((time.process_time() - c0) / wall, 3))
        for cid, s in stats.items():
            s["spread"] = s["iqr"] / s["median"] if s["median"] > 0 else float("nan")
            if cid not in best or s["median"] < best[cid]["median"]:
                best[cid] = s
        print(f"  pass {k + 1}/{passes}: {len(order)} cases, {wall:.0f} s, CPU/wall {shares[-1]}")
    return best, shares


#: Timing passes per case (the lowest median of them is kept).
PASSES = 4


def calibrate(
    out: Path, cpu: int, quick: bool = False, log: Path | None = None, passes: int = PASSES
) -> dict:
    """Measure, fit and write ``out`` (JSON); return what was written.

    Call with the process already pinned (:func:`bench.machine.pin_cpu`).
    """
    import tempfile

    from ad import cost
    from bench import sweep, timing

    t0 = time.perf_counter()
    # short rounds (0.2 ms): a time slice lost to another process spoils few of them
    settings = timing.Settings(min_time=2e-4, max_time=0.04, min_rounds=5, warmup_iterations=5)
    probs = problems(quick)
    cases = prepare(probs)
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        stats, shares = measure(cases, settings, passes, log or Path(tmp) / "pytest.log")
    df = table(probs, cases, stats)
    theta, pred = fit(df)
    df["predicted_s"] = pred
    cal = cost.from_linear(theta)
    meta = _meta(cpu, settings, time.perf_counter() - t0, df)
    meta["timing"].update(passes=passes, cpu_over_wall=shares)
    data = {
        **meta,
        **cal.as_dict(),
        "cases": [
            {
                "graph": r.problem,
                "mode": r.mode,
                "chunk": int(r.chunk),
                "median_s": float(f"{r.median_s:.4g}"),
                "predicted_s": float(f"{r.predicted_s:.4g}"),
            }
            for r in df.itertuples()
        ],
    }
    sweep.write_atomic(out, json.dumps(data, indent=1) + "\n")
    return data


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bench.calibrate``."""
    p = argparse.ArgumentParser(
        prog="python -m bench.calibrate",
        description="Measure the cost model's constants; write the file the library reads.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output JSON (default: the file the library reads, ad.cost.calibration_path())",
    )
    p.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    p.add_argument("--quick", action="store_true", help="a few graphs only (tests)")
    p.add_argument("--passes", type=int, default=PASSES, help=f"timing passes ({PASSES})")
    p.add_argument("--log", type=Path, default=None, help="pytest-benchmark's output")
    return p


def main(argv: list[str] | None = None) -> int:
    """Pin, calibrate, print a summary; return 0 (2 on a usage error)."""
    p = parser()
    args = p.parse_args(argv)
    try:
        cpu = pin_cpu(args.cpu)
    except ValueError as err:
        p.error(str(err))
    if args.passes < 1:
        p.error("--passes must be at least 1")
    if args.out is None:
        from ad import cost  # after pinning

        args.out = cost.calibration_path()
    data = calibrate(args.out, cpu, args.quick, args.log, args.passes)
    fitq = data["fit"]
    print(
        f"calibrated on cpu {cpu}: {fitq['cases']} cases in {fitq['seconds']} s; "
        f"|predicted / measured - 1|: median {fitq['median_abs_rel_error']:.1%}, "
        f"90th percentile {fitq['p90_abs_rel_error']:.1%}, max {fitq['max_abs_rel_error']:.1%}"
    )
    for k, c in data["kinds"].items():
        print(
            f"  {k:<12} c = {c['c']:.3g} s/work  f0 = {c['f0']:.3g}  f1 = {c['f1']:.3g}  "
            f"r0 = {c['r0']:.3g}  r1 = {c['r1']:.3g}"
        )
    print("  overheads: " + ", ".join(f"{k} = {v:.3g}" for k, v in data["overheads"].items()))
    if min(data["timing"]["cpu_over_wall"]) < 0.9:
        print("warning: the pinned core was shared with other work (CPU/wall < 0.9)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
