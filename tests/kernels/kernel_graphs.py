"""Graphs for the kernel tests, built with ad.GraphBuilder: one builder per primitive.

``BUILDERS[name](b, v, w, rng)`` appends a small expression that applies primitive
``name`` (on a domain where it is defined and smooth) to the vectors ``v`` and ``w``
of shape (N,) and returns a vector of shape (N,) again, so builders compose into
random Wengert lists. Values stay bounded: inputs lie in [-1, 1] and every builder
maps bounded vectors to bounded vectors.

Matrix builders (``inv``, ``solve``, ...) are added to the same table by
:func:`linalg_builders` for the primitives the registry has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import ad
from ad.ir import GraphBuilder, Var
from ad.primitives import registry
from ad.primitives.elementwise import _same_shape

N = 14  # inputs of length > 12: chunk boundaries are always exercised (ForwardDiff)

Builder = Callable[[GraphBuilder, Var, Var, np.random.Generator], Var]


def c(b: GraphBuilder, value: Any, shape: tuple[int, ...] = (N,)) -> Var:
    return b.const(np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy())


def bounded(b: GraphBuilder, v: Var) -> Var:
    """sin(v): in [-1, 1] whatever v is."""
    return b.apply("sin", v)


def positive(b: GraphBuilder, v: Var, lo: float = 0.5) -> Var:
    """lo + v^2 (>= lo)."""
    return b.apply("add", c(b, lo, v.shape), b.apply("integer_pow", v, n=2))


def _unary_on(name: str, domain: Callable[[GraphBuilder, Var], Var] | None = None) -> Builder:
    def build(b, v, w, rng):
        return b.apply(name, v if domain is None else domain(b, v))

    return build


def _unit(b: GraphBuilder, v: Var) -> Var:
    return b.apply("mul", c(b, 0.9, v.shape), bounded(b, v))


def _half(b: GraphBuilder, v: Var) -> Var:
    return b.apply("mul", c(b, 0.5, v.shape), bounded(b, v))


def _gather(b, v, w, rng):
    """concat(v, w)[idx] with some -1 (zero) entries."""
    idx = rng.integers(-1, 2 * N, size=N)
    return b.apply("gather", v, w, idx=idx, in_ndims=(1, 1))


def _gather_batched(b, v, w, rng):
    """A gather with a batch axis: stack (2, N), permute each row, sum the rows."""
    st = b.apply("gather", v, w, idx=np.arange(2 * N).reshape(2, N), in_ndims=(1, 1))
    perm = b.apply("gather", st, idx=rng.permutation(N), in_ndims=(1,))
    cells, _ = _reduce_map((2, N), (0,))
    return b.apply("scatter_add", perm, idx=cells, out_shape=(N,))


def _reduce_map(shape, axes):
    from ad.primitives.reductions import reduce_map

    return reduce_map(shape, axes)


def _scatter(b, v, w, rng):
    idx = rng.integers(-1, N, size=N)
    return b.apply("scatter_add", v, idx=idx, out_shape=(N,))


def _extreme(name: str) -> Builder:
    def build(b, v, w, rng):
        # columns v, w, v: every row has a tie (v twice) unless w wins
        cols = np.stack([np.arange(N), N + np.arange(N), np.arange(N)], axis=1)
        m = b.apply("gather", v, w, idx=cols, in_ndims=(1, 1))
        return b.apply(name, m, axes=(1,))

    return build


def _select(b, v, w, rng):
    return b.apply("select", v, w, mask=rng.random(N) < 0.5)


def _div(b, v, w, rng):
    return b.apply("div", v, b.apply("add", c(b, 2.0), bounded(b, w)))


def _pow(b, v, w, rng):
    base = b.apply("add", c(b, 1.5), bounded(b, v))
    return b.apply("pow", base, bounded(b, w))


def _integer_pow(b, v, w, rng):
    n = int(rng.choice([2, 3, -2]))
    x = bounded(b, v) if n > 0 else b.apply("add", c(b, 1.5), bounded(b, v))
    return b.apply("integer_pow", x, n=n)


def _matmul(b, v, w, rng):
    """(N, N) matrix of v w^T entries @ v, plus a constant matrix and a batched product."""
    rows = b.apply("gather", v, idx=np.repeat(np.arange(N), N).reshape(N, N), in_ndims=(1,))
    cols = b.apply("gather", w, idx=np.tile(np.arange(N), N).reshape(N, N), in_ndims=(1,))
    M = b.apply("mul", rows, cols)  # M[i, j] = v_i w_j
    y = b.apply("matmul", M, bounded(b, v))  # (N,)
    z = b.apply("matmul", c(b, rng.standard_normal((N, N)) / N, (N, N)), w)
    dot = b.apply("matmul", v, w)  # a scalar
    A = b.apply("gather", v, w, idx=np.arange(2 * N).reshape(2, 1, N), in_ndims=(1, 1))
    B = b.apply("gather", w, v, idx=np.arange(2 * N).reshape(2, N, 1), in_ndims=(1, 1))
    C = b.apply("matmul", A, B)  # (2, 1, 1), batched
    rowvec = b.apply("matmul", v, M)  # (N,) @ (N, N)
    tot = b.apply("gather", dot, C, idx=np.array([0, 1, 2] * N)[:N] % 3, in_ndims=(0, 3))
    s = b.apply("add", b.apply("mul", c(b, 0.1), y), z)
    return b.apply("add", s, b.apply("mul", c(b, 0.1), b.apply("add", tot, rowvec)))


BUILDERS: dict[str, Builder] = {
    "neg": _unary_on("neg"),
    "sin": _unary_on("sin"),
    "cos": _unary_on("cos"),
    "tan": _unary_on("tan", _half),
    "exp": _unary_on("exp", bounded),
    "log": _unary_on("log", positive),
    "log1p": _unary_on("log1p", lambda b, v: b.apply("integer_pow", v, n=2)),
    "expm1": _unary_on("expm1", bounded),
    "sqrt": _unary_on("sqrt", positive),
    "tanh": _unary_on("tanh"),
    "sinh": _unary_on("sinh", bounded),
    "cosh": _unary_on("cosh", bounded),
    "arctan": _unary_on("arctan"),
    "arcsin": _unary_on("arcsin", _unit),
    "arccos": _unary_on("arccos", _unit),
    "abs": _unary_on("abs"),
    "integer_pow": _integer_pow,
    "add": lambda b, v, w, rng: b.apply("add", v, w),
    "sub": lambda b, v, w, rng: b.apply("sub", v, w),
    "mul": lambda b, v, w, rng: b.apply("mul", bounded(b, v), w),
    "div": _div,
    "pow": _pow,
    "maximum": lambda b, v, w, rng: b.apply("maximum", v, w),
    "minimum": lambda b, v, w, rng: b.apply("minimum", v, w),
    "select": _select,
    "gather": _gather,
    "scatter_add": _scatter,
    "reduce_max": _extreme("reduce_max"),
    "reduce_min": _extreme("reduce_min"),
    "matmul": _matmul,
    "stop_gradient": lambda b, v, w, rng: b.apply("mul", b.apply("stop_gradient", v), w),
}


def build_graph(names: list[str], picks: list[tuple[int, int]], seed: int) -> ad.Graph:
    """Inputs x, y of shape (N,) and a scalar s; apply ``names`` in turn, operands
    chosen by ``picks`` among the values so far; outputs (last vector, a scalar)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x, y, s = b.input((N,)), b.input((N,)), b.input(())
    sv = b.apply("gather", s, idx=np.zeros(N, dtype=np.int64), in_ndims=(0,))  # broadcast
    pool = [x, y, b.apply("mul", sv, x)]
    for name, (i, j) in zip(names, picks):
        v, w = pool[i % len(pool)], pool[j % len(pool)]
        out = BUILDERS[name](b, v, w, rng)
        pool.append(b.apply("tanh", out) if name in ("sinh", "cosh", "exp", "pow") else out)
    last = pool[-1]
    total = b.apply(
        "scatter_add", b.apply("mul", last, x), idx=np.zeros(N, dtype=np.int64), out_shape=()
    )
    return b.build((last, total))


def inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, N), rng.uniform(-1, 1, N), np.array(rng.uniform(-1, 1))]


def close(got: Any, want: Any, rtol: float = 1e-12) -> None:
    """Agreement to ``rtol`` relative to the largest entry of ``want`` (tree-wise)."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want)
        for g, w in zip(got, want):
            close(g, w, rtol)
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = float(np.max(np.abs(want), initial=0.0))
    err = float(np.max(np.abs(got - want), initial=0.0))
    assert err <= rtol * scale + 1e-300 or err <= 1e-15, f"error {err:.3e} vs scale {scale:.3e}"


# -- matrix functions ------------------------------------------------------------------


def _matrix(b, v, w, rng, rows=4, cols=4, scale=0.3):
    """A (rows, cols) matrix whose entries are v and w entries (times ``scale``)."""
    idx = rng.integers(0, 2 * N, size=(rows, cols))
    return b.apply(
        "mul", c(b, scale, (rows, cols)), b.apply("gather", v, w, idx=idx, in_ndims=(1, 1))
    )


def _shifted(b, M, shift):
    n = M.shape[0]
    return b.apply("add", M, c(b, shift * np.eye(n), (n, n)))


def _transpose(b, M):
    r, k = M.shape
    return b.apply("gather", M, idx=np.arange(r * k).reshape(r, k).T.copy(), in_ndims=(2,))


def _flat(b, *outs):
    """Spread the entries of ``outs`` over a vector of shape (N,)."""
    total = sum(o.size for o in outs)
    return b.apply("gather", *outs, idx=np.arange(N) % total, in_ndims=tuple(o.ndim for o in outs))


def _spd(b, v, w, rng, n=4):
    B = _matrix(b, v, w, rng, n, n)
    return _shifted(b, b.apply("matmul", B, _transpose(b, B)), 1.0)


def _inv(b, v, w, rng):
    return _flat(b, b.apply("inv", _shifted(b, _matrix(b, v, w, rng), 2.0)))


def _solve(b, v, w, rng):
    A = _shifted(b, _matrix(b, v, w, rng), 2.0)
    x1 = b.apply("solve", A, b.apply("gather", w, idx=np.arange(4), in_ndims=(1,)))
    x2 = b.apply("solve", A, _matrix(b, v, w, rng, 4, 3))
    x3 = b.apply("solve", c(b, 2 * np.eye(4) + 0.1, (4, 4)), _matrix(b, v, w, rng, 4, 2))
    return _flat(b, x1, x2, x3)


def _det(b, v, w, rng):
    d = b.apply("det", _shifted(b, _matrix(b, v, w, rng), 1.0))
    return b.apply("mul", b.apply("gather", d, idx=np.zeros(N, dtype=np.int64), in_ndims=(0,)), v)


def _adjugate(b, v, w, rng):
    return _flat(b, b.apply("adjugate", _matrix(b, v, w, rng, scale=1.0)))


def _slogdet(b, v, w, rng):
    sign, lad = b.apply("slogdet", _shifted(b, _matrix(b, v, w, rng), 1.5))
    return _flat(b, lad, sign, lad)


def _cholesky(b, v, w, rng):
    return _flat(b, b.apply("cholesky", _spd(b, v, w, rng)))


def _eig(name):
    def build(b, v, w, rng):
        uplo = "U" if rng.random() < 0.5 else "L"
        wv, V = b.apply(name, _matrix(b, v, w, rng, scale=1.0), uplo=uplo)
        return _flat(b, wv) if name == "eigvalsh" else _flat(b, wv, V)

    return build


def _svd(name):
    def build(b, v, w, rng):
        rows, cols = [(3, 5), (5, 3), (4, 4)][int(rng.integers(3))]
        params = {"full": False} if name == "svd" else {}
        U, s, Vt = b.apply(name, _matrix(b, v, w, rng, rows, cols, 1.0), **params)
        return _flat(b, s) if name == "svdvals" else _flat(b, s, U, Vt)

    return build


BUILDERS.update(
    {
        "inv": _inv,
        "solve": _solve,
        "det": _det,
        "adjugate": _adjugate,
        "slogdet": _slogdet,
        "cholesky": _cholesky,
        "eigh": _eig("eigh"),
        "eigvalsh": _eig("eigvalsh"),
        "svd": _svd("svd"),
        "svdvals": _svd("svdvals"),
    }
)


# -- primitives whose kernels are pending (KERNEL_PENDING in test_registry_kernels.py):
# their graphs are ready for the kernel tests once the instructions exist ------------


def _cumsum(b, v, w, rng):
    M = _matrix(b, v, w, rng, 3, 5, 1.0)
    fwd = b.apply("cumsum", v, axis=-1, reverse=False)
    cols = b.apply("cumsum", M, axis=-2, reverse=bool(rng.random() < 0.5))
    return b.apply("add", b.apply("mul", c(b, 0.1), fwd), _flat(b, cols))


def _sort(b, v, w, rng):
    s, perm = b.apply("sort", b.apply("add", v, w), axis=-1)
    rows, _ = b.apply("sort", _matrix(b, v, w, rng, 2, 7, 1.0), axis=-2)
    return b.apply("add", s, _flat(b, rows))


def _arctan2(b, v, w, rng):
    return b.apply("arctan2", v, b.apply("add", c(b, 1.5), bounded(b, w)))


def _qr(b, v, w, rng):
    rows, cols = [(5, 3), (4, 4)][int(rng.integers(2))]
    M = _matrix(b, v, w, rng, rows, cols, 1.0)
    if rows == cols:
        M = _shifted(b, M, 2.0)
    Q, R = b.apply("qr", M)
    return _flat(b, R, Q)


def _pinv(b, v, w, rng):
    """pinv of a (3, 5) or (5, 3) matrix kept away from rank deficiency (a shifted
    diagonal, as ``_qr`` shifts its square matrices): with singular values near 0 the
    adjoint's intermediates grow as 1/sigma^2 and two correct rules agree only to
    eps / sigma^2 relative to them, not to 1e-12 of the result (seen: sigma_min 0.018,
    entries of the operand products of inputs). Rank deficiency is tested at its
    delicate points in tests/test_numpy_ext.py."""
    rows, cols = [(3, 5), (5, 3)][int(rng.integers(2))]
    M = _matrix(b, v, w, rng, rows, cols, 1.0)
    M = b.apply("add", M, c(b, 2.0 * np.eye(rows, cols), (rows, cols)))
    return _flat(b, b.apply("pinv", M, rcond=1e-15))


BUILDERS.update({"cumsum": _cumsum, "sort": _sort, "arctan2": _arctan2, "qr": _qr, "pinv": _pinv})


def _elementwise_default(name: str, n_in: int) -> Builder:
    """An elementwise primitive defined on all of [-1, 1]: its operands bounded."""
    if n_in == 1:
        return _unary_on(name, bounded)
    return lambda b, v, w, rng: b.apply(name, bounded(b, v), bounded(b, w))


# every elementwise primitive without a builder of its own gets the default one (a new
# elementwise primitive needs no line here, unless its domain is not all of [-1, 1])
for _name, _prim in registry.items():
    if _name not in BUILDERS and _prim.shape_rule is _same_shape:
        BUILDERS[_name] = _elementwise_default(_name, _prim.n_in or 2)
