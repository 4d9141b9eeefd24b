"""The machine a run measures on: CPU pinning, the single-threading check, provenance.

:func:`pin_cpu` must run before NumPy or JAX is imported (FACTS.md: thread-count
environment variables alone leave jaxlib on two threads; pinning the process to one
core makes NumPy, Numba and JAX single-threaded). This module imports no numerical
library at module level for that reason.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def pin_cpu(cpu: int | None = None) -> int:
    """Pin this process (and the threads it will start) to one core; return the core.

    ``cpu=None`` takes the highest-numbered core this process may use. Call it before
    importing NumPy, Numba or JAX. Example::

        core = pin_cpu()          # then import numpy
    """
    allowed = sorted(os.sched_getaffinity(0))
    core = allowed[-1] if cpu is None else int(cpu)
    if core not in allowed:
        raise ValueError(f"cpu {core} is not one of the allowed cores {allowed}")
    os.sched_setaffinity(0, {core})
    return core


def threading_check(size: int = 1500) -> dict[str, float]:
    """CPU time / wall time of a ``size`` x ``size`` matrix product, NumPy and JAX.

    A ratio of 1.00 means one thread did the work; about 2 means two cores were used.
    Returns ``{"numpy_cpu_wall": r, "jax_cpu_wall": r}`` (JAX only if installed).
    """
    import numpy as np

    out: dict[str, float] = {}
    a = np.random.default_rng(0).standard_normal((size, size))
    a @ a  # warm the BLAS up
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        a @ a
    out["numpy_cpu_wall"] = (time.process_time() - c0) / (time.perf_counter() - w0)
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return out
    jax.config.update("jax_enable_x64", True)
    ja = jnp.asarray(a)
    mm = jax.jit(lambda x: x @ x)
    mm(ja).block_until_ready()
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        mm(ja).block_until_ready()
    out["jax_cpu_wall"] = (time.process_time() - c0) / (time.perf_counter() - w0)
    return out


def git_revision() -> str:
    """``<short hash>`` of HEAD, with ``-dirty`` when the work tree differs from it
    (modified or untracked files, outside ``reports/``, which the benchmark writes)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)reports"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Versions of Python and of every library a run touches."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("numpy", "numba", "jax", "jaxlib", "pytest-benchmark", "admodes"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    return out


def machine_info() -> dict[str, Any]:
    """Host, CPU model, core counts and OS of this machine."""
    return {
        "host": platform.node(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
    }
