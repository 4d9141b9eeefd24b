"""Ratios of the micro-benchmarks against the issue targets, from a pytest-benchmark JSON.

Usage: ``python -m bench.micro.ratios micro.json`` (medians of one run). A section
whose benchmarks are not in the file (``-k`` or one test file run) is skipped. Rows
without a target are the comparisons the issues ask to report (JAX, chunk widths,
the share of tracing in ``ad.hessian``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from bench.micro.workload import HESSIAN_N, ROSENBROCK_N, T

#: (quantity, measured, target or "", met or None for a reported comparison)
Row = tuple[str, float, str, bool | None]


def _finder(benchmarks: list[dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    by_name = {b["name"]: b for b in benchmarks}

    def find(name: str) -> dict[str, Any]:
        return by_name[name]  # KeyError: the section is not in this run

    return find


def sweeps(find: Callable[[str], dict[str, Any]]) -> list[Row]:
    """Issue 3: the sweeps on the random T = 100,000 scalar program."""

    def med(name: str) -> float:
        return float(find(name)["stats"]["median"])

    prim = med("test_primal_sweep")
    f1 = med("test_forward_sweep[1]")
    f32 = med("test_forward_sweep[32]")
    g1 = med("test_gradient_record_and_adjoint[1]")
    g32 = med("test_gradient_record_and_adjoint[32]")
    jf = med("test_jacobian_chunk_1[forward-100-1]")
    jr = med("test_jacobian_chunk_1[reverse-100-1]")
    jf2 = med("test_jacobian_chunk_1[forward-1-100]")
    jr2 = med("test_jacobian_chunk_1[reverse-1-100]")
    tiny = med("test_tiny_gradient_end_to_end")
    tape = find("test_tape_memory")["extra_info"]["ratio"]
    adj32 = (g32 - prim) / prim / 32
    return [
        ("primal ns/op", prim / T * 1e9, "<= 20", prim / T * 1e9 <= 20),
        ("forward p=1 / primal", f1 / prim, "<= 1.5", f1 / prim <= 1.5),
        ("forward p=32 / primal / 32", f32 / prim / 32, "<= 0.25", f32 / prim / 32 <= 0.25),
        ("gradient (record + adjoint) / primal", g1 / prim, "<= 3", g1 / prim <= 3),
        ("adjoint q=32 / primal / 32 (record excluded)", adj32, "<= 0.3", adj32 <= 0.3),
        (
            "(record + adjoint q=32) / primal / 32",
            g32 / prim / 32,
            "<= 0.3",
            g32 / prim / 32 <= 0.3,
        ),
        ("n=100,m=1: forward J / reverse J", jf / jr, ">= 20", jf / jr >= 20),
        ("n=1,m=100: reverse J / forward J", jr2 / jf2, ">= 20", jr2 / jf2 >= 20),
        ("tiny gradient us", tiny * 1e6, "<= 20", tiny * 1e6 <= 20),
        ("tape / (8 B x values)", tape, "<= 1.5", tape <= 1.5),
    ]


def higher_order(find: Callable[[str], dict[str, Any]]) -> list[Row]:
    """Issue 5: hvp and Hessian of the extended Rosenbrock function, and JAX's."""

    def med(name: str) -> float:
        return float(find(name)["stats"]["median"])

    rows: list[Row] = []
    for n in ROSENBROCK_N:
        f, hvp = med(f"test_rosenbrock_primal[n={n}]"), med(f"test_rosenbrock_hvp[n={n}]")
        grad = med(f"test_rosenbrock_gradient[n={n}]")
        rows += [
            (f"rosenbrock n={n}: f us", f * 1e6, "", None),
            (f"rosenbrock n={n}: hvp / f", hvp / f, "<= 6", hvp / f <= 6),
            (f"rosenbrock n={n}: gradient / f", grad / f, "", None),
        ]
        try:
            jf, jhvp = (
                med(f"test_jax_rosenbrock_primal[n={n}]"),
                med(f"test_jax_rosenbrock_hvp[n={n}]"),
            )
        except KeyError:  # JAX not installed
            continue
        rows += [
            (f"rosenbrock n={n}: JAX f us", jf * 1e6, "", None),
            (f"rosenbrock n={n}: JAX hvp / JAX f", jhvp / jf, "", None),
            (f"rosenbrock n={n}: hvp / JAX hvp", hvp / jhvp, "", None),
        ]
    n = HESSIAN_N
    f, hvp = med(f"test_rosenbrock_primal[n={n}]"), med(f"test_rosenbrock_hvp[n={n}]")
    default = med("test_rosenbrock_hessian[default]")
    chunk = find("test_rosenbrock_hessian[default]")["extra_info"]["chunk"]
    rows.append((f"hessian n={n}, default chunk {chunk}: H / (n f)", default / (n * f), "", None))
    one = med("test_rosenbrock_hessian[1]")
    rows.append(
        (f"hessian n={n}, chunk 1: H / (n hvp)", one / (n * hvp), "<= 1.5", one <= 1.5 * n * hvp)
    )
    for b in sorted(
        (find(k) for k in [f"test_rosenbrock_hessian[{c}]" for c in (1, 8, 12, 25, 100)]),
        key=lambda b: b["extra_info"]["chunk"],
    ):
        c, t = b["extra_info"]["chunk"], float(b["stats"]["median"])
        rows.append((f"hessian n={n}, chunk {c:3d}: H / (n f)", t / (n * f), "", None))
        rows.append((f"hessian n={n}, chunk {c:3d}: efficiency n hvp / H", n * hvp / t, "", None))
    e2e, tr = med("test_hessian_end_to_end"), med("test_hessian_trace")
    low = med("test_hessian_lower")
    rows += [
        (f"ad.hessian(f)(x) n={n}: end to end us", e2e * 1e6, "", None),
        (f"ad.hessian(f)(x) n={n}: tracing share", tr / e2e, "", None),
        (f"ad.hessian(f)(x) n={n}: lowering share", low / e2e, "", None),
        (f"ad.hessian(f)(x) n={n}: sweeps share", default / e2e, "", None),
    ]
    try:
        jf, jh = med(f"test_jax_rosenbrock_primal[n={n}]"), med("test_jax_rosenbrock_hessian")
        jhvp = med(f"test_jax_rosenbrock_hvp[n={n}]")
    except KeyError:
        return rows
    threads = find("test_single_threaded")["extra_info"]
    rows += [
        (f"hessian n={n}: JAX H / (n JAX f)", jh / (n * jf), "", None),
        (f"hessian n={n}: JAX H / (n JAX hvp)", jh / (n * jhvp), "", None),
        (f"hessian n={n}: H (default chunk) / JAX H", default / jh, "", None),
        ("CPU / wall, NumPy matmul (1 = one core)", threads["numpy_cpu_over_wall"], "", None),
        ("CPU / wall, JAX matmul (1 = one core)", threads["jax_cpu_over_wall"], "", None),
    ]
    return rows


