"""Timing through pytest-benchmark's own machinery (calibrated rounds, warm-up).

:func:`run` hands a list of prepared :class:`~bench.tools.Case` objects to
``pytest.main`` on :mod:`bench._pytest_cases`, parametrized by a plugin object, and
reads the statistics back from ``--benchmark-json``. There is no hand-written timing
loop anywhere in the benchmark: a case is one pytest-benchmark test.

The clock, and why (issue 11's spread). The sweep times its rounds with the process's
CPU time (``time.process_time``: user + system time of all threads of the pinned
process, nanosecond resolution), not the wall clock. On a core the process has to
itself the two are equal (the ``cpu_share`` column, CPU time over wall time, is then
1.00); when another process runs on the pinned core, the wall clock counts its time
slices and the CPU clock does not. Measured on this 2-core machine, pinned to core 1
(the quick grid's cases timed by ``timing.run`` under each setting):

- with the old settings (wall clock, rounds of >= 1 ms, 3-40 rounds) on an idle core,
  3 of 217 cases were above 10 % IQR/median, all microsecond JAX calls (XLA's runtime
  threads share the pinned core with the Python thread: thousands of involuntary
  switches per case); rounds of 5 ms instead of 1 ms halved their spread (median
  4-5 % -> 2-2.5 %). Timer resolution (tens of ns against rounds of >= 1 ms), GC
  (disabled in the rounds) and the alternating inputs (both points cost the same) did
  not show;
- with a process busy 15 ms of every 50 ms on the same core (a compile job's pattern),
  33 of 96 cases went above 10 % with the wall clock and 12 of 96 with the CPU clock,
  rounds unchanged; the flagged cases of the committed full report were spread over
  every duration and round count (57 of them had over 50 rounds), and its run started
  with NumPy's CPU/wall at 0.83: the cause there was other processes on the core;
- with these settings (CPU clock, rounds of >= 2 ms, up to two re-measure passes with
  rounds twice as long), ``--quick`` while another engineer's test run shared the core
  (88 of 371 cases with ``cpu_share`` below 0.9): 29 cases above 10 % on the first pass,
  0 after the re-measures, in 1.5 minutes.

What the CPU clock does not remove: cache and memory-bandwidth interference from the
other process, and the context switches themselves; the re-measure passes handle what
is left. ``bench check`` keeps the wall clock and minima (its figures are unchanged).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.tools import Case

CASES_FILE = Path(__file__).with_name("_pytest_cases.py")
STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds", "iterations")
#: What :mod:`bench._pytest_cases` records around each case (see there).
EXTRA = ("cpu_share", "preempted", "faults")


@dataclass(frozen=True)
class Settings:
    """pytest-benchmark's knobs: per-round minimum, per-case budget, rounds, warm-up."""

    min_time: float = 2e-4
    max_time: float = 0.3
    min_rounds: int = 5
    warmup_iterations: int = 20
    #: extra passes over the cases above 10 % spread or disturbed by another process
    #: (0 only for the tests' tiny grid)
    remeasure: int = 1
    #: size of the matrix product of the single-threading check (FACTS.md: 1500)
    thread_check_size: int = 1500
    #: the clock of the rounds (see the module docstring)
    timer: str = "time.perf_counter"

    def args(self) -> list[str]:
        """The ``--benchmark-*`` command-line options."""
        return [
            f"--benchmark-min-time={self.min_time}",
            f"--benchmark-max-time={self.max_time}",
            f"--benchmark-min-rounds={self.min_rounds}",
            f"--benchmark-warmup={'on' if self.warmup_iterations > 0 else 'off'}",
            f"--benchmark-warmup-iterations={max(self.warmup_iterations, 1)}",
            "--benchmark-disable-gc",
            f"--benchmark-timer={self.timer}",
        ]


class _CasePlugin:
    """Parametrizes ``case`` with the prepared cases and reports progress."""

    def __init__(self, cases: Sequence[Case], progress: Any = None):
        self.cases = list(cases)
        self.progress = progress
        self.failed: list[str] = []

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", self.cases, ids=[c.id for c in self.cases])

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call":
            if report.failed:
                self.failed.append(report.nodeid)
            if self.progress is not None:
                self.progress.update(1)


def run(
    cases: Sequence[Case], settings: Settings, progress: Any = None, log: Path | None = None
) -> dict[str, dict[str, float]]:
    """Time every case; return ``{case.id: {stat: seconds}}`` from pytest-benchmark.

    ``progress`` (a tqdm bar) advances once per case; pytest's own output goes to
    ``log`` (or is discarded).
    """
    import pytest

    if not cases:
        return {}
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate case ids in one timing run")
    plugin = _CasePlugin(cases, progress)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        out_json = Path(tmp) / "benchmark.json"
        args = [
            str(CASES_FILE),
            "-c",
            str(ini),
            "--rootdir",
            tmp,
            "-p",
            "no:cacheprovider",
            "-s",
            "-q",
            f"--benchmark-json={out_json}",
            "--benchmark-sort=name",
            "--benchmark-save-data",
            *settings.args(),
        ]
        sink = open(log, "a") if log is not None else open(Path(tmp) / "pytest.log", "w")  # noqa: SIM115
        with sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = pytest.main(args, plugins=[plugin])
        if code not in (0, 1) or not out_json.exists():
            raise RuntimeError(f"pytest-benchmark run failed (exit {code}); see {log}")
        data = json.loads(out_json.read_text())
    out: dict[str, dict[str, float]] = {}
    for b in data["benchmarks"]:
        cid = b["extra_info"]["case_id"]
        out[cid] = {k: float(b["stats"][k]) for k in STATS}
        out[cid].update({k: float(b["extra_info"].get(k, "nan")) for k in EXTRA})
        out[cid]["data"] = b["stats"].get("data", [])
    missing = [i for i in ids if i not in out]
    if missing:
        raise RuntimeError(f"pytest-benchmark returned no statistics for {missing[:3]} ...")
    return out


#: The process's CPU time (user + system, all threads): see the module docstring.
CPU_TIMER = "time.process_time"
#: The default sweep, ``--quick``, ``--tiny`` (the tests) and ``bench check``.
FULL = Settings(min_time=2e-3, max_time=0.15, min_rounds=5, remeasure=2, timer=CPU_TIMER)
QUICK = Settings(
    min_time=2e-3, max_time=0.04, min_rounds=5, warmup_iterations=5, remeasure=2, timer=CPU_TIMER
)
#: Cases whose first call took longer than this many seconds are timed with ``slow()``.
SLOW_CASE = 1.0


def slow(settings: Settings) -> Settings:
    """Settings for multi-second calls: 3 rounds, no warm-up (the first call warmed them)."""
    return replace(settings, min_rounds=min(settings.min_rounds, 3), warmup_iterations=0)


TINY = Settings(1e-5, 0.005, 3, 1, remeasure=False, thread_check_size=600)
CHECK = Settings(min_time=2e-3, max_time=0.3, min_rounds=7)
