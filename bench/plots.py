"""Figures (PNG), each a function of the results table and nothing else.

:func:`plot_all` reads ``results.csv`` and writes every figure whose data is present;
``FIGURES`` names them with their captions (the report prints the captions). The
winner map draws the cost model's predicted boundary
(:func:`bench.costmodel.predicted_fwd_over_rev`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench import analysis as an  # noqa: E402
from bench.costmodel import predicted_fwd_over_rev  # noqa: E402

STYLE = {
    ("compiled", "jac_fwd"): ("tab:blue", "ours forward"),
    ("compiled", "jac_rev"): ("tab:red", "ours reverse"),
    ("reference", "jac_fwd"): ("tab:cyan", "reference forward"),
    ("reference", "jac_rev"): ("tab:pink", "reference reverse"),
    ("jax", "jac_fwd"): ("tab:green", "JAX jacfwd"),
    ("jax", "jac_rev"): ("tab:olive", "JAX jacrev"),
    ("fd", "jac_fd"): ("tab:gray", "central differences"),
}
ENGINE_COLOR = {"compiled": "tab:blue", "reference": "tab:cyan", "jax": "tab:green", "fd": "gray"}
MODE_LABEL = {
    "primal": "primal f",
    "jvp": "one tangent (jvp)",
    "vjp": "one adjoint (vjp / gradient)",
    "jac_fwd": "Jacobian, forward",
    "jac_rev": "Jacobian, reverse",
    "jac_fd": "Jacobian, central differences",
}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _loglog(ax: plt.Axes, xlabel: str, ylabel: str, title: str, legend: int | None = 7) -> None:
    """Log-log axes with their labels, title and grid, and a legend in font size
    ``legend`` (None: no legend)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if legend is not None:
        ax.legend(fontsize=legend)


def _ours(df: pd.DataFrame) -> list[str]:
    return [e for e in ("compiled", "reference") if e in set(df["engine"])]


def _sweep_panel(ax, df, tag, axis, fixed_label, theory) -> bool:
    """Time of both Jacobian modes along one sweep, with slopes and theory lines."""
    drawn = False
    for engine in _ours(df):
        for mode in ("jac_fwd", "jac_rev"):
            color, label = STYLE[(engine, mode)]
            for chunk, ls in ((1, "-"), (None, "--")):
                s = an.sweep_series(df, tag, axis, engine, mode, chunk)
                if s.empty or (chunk is None and (s["chunk"] <= 1).all()):
                    continue
                x, y = s[axis].to_numpy(float), s["median_s"].to_numpy(float)
                k = an.loglog_slope(x[x >= an.FIT_FROM], y[x >= an.FIT_FROM])
                what = "chunk 1" if chunk == 1 else "default chunk"
                ax.plot(
                    x,
                    y,
                    ls,
                    marker="o",
                    ms=3,
                    color=color,
                    label=f"{label}, {what} (slope {k:.2f})",
                )
                ax.fill_between(x, s["q1_s"], s["q3_s"], color=color, alpha=0.15)
                if chunk == 1 and theory.get(mode) is not None:
                    slope_th = theory[mode]
                    anchor = y[len(y) // 2] / x[len(x) // 2] ** slope_th
                    ax.plot(x, anchor * x**slope_th, ":", color="black", lw=1)
                drawn = True
    title = f"random: Jacobian time vs {axis} ({fixed_label}); dotted: theory"
    _loglog(ax, axis, "median time per Jacobian [s]", title, 7 if drawn else None)
    return drawn


def fig_random_vs_n(df: pd.DataFrame, out: Path) -> Path | None:
    """Forward- and reverse-Jacobian time vs n at fixed m and T (log-log)."""
    d = an.rows(df, problem="random")
    if an.tagged(d, "vs_n").empty:
        return None
    s = an.tagged(d, "vs_n")
    fig, ax = plt.subplots(figsize=(7, 4.6))
    label = f"m = {int(s['m'].iloc[0])}, T = {int(s['T'].iloc[0])}"
    if not _sweep_panel(ax, d, "vs_n", "n", label, {"jac_fwd": 1.0, "jac_rev": 0.0}):
        plt.close(fig)
        return None
    return _save(fig, out / "random_vs_n.png")


def fig_random_vs_m(df: pd.DataFrame, out: Path) -> Path | None:
    """The mirror image: time vs m at fixed n and T."""
    d = an.rows(df, problem="random")
    s = an.tagged(d, "vs_m")
    if s.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.6))
    label = f"n = {int(s['n'].iloc[0])}, T = {int(s['T'].iloc[0])}"
    if not _sweep_panel(ax, d, "vs_m", "m", label, {"jac_fwd": 0.0, "jac_rev": 1.0}):
        plt.close(fig)
        return None
    return _save(fig, out / "random_vs_m.png")


