"""``reports/README.md``: the report, written from the results table and nothing else.

Every number in it is computed here from ``results.csv`` (through
:mod:`bench.analysis`) and ``sweep.json``; the findings are sentences whose numbers
and verdicts come from the data, and every figure of :mod:`bench.plots` that exists
is shown with its caption.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench import analysis as an
from bench import costmodel, sparse_report
from bench.plots import FIGURES
from bench.sweep import SPREAD_LIMIT, write_atomic


def md_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def g3(x: float) -> str:
    """Three significant digits, or an en dash for a missing value."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.3g}"


def verdict(ok: bool | None) -> str:
    """PASS / FAIL / n/a."""
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _within(x: float, lo: float, hi: float) -> bool | None:
    return None if not math.isfinite(x) else lo <= x <= hi


def setup_section(df: pd.DataFrame, status: dict[str, Any]) -> str:
    """Machine, versions, revision, threading, timing method."""
    r = df.iloc[0]
    th = status.get("threading", {})
    st = status.get("settings", {})
    lines = [
        "## Setup",
        "",
        f"- Machine: `{r['host']}`, {r['cpu_model']}, {int(r['cores'])} cores, shared with "
        "other work while measuring (absolute times drift; ratios measured in one run hold).",
        f"- Process pinned to core {int(r['pinned_cpu'])} with `os.sched_setaffinity` before "
        "NumPy/JAX were imported. Single-threading verified by CPU time / wall time of a "
        f"{st.get('thread_check_size', 1500)}-square matrix product: "
        f"NumPy {g3(th.get('numpy_cpu_wall', float('nan')))}, "
        f"JAX {g3(th.get('jax_cpu_wall', float('nan')))} (1.00: one thread had the core; "
        "about 2 would mean two threads; below 1 means another process shared the core "
        "during the check, i.e. load, not threads).",
        f"- Versions: Python {r['python']}, NumPy {r['numpy']}, Numba {r['numba']}, "
        f"JAX {r['jax']} (jaxlib {r['jaxlib']}, float64), pytest-benchmark "
        f"{r['pytest_benchmark']}.",
        f"- Revision: `{r['revision']}`; grid `{r['grid']}`; engines "
        f"{', '.join(status.get('engines', []))}; sweep started {status.get('started', '?')}, "
        f"took {g3(status.get('seconds', float('nan')) / 60)} min; complete: "
        f"{status.get('complete', False)}.",
        f"- Timing: pytest-benchmark (calibrated rounds of at least {st.get('min_time', '?')} "
        f"s, warm-up, at least {st.get('min_rounds', '?')} rounds, up to "
        f"{st.get('max_time', '?')} s per case, GC disabled, rounds timed with "
        f"`{st.get('timer', 'time.perf_counter')}`; calls over 1 s: 3 rounds, no "
        "warm-up); the first call of each function (Numba lowering, XLA compilation) is "
        "outside the rounds and recorded as `compile_s`, and a second call follows it, "
        "untimed (our engine compiles a program's large fused groups into loops of their "
        "own on its second forward sweep, `ad.kernels.specialise`). Figures quote medians; every "
        "ratio is to the primal f of the same tool timed in the same run (ours: the "
        "compiled `graph(x)`; JAX: `jax.jit(f)`; FD: the NumPy f). Our engines are called "
        "alternately at x and at x with one bit of x[0] changed: the compiled reverse mode "
        "keeps its tape and skips the recording sweep when called again at bit-identical "
        "inputs, so without this a timed gradient would leave the recording out (it would "
        "measure the adjoint sweep alone).",
        "- Memory: `tape_bytes` is the reverse mode's own count of what it keeps between "
        "the sweeps; `peak_bytes` is tracemalloc's peak during one call for our engines and "
        "FD (Python and NumPy allocations; Numba's internal buffers are not seen) and XLA's "
        "memory analysis (arguments + outputs + temporaries) for JAX; `rss_peak_bytes` "
        "is the resident set's high-water mark in a fresh process (`bench/memory.py`), "
        "measured where the grid asks for it.",
    ]
    for s in status.get("skipped", []):
        lines.append(f"- Skipped: {s}")
    return "\n".join(lines)


