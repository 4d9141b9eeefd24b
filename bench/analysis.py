"""Numbers derived from the results table: slopes, crossovers, omegas, JAX ratios.

Pure functions of the tidy table (a pandas DataFrame of ``results.csv``), shared by
the plots, the report and the regression check, so that every figure and every
sentence of the report quotes the same computation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.grid import RANDOM_T

#: Textbook bounds (Griewank & Walther 2008, ch. 4; recalled, approximate).
OMEGA_TANGENT = (2.0, 2.5)
OMEGA_GRADIENT = (3.0, 4.0)


def tagged(df: pd.DataFrame, tag: str) -> pd.DataFrame:
    """Rows of cells that belong to sweep ``tag`` (the ``sweeps`` column)."""
    if df.empty:
        return df
    mask = [tag in str(v).split("|") for v in df["sweeps"].fillna("")]
    return df[np.asarray(mask, dtype=bool)]


def rows(df: pd.DataFrame, **eq: object) -> pd.DataFrame:
    """Rows whose columns equal the given values (``chunk=None`` means any)."""
    out = df
    for k, v in eq.items():
        if v is not None:
            out = out[out[k] == v]
    return out


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x (NaN with fewer than 2 points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of y = a + b x, least squares in relative error (weights 1 / y)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    b, a = np.polyfit(x, y, 1, w=1.0 / y)
    return float(a), float(b)


def sweep_series(
    df: pd.DataFrame, tag: str, axis: str, engine: str, mode: str, chunk: int | None = 1
) -> pd.DataFrame:
    """(axis value, median time) of one engine/mode along sweep ``tag``, sorted by axis.

    ``chunk=None`` takes the default chunk rule's rows: for each cell, the largest
    chunk timed (the default is >= 1, and equals 1 only when there is one seed).
    """
    d = rows(tagged(df, tag), engine=engine, mode=mode)
    if d.empty:
        return d
    if chunk is None:
        d = d.loc[d.groupby(["n", "m", "T"])["chunk"].idxmax()]
    else:
        d = d[d["chunk"] == chunk]
    return d.sort_values(axis)


#: The n and m sweeps are fitted where the swept dimension is at least the fixed one (8):
#: the asymptotic range of n x O(T). Below it, costs paid once per Jacobian (reverse
#: mode's recording sweep, the call itself) are not yet small against the sweeps.
FIT_FROM = 8


def slope(
    df: pd.DataFrame,
    tag: str,
    axis: str,
    engine: str,
    mode: str,
    chunk: int | None = 1,
    lo: float = 0.0,
) -> float:
    """Log-log slope of median time against ``axis`` along sweep ``tag`` (axis >= lo)."""
    s = sweep_series(df, tag, axis, engine, mode, chunk)
    s = s[s[axis] >= lo] if not s.empty else s
    if s.empty:
        return float("nan")
    return loglog_slope(s[axis].to_numpy(), s["median_s"].to_numpy())


def crossover(ratio_x: np.ndarray, fwd_over_rev: np.ndarray) -> float:
    """The x where log(t_fwd / t_rev) crosses 0, interpolated in log-log (NaN if none).

    ``ratio_x`` is n / m, increasing; the first sign change is used.
    """
    x = np.log(np.asarray(ratio_x, dtype=float))
    y = np.log(np.asarray(fwd_over_rev, dtype=float))
    order = np.argsort(x)
    x, y = x[order], y[order]
    for i in range(len(x) - 1):
        if y[i] == 0:
            return float(math.exp(x[i]))
        if y[i] * y[i + 1] < 0:
            t = y[i] / (y[i] - y[i + 1])
            return float(math.exp(x[i] + t * (x[i + 1] - x[i])))
    return float("nan")


def linear_ratio(df: pd.DataFrame, engine: str, chunk: int | None = None) -> pd.DataFrame:
    """The linear family: n/m and t(jac_fwd)/t(jac_rev) per cell for one engine (the
    fastest chunk of each mode, or only the rows of width ``chunk``)."""
    d = rows(df, problem="linear", engine=engine, chunk=chunk)
    if d.empty:
        return pd.DataFrame(columns=["n_over_m", "fwd", "rev", "fwd_over_rev"])
    f = d[d["mode"] == "jac_fwd"].groupby(["n", "m"])["median_s"].min()
    r = d[d["mode"] == "jac_rev"].groupby(["n", "m"])["median_s"].min()
    both = pd.concat({"fwd": f, "rev": r}, axis=1).dropna().reset_index()
    both["n_over_m"] = both["n"] / both["m"]
    both["fwd_over_rev"] = both["fwd"] / both["rev"]
    return both.sort_values("n_over_m")


def omegas(df: pd.DataFrame) -> pd.DataFrame:
    """omega_fwd = t(jvp)/t(f) and omega_rev = t(vjp)/t(f) per problem cell and engine."""
    d = df[df["mode"].isin(["jvp", "vjp"])]
    if d.empty:
        return pd.DataFrame(columns=["problem", "engine", "n", "m", "T", "jvp", "vjp"])
    t = d.pivot_table(
        index=["problem", "engine", "n", "m", "T"], columns="mode", values="ratio_to_f"
    )
    return t.reset_index()


def ours_over_jax(df: pd.DataFrame, engine: str = "compiled") -> pd.DataFrame:
    """t(ours)/t(JAX) per problem cell and mode, at matching cells (default chunk)."""
    keys = ["problem", "n", "m", "T", "mode"]
    ours = rows(df, engine=engine).groupby(keys)["median_s"].min()
    jax = rows(df, engine="jax").groupby(keys)["median_s"].min()
    both = pd.concat({"ours": ours, "jax": jax}, axis=1).dropna().reset_index()
    both["ratio"] = both["ours"] / both["jax"]
    return both


def primary_engine(df: pd.DataFrame) -> str:
    """``compiled`` if the table has it (outside the ``sparse`` family, whose own tool
    always runs the compiled engine), else ``reference``."""
    engines = set(df.loc[~df["problem"].astype(str).str.startswith("sparse:"), "engine"])
    return "compiled" if "compiled" in engines else "reference"


# --- issue 11 and 12: peers, user calls, targets ------------------------------------


def per_call(df: pd.DataFrame, problem: str, engine: str, mode: str) -> pd.Series:
    """Time per user call (median / calls), indexed by (n, m), of one engine and mode;
    the smallest over chunks where several were timed."""
    d = rows(df, problem=problem, engine=engine, mode=mode)
    if d.empty or "per_call_s" not in d:
        return pd.Series(dtype=float)
    d = d[d["per_call_s"].notna()]
    return d.groupby(["n", "m"])["per_call_s"].min()


def lowering_per_eqn(df: pd.DataFrame, engine: str) -> pd.Series:
    """Seconds per equation of lowering the random family's graphs, indexed by T (one
    entry per cell; :func:`bench.tools.lowering_time` over the graph's equations)."""
    if "lower_s_per_eqn" not in df:
        return pd.Series(dtype=float)
    d = rows(df, problem="random", engine=engine, mode="primal")
    d = d[d["lower_s_per_eqn"].notna()]
    return pd.Series(d["lower_s_per_eqn"].to_numpy(), index=d["T"].to_numpy(), dtype=float)


