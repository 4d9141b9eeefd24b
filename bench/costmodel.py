"""The cost model against the benchmark: predicted versus measured winners, and regret.

A function of the results table (``reports/results.csv`` as a DataFrame) and of
:mod:`ad.cost`: for every measured cell of the ``random``, ``linear`` and ``mlp``
grids (compiled engine), the full-Jacobian times by forward and by reverse mode at
the default chunk (``ad.engine.pick_chunk``, the chunks ``mode="auto"`` runs, which
``ad.cost.estimate`` reports), the measured winner, and the winner
``ad.cost.estimate`` predicts on the cell's Graph, rebuilt with the family's
``make(n, m, T, seed)``. From that table:

- accuracy: the fraction of cells where the predicted winner is the measured one;
- regret: t(mode a rule chooses) / t(better mode) per cell, for our model
  (``mode="auto"``), CasADi's rule and ADOL-C's rule (:data:`RULES`), with the
  fraction of cells within 10 % of the better mode and the worst cell named;
- the predicted boundary of the winner map: for the random family at its T and each
  m of its grid, the n (and n / m) where the predicted winner flips.

Example::

    .venv/bin/python -m bench.costmodel reports/results.csv
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ad import cost

#: The families the model is evaluated on (a subset of ``bench.families.FAMILIES``).
EVALUATED_FAMILIES = ("random", "linear", "mlp")

#: Mode-choice rules of peers, read from their sources (FACTS.md): CasADi weighs reverse
#: as twice forward (``ad_weight`` 0.33: forward when 0.33 n <= 0.67 m); ADOL-C's
#: ``jacobian()`` runs forward when n / 2 < m.
RULES: dict[str, Callable[[int, int], str]] = {
    "casadi": lambda n, m: "forward" if 0.33 * n <= 0.67 * m else "reverse",
    "adolc": lambda n, m: "forward" if n / 2 < m else "reverse",
}
#: A rule is "within 10 %" of the better mode when its regret is at most this.
WITHIN = 1.10
RULE_NAMES = ("ours", "casadi", "adolc")
#: Columns of :func:`cells`.
COLUMNS = [
    "problem",
    "n",
    "m",
    "T",
    "seed",
    "chunk_fwd",
    "chunk_rev",
    "fwd_s",
    "rev_s",
    "winner",
    "pred_fwd_s",
    "pred_rev_s",
    "predicted",
    "casadi",
    "adolc",
    "regret_ours",
    "regret_casadi",
    "regret_adolc",
    "fwd_over_rev",
]


def _graph(family: str, n: int, m: int, T: int, seed: int) -> Any:
    from bench import problems

    return problems.make(family, n, m, T, seed).graph


def _default_row(rows: pd.DataFrame, width: int) -> pd.Series | None:
    """The row timed at the default chunk ``width``; else the largest chunk."""
    if rows.empty:
        return None
    hit = rows[rows["chunk"] == width]
    if not hit.empty:
        return hit.iloc[0]
    return rows.loc[rows["chunk"].idxmax()]


def cells(
    df: pd.DataFrame,
    families: Sequence[str] = EVALUATED_FAMILIES,
    engine: str = "compiled",
    graph_of: Callable[[str, int, int, int, int], Any] | None = None,
    calibration: Any = None,
) -> pd.DataFrame:
    """One row per measured cell: measured and predicted Jacobian times and winners.

    Columns: problem, n, m, T, seed, chunk_fwd, chunk_rev, fwd_s, rev_s (measured
    medians), winner, pred_fwd_s, pred_rev_s, predicted, casadi, adolc (each rule's
    choice), regret_ours, regret_casadi, regret_adolc (time of the choice / time of the
    better mode), fwd_over_rev. ``graph_of(family, n, m, T, seed)`` builds a cell's
    Graph (default: the family's ``make``); ``calibration`` goes to ``ad.cost.estimate``.
    """
    graph_of = graph_of or _graph
    d = df[(df["engine"] == engine) & df["problem"].isin(families)]
    out = []
    for (problem, n, m, T, seed), g in d.groupby(["problem", "n", "m", "T", "seed"]):
        n, m, T, seed = int(n), int(m), int(T), int(seed)
        est = cost.estimate(graph_of(problem, n, m, T, seed), calibration=calibration)
        fwd = _default_row(g[g["mode"] == "jac_fwd"], est.chunk_forward)
        rev = _default_row(g[g["mode"] == "jac_rev"], est.chunk_reverse)
        if fwd is None or rev is None:
            continue
        t = {"forward": float(fwd["median_s"]), "reverse": float(rev["median_s"])}
        best = min(t.values())
        choice = {
            "ours": est.mode,
            "casadi": RULES["casadi"](n, m),
            "adolc": RULES["adolc"](n, m),
        }
        row = {
            "problem": problem,
            "n": n,
            "m": m,
            "T": T,
            "seed": seed,
            "chunk_fwd": int(fwd["chunk"]),
            "chunk_rev": int(rev["chunk"]),
            "fwd_s": t["forward"],
            "rev_s": t["reverse"],
            "winner": "forward" if t["forward"] <= t["reverse"] else "reverse",
            "pred_fwd_s": est.jacobian_forward_s,
            "pred_rev_s": est.jacobian_reverse_s,
            "predicted": est.mode,
            "casadi": choice["casadi"],
            "adolc": choice["adolc"],
        }
        for rule, mode in choice.items():
            row[f"regret_{rule}"] = t[mode] / best
        row["fwd_over_rev"] = t["forward"] / t["reverse"]
        out.append(row)
    return pd.DataFrame(out, columns=COLUMNS)


def accuracy(table: pd.DataFrame) -> float:
    """Fraction of cells where the predicted winner is the measured winner."""
    if table.empty:
        return float("nan")
    return float((table["predicted"] == table["winner"]).mean())


def cell_name(row: Any) -> str:
    """``random n=8 m=8 T=10000``: a cell, as the report names it."""
    return f"{row['problem']} n={int(row['n'])} m={int(row['m'])} T={int(row['T'])}"


def regret(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule (ours, casadi, adolc): cells, right winner, median / mean / max regret,
    fraction of cells within 10 % of the better mode, and the worst cell."""
    rows = []
    for rule in RULE_NAMES:
        col = f"regret_{rule}"
        choice = table["predicted"] if rule == "ours" else table[rule]
        worst = table.loc[table[col].idxmax()] if len(table) else None
        if len(table) == 0:
            rows.append({"rule": rule, "cells": 0, "worst_cell": ""})
            continue
        rows.append(
            {
                "rule": rule,
                "cells": len(table),
                "right_winner": float((choice == table["winner"]).mean()),
                "median_regret": float(table[col].median()),
                "mean_regret": float(table[col].mean()),
                "max_regret": float(table[col].max()),
                "within_10pct": float((table[col] <= WITHIN).mean()),
                "worst_cell": "" if worst is None else cell_name(worst),
            }
        )
    return pd.DataFrame(rows)


def by_family(table: pd.DataFrame) -> pd.DataFrame:
    """Per family: cells, accuracy, fraction of cells where ``auto`` is within 10 %, and
    the median |predicted / measured - 1| of the forward and reverse Jacobian times."""
    rows = []
    for family, t in table.groupby("problem"):
        rows.append(
            {
                "problem": family,
                "cells": len(t),
                "accuracy": accuracy(t),
                "within_10pct": float((t["regret_ours"] <= WITHIN).mean()),
                "fwd_time_error": float((t["pred_fwd_s"] / t["fwd_s"] - 1).abs().median()),
                "rev_time_error": float((t["pred_rev_s"] / t["rev_s"] - 1).abs().median()),
            }
        )
    return pd.DataFrame(rows)


def predicted_fwd_over_rev(
    n: int,
    m: int,
    T: int,
    seed: int,
    family: str = "random",
    calibration: Any = None,
    chunk: int | None = None,
) -> float:
    """The model's t(forward Jacobian) / t(reverse Jacobian) for one cell of ``family``,
    with chunk p = q = ``chunk`` (None: the engines' default rule). The one place that
    reads ``ad.cost.estimate`` for a ratio (the winner map of :mod:`bench.plots` too)."""
    est = cost.estimate(_graph(family, n, m, T, seed), chunk=chunk, calibration=calibration)
    return est.jacobian_forward_s / est.jacobian_reverse_s


def boundary(
    T: int,
    seed: int,
    ms: Sequence[int],
    family: str = "random",
    n_max: int | None = None,
    calibration: Any = None,
) -> pd.DataFrame:
    """Where the predicted winner flips along n, for each m: the smallest n at which
    reverse is predicted faster, found by bisection on n in [1, n_max] (random:
    n_max = the largest n its T allows). Columns m, n_flip, n_over_m (NaN if no flip)."""
    if n_max is None:
        n_max = max(1, (T - max(ms)) // 2) if family == "random" else 4096
    rows = []
    for m in ms:

        def rev_wins(n: int, m: int = int(m)) -> bool:
            return predicted_fwd_over_rev(n, m, T, seed, family, calibration) > 1.0

        lo, hi = 1, int(n_max)
        if rev_wins(lo):
            flip: float = 1.0
        elif not rev_wins(hi):
            flip = float("nan")
        else:
            while hi - lo > 1:  # invariant: forward wins at lo, reverse at hi
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if rev_wins(mid) else (mid, hi)
            flip = float(hi)
        rows.append({"m": int(m), "n_flip": flip, "n_over_m": flip / m})
    return pd.DataFrame(rows)


def random_grid(df: pd.DataFrame) -> tuple[int, int, list[int]] | None:
    """(T, seed, m values) of the random family's winner-map grid (tag ``grid``)."""
    d = df[(df["problem"] == "random") & df["sweeps"].fillna("").astype(str).str.contains("grid")]
    if d.empty:
        return None
    return int(d["T"].iloc[0]), int(d["seed"].iloc[0]), sorted(int(m) for m in d["m"].unique())


def evaluate(df: pd.DataFrame, calibration: Any = None) -> dict[str, Any]:
    """Everything above from one results table: ``cells``, ``accuracy``, ``regret``,
    ``families`` (:func:`by_family`), ``boundary`` (None without a random grid),
    ``misses`` (cells predicted wrong)."""
    table = cells(df, calibration=calibration)
    grid = random_grid(df)
    bound = None
    if grid is not None:
        T, seed, ms = grid
        bound = boundary(T, seed, ms, calibration=calibration)
        bound.insert(0, "T", T)
    misses = table[table["predicted"] != table["winner"]] if len(table) else table
    return {
        "cells": table,
        "accuracy": accuracy(table),
        "regret": regret(table),
        "families": by_family(table),
        "boundary": bound,
        "misses": misses,
    }


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.0f} %"


def _source() -> str:
    """Where the model's constants came from, in words."""
    cal = cost.load_calibration()
    if cal.source == "textbook":
        return "the textbook defaults (no calibration file: `python -m bench.calibrate` makes one)"
    made = cal.meta.get("revision") or cal.meta.get("git_revision")
    when = f" at revision {made}" if made else ""
    return f"`{Path(cal.source).name}`, fitted on this machine by `python -m bench.calibrate`{when}"


def markdown(result: dict[str, Any]) -> str:
    """The report section (markdown) for :func:`evaluate`'s result."""
    table, reg = result["cells"], result["regret"]
    if table.empty:
        return ""
    ours = reg[reg["rule"] == "ours"].iloc[0]
    lines = [
        "### Which mode? The cost model against the measurements",
        "",
        f"On {len(table)} cells of the random, linear and mlp grids (compiled engine, "
        "default chunks), `ad.cost.estimate` predicts the faster Jacobian mode in "
        f'{_pct(result["accuracy"])} of the cells (target >= 90 %), and `mode="auto"` is '
        f"within 10 % of the better mode in {_pct(ours['within_10pct'])} (target >= 95 %). "
        f"Worst cell for the model: {ours['worst_cell']} (regret {ours['max_regret']:.3g}). "
        f"Constants: {_source()}.",
        "",
        "| rule | right winner | within 10 % | median regret | max regret | worst cell |",
        "|---|---|---|---|---|---|",
    ]
    label = {"ours": "ours (`ad.cost`)", "casadi": "CasADi (0.33 n <= 0.67 m)"}
    label["adolc"] = "ADOL-C (n/2 < m)"
    for r in reg.itertuples():
        lines.append(
            f"| {label[r.rule]} | {_pct(r.right_winner)} | {_pct(r.within_10pct)} | "
            f"{r.median_regret:.3g} | {r.max_regret:.3g} | {r.worst_cell} |"
        )
    lines += ["", "Regret = t(mode the rule chooses) / t(better mode), per cell.", ""]
    lines += [
        "| family | cells | right winner | within 10 % | median error of predicted t_fwd "
        "| of t_rev |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["families"].itertuples():
        lines.append(
            f"| {r.problem} | {r.cells} | {_pct(r.accuracy)} | {_pct(r.within_10pct)} | "
            f"{_pct(r.fwd_time_error)} | {_pct(r.rev_time_error)} |"
        )
    miss = result["misses"]
    if len(miss):
        lines += ["", "Cells the model predicts wrong (measured t_fwd / t_rev, predicted):", ""]
        for _, r in miss.iterrows():
            lines.append(
                f"- {cell_name(r)}: measured {r['fwd_over_rev']:.3g}, predicted "
                f"{r['pred_fwd_s'] / r['pred_rev_s']:.3g} (regret {r['regret_ours']:.3g})"
            )
    b = result["boundary"]
    if b is not None and len(b):
        parts = [
            f"m = {r.m}: n = {r.n_flip:.0f} (n/m = {r.n_over_m:.3g})"
            for r in b.itertuples()
            if math.isfinite(r.n_flip)
        ]
        lines += [
            "",
            f"Predicted winner boundary on random (T = {int(b['T'].iloc[0])}): reverse is "
            "predicted faster from " + "; ".join(parts) + ".",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the cells, accuracy, regret table and boundary from a results CSV."""
    p = argparse.ArgumentParser(
        prog="python -m bench.costmodel", description="The cost model against a results table."
    )
    p.add_argument("csv", type=Path, nargs="?", default=Path("reports/results.csv"))
    p.add_argument("--calibration", type=Path, default=None, help="constants JSON to use")
    args = p.parse_args(argv)
    if not args.csv.exists():
        p.error(f"{args.csv} does not exist")
    res = evaluate(pd.read_csv(args.csv), calibration=args.calibration)
    cols = ["problem", "n", "m", "T", "chunk_fwd", "chunk_rev", "fwd_s", "rev_s", "winner"]
    cols += ["pred_fwd_s", "pred_rev_s", "predicted", "regret_ours", "regret_casadi"]
    cols += ["regret_adolc"]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(res["cells"][cols].to_string(float_format=lambda x: f"{x:.3g}"))
        print()
        print(f"accuracy (predicted == measured winner): {res['accuracy']:.3f}")
        print(res["regret"].to_string(float_format=lambda x: f"{x:.3g}"))
        print()
        print(res["families"].to_string(float_format=lambda x: f"{x:.3g}"))
        if res["boundary"] is not None:
            print()
            print(res["boundary"].to_string(float_format=lambda x: f"{x:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