def fig_random_vs_T(df: pd.DataFrame, out: Path) -> Path | None:
    """Every mode's time vs T at fixed n = m (log-log), with slopes."""
    d = an.tagged(an.rows(df, problem="random"), "vs_T")
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.6))
    colors = dict(zip(MODE_LABEL, ["black", "tab:blue", "tab:red", "tab:purple", "tab:orange"]))
    for engine in _ours(d):
        for mode in ("primal", "jvp", "vjp", "jac_fwd", "jac_rev"):
            s = an.sweep_series(d, "vs_T", "T", engine, mode, 1)
            if s.empty:
                continue
            k = an.loglog_slope(s["T"], s["median_s"])
            ls = "-" if engine == "compiled" else "--"
            ax.plot(
                s["T"],
                s["median_s"],
                ls,
                marker="o",
                ms=3,
                color=colors[mode],
                label=f"{engine} {MODE_LABEL[mode]} (slope {k:.2f})",
            )
    x = np.sort(d["T"].unique()).astype(float)
    ax.plot(x, x * 1e-8, ":", color="black", lw=1, label="slope 1 (10 ns per op)")
    n, m = int(d["n"].iloc[0]), int(d["m"].iloc[0])
    _loglog(
        ax,
        "T (arithmetic operations in the Wengert list)",
        "median time [s]",
        f"random: time vs T (n = {n}, m = {m}, chunk 1); slope 1 = linear in T",
    )
    return _save(fig, out / "random_vs_T.png")


def fig_tape_vs_T(df: pd.DataFrame, out: Path) -> Path | None:
    """Tape bytes of reverse mode vs T, and the peak memory of each engine."""
    d = an.tagged(an.rows(df, problem="random"), "vs_T")
    tape = d[(d["mode"] == "vjp") & d["tape_bytes"].notna()]
    if tape.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.6))
    for engine, g in tape.groupby("engine"):
        g = g.sort_values("T")
        k = an.loglog_slope(g["T"], g["tape_bytes"])
        per = float(np.median(g["tape_bytes"] / g["T"]))
        ax.plot(
            g["T"],
            g["tape_bytes"],
            "-o",
            ms=3,
            color=ENGINE_COLOR.get(engine),
            label=f"{engine} tape (slope {k:.2f}, {per:.1f} B per op)",
        )
    for (engine, mode), g in d[d["peak_bytes"].notna()].groupby(["engine", "mode"]):
        if mode not in ("jvp", "vjp"):
            continue
        g = g.sort_values("T")
        method = g["peak_method"].iloc[0]
        ax.plot(
            g["T"],
            g["peak_bytes"],
            "--" if mode == "vjp" else ":",
            ms=3,
            color=ENGINE_COLOR.get(engine),
            label=f"{engine} {mode} peak ({method})",
        )
    _loglog(
        ax, "T (arithmetic operations)", "bytes", "random: reverse-mode tape and peak memory vs T"
    )
    return _save(fig, out / "tape_vs_T.png")