def random_section(df: pd.DataFrame, engine: str) -> tuple[str, dict[str, float]]:
    """Slopes along the random sweeps, against the acceptance ranges."""
    d = an.rows(df, problem="random")
    nums: dict[str, float] = {}
    if d.empty:
        return "", nums
    body = []
    checks = [
        ("vs_n", "n", "jac_fwd", 1, (0.9, 1.1), "forward Jacobian vs n (m, T fixed)"),
        ("vs_n", "n", "jac_rev", 1, (-0.15, 0.15), "reverse Jacobian vs n"),
        ("vs_m", "m", "jac_rev", 1, (0.9, 1.1), "reverse Jacobian vs m (n, T fixed)"),
        ("vs_m", "m", "jac_fwd", 1, (-0.15, 0.15), "forward Jacobian vs m"),
    ]
    for mode in ("primal", "jvp", "vjp", "jac_fwd", "jac_rev"):
        checks.append(("vs_T", "T", mode, 1, (0.9, 1.1), f"{mode} vs T (n = m fixed)"))
    for tag, axis, mode, chunk, (lo, hi), what in checks:
        start = an.FIT_FROM if tag in ("vs_n", "vs_m") else 0
        k = an.slope(d, tag, axis, engine, mode, chunk, lo=start)
        k_all = an.slope(d, tag, axis, engine, mode, chunk)
        kd = math.nan
        if mode.startswith("jac"):
            kd = an.slope(d, tag, axis, engine, mode, None, lo=start)
        nums[f"{tag}:{mode}"] = k
        s = an.sweep_series(d, tag, axis, engine, mode, chunk)
        s = s[s[axis] >= start] if not s.empty else s
        rng = f"{int(s[axis].min())}..{int(s[axis].max())}" if not s.empty else "–"
        body.append(
            [what, rng, g3(k), g3(k_all), g3(kd), f"[{lo:g}, {hi:g}]", verdict(_within(k, lo, hi))]
        )
    table = md_table(
        [
            "slope of median time",
            "fit range",
            "chunk 1",
            "chunk 1, whole sweep",
            "default chunk",
            "accept",
            "verdict",
        ],
        body,
    )
    fix = an.tagged(d, "vs_n")
    T = int(fix["T"].iloc[0]) if not fix.empty else 0
    text = [
        "### `random`: n x O(T) versus m x O(T)",
        "",
        f"Least-squares log-log slopes of the {engine} engine's median Jacobian time along "
        f"each sweep (T = {T} arithmetic operations on the n and m sweeps; every point is one "
        "graph of exactly T ops, so T does not change with n and m). Chunk 1 is one "
        "direction per sweep, the textbook mode the acceptance ranges refer to. The n and "
        f"m sweeps are fitted from {an.FIT_FROM} (the fixed dimension) up, the asymptotic "
        "range: below it the costs paid once per Jacobian (the call, and for reverse mode "
        "the recording sweep, done once for all m adjoint sweeps) are not small against "
        "the sweeps; the slope over the whole sweep is given beside it.",
        "",
        table,
    ]
    fits = []
    for mode in ("primal", "jvp", "vjp", "jac_fwd", "jac_rev"):
        s = an.sweep_series(d, "vs_T", "T", engine, mode, 1)
        if len(s) >= 2:
            a, b = an.affine_fit(s["T"], s["median_s"])
            fits.append(f"{mode} b = {g3(b * 1e9)} ns/op, a = {g3(a * 1e6)} us")
    if fits:
        s = an.tagged(d, "vs_T")
        text += [
            "",
            f"Affine fit t = a + b T along the T sweep (n = m = {int(s['n'].iloc[0])}, chunk 1; "
            "b is the cost per operation, a the fixed cost per call, which pulls the "
            f"log-log slope below 1 at small T): {'; '.join(fits)}.",
        ]
    jx = an.ours_over_jax(an.tagged(d, "jax"), engine)
    if not jx.empty:
        comp = an.tagged(an.rows(df, problem="random", engine="jax"), "jax")["compile_s"]
        text += [
            "",
            f"On the small-T slice where JAX also ran (T = {int(jx['T'].iloc[0])}), "
            f"t(ours)/t(JAX) has median {g3(jx['ratio'].median())} (range "
            f"{g3(jx['ratio'].min())}-{g3(jx['ratio'].max())}) over "
            f"{len(jx)} mode-cells, and XLA needed a median {g3(comp.median())} s "
            f"(max {g3(comp.max())} s) to compile each function: a scalar Wengert list "
            "becomes one XLA instruction per operation, so its compile time grows with T "
            "(measured while building this benchmark, at T = 10^4: 14 s for the primal; its "
            "jacfwd had not finished compiling after 9 minutes), which is why JAX runs on "
            "`random` only at small T.",
        ]
    return "\n".join(text), nums


