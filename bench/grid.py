"""The sweep grids: which cells each family measures, in the full, quick and check runs.

A :class:`Cell` names one (family, n, m, T) point, the Jacobian chunk widths to time,
whether the JAX and finite-difference baselines run there, and the sweeps it belongs
to (``tags``), which the plots select on: ``vs_n`` (n varies, m and T fixed), ``vs_m``,
``vs_T``, ``grid`` (the winner map), ``ratio`` (the linear family's n/m), ``size``
(a growing-size series) and ``jax`` (the small-T slice where JAX runs on ``random``;
XLA needs seconds to compile a scalar Wengert list of 1000 ops and minutes for 10^4).
The 2-core machine and the 15-minute budget of ``make bench`` set the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One point of a family's grid."""

    family: str
    n: int
    m: int
    T: int = 0
    chunks: tuple[int | None, ...] = (None,)
    jax: bool = True
    fd: bool = True
    tags: tuple[str, ...] = ()


#: The random family's fixed sizes in the full grid.
RANDOM_T, RANDOM_FIXED = 10_000, 8
LINEAR_N = 100


def _merge(cells: list[Cell]) -> list[Cell]:
    """One cell per (family, n, m, T): tags united, JAX/FD enabled if any sweep wants them."""
    out: dict[tuple, Cell] = {}
    for c in cells:
        k = (c.family, c.n, c.m, c.T)
        if k in out:
            o = out[k]
            chunks = o.chunks + tuple(x for x in c.chunks if x not in o.chunks)
            tags = o.tags + tuple(t for t in c.tags if t not in o.tags)
            out[k] = Cell(c.family, c.n, c.m, c.T, chunks, o.jax or c.jax, o.fd or c.fd, tags)
        else:
            out[k] = c
    return list(out.values())


def _random(
    ns: list[int],
    ms: list[int],
    Ts: list[int],
    T0: int,
    k: int,
    grid: list[int],
    jax_cells: list[tuple[int, int, int]],
) -> list[Cell]:
    ch = (1, None)
    cells = [Cell("random", n, k, T0, ch, False, False, ("vs_n",)) for n in ns]
    cells += [Cell("random", k, m, T0, ch, False, False, ("vs_m",)) for m in ms]
    cells += [Cell("random", k, k, T, ch, False, False, ("vs_T",)) for T in Ts]
    cells += [Cell("random", n, m, T0, ch, False, False, ("grid",)) for n in grid for m in grid]
    cells += [Cell("random", n, m, T, ch, True, False, ("jax",)) for n, m, T in jax_cells]
    return cells


def _sparse(ns: list[int]) -> list[Cell]:
    """The ``sparse`` family: each variant at each n (laplace2d at the nearest k^2); m = n,
    or 1 for the Hessian problem. Its tool runs its own dense and peer columns."""
    from bench.problems.sparse import VARIANTS, sizes

    cells = []
    for v in VARIANTS:
        for n in sizes(v, ns):
            m = 1 if v == "rosenbrock_hessian" else n
            cells.append(Cell(f"sparse:{v}", n, m, jax=False, fd=False, tags=("sparse",)))
    return cells


