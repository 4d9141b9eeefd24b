"""The sweep: build every cell, prepare every tool, time with pytest-benchmark, save.

Raw tidy data first (docs/architecture.md, "The benchmark"): one row per problem x
engine x mode x n x m x T x chunk in ``<out>/results.csv``, with the timing statistics,
the ratio to the primal f of the same tool (timed in the same run), memory, error and
provenance. Plots and the report are functions of that table only.

Atomic and resumable. The CSV is rewritten after every family through a temporary
file and ``os.replace``, so an interrupted sweep leaves the last complete CSV (whole
rows of the finished families) and never a half-written one; ``<out>/sweep.json``
records the families finished and whether the sweep completed. A re-run starts clean
unless ``--resume`` is given: then the families already finished by a sweep of the
same revision, machine and grid are kept and the others measured.

Timing. A case whose first call took more than a second (e.g. the reverse Jacobian of
``linear`` at m = 10^4) is timed with 3 rounds and no warm-up, to keep ``make bench``
within its budget; pytest-benchmark's own output goes to ``.benchmarks/sweep-*.log``.

Spread. Every timed case reports IQR / median; a case above 10 % is re-measured once
with twice the time budget (so about twice the rounds), and the re-measurement is kept
(``spread_first`` holds the first spread, ``remeasured`` marks it); ``flagged`` marks
cases still above 10 % after it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from bench import grid, machine, problems, timing
from bench.problems.seminar import UnavailableError
from bench.tools import API_TOOLS, OPTIONAL_MODES, Case, FiniteDifferences, NumpyPeer, Ours, select

SPREAD_LIMIT = 0.10
#: A case whose process had its core for less than this share of the wall time ran
#: while another process took the core (reported, see ``measure``).
SHARE_LIMIT = 0.9
#: Skip the independent (complex-step) Jacobian of ``random`` above this n * T.
REF_BUDGET = 3_000_000

COLUMNS = [
    "problem",
    "engine",
    "mode",
    "n",
    "m",
    "T",
    "nodes",
    "chunk",
    "seed",
    "sweeps",
    "min_s",
    "median_s",
    "mean_s",
    "stddev_s",
    "iqr_s",
    "q1_s",
    "q3_s",
    "rounds",
    "iterations",
    "spread",
    "spread_first",
    "remeasured",
    "flagged",
    "cpu_share",
    "preempted",
    "faults",
    "timer",
    "available",
    "calls",
    "per_call_s",
    "primal_median_s",
    "ratio_to_f",
    "numpy_f_s",
    "ratio_to_numpy_f",
    "compile_s",
    "lower_s_per_eqn",
    "error",
    "tape_bytes",
    "peak_bytes",
    "peak_method",
    "rss_peak_bytes",
    "rss_steady_bytes",
    "rss_method",
    "detail",
    "timed",
    "colors",
    "colors_bound",
    "nnz",
    "choice",
    "grid",
    "pinned_cpu",
    "numpy_cpu_wall",
    "jax_cpu_wall",
    "host",
    "cpu_model",
    "cores",
    "python",
    "numpy",
    "numba",
    "jax",
    "jaxlib",
    "pytest_benchmark",
    "revision",
    "timestamp",
]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a tidy table in ``COLUMNS`` order, written atomically."""
    df = pd.DataFrame(list(rows))
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    df = df[COLUMNS]
    write_atomic(path, df.to_csv(index=False))
    return df


def tools_for(engines: Sequence[str]) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """{tool name: (tool, modes)} for the CLI engine names (``api`` gives two tools,
    ``ad`` and ``ad.jit``)."""
    out = {}
    for name, modes in select(engines).items():
        if name in ("compiled", "reference"):
            tool: Any = Ours(name)
        elif name == "fd":
            tool = FiniteDifferences()
        elif name == "numpy":
            tool = NumpyPeer()
        elif name == "api":
            from bench.usercalls import AdCalls

            out["ad"] = (AdCalls(jit=False), modes)
            out["ad.jit"] = (AdCalls(jit=True), modes)
            continue
        elif name == "autograd":
            from bench.usercalls import Autograd, autograd_available

            if not autograd_available():
                print("notice: autograd is not installed; its rows are recorded as unavailable")
            tool = Autograd()
        elif name == "sparse":
            from bench.sparse_tools import SparseTool

            tool = SparseTool()
        else:
            from bench.peers import Jax, available

            if not available():
                print("notice: JAX is not installed; the jax engine is skipped")
                continue
            tool = Jax()
        out[name] = (tool, modes)
    return out