def linear_section(df: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The seminar's experiment: crossover n/m per engine."""
    nums: dict[str, float] = {}
    body = []
    runs = [("compiled", 1, "compiled, chunk 1 (textbook)"), ("compiled", None, "compiled")]
    runs += [("reference", None, "reference"), ("jax", None, "jax")]
    for e, chunk, label in runs:
        c = an.linear_ratio(df, e, chunk)
        if c.empty:
            continue
        x = an.crossover(c["n_over_m"], c["fwd_over_rev"])
        nums[label] = x
        ok = None if not math.isfinite(x) else 0.5 <= x <= 2.0
        lo, hi = c.iloc[0], c.iloc[-1]
        flat = c[c["n_over_m"] >= 1.0]["fwd_over_rev"]
        body.append(
            [
                label,
                g3(x),
                verdict(ok) if chunk == 1 or e != "compiled" else "-",
                f"{g3(lo['fwd_over_rev'])} at n/m = {g3(lo['n_over_m'])}",
                f"{g3(hi['fwd_over_rev'])} at n/m = {g3(hi['n_over_m'])}",
                f"{g3(flat.min())}-{g3(flat.max())}" if len(flat) else "-",
            ]
        )
    if not body:
        return "", nums
    text = [
        "### `linear`: the seminar's experiment, with stable measurements",
        "",
        "f(x) = A x with n = 100 and m swept so that n/m runs over the grid. Forward "
        "costs ceil(n/p) sweeps of p tangents (m n^2 flops in all), reverse ceil(m/q) "
        "sweeps (m^2 n flops): theory puts the crossover at n/m = 1. The measured "
        "crossover is where t(forward Jacobian)/t(reverse Jacobian) crosses 1 "
        "(log-log interpolation between grid points); acceptance: within a factor 2 of 1, "
        "checked on the textbook modes (one direction per sweep) and on JAX.",
        "",
        "With its default chunks the compiled engine is not a textbook mode: all n = 100 "
        "directions go through one forward sweep, seeded with unit vectors, so the "
        "product with A is a copy of its columns (about m n work, not m n^2), and the "
        "reverse Jacobian is ceil(m/q) sweeps with q up to m. Where m <= n both are then "
        "one sweep of about the same fixed cost (the last column: the range of fwd/rev "
        "over n/m >= 1), a crossover inside that band is noise, not the law; forward "
        "wins clearly as soon as m > n.",
        "",
        md_table(
            [
                "engine",
                "crossover n/m",
                "within 2x of 1",
                "fwd/rev, most outputs",
                "fwd/rev, fewest outputs",
                "fwd/rev over n/m >= 1",
            ],
            body,
        ),
    ]
    return "\n".join(text), nums


def omega_section(df: pd.DataFrame) -> str:
    """omega_fwd and omega_rev per problem and engine (median over cells)."""
    om = an.omegas(df)
    if om.empty:
        return ""
    body = []
    for (p, e), g in om.groupby(["problem", "engine"]):
        jv = g["jvp"] if "jvp" in g else pd.Series(dtype=float)
        vj = g["vjp"] if "vjp" in g else pd.Series(dtype=float)
        body.append(
            [
                p,
                e,
                len(g),
                g3(jv.median()),
                f"{g3(jv.min())}-{g3(jv.max())}",
                g3(vj.median()),
                f"{g3(vj.min())}-{g3(vj.max())}",
            ]
        )
    ours = om[om["engine"] == an.primary_engine(df)]
    jv = ours["jvp"].dropna() if "jvp" in ours else pd.Series(dtype=float)
    vj = ours["vjp"].dropna() if "vjp" in ours else pd.Series(dtype=float)
    lo_t, hi_t = an.OMEGA_TANGENT
    lo_g, hi_g = an.OMEGA_GRADIENT
    text = [
        "### The constants: omega_fwd and omega_rev",
        "",
        "omega_fwd = t(one tangent sweep)/t(f) and omega_rev = t(one adjoint incl. "
        "recording, the gradient for m = 1)/t(f), each tool against its own primal. "
        f"Textbook bounds (Griewank & Walther, approximately): tangent {lo_t:g}-{hi_t:g}, "
        f"gradient {lo_g:g}-{hi_g:g}.",
        "",
        md_table(
            [
                "problem",
                "engine",
                "cells",
                "omega_fwd median",
                "range",
                "omega_rev median",
                "range",
            ],
            body,
        ),
        "",
    ]
    if len(jv) and len(vj):
        text.append(
            f"Over all {len(ours)} cells of our {an.primary_engine(df)} engine, omega_fwd has "
            f"median {g3(jv.median())} ({int(((jv >= lo_t) & (jv <= hi_t)).sum())} cells inside "
            f"{lo_t:g}-{hi_t:g}, {int((jv < lo_t).sum())} below, {int((jv > hi_t).sum())} "
            f"above) and omega_rev median {g3(vj.median())} "
            f"({int(((vj >= lo_g) & (vj <= hi_g)).sum())} inside {lo_g:g}-{hi_g:g}, "
            f"{int((vj < lo_g).sum())} below, {int((vj > hi_g).sum())} above). Values below "
            "the bounds are possible because the bounds count arithmetic only: where a call "
            "is dominated by fixed costs (dispatch, buffer set-up) shared by f and its "
            "derivative, the ratio tends to 1; tensor-level graphs whose work is in matrix "
            "products also sit low, since the derivative of a matmul is matmuls of the same "
            "size."
        )
    return "\n".join(text)


def jax_section(df: pd.DataFrame) -> str:
    """Where JAX wins or loses, per problem and mode."""
    engine = an.primary_engine(df)
    r = an.ours_over_jax(df, engine)
    if r.empty:
        return ""
    body = []
    for (p, mode), g in r.groupby(["problem", "mode"]):
        body.append(
            [p, mode, len(g), g3(g["ratio"].median()), g3(g["ratio"].min()), g3(g["ratio"].max())]
        )
    per = r.groupby("problem")["ratio"].median().sort_values()
    wins = [f"{p} ({g3(v)})" for p, v in per.items() if v < 1]
    loses = [f"{p} ({g3(v)})" for p, v in per.items() if v >= 1]
    cj = an.rows(df, engine="jax")["compile_s"]
    co = an.rows(df, engine=engine)["compile_s"]
    text = [
        "### Beside JAX",
        "",
        f"t(ours)/t(JAX) at every cell both ran ({engine} engine, medians; below 1 ours is "
        "faster):",
        "",
        md_table(["problem", "mode", "cells", "median", "min", "max"], body),
        "",
        "Per problem (median over modes and cells): ours faster on "
        f"{', '.join(wins) or 'none'}; JAX faster on {', '.join(loses) or 'none'}.",
        f"First-call cost (outside the timed rounds): JAX compile median {g3(cj.median())} s, "
        f"max {g3(cj.max())} s; our engine's first call (lowering, cached Numba kernels) "
        f"median {g3(co.median())} s, max {g3(co.max())} s.",
        "",
        _primal_gap(r),
        "",
        "Why, as far as the data shows: both run all directions of a Jacobian in one "
        "sweep where memory allows (ours up to the dual-buffer budget) and both put the "
        "matrix products through BLAS. What is left is (1) the fixed cost of a call, a "
        "few microseconds of Python around our sweeps (argument checks, workspaces, "
        "seeding, the finiteness check), which decides the microsecond cells; and (2) "
        "fusion: XLA compiles a derivative into a few loops that keep intermediates in "
        "registers, while our sweeps run instruction by instruction (only chains of "
        "elementwise instructions are fused) and the reverse mode writes a tape, so "
        "memory-bound derivatives of large arrays (rosenbrock at n >= 10^4) cost us more "
        "passes over memory. Where the graph is a long list of scalar operations "
        "(`random`), XLA gets no vector work to fuse and pays a compile time that grows "
        "with T, while our kernels interpret the list at a constant cost per operation.",
    ]
    return "\n".join(text)


def _primal_gap(r: pd.DataFrame) -> str:
    """How much of the gap to JAX is already in the primal f."""
    p = r[r["mode"] == "primal"].groupby("problem")["ratio"].median()
    d = r[r["mode"] != "primal"].groupby("problem")["ratio"].median()
    if p.empty:
        return ""
    parts = [f"{k}: f {g3(p[k])}, derivatives {g3(d.get(k, math.nan))}" for k in p.index]
    return (
        "How much of it is already in f (median t(ours)/t(JAX) of the primal, then of the "
        "derivative modes): " + "; ".join(parts) + ". Where the primal ratio is above "
        "1, part of the gap is in evaluating f itself; where it is below 1 and the "
        "derivatives' ratio above, the gap is in the derivative sweeps."
    )


def fd_section(df: pd.DataFrame) -> str:
    """Finite differences: cost and error against the closed forms, beside AD's error."""
    fd = an.rows(df, engine="fd", mode="jac_fd")
    if fd.empty:
        return ""
    ad_err = df[df["engine"].isin(["compiled", "reference"]) & df["mode"].str.startswith("jac")]
    body = []
    for p, g in fd.groupby("problem"):
        a = ad_err[ad_err["problem"] == p]["error"]
        body.append(
            [
                p,
                len(g),
                g3(g["error"].median()),
                g3(g["error"].max()),
                g3(a.max()),
                g3((g["ratio_to_f"] / (2 * g["n"])).median()),
            ]
        )
    return "\n".join(
        [
            "### Finite differences are not AD",
            "",
            "Central differences (step eps^(1/3) max(1, |x_i|), 2 n evaluations of the NumPy f) "
            "against the closed-form Jacobian; error is ADBench's max |x - y| / max(1, |x| + |y|).",
            "",
            md_table(
                [
                    "problem",
                    "cells",
                    "FD error median",
                    "FD error max",
                    "AD error max",
                    "t(FD)/(2 n t(f))",
                ],
                body,
            ),
            "",
            "AD is exact to round-off (errors near 1e-15); FD loses about a third of the digits "
            "(errors near 1e-10) and costs 2 n evaluations of f, the forward-mode cost without "
            "its exactness.",
        ]
    )


def chunk_section(df: pd.DataFrame, engine: str) -> str:
    """Vector mode: cost per direction with chunk 1 and with the default chunk."""
    d = an.tagged(an.rows(df, problem="random", engine=engine), "vs_n")
    d = pd.concat([d, an.tagged(an.rows(df, problem="random", engine=engine), "vs_m")])
    body = []
    for mode, axis in (("jac_fwd", "n"), ("jac_rev", "m")):
        g = d[(d["mode"] == mode) & (d[axis] >= 16)]
        if g.empty:
            continue
        per = g["ratio_to_f"] / g[axis]
        for c, h in per.groupby(g["chunk"] > 1):
            body.append([mode, "default (p, q > 1)" if c else "1", len(h), g3(h.median())])
    if not body:
        return ""
    return "\n".join(
        [
            "### Vector mode: cost per direction",
            "",
            "t(Jacobian)/(directions x t(f)) on the `random` sweeps (cells with at least 16 "
            "directions). Textbook: 1 + p to 1 + 1.5 p per p tangents, i.e. about 1-1.5 per "
            "direction plus 1/p; 2-2.5 per adjoint.",
            "",
            md_table(["mode", "chunk", "cells", "t / (directions x t(f)) median"], body),
        ]
    )


def spread_section(df: pd.DataFrame) -> str:
    """IQR/median of every timed case; the cases above 10 % with their CPU share."""
    df = df[df["median_s"].notna()]
    n = len(df)
    rem = int((df["remeasured"].fillna(0).astype(float) > 0).sum())
    flagged = df[df["flagged"].fillna(False).astype(bool)]
    share = df["cpu_share"] if "cpu_share" in df else pd.Series(dtype=float)
    from bench.sweep import SHARE_LIMIT

    low = flagged[flagged["cpu_share"] < SHARE_LIMIT] if "cpu_share" in flagged else flagged[:0]
    timer = str(df["timer"].iloc[0]) if "timer" in df and df["timer"].notna().any() else "?"
    body = [
        [
            r["problem"],
            r["engine"],
            r["mode"],
            int(r["n"]),
            int(r["m"]),
            int(r["T"]),
            int(r["chunk"]),
            g3(r["spread_first"]),
            g3(r["spread"]),
            g3(r.get("cpu_share", math.nan)),
            g3(r.get("preempted", math.nan)),
            g3(r["median_s"]),
        ]
        for _, r in flagged.sort_values("spread", ascending=False).iterrows()
    ]
    under = n - len(flagged)
    text = [
        "## Spread",
        "",
        f"Every one of the {n} timed cases reports its spread IQR/median over the rounds "
        f"(column `spread`; median {g3(df['spread'].median())}, 90th percentile "
        f"{g3(df['spread'].quantile(0.9))}): {under} of {n} ({under / max(n, 1):.1%}) are "
        f"at or below {SPREAD_LIMIT:.0%}. The rounds are timed with `{timer}`. {rem} cases "
        f"were above {SPREAD_LIMIT:.0%} and were measured again with rounds twice as long "
        "and twice the budget, keeping the pass with the smaller spread; "
        f"{len(flagged)} remain above {SPREAD_LIMIT:.0%} and are listed below (`flagged`).",
        "",
        "`cpu_share` is the CPU time of the pinned process (all its threads) over the wall "
        "time of the case's measurement: 1 when it had its core to itself, less when another "
        f"process ran there (median {g3(share.median())}, minimum {g3(share.min())} in this "
        f"run; {int((share < SHARE_LIMIT).sum())} cases below {SHARE_LIMIT:g}). Of the "
        f"flagged cases {len(low)} had a share below {SHARE_LIMIT:g}. `preempted` counts "
        "how often the scheduler took the core from the timing thread (for another "
        "process, or for one of its own threads: XLA's runtime threads share the pinned "
        "core with the Python thread, which is why JAX's microsecond calls are switched "
        "out thousands of times). Why the spread was high before, and what fixed it, is in "
        "`bench/timing.py` (measured on this machine).",
    ]
    if body:
        text += [
            "",
            md_table(
                [
                    "problem",
                    "engine",
                    "mode",
                    "n",
                    "m",
                    "T",
                    "chunk",
                    "first spread",
                    "spread",
                    "cpu share",
                    "preempted",
                    "median [s]",
                ],
                body,
            ),
        ]
    return "\n".join(text)


def memory_section(df: pd.DataFrame, engine: str) -> str:
    """Tape bytes per operation on random."""
    d = an.tagged(an.rows(df, problem="random", engine=engine, mode="vjp"), "vs_T")
    d = d[d["tape_bytes"].notna()]
    if d.empty:
        return ""
    k = an.loglog_slope(d["T"], d["tape_bytes"])
    per = (d["tape_bytes"] / d["nodes"]).median()
    return (
        "### Memory: the tape\n\n"
        f"The reverse mode's tape on `random` grows with slope {g3(k)} in T (log-log) at "
        f"{g3(per)} bytes per Wengert-list node (T from {int(d['T'].min())} to "
        f'{int(d["T"].max())}): O(T) memory, as the seminar says ("stores the information '
        'from the forward pass"); forward mode keeps none.'
    )


def write_report(csv: Path, out: Path) -> Path:
    """Write ``out/README.md`` from ``csv`` (and ``out/sweep.json`` when present)."""
    df = pd.read_csv(csv)
    status_path = out / "sweep.json"
    status = json.loads(status_path.read_text()) if status_path.exists() else {}
    if df.empty:
        raise ValueError(f"{csv} has no rows")
    engine = an.primary_engine(df)
    rnd, _ = random_section(df, engine)
    lin, _ = linear_section(df)
    parts = [
        "# Forward versus reverse mode: benchmark report",
        "",
        "Generated by `python -m bench report` from `results.csv` and `sweep.json` in this "
        "directory (regenerate everything with `make bench`; do not edit by hand). One row "
        "of `results.csv` per problem x engine x mode x n x m x T x chunk.",
        "",
        setup_section(df, status),
        "",
        "## Findings",
        "",
        targets_section(df),
        "",
        rnd,
        "",
        lin,
        "",
        costmodel.markdown(costmodel.evaluate(df)),
        "",
        omega_section(df),
        "",
        chunk_section(df, engine),
        "",
        memory_section(df, engine),
        "",
        jax_section(df),
        "",
        numpy_section(df),
        "",
        user_section(df),
        "",
        timed_section(df),
        "",
        fd_section(df),
        "",
        sparse_report.section(df),
        "",
        spread_section(df),
        "",
        "## Figures",
        "",
    ]
    for name, _fn, caption in FIGURES:
        if (out / name).exists():
            parts += [f"![{name}]({name})", "", f"*{name}.* {caption}", ""]
    parts += [
        "## Reproducing",
        "",
        "`make bench` runs `python -m bench sweep`, `plot` and `report` on the default grid; "
        "`make bench-quick` does the same on the small grid into `reports/quick/`. A sweep "
        "rewrites `results.csv` atomically after every family; an interrupted sweep leaves "
        "the families finished so far, and `python -m bench sweep --resume` continues it "
        "(a plain re-run starts clean).",
        "",
    ]
    text = "\n".join(p for p in parts if p is not None)
    path = out / "README.md"
    write_atomic(path, re.sub(r"\n{3,}", "\n\n", text))
    return path


# --- issues 11 and 12 ---------------------------------------------------------------


def _t(x: float) -> str:
    """A time in s, ms or us."""
    if x is None or not math.isfinite(x):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x * 1e9:.3g} ns"