SECTIONS = (("issue 3: compiled sweeps", sweeps), ("issue 5: higher order", higher_order))


def table(path: str) -> list[Row]:
    """The rows of every section whose benchmarks are in the JSON at ``path``."""
    with open(path) as fh:
        find = _finder(json.load(fh)["benchmarks"])
    rows: list[Row] = []
    for _, section in SECTIONS:
        try:
            rows += section(find)
        except KeyError:
            continue
    return rows


def main(argv: list[str]) -> None:
    with open(argv[1]) as fh:
        find = _finder(json.load(fh)["benchmarks"])
    for title, section in SECTIONS:
        try:
            rows = section(find)
        except KeyError as missing:
            print(f"-- {title}: not in this run ({missing} missing)")
            continue
        print(f"-- {title}")
        for name, value, target, ok in rows:
            verdict = "" if ok is None else ("met" if ok else "MISSED")
            shown = f"target {target:8s} {verdict}" if target else ""
            print(f"{name:52s} {value:10.3f}   {shown}")
    shared = disturbed(argv[1])
    if shared:
        print(f"-- the core was shared (CPU / wall < {MIN_CPU_SHARE}) during: rerun before quoting")
        for name, share in shared:
            print(f"{name:52s} {share:10.3f}")


#: A benchmark whose test got less of its core than this was disturbed (conftest.py).
MIN_CPU_SHARE = 0.9


def disturbed(path: str) -> list[tuple[str, float]]:
    """(benchmark, CPU share) of the benchmarks that did not have their core to themselves."""
    with open(path) as fh:
        benchmarks = json.load(fh)["benchmarks"]
    return [
        (b["name"], float(b["extra_info"]["cpu_share"]))
        for b in benchmarks
        if b["extra_info"].get("cpu_share", 1.0) < MIN_CPU_SHARE
    ]


if __name__ == "__main__":
    main(sys.argv)