def _reference_jacobian(problem: problems.Problem) -> np.ndarray | None:
    if problem.family == "random" and problem.n * problem.T > REF_BUDGET:
        return None
    return problem.flat_jacobian()


def cell_modes(cell: grid.Cell, modes: Sequence[str]) -> tuple[str, ...]:
    """The modes a tool runs in ``cell``: its own, less the cell's ``skip``, and the
    optional ones (``OPTIONAL_MODES``) only where the cell names them in ``extra``."""
    return tuple(
        m for m in modes if m not in cell.skip and (m not in OPTIONAL_MODES or m in cell.extra)
    )


def prepare(
    cell: grid.Cell, tools: dict[str, Any], seed: int, skipped: list[str] | None = None
) -> list[Case]:
    """Build the cell's problem and every tool's cases (first calls, errors, memory).

    A tool that cannot run the problem (e.g. a primitive the compiled kernels lack) is
    skipped for this cell with a printed notice, recorded in ``skipped``.
    """
    problem = problems.make(cell.family, cell.n, cell.m, cell.T, seed)
    ref = _reference_jacobian(problem) if cell.reference else None
    cases: list[Case] = []
    for name, (tool, modes) in tools.items():
        if (name == "jax" and not cell.jax) or (name == "fd" and not cell.fd):
            continue
        if name not in problem.notes.get("tools", (name,)):  # e.g. sparse: its own tool only
            continue
        if name in ("ad", "ad.jit") + API_TOOLS and not cell.api:
            continue
        modes = cell_modes(cell, modes)
        if not modes:
            continue
        try:
            got = tool.cases(problem, modes, cell.chunks, ref)
        except Exception as err:  # an engine that cannot run this problem: say so, go on
            msg = f"{name} on {cell.family} (n={cell.n}, m={cell.m}): {type(err).__name__}: {err}"
            tqdm.write(f"notice: skipping {msg}")
            if skipped is not None:
                skipped.append(msg)
            continue
        for c in got:
            c.key["sweeps"] = "|".join(cell.tags)
            cases.append(c)
    if cell.memory:
        from bench import memory

        memory.annotate(cases, cell, seed)
    return cases


def _timed(
    cases: list[Case], settings: timing.Settings, log: Path, desc: str
) -> dict[str, dict[str, Any]]:
    """One pytest-benchmark pass; multi-second cases get 3 rounds and no warm-up."""
    cases = [c for c in cases if c.available]
    heavy = [c for c in cases if c.info.get("compile_s", 0.0) > timing.SLOW_CASE]
    light = [c for c in cases if c.info.get("compile_s", 0.0) <= timing.SLOW_CASE]
    stats: dict[str, dict[str, Any]] = {}
    with tqdm(total=len(cases), desc=desc, unit="case", leave=False) as bar:
        for group, s in ((light, settings), (heavy, timing.slow(settings))):
            if group:
                stats.update(timing.run(group, s, progress=bar, log=log))
    for s in stats.values():
        s["spread"] = s["iqr"] / s["median"] if s["median"] > 0 else float("nan")
    return stats