def _mb(x: float) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x / 2**20:.3g} MiB"


def _cell(df: pd.DataFrame, problem: str, engine: str, mode: str, n: int, m: int) -> float:
    s = an.per_call(df, problem, engine, mode)
    return float(s.get((n, m), math.nan)) if len(s) else math.nan


def _beside_jax_and_hand(
    df: pd.DataFrame, problem: str, mode: str, n: int, m: int, t: float
) -> list[str]:
    """Table cells of our time ``t`` of a ``mode`` call at (n, m): ours, jax.jit of the
    same, ours / JAX, and the hand-written NumPy."""
    tj = _cell(df, problem, "jax", mode, n, m)
    return [_t(t), _t(tj), g3(t / tj), _t(_cell(df, problem, "numpy", mode, n, m))]


def targets_section(df: pd.DataFrame) -> str:
    """The targets of issues 11 and 12 with the measured worst case and a verdict."""
    rows = an.targets(df)
    if not rows:
        return ""
    body = []
    for r in rows:
        v = r["value"]
        shown = "–" if not math.isfinite(v) else (f"{v:.3g}" if r["unit"] != "" else f"{v:.2g}")
        if r["unit"] == "us" and math.isfinite(v):
            shown = f"{v:.3g} us"
        limit = f"<= {r['limit']:g}{' us' if r['unit'] == 'us' else ''}"
        verdict_text = verdict(r["ok"]) + (f" ({r['missing']})" if r["missing"] else "")
        body.append([r["issue"], r["target"], limit, shown, verdict_text])
    return "\n".join(
        [
            "### Targets of issues 11 and 12",
            "",
            "Each target's worst case over the cells of this run that it names (medians per "
            "user call; ratios are of two times measured in the same run). The sections below "
            "give every cell.",
            "",
            md_table(["issue", "target", "limit", "measured", "verdict"], body),
        ]
    )


