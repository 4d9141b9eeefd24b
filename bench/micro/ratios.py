"""Ratios of the micro-benchmarks against the issue-3 targets, from a pytest-benchmark JSON.

Usage: ``python -m bench.micro.ratios micro.json`` (medians of one run).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _median(benchmarks: list[dict[str, Any]], name: str) -> float:
    for b in benchmarks:
        if b["name"] == name:
            return float(b["stats"]["median"])
    raise KeyError(name)


def table(path: str) -> list[tuple[str, float, str, bool]]:
    """(quantity, measured, target, met) rows."""
    with open(path) as fh:
        bs = json.load(fh)["benchmarks"]
    T = 100_000
    prim = _median(bs, "test_primal_sweep")
    f1 = _median(bs, "test_forward_sweep[1]")
    f32 = _median(bs, "test_forward_sweep[32]")
    g1 = _median(bs, "test_gradient_record_and_adjoint[1]")
    g32 = _median(bs, "test_gradient_record_and_adjoint[32]")
    jf = _median(bs, "test_jacobian_chunk_1[forward-100-1]")
    jr = _median(bs, "test_jacobian_chunk_1[reverse-100-1]")
    jf2 = _median(bs, "test_jacobian_chunk_1[forward-1-100]")
    jr2 = _median(bs, "test_jacobian_chunk_1[reverse-1-100]")
    tiny = _median(bs, "test_tiny_gradient_end_to_end")
    tape = next(b for b in bs if b["name"] == "test_tape_memory")["extra_info"]["ratio"]
    adj32 = (g32 - prim) / prim / 32
    rows = [
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
    return rows


def main(argv: list[str]) -> None:
    for name, value, target, ok in table(argv[1]):
        print(f"{name:48s} {value:10.3f}   target {target:8s} {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main(sys.argv)