def families(df: pd.DataFrame, prefix: str) -> list[str]:
    """The problem names of the table that start with ``prefix``, sorted."""
    return sorted(p for p in df["problem"].unique() if str(p).startswith(prefix))


def jax_best_jacobian(df: pd.DataFrame, problem: str) -> pd.DataFrame:
    """JAX's faster Jacobian per cell: columns n, m, t, how (jacfwd or jacrev)."""
    f = per_call(df, problem, "jax", "jac_fwd")
    r = per_call(df, problem, "jax", "jac_rev")
    both = pd.concat({"jacfwd": f, "jacrev": r}, axis=1)
    if both.empty:
        return pd.DataFrame(columns=["n", "m", "t", "how"])
    out = pd.DataFrame({"t": both.min(axis=1), "how": both.idxmin(axis=1)})
    return out.reset_index()


def target(
    issue: int, what: str, value: float, limit: float, unit: str = "x", missing: str = ""
) -> dict[str, object]:
    """One row of the targets table: ``value <= limit`` passes (NaN: n/a, ``missing``
    says why)."""
    ok = None if not math.isfinite(value) else bool(value <= limit)
    return {
        "issue": issue,
        "target": what,
        "limit": limit,
        "value": value,
        "unit": unit,
        "ok": ok,
        "missing": missing,
    }