def numpy_section(df: pd.DataFrame) -> str:
    """Issue 11: the compiled engines beside NumPy's f, the hand-written derivatives and
    JAX, on the array programs."""
    if "numpy" not in set(df["engine"]):
        return ""
    eng = an.primary_engine(df)
    parts = [
        "### Array programs beside NumPy and JAX",
        "",
        "The `numpy` rows are what a NumPy programmer writes by hand (`bench/problems/`: "
        "Rosenbrock's gradient and tridiagonal Hessian, the mlp Jacobian chain in the "
        "cheaper order, A for `linear`, the seminar's closed forms). Ratios are to the "
        "NumPy f of the same cell, timed in the same run.",
        "",
    ]
    body = []
    for fam in ["rosenbrock", "mlp", "linear", *an.families(df, "seminar:")]:
        d = an.rows(df, problem=fam, engine=eng, mode="primal")
        if d.empty or d["ratio_to_numpy_f"].isna().all():
            continue
        r = d["ratio_to_numpy_f"]
        w = d.loc[r.idxmax()]
        body.append(
            [
                fam,
                len(d),
                g3(r.min()),
                g3(r.median()),
                g3(r.max()),
                f"({int(w['n'])}, {int(w['m'])})",
                int((r <= 1.5).sum()),
            ]
        )
    if body:
        parts += [
            "Compiled replay `graph(x)` / NumPy f, per family (target <= 1.5):",
            "",
            md_table(
                ["problem", "cells", "min", "median", "max", "worst cell (n, m)", "cells <= 1.5"],
                body,
            ),
            "",
        ]
    ns = sorted(an.per_call(df, "rosenbrock", "numpy", "primal").index)
    if ns:
        body = []
        for n, m in ns:
            f = _cell(df, "rosenbrock", "numpy", "primal", n, m)
            body.append(
                [
                    n,
                    _t(f),
                    g3(_cell(df, "rosenbrock", eng, "primal", n, m) / f),
                    g3(_cell(df, "rosenbrock", eng, "grad", n, m) / f),
                    g3(_cell(df, "rosenbrock", "numpy", "grad", n, m) / f),
                    g3(_cell(df, "rosenbrock", "jax", "grad", n, m) / f),
                    g3(
                        _cell(df, "rosenbrock", eng, "grad", n, m)
                        / _cell(df, "rosenbrock", "jax", "grad", n, m)
                    ),
                ]
            )
        parts += [
            "Rosenbrock, times over the NumPy f (targets: replay <= 1.5, prebuilt gradient <= 3):",
            "",
            md_table(
                [
                    "n",
                    "NumPy f",
                    "graph(x)",
                    "prebuilt gradient",
                    "hand-written gradient",
                    "jax.jit(grad)",
                    "prebuilt gradient / jax.jit(grad)",
                ],
                body,
            ),
            "",
        ]
    ours = an.rows(df, problem="mlp", engine=eng, mode="jac")
    if not ours.empty:
        jx = an.jax_best_jacobian(df, "mlp").set_index(["n", "m"])
        body = []
        for _, r in ours.sort_values(["n", "m"]).iterrows():
            n, m = int(r["n"]), int(r["m"])
            hand = an.rows(df, problem="mlp", engine="numpy", mode="jac", n=n, m=m)
            th = float(hand["per_call_s"].iloc[0]) if len(hand) else math.nan
            tj = float(jx["t"].get((n, m), math.nan)) if len(jx) else math.nan
            how = jx["how"].get((n, m), "–") if len(jx) else "–"
            body.append(
                [
                    f"({n}, {m})",
                    str(r.get("detail", "")).replace("auto: ", ""),
                    int(r["chunk"]),
                    _t(r["per_call_s"]),
                    _t(th),
                    str(hand["detail"].iloc[0]) if len(hand) else "–",
                    g3(r["per_call_s"] / th),
                    f"{_t(tj)} ({how})",
                    g3(r["per_call_s"] / tj),
                ]
            )
        parts += [
            "mlp (hidden 128) Jacobians: ours in auto mode with the default chunk on the "
            "prebuilt graph, against the hand-written chain (target <= 1.5) and JAX's "
            "faster of jit(jacfwd) and jit(jacrev) (target <= 1 at the square cells):",
            "",
            md_table(
                [
                    "(n, m)",
                    "auto chose",
                    "chunk",
                    "ours",
                    "hand chain",
                    "order",
                    "ours / hand",
                    "JAX best",
                    "ours / JAX",
                ],
                body,
            ),
            "",
        ]
    body = []
    for fam in an.families(df, "seminar:"):
        for (n, m), t in an.per_call(df, fam, eng, "grad").items():
            replay = _cell(df, fam, eng, "primal", n, m) / _cell(df, fam, "numpy", "primal", n, m)
            body.append([fam, n, g3(replay), *_beside_jax_and_hand(df, fam, "grad", n, m, t)])
    if body:
        parts += [
            "The seminar's problems: replay over NumPy f, and the prebuilt gradient against "
            "jax.jit(jax.grad) (target <= 1.5 at n = 100 and 400) and the closed form:",
            "",
            md_table(
                [
                    "problem",
                    "n",
                    "graph(x) / NumPy f",
                    "prebuilt gradient",
                    "jax.jit(grad)",
                    "ours / JAX",
                    "closed form (NumPy)",
                ],
                body,
            ),
            "",
        ]
    body = []
    for fam in ["rosenbrock", *an.families(df, "seminar:")]:
        for (n, m), t in an.per_call(df, fam, eng, "hessian").items():
            body.append([fam, n, *_beside_jax_and_hand(df, fam, "hessian", n, m, t)])
    if body:
        parts += [
            "Hessians, forward over reverse on a prebuilt gradient graph "
            "(`G = ad.reverse.gradient_graph(graph, x)`, then `ad.forward.jacobian(G, x)`), "
            "against jax.jit(jax.hessian) (target <= 2):",
            "",
            md_table(
                ["problem", "n", "ours (prebuilt G)", "jax.jit(hessian)", "ours / JAX", "hand"],
                body,
            ),
            "",
        ]
    mem = an.memory_table(df)
    if not mem.empty:
        body = [
            [
                f"({int(r['n'])}, {int(r['m'])})",
                r["engine"],
                r["mode"],
                str(r["detail"]) if isinstance(r["detail"], str) else "",
                _mb(r["rss_peak_bytes"]),
                _mb(r["rss_steady_bytes"]),
                _mb(r["peak_bytes"]),
                str(r["peak_method"]),
            ]
            for _, r in mem.iterrows()
        ]
        parts += [
            "Peak memory of one Jacobian (target: ours <= 4x JAX's). Method: "
            f"{mem['rss_method'].iloc[0]}: a fresh process per row loads the library's "
            "code on a tiny problem first, resets the kernel's high-water mark of the "
            "resident set (`/proc/self/clear_refs`), makes the call and reads VmHWM; "
            "first call = the graph's lowering and dual buffers included (JAX: its "
            "compilation excluded, its buffers are allocated per call); later call = what "
            "each further call adds. The last two columns are the in-process figures "
            "(tracemalloc does not see Numba's buffers; XLA's own memory analysis):",
            "",
            md_table(
                [
                    "(n, m)",
                    "engine",
                    "mode",
                    "detail",
                    "peak RSS, first call",
                    "peak RSS, later call",
                    "in-process peak",
                    "method",
                ],
                body,
            ),
            "",
        ]
    return "\n".join(parts)