def measure(
    cases: list[Case], settings: timing.Settings, log: Path, desc: str
) -> dict[str, dict[str, Any]]:
    """Time the cases; re-measure those above 10 % spread or disturbed by another process.

    A case is re-measured (up to ``settings.remeasure`` more passes, each with twice
    the rounds' length and twice the budget) when its IQR / median is above
    ``SPREAD_LIMIT``. (``cpu_share``, recorded for every case, says whether another
    process ran on the pinned core meanwhile; it does not trigger a re-measure: under a
    long burst of load, e.g. another engineer's test run, every case would be repeated
    for nothing, and the CPU clock of the sweep does not count that time.) Per case
    the pass with the smallest spread is kept; ``spread_first`` keeps the first pass's
    spread and ``remeasured`` the number of extra passes.
    """
    stats = _timed(cases, settings, log, f"time {desc}")
    for s in stats.values():
        s["spread_first"], s["remeasured"] = s["spread"], 0
    timed = [c for c in cases if c.available]
    again = settings
    for k in range(int(settings.remeasure)):
        redo = [c for c in timed if disturbed(stats[c.id])]
        if not redo:
            break
        again = replace(again, min_time=2 * again.min_time, max_time=2 * again.max_time)
        new = _timed(redo, again, log, f"re-measure {desc} ({k + 1})")
        for c in redo:
            old, s = stats[c.id], new[c.id]
            s["spread_first"], s["remeasured"] = old["spread_first"], k + 1
            if s["spread"] < old["spread"]:
                stats[c.id] = s
            else:
                old["remeasured"] = k + 1
    return stats


def disturbed(s: dict[str, Any]) -> bool:
    """A measurement to repeat: IQR / median above ``SPREAD_LIMIT``."""
    return bool(s["spread"] > SPREAD_LIMIT)


