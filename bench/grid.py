"""The sweep grids: which cells each family measures, in the full, quick and check runs.

A :class:`Cell` names one (family, n, m, T) point, the Jacobian chunk widths to time,
whether the JAX and finite-difference baselines run there, and the sweeps it belongs
to (``tags``), which the plots select on: ``vs_n`` (n varies, m and T fixed), ``vs_m``,
``vs_T``, ``grid`` (the winner map), ``ratio`` (the linear family's n/m), ``size``
(a growing-size series), ``jax`` (the small-T slice where JAX runs on ``random``;
XLA needs seconds to compile a scalar Wengert list of 1000 ops and minutes for 10^4),
``square`` and ``corner`` (mlp cells with n = m, and (1, 1024), (1024, 1)) and ``user``
(the cells of issue 12's user calls). ``extra`` names the optional modes of a cell
(gradients, Jacobians in auto mode, Hessians, Hessian-vector products, the descent
loop) and ``api`` whether the user-facing calls (``ad``, ``ad.jit``, autograd) run.
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
    #: optional modes this cell runs (``bench.tools.OPTIONAL_MODES``)
    extra: tuple[str, ...] = ()
    #: whether the user-facing calls run here (tools ``ad``, ``ad.jit``, ``autograd``)
    api: bool = False
    #: modes not run here (e.g. the forward Jacobian at n = 10^6)
    skip: tuple[str, ...] = ()
    #: whether the peak memory of the Jacobians is measured here (``bench.memory``)
    memory: bool = False
    #: whether the independent Jacobian is computed (for the error column)
    reference: bool = True


#: The random family's fixed sizes in the full grid.
RANDOM_T, RANDOM_FIXED = 10_000, 8
LINEAR_N = 100


def _union(a: tuple, b: tuple) -> tuple:
    return a + tuple(x for x in b if x not in a)


def _merge(cells: list[Cell]) -> list[Cell]:
    """One cell per (family, n, m, T): tags, chunks and extra modes united; JAX, FD, the
    user calls and the memory measurement enabled if any sweep wants them; a mode
    skipped only if every sweep skips it."""
    out: dict[tuple, Cell] = {}
    for c in cells:
        k = (c.family, c.n, c.m, c.T)
        if k in out:
            o = out[k]
            out[k] = Cell(
                c.family,
                c.n,
                c.m,
                c.T,
                _union(o.chunks, c.chunks),
                o.jax or c.jax,
                o.fd or c.fd,
                _union(o.tags, c.tags),
                _union(o.extra, c.extra),
                o.api or c.api,
                tuple(x for x in o.skip if x in c.skip),
                o.memory or c.memory,
                o.reference and c.reference,
            )
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


#: The optional modes of the peer comparisons (issue 11) and the user calls (issue 12).
GRAD, JAC, HESS = ("grad",), ("jac",), ("grad", "hessian", "hvp")
#: Modes too expensive at large n for an n -> 1 function: the forward Jacobian and
#: central differences cost n sweeps / 2 n evaluations (and n^2 memory for JAX's).
BIG_N_SKIP = ("jac_fwd", "jac_fd")


def _mlp(cells: list[tuple[int, int, tuple[str, ...]]], memory: tuple[int, int]) -> list[Cell]:
    """mlp cells with the Jacobian peers (``jac``: ours in auto mode, the NumPy chain)."""
    return [
        Cell("mlp", n, m, tags=tags, extra=JAC, memory=(n, m) == memory) for n, m, tags in cells
    ]


def _rosenbrock(ns: list[int], hess: tuple[int, ...]) -> list[Cell]:
    """Rosenbrock cells: gradients and user calls everywhere, Hessians at ``hess``."""
    return [
        Cell(
            "rosenbrock",
            n,
            1,
            fd=n < 10_000,
            tags=("size",),
            extra=HESS if n in hess else GRAD,
            api=True,
            skip=BIG_N_SKIP if n >= 10_000 else (),
        )
        for n in ns
    ]


def _seminar(vector: list[int], matrix: list[int], hess: tuple[int, ...]) -> list[Cell]:
    """The seminar's problems: gradients at every size, Hessians and user calls of the
    cubic norm at ``hess``."""
    cells = [
        Cell(
            f"seminar:{v}",
            n,
            1,
            tags=("size",),
            extra=HESS if v == "cubic_norm" and n in hess else GRAD,
            api=v == "cubic_norm" and n in hess,
        )
        for v in ("quadratic", "cubic_norm")
        for n in vector
    ]
    cells += [
        Cell(f"seminar:{v}", k * k, 1, tags=("size",), extra=GRAD)
        for v in ("trace_inv", "logdet")
        for k in matrix
    ]
    return cells


#: The user-call cells of issue 12: the 7-node f and the logistic-regression loop.
USER = {
    "small": [Cell("small", 3, 1, tags=("user",), extra=GRAD, api=True)],
    "logistic": [Cell("logistic", 20, 1, fd=False, tags=("user",), extra=("grad", "gd"), api=True)],
}


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
    """The default grid of ``make bench`` (about 12 minutes on one core).

    ``linear`` runs n/m from 100 to 0.01 as the seminar did; its last cell (m = 10^4) is
    the most expensive of the grid: the reverse Jacobian is m^2 n = 10^10 flops.
    ``mlp`` adds the square cells (16, 16), (128, 128), (1024, 1024) and the corners
    (1, 1024), (1024, 1); the peak memory is measured at (1024, 1024).
    """
    pow2 = [2**i for i in range(10)]  # 1 .. 512
    mlp = [(n, 8, ("vs_n",)) for n in (4, 32, 256, 1024)]
    mlp += [(8, m, ("vs_m",)) for m in (4, 32, 256, 1024)]
    mlp += [(k, k, ("square",)) for k in (16, 128, 1024)]
    mlp += [(1, 1024, ("corner",)), (1024, 1, ("corner",))]
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
        "linear": [  # default chunks, and one direction per sweep (the textbook modes)
            Cell("linear", LINEAR_N, m, chunks=(None, 1), tags=("ratio",), extra=JAC)
            for m in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
        ],
        "mlp": _mlp(mlp, (1024, 1024)),
        "rosenbrock": _rosenbrock([10, 100, 1000, 10_000, 100_000, 1_000_000], (100, 1000)),
        "seminar": _seminar([10, 100, 400, 1000], [3, 10, 20, 32], (10, 100, 400)),
        **USER,
        "sparse": _sparse([100, 316, 1000, 3162, 10_000, 100_000]),
    }


def quick() -> dict[str, list[Cell]]:
    """The ``--quick`` grid (about 2 minutes): the same sweeps, fewer and smaller cells."""
    mlp = [(64, 8, ("vs_n",)), (8, 64, ("vs_m",)), (16, 16, ("square",))]
    mlp += [(128, 128, ("square",))]
    return {
        "random": _random(
            [1, 4, 16, 64], [1, 4, 16, 64], [500, 2000, 8000], 2000, 4, [], [(4, 4, 200)]
        ),
        "linear": [
            Cell("linear", LINEAR_N, m, tags=("ratio",), extra=JAC) for m in (1, 10, 100, 1000)
        ],
        "mlp": _mlp(mlp, (128, 128)),
        "rosenbrock": _rosenbrock([100, 1000, 100_000], (1000,)),
        "seminar": _seminar([100], [10], (100,)),
        "small": USER["small"],
        "logistic": [  # 200 descent steps (the full grid runs 1000)
            Cell("logistic", 20, 1, 200, fd=False, tags=("user",), extra=("grad", "gd"), api=True)
        ],
        "sparse": _sparse([100, 10_000]),
    }


def tiny() -> dict[str, list[Cell]]:
    """The ``--tiny`` grid of the tests: every family, sweep and report section, in
    seconds (the descent loop runs 20 steps)."""
    return {
        "random": _random([1, 4], [1, 4], [60, 120], 60, 2, [1, 4], [(2, 2, 30)]),
        "linear": [Cell("linear", 20, m, tags=("ratio",), extra=JAC) for m in (2, 20, 200)],
        "mlp": [Cell("mlp", 4, 2, tags=("vs_n", "vs_m"), extra=JAC)],
        "rosenbrock": _rosenbrock([10], (10,)),
        "seminar": [
            Cell("seminar:quadratic", 5, 1, tags=("size",), extra=GRAD),
            Cell("seminar:cubic_norm", 5, 1, tags=("size",), extra=HESS, api=True),
            Cell("seminar:trace_inv", 9, 1, tags=("size",), extra=GRAD),
        ],
        "small": USER["small"],
        "logistic": [
            Cell("logistic", 20, 1, 20, fd=False, tags=("user",), extra=("grad", "gd"), api=True)
        ],
        "sparse": _sparse([16]),
    }


def check() -> dict[str, list[Cell]]:
    """The cells of ``bench check`` (issue 7): omegas, vector mode, slopes, JAX ratios."""
    return {
        "random": [
            Cell("random", n, 8, RANDOM_T, (1, 8), False, False, ("vs_n",)) for n in (8, 32, 128)
        ]
        + [Cell("random", 8, m, RANDOM_T, (1, 8), False, False, ("vs_m",)) for m in (32, 128, 512)],
        "linear": [Cell("linear", LINEAR_N, LINEAR_N, fd=False, tags=("ratio",))],
        "mlp": [Cell("mlp", 32, 8, fd=False, tags=("vs_n",))],
        "rosenbrock": [Cell("rosenbrock", 1000, 1, fd=False, tags=("size",))],
        "seminar": [Cell("seminar:trace_inv", 256, 1, fd=False, tags=("size",))],
    }


def cells(kind: str, families: list[str]) -> dict[str, list[Cell]]:
    """The merged cells of grid ``kind`` ("full", "quick", "tiny", "check") per family."""
    table = {"full": full, "quick": quick, "tiny": tiny, "check": check}[kind]()
    return {f: _merge(table[f]) for f in families if f in table}