#: The user calls of issue 12: (engine, mode) columns of the table, and their labels.
USER_COLUMNS = [
    ("ad", "ad.grad / ad.hessian / ad.hvp (un-jitted)"),
    ("ad.jit", "ad.jit of the same"),
    ("prebuilt", "prebuilt graph"),
    ("jax", "jax.jit of the same"),
    ("autograd", "autograd"),
    ("numpy", "hand-written NumPy"),
]


def user_section(df: pd.DataFrame) -> str:
    """Issue 12: what a user pays per call, end to end, beside the prebuilt graph,
    jax.jit, autograd and the hand-written NumPy."""
    api = df[df["engine"].isin(["ad", "ad.jit", "autograd"])]
    if api.empty:
        return ""
    keys = (
        api[["problem", "mode", "n", "m"]]
        .drop_duplicates()
        .sort_values(["problem", "mode", "n"])
        .itertuples(index=False)
    )
    body = []
    for p, mode, n, m in keys:
        row = [p, mode, int(n)]
        base = _cell(df, p, "jax", mode, n, m)
        for engine, _label in USER_COLUMNS:
            engine = an.primary_engine(df) if engine == "prebuilt" else engine
            t = _cell(df, p, engine, mode, n, m)
            row.append(_t(t) + (f" ({g3(t / base)})" if math.isfinite(t / base) else ""))
        body.append(row)
    jit = an.rows(df, engine="ad.jit")
    note = ""
    if not jit.empty and not jit["available"].fillna(False).astype(bool).any():
        note = (
            "**`ad.jit` is not available at this revision** (`hasattr(ad, 'jit')` is false): "
            "its rows are in `results.csv` with `available = False` and no timing; the "
            "benchmark times them as soon as `ad.jit(fun, static_argnums=())` exists. "
        )
    return "\n".join(
        [
            "### What a user pays per call",
            "",
            note + "Time per user call (median; for `gd` the descent loop's time over its "
            "steps), and in brackets the ratio to jax.jit of the same transformation. "
            "`grad`/`hessian`/`hvp`/`primal` are one call; `gd` is gradient descent on "
            "`logistic` (500 x 20 data, one gradient call per step). The prebuilt-graph "
            "column is the engine without any tracing or lowering in the timed call, the "
            "floor that `ad.jit` can reach; what each column's call includes is in the "
            "next section.",
            "",
            md_table(
                ["problem", "mode", "n", *[label for _e, label in USER_COLUMNS]],
                body,
            ),
            lowering_text(df),
        ]
    )