def _worst(series: pd.Series) -> float:
    s = series.dropna()
    return float(s.max()) if len(s) else float("nan")


def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    """a / b on the cells both have (empty if either is)."""
    if len(a) == 0 or len(b) == 0:
        return pd.Series(dtype=float)
    return (a / b).dropna()


def targets(df: pd.DataFrame) -> list[dict[str, object]]:
    """Every measurable target of issues 11 and 12, worst case over its cells."""
    out: list[dict[str, object]] = []
    has = set(df["engine"].unique())
    eng = primary_engine(df)
    jit_note = ""
    jit = rows(df, engine="ad.jit")
    if not jit.empty and not jit["available"].fillna(False).astype(bool).any():
        jit_note = "ad.jit not available at this revision"
    # issue 11: compiled replay / NumPy f
    for fam in ["rosenbrock", "mlp", "linear", *families(df, "seminar:")]:
        d = rows(df, problem=fam, engine=eng, mode="primal")
        if not d.empty and "numpy" in has:
            if fam.startswith("seminar:"):
                d = d[d["n"] <= 400]
            out.append(
                target(
                    11,
                    f"{eng} graph(x) / NumPy f, {fam} (worst cell)",
                    _worst(d["ratio_to_numpy_f"]),
                    1.5,
                )
            )
    g = rows(df, problem="rosenbrock", engine=eng, mode="grad")
    if not g.empty and "numpy" in has:
        out.append(
            target(
                11,
                "prebuilt gradient / NumPy f, rosenbrock (worst n)",
                _worst(g["ratio_to_numpy_f"]),
                3.0,
            )
        )
    ours = per_call(df, "mlp", eng, "jac")
    hand = per_call(df, "mlp", "numpy", "jac")
    if len(ours) and len(hand):
        out.append(
            target(
                11,
                "mlp Jacobian (auto, default chunk) / hand-written NumPy chain (worst cell)",
                _worst(ratio(ours, hand)),
                1.5,
            )
        )
    jx = jax_best_jacobian(df, "mlp")
    if len(ours) and not jx.empty:
        sq = jx[jx["n"] == jx["m"]].set_index(["n", "m"])["t"]
        r = ratio(ours, sq)
        out.append(
            target(
                11, "mlp Jacobian / jax.jit(jacfwd or jacrev), square cells (worst)", _worst(r), 1.0
            )
        )
    for fam in families(df, "seminar:"):
        r = ratio(per_call(df, fam, eng, "grad"), per_call(df, fam, "jax", "grad"))
        r = r[[k for k in r.index if k[0] in (100, 400)]] if len(r) else r
        if len(r):
            out.append(
                target(11, f"{fam} gradient / jax.jit(jax.grad), n = 100, 400", _worst(r), 1.5)
            )
    for fam in ("rosenbrock", "seminar:cubic_norm"):
        r = ratio(per_call(df, fam, eng, "hessian"), per_call(df, fam, "jax", "hessian"))
        if len(r.dropna()):
            ns = ", ".join(str(int(k[0])) for k in r.dropna().index)
            out.append(
                target(
                    11,
                    f"{fam} Hessian (prebuilt G) / jax.jit(jax.hessian), n = {ns}",
                    _worst(r),
                    2.0,
                )
            )
    mem = memory_table(df)
    if not mem.empty:
        ours_m = mem[(mem["engine"] == eng) & (mem["mode"] == "jac")]["rss_peak_bytes"]
        jax_m = mem[mem["engine"] == "jax"]["rss_peak_bytes"]
        if len(ours_m) and len(jax_m):
            cell = mem.iloc[0]
            out.append(
                target(
                    11,
                    f"mlp ({int(cell['n'])}, {int(cell['m'])}) Jacobian peak RSS, ours "
                    "(auto) / JAX's smaller",
                    float(ours_m.min() / jax_m.min()),
                    4.0,
                )
            )

    # issue 12: user calls
    def jit_row(what: str, value: float, limit: float, unit: str = "x") -> None:
        out.append(
            target(12, what, value, limit, unit, jit_note if not math.isfinite(value) else "")
        )

    def jit_row_at(
        what: str, problem: str, mode: str, over: tuple[str, str], n: int, limit: float
    ) -> None:
        """The row of ad.jit's ``mode`` calls over ``over`` = (engine, mode) at n."""
        if not rows(df, problem=problem, engine="ad.jit", mode=mode).empty:
            r = ratio(per_call(df, problem, "ad.jit", mode), per_call(df, problem, *over))
            r = r[[k for k in r.index if k[0] == n]] if len(r) else r
            jit_row(what, _worst(r), limit)

    small_jit = per_call(df, "small", "ad.jit", "grad")
    small_ad = per_call(df, "small", "ad", "grad")
    if len(small_ad) or not rows(df, problem="small", engine="ad.jit").empty:
        jit_row(
            "ad.jit(ad.grad(f))(x), 7-node f, per call [us]", _worst(small_jit) * 1e6, 10.0, "us"
        )
        out.append(
            target(
                12,
                "ad.grad(f)(x) un-jitted, 7-node f, per call [us]",
                _worst(small_ad) * 1e6,
                100.0,
                "us",
            )
        )
    rj = per_call(df, "rosenbrock", "ad.jit", "grad")
    rp = per_call(df, "rosenbrock", eng, "grad")
    if len(rp) and not rows(df, problem="rosenbrock", engine="ad.jit").empty:
        jit_row(
            "ad.jit(ad.grad(rosenbrock)) / prebuilt gradient (worst n)", _worst(ratio(rj, rp)), 1.2
        )
    jit_row_at(
        "ad.jit(ad.hvp(rosenbrock)) / compiled primal, n = 1000",
        "rosenbrock",
        "hvp",
        (eng, "primal"),
        1000,
        6.0,
    )
    jit_row_at(
        "ad.jit(ad.hessian(cubic norm)) / jax.jit(jax.hessian), n = 100",
        "seminar:cubic_norm",
        "hessian",
        ("jax", "hessian"),
        100,
        3.0,
    )
    low = lowering_per_eqn(df, eng)
    if len(low):
        at = low[low.index == RANDOM_T]
        out.append(
            target(
                12,
                f"lowering per equation, random graph with T = {RANDOM_T} [us] (worst cell)",
                _worst(at) * 1e6 if len(at) else float("nan"),
                2.0,
                "us",
                "" if len(at) else f"no random cell with T = {RANDOM_T} in this grid",
            )
        )
    gj = per_call(df, "logistic", "ad.jit", "gd")
    gx = per_call(df, "logistic", "jax", "gd")
    if len(gx):
        jit_row(
            "descent loop, ad.jit(ad.grad) per step / jax.jit(jax.grad) per step",
            _worst(ratio(gj, gx)),
            1.5,
        )
        e = rows(df, problem="logistic", mode="gd")
        e = e[e["engine"].isin(["ad.jit", "jax"]) & e["available"].fillna(False).astype(bool)]
        err = float(e["error"].sum()) if len(e) == 2 else float("nan")
        jit_row(
            "descent loop: final weights of ad.jit vs jax.jit, max difference (bounded by "
            "the sum of both errors against the hand-written loop)",
            err,
            1e-10,
            "",
        )
    return out


def memory_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with an RSS measurement: problem, n, m, engine, mode, chunk, the figures."""
    if "rss_peak_bytes" not in df:
        return pd.DataFrame()
    d = df[df["rss_peak_bytes"].notna()]
    cols = [
        "problem",
        "n",
        "m",
        "engine",
        "mode",
        "chunk",
        "rss_peak_bytes",
        "rss_steady_bytes",
        "peak_bytes",
        "peak_method",
        "rss_method",
        "detail",
    ]
    return d[[c for c in cols if c in d]].reset_index(drop=True)
