"""The ``sparse`` family in the report: its figure, its tables and the issue's checks.

Functions of the results table only (rows whose ``problem`` starts with ``sparse:``).
:func:`fig_sparse` is registered in :data:`bench.plots.FIGURES`; :func:`section` is
the report's "Sparse Jacobians and Hessians" section.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

#: (engine, mode) -> (colour, line style, label) of the figure.
CURVES = {
    ("compiled", "jac_fwd"): ("tab:blue", "--", "ours dense forward"),
    ("compiled", "jac_rev"): ("tab:red", "--", "ours dense reverse"),
    ("compiled", "jac_cfwd"): ("tab:blue", "-", "ours coloured forward"),
    ("compiled", "jac_crev"): ("tab:red", "-", "ours coloured reverse"),
    ("compiled", "hess_star"): ("tab:purple", "-", "ours star (sparse_hessian)"),
    ("jax", "jac_fwd"): ("tab:green", "--", "JAX jacfwd (dense)"),
    ("asdex", "jac_sparse"): ("tab:olive", "-", "asdex"),
    ("sparsejac", "jac_sparse"): ("tab:brown", "-", "sparsejac"),
    ("scipy", "jac_fd"): ("tab:gray", ":", "scipy grouped FD"),
}
#: The four modes ``mode="auto"`` chooses among, as benchmark modes.
FOUR = {
    "forward": "jac_fwd",
    "reverse": "jac_rev",
    "colored_forward": "jac_cfwd",
    "colored_reverse": "jac_crev",
}
#: The issue's targets at n = 10^4: variant -> (mode, largest ratio to f).
TARGETS = {
    "banded3": ("jac_auto", 10.0),
    "laplace2d": ("jac_auto", 15.0),
    "rosenbrock_hessian": ("hess_star", 15.0),
}
#: the issue's bound on detection plus colouring at the first call, in units of f
FIRST_CALL_TARGET = 20.0
PEERS = (("asdex", "jac_sparse"), ("sparsejac", "jac_sparse"), ("scipy", "jac_fd"))


def sparse_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the sparse family, with a ``variant`` column."""
    d = df[df["problem"].astype(str).str.startswith("sparse:")].copy()
    d["variant"] = d["problem"].str.split(":").str[1]
    return d


def _g3(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.3g}"