def full() -> dict[str, list[Cell]]:
    """The default grid of ``make bench`` (about 10 minutes on 2 cores).

    ``linear`` runs n/m from 100 to 0.01 as the seminar did; its last cell (m = 10^4) is
    the most expensive of the grid: the reverse Jacobian is m^2 n = 10^10 flops.
    """
    pow2 = [2**i for i in range(10)]  # 1 .. 512
    seminar = [
        Cell(f"seminar:{v}", n, 1, tags=("size",))
        for v in ("quadratic", "cubic_norm")
        for n in (10, 100, 1000)
    ]
    seminar += [
        Cell(f"seminar:{v}", k * k, 1, tags=("size",))
        for v in ("trace_inv", "logdet")
        for k in (4, 16, 32)
    ]
    return {
        "random": _random(
            pow2,
            pow2,
            [3000, 10_000, 30_000, 100_000],
            RANDOM_T,
            RANDOM_FIXED,
            [2, 8, 64, 512],
            [(8, 8, 500), (64, 8, 500), (8, 64, 500)],
        ),
        "linear": [
            Cell("linear", LINEAR_N, m, tags=("ratio",))
            for m in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
        ],
        "mlp": [Cell("mlp", n, 8, tags=("vs_n",)) for n in (4, 32, 256, 1024)]
        + [Cell("mlp", 8, m, tags=("vs_m",)) for m in (4, 32, 256, 1024)],
        "rosenbrock": [Cell("rosenbrock", n, 1, tags=("size",)) for n in (10, 100, 1000, 3000)],
        "seminar": seminar,
        "sparse": _sparse([100, 316, 1000, 3162, 10_000, 100_000]),
    }


def quick() -> dict[str, list[Cell]]:
    """The ``--quick`` grid (under 2 minutes): the same sweeps, fewer and smaller cells."""
    seminar = [
        Cell("seminar:quadratic", 100, 1, tags=("size",)),
        Cell("seminar:cubic_norm", 100, 1, tags=("size",)),
        Cell("seminar:trace_inv", 64, 1, tags=("size",)),
        Cell("seminar:logdet", 64, 1, tags=("size",)),
    ]
    return {
        "random": _random(
            [1, 4, 16, 64], [1, 4, 16, 64], [500, 2000, 8000], 2000, 4, [], [(4, 4, 200)]
        ),
        "linear": [Cell("linear", LINEAR_N, m, tags=("ratio",)) for m in (1, 10, 100, 1000)],
        "mlp": [Cell("mlp", 64, 8, tags=("vs_n",)), Cell("mlp", 8, 64, tags=("vs_m",))],
        "rosenbrock": [Cell("rosenbrock", n, 1, tags=("size",)) for n in (100, 1000)],
        "seminar": seminar,
        "sparse": _sparse([100, 10_000]),
    }


def tiny() -> dict[str, list[Cell]]:
    """The ``--tiny`` grid of the tests: every family and sweep, a few seconds in all."""
    return {
        "random": _random([1, 4], [1, 4], [60, 120], 60, 2, [1, 4], [(2, 2, 30)]),
        "linear": [Cell("linear", 20, m, tags=("ratio",)) for m in (2, 20, 200)],
        "mlp": [Cell("mlp", 4, 2, tags=("vs_n", "vs_m"))],
        "rosenbrock": [Cell("rosenbrock", 10, 1, tags=("size",))],
        "seminar": [
            Cell("seminar:quadratic", 5, 1, tags=("size",)),
            Cell("seminar:trace_inv", 9, 1, tags=("size",)),
        ],
        "sparse": _sparse([16]),
    }


def check() -> dict[str, list[Cell]]:
    """The cells of ``bench check`` (issue 7): omegas, vector mode, slopes, JAX ratios."""
    return {
        "random": [
            Cell("random", n, 8, RANDOM_T, (1, 8), False, False, ("vs_n",)) for n in (8, 32, 128)
        ]
        + [Cell("random", 8, m, RANDOM_T, (1, 8), False, False, ("vs_m",)) for m in (32, 128)],
        "linear": [Cell("linear", LINEAR_N, LINEAR_N, fd=False, tags=("ratio",))],
        "mlp": [Cell("mlp", 32, 8, fd=False, tags=("vs_n",))],
        "rosenbrock": [Cell("rosenbrock", 1000, 1, fd=False, tags=("size",))],
        "seminar": [Cell("seminar:trace_inv", 256, 1, fd=False, tags=("size",))],
    }


def cells(kind: str, families: list[str]) -> dict[str, list[Cell]]:
    """The merged cells of grid ``kind`` ("full", "quick", "tiny", "check") per family."""
    table = {"full": full, "quick": quick, "tiny": tiny, "check": check}[kind]()
    return {f: _merge(table[f]) for f in families if f in table}
