"""The pytest module that pytest-benchmark runs for :mod:`bench.timing`.

Not a test of the project (its name does not match ``test_*``): :func:`bench.timing.run`
passes this file to ``pytest.main`` with a plugin that parametrizes ``case``.
"""

import resource
import time


def _usage() -> tuple[float, float, int, int]:
    """(process CPU time, wall time, involuntary context switches of this thread,
    minor page faults of the process)."""
    me, all_ = resource.getrusage(resource.RUSAGE_THREAD), resource.getrusage(resource.RUSAGE_SELF)
    return time.process_time(), time.perf_counter(), me.ru_nivcsw, all_.ru_minflt


def test_case(benchmark, case):
    """Time one prepared case with pytest-benchmark's calibrated rounds.

    Around the whole measurement (calibration, warm-up and rounds) it records the
    share of the wall time the process had its core (``cpu_share``, CPU time of all
    its threads over wall time: below 1 when another process ran on the pinned core
    meanwhile), the involuntary context switches of this thread (``preempted``: how
    often the scheduler took the core away from it, for another process or for one of
    this process's own threads, e.g. XLA's) and the minor page faults of one call
    made just before (``faults``: memory a call touches for the first time, e.g. fresh
    large arrays).
    """
    benchmark.group = case.key["problem"]
    benchmark.extra_info["case_id"] = case.id
    f0 = _usage()[3]
    case.fn()  # one untimed call: its page faults are those of every call
    benchmark.extra_info["faults"] = _usage()[3] - f0
    c0, w0, s0, _ = _usage()
    benchmark(case.fn)
    c1, w1, s1, _ = _usage()
    benchmark.extra_info["cpu_share"] = (c1 - c0) / (w1 - w0) if w1 > w0 else float("nan")
    benchmark.extra_info["preempted"] = s1 - s0