def fig_sparse(df: pd.DataFrame, out: Path) -> Path | None:
    """Jacobian (Hessian) time per f-evaluation against n, one panel per variant."""
    import matplotlib.pyplot as plt

    d = sparse_rows(df)
    if d.empty:
        return None
    variants = list(dict.fromkeys(d["variant"]))
    fig, axes = plt.subplots(1, len(variants), figsize=(3.9 * len(variants), 4.0), squeeze=False)
    for ax, v in zip(axes[0], variants):
        g = d[d["variant"] == v]
        for (engine, mode), (color, ls, label) in CURVES.items():
            h = g[(g["engine"] == engine) & (g["mode"] == mode)].sort_values("n")
            if h.empty:
                continue
            ax.plot(h["n"], h["ratio_to_f"], ls, marker="o", ms=3, color=color, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (inputs)")
        ax.set_title(f"sparse:{v}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("time per Jacobian / t(f) of the same tool")
    axes[0][-1].legend(fontsize=6)
    path = out / "sparse.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


CAPTION = (
    "The `sparse` family: time of one full Jacobian (for `rosenbrock_hessian`, one "
    "Hessian) divided by the same tool's f, against n, log-log. Solid: coloured "
    "(compressed) modes and the sparse peers, a number of sweeps set by the colour count "
    "and so flat in n; dashed: dense Jacobians (ours forward and reverse, JAX's jacfwd), "
    "n sweeps, growing linearly in n (run up to n = 10^4, JAX to 3200); dotted: scipy's "
    "grouped forward differences (c + 1 evaluations of the NumPy f). The arrowhead has a "
    "full row and a full column: every unidirectional colouring needs n colours, so no "
    "curve is flat there (its coloured modes run up to n = 10^4)."
)


def _one(d: pd.DataFrame, **eq: object) -> pd.Series | None:
    for k, v in eq.items():
        d = d[d[k] == v]
    return None if d.empty else d.iloc[0]


def colour_table(d: pd.DataFrame) -> str:
    """Colours against the lower bound per variant and n."""
    body = []
    for (v, n), g in d.groupby(["variant", "n"], sort=False):
        cf = _one(g, engine="compiled", mode="jac_cfwd")
        cr = _one(g, engine="compiled", mode="jac_crev")
        st = _one(g, engine="compiled", mode="hess_star")
        ax = _one(g, engine="asdex", mode="jac_sparse")
        sc = _one(g, engine="scipy", mode="jac_fd")
        nnz = g["nnz"].dropna()

        def pair(r: pd.Series | None) -> str:
            if r is None or not np.isfinite(r.get("colors", np.nan)):
                return "–"
            ratio = r["colors"] / r["colors_bound"] if r["colors_bound"] else math.nan
            return f"{int(r['colors'])} / {int(r['colors_bound'])} ({_g3(ratio)}x)"

        body.append(
            [
                v,
                int(n),
                int(nnz.iloc[0]) if len(nnz) else "–",
                pair(cf),
                pair(cr),
                "–" if st is None else int(st["colors"]),
                "–" if ax is None else int(ax["colors"]),
                "–" if sc is None else int(sc["colors"]),
            ]
        )
    from bench.report import md_table

    return md_table(
        [
            "variant",
            "n",
            "nonzeros",
            "column colours / bound",
            "row colours / bound",
            "star colours",
            "asdex colours",
            "scipy groups",
        ],
        body,
    )


def _same_sweeps(a: str, b: str, g: pd.DataFrame, n: int) -> bool:
    """True if modes a and b run the same sweeps: a dense mode and its coloured mode
    when the colouring has one colour per column (row), as on the arrowhead (both run
    that many directions at the same sweep width)."""
    pair = {a, b}
    for dense, coloured, bench_mode in (
        ("forward", "colored_forward", "jac_cfwd"),
        ("reverse", "colored_reverse", "jac_crev"),
    ):
        if pair == {dense, coloured}:
            r = _one(g, mode=bench_mode)
            size = n if dense == "forward" else int(r["m"]) if r is not None else -1
            return r is not None and int(r["colors"]) == size
    return False


def auto_table(d: pd.DataFrame) -> tuple[str, float, float, int]:
    """Per cell: the four modes' times, the measured fastest, the auto choice, and the
    time of the auto call itself over the fastest mode's."""
    body, hits, near, cells = [], 0, 0, 0
    for (v, n), g in d[d["engine"] == "compiled"].groupby(["variant", "n"], sort=False):
        times = {}
        for mode, bench_mode in FOUR.items():
            r = _one(g, mode=bench_mode)
            if r is not None:
                times[mode] = float(r["median_s"])
        auto = _one(g, mode="jac_auto")
        if auto is None or len(times) < 2 or not isinstance(auto["choice"], str):
            continue
        best = min(times, key=times.get)
        chosen = auto["choice"]
        regret = float(auto["median_s"]) / times[best]
        cells += 1
        hits += chosen == best or _same_sweeps(chosen, best, g, int(n))
        near += bool(regret <= 1.10)
        body.append(
            [v, int(n)]
            + [_g3(times.get(k, math.nan) * 1e3) for k in FOUR]
            + [best, chosen, _g3(regret)]
        )
    from bench.report import md_table

    table = md_table(
        ["variant", "n"]
        + [f"{k} [ms]" for k in FOUR]
        + ["fastest", "auto chose", "t(auto) / t(fastest)"],
        body,
    )
    frac = hits / cells if cells else math.nan
    frac10 = near / cells if cells else math.nan
    return table, frac, frac10, cells


def targets_table(d: pd.DataFrame) -> tuple[str, list[bool]]:
    """The issue's ratios at n = 10^4 (nearest n), with the breakdown."""
    from bench.report import md_table, verdict

    body, oks = [], []
    for v, g in d[d["engine"] == "compiled"].groupby("variant", sort=False):
        ns = np.sort(g["n"].unique())
        n = int(ns[np.argmin(np.abs(np.log(ns / 1e4)))])
        h = g[g["n"] == n]
        prim = _one(h, mode="primal")
        if prim is None:
            continue
        f = float(prim["median_s"])
        mode, limit = TARGETS.get(v, ("jac_auto", math.nan))
        jac = _one(h, mode=mode)
        plan = _one(h, mode="plan")
        det = _one(h, mode="detect")
        dc = _one(h, mode="detect_color")
        sw = _one(h, mode="sweep_cfwd")
        cf = _one(h, mode="jac_cfwd")
        r = float(jac["median_s"]) / f if jac is not None else math.nan
        rp = float(plan["median_s"]) / f if plan is not None else math.nan
        rdc = float(dc["median_s"]) / f if dc is not None else math.nan
        ok = None if not math.isfinite(limit) or not math.isfinite(r) else r <= limit
        okp = None if not math.isfinite(rdc) else rdc <= FIRST_CALL_TARGET
        if v in TARGETS:
            oks += [bool(ok), bool(okp)]
        share = (
            float(sw["median_s"]) / float(cf["median_s"])
            if sw is not None and cf is not None
            else math.nan
        )
        body.append(
            [
                v,
                n,
                _g3(f * 1e6),
                f"{mode}: {_g3(r)}",
                f"<= {limit:g}: {verdict(ok)}" if math.isfinite(limit) else "–",
                _g3(float(sw["median_s"]) / f) if sw is not None else "–",
                _g3(share),
                _g3(float(det["median_s"]) / f) if det is not None else "–",
                _g3(rdc),
                f"<= {FIRST_CALL_TARGET:g}: {verdict(okp)}" if v in TARGETS else "–",
                _g3(rp),
            ]
        )
    table = md_table(
        [
            "variant",
            "n",
            "t(f) [us]",
            "Jacobian / f",
            "target",
            "sweep alone / f",
            "sweep share of coloured fwd",
            "detection / f",
            "detection + colouring / f",
            "target",
            "first call before the sweeps / f",
        ],
        body,
    )
    return table, oks


def public_table(d: pd.DataFrame) -> str:
    """What a repeated call through the public functions pays, beside the plan call,
    at the n nearest 10^4 (ratios to the compiled f of the same cell)."""
    from bench.report import md_table

    body = []
    for v, g in d[d["engine"] == "compiled"].groupby("variant", sort=False):
        ns = np.sort(g["n"].unique())
        n = int(ns[np.argmin(np.abs(np.log(ns / 1e4)))])
        h = g[g["n"] == n]
        prim = _one(h, mode="primal")
        rows = [_one(h, mode=TARGETS.get(v, ("jac_auto",))[0])]
        rows += [_one(h, mode=m) for m in ("public_jit", "public")]
        if prim is None or any(r is None for r in rows):
            continue
        f = float(prim["median_s"])
        cells = [
            f"{_g3(float(r['median_s']) * 1e3)} ({_g3(float(r['median_s']) / f)} f)" for r in rows
        ]
        body.append([v, n, _g3(f * 1e6), *cells])
    header = ["variant", "n", "t(f) [us]", "plan call [ms]", "ad.sparse_*(ad.jit(f), x) [ms]"]
    return md_table(header + ["ad.sparse_*(f, x) [ms]"], body)


def peers_table(d: pd.DataFrame) -> tuple[str, bool | None]:
    """Ours (the auto mode, or the star Hessian) against each sparse peer, n >= 1000."""
    from bench.report import md_table

    body, wins, total = [], 0, 0
    for (v, n), g in d.groupby(["variant", "n"], sort=False):
        if n < 1000:
            continue
        ours = _one(
            g, engine="compiled", mode="hess_star" if v == "rosenbrock_hessian" else "jac_auto"
        )
        if ours is None:
            continue
        t = float(ours["median_s"])
        row = [v, int(n), f"{_g3(t * 1e3)} ({_g3(float(ours['ratio_to_f']))} f)"]
        for engine, mode in PEERS:
            r = _one(g, engine=engine, mode=mode)
            if r is None:
                row.append("–")
                continue
            ratio = float(r["median_s"]) / t
            total += 1
            wins += ratio > 1
            row.append(f"{_g3(ratio)}x ({_g3(float(r['ratio_to_f']))} f)")
        body.append(row)
    header = ["variant", "n", "ours [ms] (its f's)"]
    table = md_table(header + [f"t({e}) / t(ours) (its f's)" for e, _ in PEERS], body)
    return table, (None if total == 0 else wins == total)


def section(df: pd.DataFrame) -> str:
    """The report's sparse section (empty without sparse rows)."""
    d = sparse_rows(df)
    if d.empty:
        return ""
    from bench.report import verdict

    targets, oks = targets_table(d)
    auto, frac, frac10, cells = auto_table(d)
    peers, peers_ok = peers_table(d)
    return "\n".join(
        [
            "### `sparse`: colouring and compressed sweeps",
            "",
            "Sparsity detection on the Graph, colouring (partial distance-2 for columns and "
            "rows, star for the Hessian; Gebremedhin, Manne, Pothen, SIAM Review 2005) and "
            "one batched sweep with one direction per colour (`ad.sparse`). Ratios are to "
            "the compiled f of the same cell; detection + colouring is the issue's first-call "
            'figure (the pattern and the colourings `mode="auto"` needs; for the Hessian the '
            "symmetric pattern and its star colouring), and the first call before the sweeps "
            "(`plan`) adds the choice of mode (the cost model's counts of the program and its "
            "predictions) and the entry arrays and prototype the results share; neither "
            "includes compiling f's program or, for the Hessian, recording the gradient graph; "
            "`sweep_cfwd` is "
            "the compressed forward sweep alone, so the rest of `jac_cfwd` is seeding, "
            "reading the nonzeros back and building the CSR array. Reproduce with "
            "`make bench-sparse` (into `reports/sparse/`).",
            "",
            "Colours against the lower bound (the most nonzeros in a row for column "
            "colours, in a column for row colours; for a star colouring of a symmetric "
            "pattern the same row count, which a star colouring may beat):",
            "",
            colour_table(d),
            "",
            "The issue's figures at n = 10^4:",
            "",
            targets,
            "",
            "What a repeated call pays through the public functions (x changing between "
            "calls; in brackets, in units of the compiled f): the plan call above (a Graph "
            "traced once, `ad.sparse.jacobian_plan(graph)(x)` or `hessian_plan`), "
            "`ad.sparse_jacobian(ad.jit(f), x)` (`ad.sparse_hessian`; the jit's trace, its "
            "guards checked) and `ad.sparse_jacobian(f, x)` (f traced at every call and "
            "compared with the cached trace):",
            "",
            public_table(d),
            "",
            f'Which mode `mode="auto"` ran, against the measured fastest of the four modes '
            f"(only the modes measured in that cell; the dense modes stop at n = 10^4): it "
            f"picked the fastest in {_g3(100 * frac)} % of {cells} cells "
            f"({verdict(frac >= 0.9 if math.isfinite(frac) else None)} at >= 90 %), and the "
            f"auto call itself took at most 1.1x the fastest mode in {_g3(100 * frac10)} %. "
            "A dense mode and its coloured mode count as one choice where the colouring "
            "has one colour per column (row): they run the same sweeps (the arrowhead). "
            "The dense columns are the engines' dense Jacobians (`ad.forward.jacobian`, "
            "`ad.reverse.jacobian`); `auto` runs a plan's modes.",
            "",
            auto,
            "",
            "Against the sparse peers at n >= 1000 (above 1, ours is faster; ours is the "
            "auto mode, or the star-coloured Hessian; peers under `jax.jit`, set-up "
            "excluded; in brackets each tool's Jacobian time in units of its own f: the "
            "compiled f for ours, `jax.jit(f)` for asdex and sparsejac, the NumPy f for "
            "scipy): "
            f"{verdict(peers_ok)} for 'faster than every peer in every cell'.",
            "",
            peers,
        ]
    )