def fig_linear_ratio(df: pd.DataFrame, out: Path) -> Path | None:
    """The seminar's plot redone: t(forward Jacobian)/t(reverse Jacobian) vs n/m."""
    runs = [("compiled", None, "compiled", "o", ENGINE_COLOR["compiled"])]
    runs += [("compiled", 1, "compiled, chunk 1 (textbook)", "s", "tab:purple")]
    runs += [(e, None, e, "o", ENGINE_COLOR[e]) for e in ("reference", "jax")]
    curves = {
        label: (mk, color, an.linear_ratio(df, e, chunk))
        for e, chunk, label, mk, color in runs
        if e in set(df["engine"])
    }
    curves = {k: v for k, v in curves.items() if not v[2].empty}
    if not curves:
        return None
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4))
    for label, (mk, color, c) in curves.items():
        x = an.crossover(c["n_over_m"], c["fwd_over_rev"])
        lab = f"{label} (crossover n/m = {x:.2g})" if np.isfinite(x) else f"{label} (none)"
        ax.plot(c["n_over_m"], c["fwd_over_rev"], "-", marker=mk, ms=3, color=color, label=lab)
        for mode, ls in (("fwd", "-"), ("rev", "--")):
            bx.plot(
                c["n_over_m"],
                c[mode],
                ls,
                marker=mk,
                ms=3,
                color=color,
                label=f"{label} {'forward' if mode == 'fwd' else 'reverse'}",
            )
    ax.axhline(1.0, color="black", lw=0.8)
    ax.axvline(1.0, color="black", lw=0.8, ls=":")
    _loglog(
        ax,
        "n / m (input / output dimension, n = 100)",
        "t(forward Jacobian) / t(reverse Jacobian)",
        "linear f(x) = A x: above 1 reverse wins",
        legend=8,
    )
    _loglog(bx, "n / m", "median time per Jacobian [s]", "linear: the two Jacobian times")
    return _save(fig, out / "linear_ratio.png")