def lowering_text(df: pd.DataFrame) -> str:
    """What lowering a new graph costs per equation, by graph size (issue 12)."""
    low = an.lowering_per_eqn(df, an.primary_engine(df))
    if low.empty:
        return ""
    by_T = low.groupby(level=0).median()
    parts = ", ".join(f"{g3(v * 1e6)} us at T = {int(T)}" for T, v in by_T.items())
    return (
        "\nLowering a graph the first time (`lower_graph`, CPU time, median of 5, "
        "per equation; median over the `random` cells of each T): " + parts + ". A call "
        "at new inputs or a re-trace of the same structure does not lower again."
    )


def timed_section(df: pd.DataFrame) -> str:
    """What each timed call includes, and whether it could skip work a real call does."""
    if "timed" not in df:
        return ""
    d = df[df["timed"].notna()][["engine", "mode", "timed"]].drop_duplicates()
    if d.empty:
        return ""
    body = [[r.engine, r.mode, r.timed] for r in d.sort_values(["engine", "mode"]).itertuples()]
    return "\n".join(
        [
            "### What each timed call includes",
            "",
            "Measure what the user pays: every timed call below does all the work a real "
            "call at a new point does. Our engines keep state between calls (the lowered "
            "program and its buffers, and in this revision the reverse mode's tape, reused "
            "when called again at bit-identical inputs), so their inputs alternate between "
            "two points; what is built once outside the timing is named. JAX, NumPy, "
            "finite differences and autograd keep no values between calls.",
            "",
            md_table(["engine", "mode", "the timed call"], body),
        ]
    )
