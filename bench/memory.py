"""Peak memory of one call as the operating system sees it: resident set size (issue 11).

tracemalloc (the ``peak_bytes`` column of our engines) sees only allocations made
through Python's allocators; Numba's buffers and XLA's are invisible to it. This module
measures what the process really holds, in a fresh process per (tool, mode):

1. ``python -m bench.memory FAMILY N M T SEED ENGINE MODE`` starts (it inherits the
   sweep's CPU pinning), imports the libraries, builds the problem;
2. it loads each library's compiled code on a tiny problem of the same family with
   the same call (Numba kernels from the disk cache, the XLA runtime), so that code
   loading is not counted;
3. it prepares the call the way the timed case is prepared: JAX lowers and compiles
   (outside the measurement: compile memory is not the call's); ours does nothing
   more, since lowering the graph and allocating its dual buffers belong to the first
   Jacobian of a graph;
4. it resets the kernel's high-water mark of the resident set (writing ``5`` to
   ``/proc/self/clear_refs`` sets VmHWM to the current VmRSS), makes the call and reads
   VmHWM: ``rss_peak_bytes = VmHWM - VmRSS before``, the most memory the call held at
   once above what the process held before it;
5. it measures a second call the same way: ``rss_steady_bytes``, what every further
   call of a loop needs on top of the buffers kept from the first one.

Pages are 4 KiB, so sizes below a few pages are noise; the figures here are MBs.
If ``clear_refs`` cannot be written, the high-water mark is not reset and the figure
is an upper bound (the method column says so).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

#: (engine, mode) pairs measured in a cell with ``Cell.memory``.
MEASURED = {
    ("compiled", "jac"),
    ("compiled", "jac_fwd"),
    ("compiled", "jac_rev"),
    ("jax", "jac_fwd"),
    ("jax", "jac_rev"),
    ("numpy", "jac"),
}
METHOD = "RSS high-water mark in a fresh process (VmHWM reset, code loaded first)"


def _status(field: str) -> int:
    """A ``/proc/self/status`` field (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Set VmHWM to VmRSS; False if the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_of(fn: Callable[[], Any]) -> tuple[int, bool]:
    """(VmHWM during fn() - VmRSS before it, whether the high-water mark was reset)."""
    import gc

    gc.collect()
    reset = _reset_peak()
    before = _status("VmRSS")
    fn()
    return _status("VmHWM") - before, reset


def build(problem: Any, engine: str, mode: str) -> Callable[[], Any]:
    """The call of (engine, mode) on ``problem``, prepared but not yet called."""
    x = problem.args
    if engine == "numpy":
        return lambda: problem.hand["jacobian"](*x)
    if engine == "compiled":
        import ad

        how = {"jac_fwd": "forward", "jac_rev": "reverse"}.get(mode)
        if how is None:
            how = ad.cost.choose_mode(problem.graph)
        api = ad.forward if how == "forward" else ad.reverse
        return lambda: api.jacobian(problem.graph, x)
    if engine == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        transform = jax.jacfwd if mode == "jac_fwd" else jax.jacrev
        xj = jax.numpy.asarray(x[0])
        compiled = jax.jit(transform(problem.jax_f)).lower(xj).compile()
        return lambda: jax.block_until_ready(compiled(xj))
    raise ValueError(f"no memory measurement for engine {engine!r}, mode {mode!r}")


def child(argv: list[str]) -> dict[str, Any]:
    """The measurement itself (run in the fresh process); returns the figures."""
    family, n, m, T, seed, engine, mode = argv
    n, m, T, seed = int(n), int(m), int(T), int(seed)
    from bench import problems

    build(problems.make(family, 2, 2, T, seed), engine, mode)()  # load the code
    fn = build(problems.make(family, n, m, T, seed), engine, mode)
    first, reset = peak_of(fn)
    steady, _ = peak_of(fn)
    method = METHOD if reset else "RSS high-water mark, not reset (upper bound)"
    return {"rss_peak_bytes": first, "rss_steady_bytes": steady, "rss_method": method}


def measure(
    family: str, n: int, m: int, T: int, seed: int, engine: str, mode: str, timeout: float = 300
) -> dict[str, Any]:
    """Run :func:`child` in a fresh process; its figures, or ``{"rss_error": ...}``."""
    args = [family, n, m, T, seed, engine, mode]
    r = subprocess.run(
        [sys.executable, "-m", "bench.memory", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        return {"rss_error": (r.stderr or r.stdout)[-300:]}
    return json.loads(lines[-1])


def annotate(cases: list[Any], cell: Any, seed: int) -> None:
    """Add the RSS figures to the cases of ``cell`` that :data:`MEASURED` names."""
    for c in cases:
        k = c.key
        if (k["engine"], k["mode"]) not in MEASURED or not c.available:
            continue
        got = measure(cell.family, cell.n, cell.m, cell.T, seed, k["engine"], k["mode"])
        if "rss_error" in got:
            c.info["detail"] = f"{c.info.get('detail', '')} memory failed: {got['rss_error']}"
            continue
        c.info["rss_peak_bytes"] = got["rss_peak_bytes"]
        c.info["rss_steady_bytes"] = got["rss_steady_bytes"]
        c.info["rss_method"] = got["rss_method"]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1:])))