def fig_winner_map(df: pd.DataFrame, out: Path) -> Path | None:
    """Which Jacobian mode wins over the (n, m) grid of ``random``, chunk 1 and default."""
    d = an.tagged(an.rows(df, problem="random"), "grid")
    engine = an.primary_engine(df)
    d = d[d["engine"] == engine]
    if d.empty:
        return None
    ns, ms = np.sort(d["n"].unique()), np.sort(d["m"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    T, seed = int(d["T"].iloc[0]), int(d["seed"].iloc[0])
    preds = {1: np.full((len(ms), len(ns)), np.nan), None: np.full((len(ms), len(ns)), np.nan)}
    for i, m in enumerate(ms):
        for j, n in enumerate(ns):
            for chunk, pred in preds.items():
                r = predicted_fwd_over_rev(int(n), int(m), T, seed, "random", chunk=chunk)
                pred[i, j] = np.log2(r)
    for ax, chunk, title in ((axes[0], 1, "chunk 1 (textbook)"), (axes[1], None, "default chunk")):
        pred = preds[chunk]
        z = np.full((len(ms), len(ns)), np.nan)
        for mode_sign, mode in ((1, "jac_fwd"), (-1, "jac_rev")):
            s = d[d["mode"] == mode]
            if chunk is None:
                s = s.loc[s.groupby(["n", "m"])["chunk"].idxmax()]
            else:
                s = s[s["chunk"] == 1]
            for _, r in s.iterrows():
                i, j = list(ms).index(r["m"]), list(ns).index(r["n"])
                v = mode_sign * np.log2(r["median_s"])
                z[i, j] = v if np.isnan(z[i, j]) else z[i, j] + v
        lim = np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1.0
        im = ax.imshow(z, origin="lower", cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(len(ms)):
            for j in range(len(ns)):
                if np.isfinite(z[i, j]):
                    ax.text(
                        j,
                        i,
                        "R" if z[i, j] > 0 else "F",
                        ha="center",
                        va="center",
                        fontsize=9,
                        color="black",
                    )
        ax.plot(
            np.arange(len(ns)),
            [list(ms).index(m) if m in ms else np.nan for m in ns],
            ":",
            color="black",
            lw=1,
            label="n = m",
        )
        if np.isfinite(pred).any() and np.nanmin(pred) < 0 < np.nanmax(pred):
            ax.contour(
                np.arange(len(ns)),
                np.arange(len(ms)),
                pred,
                levels=[0.0],
                colors="black",
                linewidths=2,
            )
            ax.plot([], [], color="black", lw=2, label="cost model boundary")
        ax.set_xticks(range(len(ns)), [str(v) for v in ns])
        ax.set_yticks(range(len(ms)), [str(v) for v in ms])
        ax.set_xlabel("n (inputs)")
        ax.set_ylabel("m (outputs)")
        ax.set_title(f"random T = {T}, {engine}: {title}")
        ax.legend(fontsize=7, loc="upper left")
        fig.colorbar(im, ax=ax, label="log2 t_fwd / t_rev  (F: forward wins, R: reverse)")
    return _save(fig, out / "winner_map.png")


def fig_omega(df: pd.DataFrame, out: Path) -> Path | None:
    """omega_fwd and omega_rev of every problem cell and engine beside the textbook bounds."""
    om = an.omegas(df)
    if om.empty:
        return None
    probs = sorted(om["problem"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=False)
    engines = [e for e in ("compiled", "reference", "jax") if e in set(om["engine"])]
    for ax, col, band, name in (
        (axes[0], "jvp", an.OMEGA_TANGENT, "omega_fwd = t(one tangent) / t(f)"),
        (axes[1], "vjp", an.OMEGA_GRADIENT, "omega_rev = t(gradient / one adjoint) / t(f)"),
    ):
        if col not in om.columns:
            continue
        ax.axhspan(*band, color="gold", alpha=0.35, label=f"textbook {band[0]:g}-{band[1]:g}")
        for k, e in enumerate(engines):
            g = om[om["engine"] == e]
            xs = [probs.index(p) + (k - (len(engines) - 1) / 2) * 0.22 for p in g["problem"]]
            ax.scatter(xs, g[col], s=14, color=ENGINE_COLOR[e], label=e, alpha=0.8)
        ax.set_xticks(range(len(probs)), probs, rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("ratio to the same tool's primal f")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, out / "omega.png")


def fig_jax(df: pd.DataFrame, out: Path) -> Path | None:
    """t(ours)/t(JAX) per problem and mode at matching cells (below 1: ours is faster)."""
    r = an.ours_over_jax(df, an.primary_engine(df))
    if r.empty:
        return None
    modes = [m for m in ("primal", "jvp", "vjp", "jac_fwd", "jac_rev") if m in set(r["mode"])]
    probs = sorted(r["problem"].unique())
    fig, ax = plt.subplots(figsize=(11, 4.6))
    colors = dict(zip(modes, ["black", "tab:blue", "tab:red", "tab:purple", "tab:orange"]))
    for k, mode in enumerate(modes):
        g = r[r["mode"] == mode]
        xs = [probs.index(p) + (k - (len(modes) - 1) / 2) * 0.15 for p in g["problem"]]
        ax.scatter(xs, g["ratio"], s=14, color=colors[mode], label=MODE_LABEL[mode])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(range(len(probs)), probs, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("t(ours) / t(JAX)  (below 1: ours faster)")
    ax.set_title(f"{an.primary_engine(df)} engine vs jax.jit, every matching cell")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out / "jax_vs_ours.png")


def fig_cheap_gradient(df: pd.DataFrame, out: Path) -> Path | None:
    """n -> 1 problems: gradient cost / f vs n, by reverse, forward, JAX and FD."""
    d = df[
        (df["m"] == 1)
        & (df["problem"].isin(["rosenbrock"]) | df["problem"].str.startswith("seminar"))
    ]
    d = d[d["mode"].isin(["vjp", "jac_fwd", "jac_fd"])]
    if d.empty:
        return None
    probs = sorted(d["problem"].unique())
    fig, axes = plt.subplots(1, len(probs), figsize=(3.6 * len(probs), 3.8), squeeze=False)
    for ax, p in zip(axes[0], probs):
        g = d[d["problem"] == p]
        for (engine, mode), h in g.groupby(["engine", "mode"]):
            h = h.loc[h.groupby("n")["chunk"].idxmax()].sort_values("n")
            ls = {"vjp": "-", "jac_fwd": "--", "jac_fd": ":"}[mode]
            ax.plot(
                h["n"],
                h["ratio_to_f"],
                ls,
                marker="o",
                ms=3,
                color=ENGINE_COLOR.get(engine),
                label=f"{engine} {mode}",
            )
        ax.axhspan(*an.OMEGA_GRADIENT, color="gold", alpha=0.35)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_title(p, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("gradient time / t(f)")
    axes[0][-1].legend(fontsize=6)
    return _save(fig, out / "cheap_gradient.png")


def fig_mlp(df: pd.DataFrame, out: Path) -> Path | None:
    """mlp: Jacobian time vs n (m = 8) and vs m (n = 8), all engines."""
    d = an.rows(df, problem="mlp")
    if d.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, tag, axis in ((axes[0], "vs_n", "n"), (axes[1], "vs_m", "m")):
        g = an.tagged(d, tag)
        for (engine, mode), h in g[g["mode"].isin(["jac_fwd", "jac_rev", "jac_fd"])].groupby(
            ["engine", "mode"]
        ):
            h = h.loc[h.groupby(["n", "m"])["chunk"].idxmax()].sort_values(axis)
            color, label = STYLE.get((engine, mode), ("gray", f"{engine} {mode}"))
            k = an.loglog_slope(h[axis], h["median_s"])
            ax.plot(
                h[axis], h["median_s"], "-o", ms=3, color=color, label=f"{label} (slope {k:.2f})"
            )
        title = f"mlp (hidden 128): time vs {axis}"
        _loglog(ax, axis, "median time per Jacobian [s]", title)
    return _save(fig, out / "mlp.png")


def fig_user_calls(df: pd.DataFrame, out: Path) -> Path | None:
    """Rosenbrock: time per gradient call against n for every tool (left), and our
    primal and gradient over the NumPy f for the n -> 1 families (right)."""
    d = an.rows(df, problem="rosenbrock")
    if d.empty or "per_call_s" not in d or an.rows(d, mode="grad").empty:
        return None
    ours = an.primary_engine(df)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6))
    lines = [
        ("ad", "grad", "tab:red", "-", "ad.grad(f)(x), un-jitted"),
        ("ad.jit", "grad", "tab:purple", "-", "ad.jit(ad.grad(f))(x)"),
        (ours, "grad", "tab:blue", "-", f"{ours}: prebuilt graph"),
        ("jax", "grad", "tab:green", "-", "jax.jit(jax.grad(f))"),
        ("autograd", "grad", "tab:orange", "-", "autograd.grad(f)"),
        ("numpy", "grad", "black", "-", "hand-written NumPy gradient"),
        ("numpy", "primal", "black", ":", "NumPy f"),
    ]
    for engine, mode, color, ls, label in lines:
        s = an.per_call(df, "rosenbrock", engine, mode)
        if len(s):
            ns = [k[0] for k in s.index]
            ax.plot(ns, s.to_numpy(), ls, marker="o", ms=3, color=color, label=label)
    _loglog(ax, "n", "median time per call [s]", "Rosenbrock: what a gradient call costs")
    fams = ["rosenbrock", *an.families(df, "seminar:")]
    colors = ["tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple"]
    drawn = False
    for fam, color in zip(fams, colors):
        for mode, ls in (("primal", ":"), ("grad", "-")):
            g = an.rows(df, problem=fam, engine=ours, mode=mode)
            g = g[g["ratio_to_numpy_f"].notna()].sort_values("n")
            if len(g):
                bx.plot(
                    g["n"],
                    g["ratio_to_numpy_f"],
                    ls,
                    marker="o",
                    ms=3,
                    color=color,
                    label=f"{fam} {'graph(x)' if mode == 'primal' else 'gradient'}",
                )
                drawn = True
    for y, text in ((1.5, "replay target 1.5"), (3.0, "gradient target 3")):
        bx.axhline(y, color="gray", lw=0.8, ls="--")
        bx.text(bx.get_xlim()[0] if drawn else 1, y, text, fontsize=6, va="bottom")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("n")
    bx.set_ylabel("time / NumPy f (same cell, same run)")
    bx.set_title(f"{ours} over the NumPy f (dotted: graph(x), solid: gradient)", fontsize=10)
    bx.grid(True, which="both", alpha=0.3)
    if drawn:
        bx.legend(fontsize=6)
    return _save(fig, out / "user_calls.png")


from bench.sparse_report import CAPTION as SPARSE_CAPTION  # noqa: E402
from bench.sparse_report import fig_sparse  # noqa: E402

#: (file, function, caption) of every figure, in report order.
FIGURES: list[tuple[str, Callable[[pd.DataFrame, Path], Path | None], str]] = [
    (
        "random_vs_n.png",
        fig_random_vs_n,
        "Time of one full Jacobian of the `random` family against the number of inputs n, "
        "m and T fixed, log-log. Solid: one direction per sweep (chunk 1, the textbook "
        "n x O(T) mode); dashed: the default chunk rule; bands: interquartile range over "
        "the rounds. Dotted black: the theoretical lines (slope 1 for forward, 0 for reverse) "
        "through the middle point. The legend gives the log-log slopes fitted from n = 8 up.",
    ),
    (
        "random_vs_m.png",
        fig_random_vs_m,
        "The mirror image: Jacobian time against the number of outputs m, n and T fixed. "
        "Theory: slope 0 for forward, 1 for reverse; slopes fitted from m = 8 up.",
    ),
    (
        "random_vs_T.png",
        fig_random_vs_T,
        "Time of every mode against the graph size T (arithmetic operations), n = m fixed, "
        "log-log, chunk 1. Linear cost in T is slope 1.",
    ),
    (
        "tape_vs_T.png",
        fig_tape_vs_T,
        "Memory: the reverse-mode tape (bytes kept between the recording and the adjoint "
        "sweep) against T, and the peak memory of one tangent / one adjoint call (method in "
        "the legend: tracemalloc sees Python and NumPy allocations, not Numba's or XLA's "
        "buffers; XLA's memory analysis counts argument, output and temporary buffers).",
    ),
    (
        "linear_ratio.png",
        fig_linear_ratio,
        "The seminar's experiment redone on f(x) = A x, n = 100: left, the ratio of the "
        "forward to the reverse Jacobian time against n/m (above 1 reverse wins; the "
        "crossover is where the curve crosses 1); right, the two times. Medians of "
        "calibrated pytest-benchmark rounds, single-threaded.",
    ),
    (
        "winner_map.png",
        fig_winner_map,
        "Winner map over the (n, m) grid of `random` (T fixed): colour is log2 of "
        "t(forward Jacobian)/t(reverse Jacobian), F where forward wins and R where reverse "
        "wins; dotted: n = m. Left one direction per sweep, right the default chunk rule. "
        "A solid black line, when present, is the boundary predicted by `ad.cost.estimate`.",
    ),
    (
        "omega.png",
        fig_omega,
        "The constants: omega_fwd = t(one tangent sweep)/t(f) and omega_rev = t(one adjoint, "
        "incl. recording)/t(f), every cell of every problem, per engine, each tool against "
        "its own primal; gold bands: the textbook bounds (tangent 2-2.5, gradient 3-4; "
        "Griewank & Walther 2008, approximately).",
    ),
    (
        "jax_vs_ours.png",
        fig_jax,
        "Our engine against jax.jit at every cell both ran: t(ours)/t(JAX) per mode (log "
        "scale; below 1 ours is faster). JAX's compile time is excluded (reported in the CSV).",
    ),
    (
        "cheap_gradient.png",
        fig_cheap_gradient,
        "The cheap-gradient principle on the n -> 1 problems: gradient time over f against "
        "n. Reverse (vjp) stays a constant multiple of f; the forward Jacobian and central "
        "differences grow with n. Gold band: 3-4.",
    ),
    (
        "mlp.png",
        fig_mlp,
        "The tensor-level `mlp` family: Jacobian time against n (m = 8) and against m "
        "(n = 8), every engine, default chunk.",
    ),
    (
        "user_calls.png",
        fig_user_calls,
        "Left: what one gradient call of Rosenbrock costs a user, against n: `ad.grad` "
        "un-jitted (traces and lowers every call), `ad.jit(ad.grad)` (where it exists), our "
        "engine on a prebuilt graph, `jax.jit(jax.grad)`, HIPS autograd, the hand-written "
        "NumPy gradient and the NumPy f (dotted). Right: our primal replay `graph(x)` "
        "(dotted) and prebuilt gradient (solid) over the NumPy f of the same cell, for the "
        "n -> 1 families; dashed: the targets of issue 11 (1.5 and 3).",
    ),
    ("sparse.png", fig_sparse, SPARSE_CAPTION),
]


def plot_all(csv: Path, out: Path) -> list[Path]:
    """Write every figure that has data; return their paths."""
    df = pd.read_csv(csv)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for _name, fn, _caption in FIGURES:
        p = fn(df, out)
        if p is not None:
            paths.append(p)
    return paths
