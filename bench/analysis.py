"""Numbers derived from the results table: slopes, crossovers, omegas, JAX ratios.

Pure functions of the tidy table (a pandas DataFrame of ``results.csv``), shared by
the plots, the report and the regression check, so that every figure and every
sentence of the report quotes the same computation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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


def linear_ratio(df: pd.DataFrame, engine: str) -> pd.DataFrame:
    """The linear family: n/m and t(jac_fwd)/t(jac_rev) per cell for one engine."""
    d = rows(df, problem="linear", engine=engine)
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