def rows_of(
    cases: list[Case], stats: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> list[dict]:
    """Tidy rows: key, statistics (seconds), info, ratio to the same tool's primal.

    A case without timing (``available`` False) gets a row with empty statistics."""
    rows = []
    for c in cases:
        row = dict(c.key)
        s = stats.get(c.id)
        row["available"] = s is not None
        if s is not None:
            row.update(
                {f"{k}_s": s[k] for k in ("min", "median", "mean", "stddev", "iqr", "q1", "q3")}
            )
            row.update(rounds=int(s["rounds"]), iterations=int(s["iterations"]))
            row.update(
                spread=s["spread"], spread_first=s["spread_first"], remeasured=s["remeasured"]
            )
            row["flagged"] = bool(s["spread"] > SPREAD_LIMIT)
            row.update({k: s.get(k) for k in timing.EXTRA})
        row.update(c.info)
        row.update(meta)
        row["per_call_s"] = row.get("median_s", float("nan")) / max(int(row.get("calls", 1)), 1)
        rows.append(row)
    add_ratios(rows)
    return rows


def add_ratios(rows: list[dict]) -> None:
    """ratio_to_f = time per user call (median / ``calls``) over the median of the same
    tool's primal in the same cell; ratio_to_numpy_f = the same over the NumPy f (the ``numpy``
    tool's primal, else the ``fd`` tool's, which is the same function)."""
    cell = ("problem", "engine", "n", "m", "T")
    primal = {tuple(r[k] for k in cell): r.get("median_s") for r in rows if r["mode"] == "primal"}
    numpy_f: dict[tuple, float] = {}
    for engine in ("fd", "numpy"):  # numpy last: it wins where both ran
        for r in rows:
            if r["engine"] == engine and r["mode"] == "primal" and r.get("median_s"):
                numpy_f[(r["problem"], r["n"], r["m"], r["T"])] = r["median_s"]
    for r in rows:
        t = r.get("per_call_s", r.get("median_s", float("nan")))
        p = primal.get(tuple(r[k] for k in cell))
        r["primal_median_s"] = p
        r["ratio_to_f"] = t / p if p else float("nan")
        q = numpy_f.get((r["problem"], r["n"], r["m"], r["T"]))
        r["numpy_f_s"] = q
        r["ratio_to_numpy_f"] = t / q if q else float("nan")


def run_meta(
    kind: str, cpu: int, threads: dict[str, float], timer: str = "time.perf_counter"
) -> dict[str, Any]:
    """Provenance columns shared by every row of a run."""
    info = machine.machine_info()
    ver = machine.versions()
    return {
        "grid": kind,
        "pinned_cpu": cpu,
        "numpy_cpu_wall": threads.get("numpy_cpu_wall"),
        "jax_cpu_wall": threads.get("jax_cpu_wall"),
        "host": info["host"],
        "cpu_model": info["cpu_model"],
        "cores": info["cores"],
        "python": ver["python"],
        "numpy": ver["numpy"],
        "numba": ver["numba"],
        "jax": ver["jax"],
        "jaxlib": ver["jaxlib"],
        "pytest_benchmark": ver["pytest-benchmark"],
        "timer": timer,
        "revision": machine.git_revision(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def sweep(
    out: Path,
    families: Sequence[str],
    engines: Sequence[str],
    kind: str,
    settings: timing.Settings,
    cpu: int,
    resume: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Run the grid ``kind`` over ``families`` with ``engines``; write results.csv.

    Returns the table. See the module docstring for atomicity and ``resume``.
    """
    out.mkdir(parents=True, exist_ok=True)
    csv, status_path = out / "results.csv", out / "sweep.json"
    log = machine.REPO / ".benchmarks" / f"sweep-{out.resolve().name}.log"
    log.parent.mkdir(exist_ok=True)
    threads = machine.threading_check(settings.thread_check_size)
    meta = run_meta(kind, cpu, threads, settings.timer)
    size = settings.thread_check_size
    print(
        f"pinned to cpu {cpu}; CPU/wall of a {size}x{size} matmul: numpy "
        f"{threads.get('numpy_cpu_wall', float('nan')):.2f}, jax "
        f"{threads.get('jax_cpu_wall', float('nan')):.2f} (1.00 = single-threaded)"
    )
    rows: list[dict] = []
    done: list[str] = []
    if resume and csv.exists() and status_path.exists():
        old = json.loads(status_path.read_text())
        same = (old.get("revision"), old.get("host"), old.get("grid"), old.get("engines")) == (
            meta["revision"],
            meta["host"],
            kind,
            list(engines),
        )
        if same:
            done = [f for f in old.get("families_done", []) if f in families]
            prev = pd.read_csv(csv)
            prev = prev[prev["problem"].str.split(":").str[0].isin(done)]
            rows = prev.to_dict("records")
            print(f"resuming: keeping {len(rows)} rows of {done}")
        else:
            print(
                "resume: the previous sweep differs (revision, machine, grid or engines); "
                "starting clean"
            )
    if log.exists() and not done:
        log.unlink()
    status = {
        "complete": False,
        "grid": kind,
        "engines": list(engines),
        "families": list(families),
        "families_done": done,
        "revision": meta["revision"],
        "host": meta["host"],
        "pinned_cpu": cpu,
        "threading": threads,
        "settings": settings.__dict__,
        "started": meta["timestamp"],
        "skipped": [],
    }
    write_csv(csv, rows)
    write_atomic(status_path, json.dumps(status, indent=1))
    tools = tools_for(engines)
    t_start = time.perf_counter()
    for family, cells in grid.cells(kind, list(families)).items():
        if family in done:
            continue
        cases: list[Case] = []
        t_family = time.perf_counter()
        for cell in tqdm(cells, desc=f"prepare {family}", unit="cell", leave=False):
            try:
                cases += prepare(cell, tools, seed, status["skipped"])
            except UnavailableError as err:
                tqdm.write(f"notice: skipping {cell.family} (n={cell.n}): {err}")
                status["skipped"].append(str(err))
        stats = measure(cases, settings, log, family)
        rows += rows_of(cases, stats, meta)
        done.append(family)
        status["families_done"] = done
        write_csv(csv, rows)
        write_atomic(status_path, json.dumps(status, indent=1))
        flagged = sum(1 for s in stats.values() if s["spread"] > SPREAD_LIMIT)
        print(
            f"{family}: {len(cases)} cases timed, {flagged} above 10 % spread after "
            f"re-measure ({time.perf_counter() - t_family:.0f} s)"
        )
    status["complete"] = True
    status["seconds"] = time.perf_counter() - t_start
    write_atomic(status_path, json.dumps(status, indent=1))
    return write_csv(csv, rows)
