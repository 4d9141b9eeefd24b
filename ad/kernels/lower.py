"""Lowering a Graph to a flat program: the instruction table, one entry per primitive.

The flat program (see :class:`ad.kernels.program.Program`):

- every Var of the graph gets a SLOT: an offset into one float64 ``values`` buffer
  (inputs, then constants, then equation outputs, in definition order; a Var of
  shape s occupies ``prod(s)`` consecutive slots, row-major). Residual slots a rule
  needs in the reverse sweep come after them. Constants are copied in once;
- instruction i is ``ops[i]`` (a dense opcode of :mod:`ad.kernels.opcodes`) with an
  int payload ``code[ptr[i]:ptr[i + 1]]`` (CSR layout) holding slot offsets, sizes,
  dimensions and offsets into ``pool``, an int pool of index maps already translated
  to absolute slots (gather, scatter_add), output cells (reductions) or masks
  (select);
- ``act[i]`` is the activity word (bit 0: the instruction's derivative is needed,
  i.e. its output depends on an input AND reaches a graph output; bit 1 + k: operand
  k depends on an input), found here once, so sweeps skip inactive work;
- ``eqn_of[i]`` is the equation an instruction comes from (for error messages).

``LOWERINGS`` maps EVERY primitive name of ``ad.primitives.registry`` to a function
``lower(lw, eqn)`` that emits its instruction(s); a primitive without an entry is
rejected with a clear error, and ``tests/kernels/test_registry_kernels.py`` fails.

Payloads by opcode family (offsets are slots; ``m`` is an offset into the pool):

===================  ==============================================================
unary (NEG..)        ``[out, x, size, n]`` (n: integer_pow's exponent, else 0)
binary (ADD..)       ``[out, x, y, size]``
SELECT               ``[out, a, b, size, m]``, pool[m + k] = mask (0/1)
GATHER               ``[out, size, m]``, pool[m + k] = source slot or -1 (zero)
SCATTER_ADD          ``[out, out_size, g, g_size, m]``, pool[m + k] = target or -1
REDUCE_MAX/MIN       ``[out, out_size, x, x_size, m]``, pool[m + k] = output cell
MATMUL               ``[out, a, b, batch, m, k, n]``
INV .. SVDVALS       see :mod:`ad.kernels.linalg` (with their residual slots)
scalar *_S           ``[out, x]`` or ``[out, x, y]`` (size-1 fast paths)
GATHER_S             ``[out, src]`` (a one-entry gather)
===================  ==============================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ad.errors import GraphError
from ad.ir import Eqn, Graph, Var
from ad.kernels import opcodes as oc

# ----------------------------------------------------------------------------------
# The lowering context
# ----------------------------------------------------------------------------------


class Lowering:
    """Accumulates the flat program of one graph while its equations are lowered."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.slot: dict[int, int] = {}
        n = 0
        for v in graph.variables():
            self.slot[v.id] = n
            n += size(v)
        self.active, self.useful = activity(graph)
        self.n_slots = n  # slots of the Vars; residuals are appended after them
        self.n_values = n
        self.ops: list[int] = []
        self.act: list[int] = []
        self.eqn_of: list[int] = []
        self.ptr: list[int] = [0]
        self.code: list[int] = []
        self._pool: list[np.ndarray] = []
        self._pool_len = 0
        self.work = 1
        self._eqn = -1
        self._act = 0

    def emit(self, op: int, payload: list[int]) -> None:
        """Append one instruction with its payload."""
        self.ops.append(op)
        self.act.append(self._act)
        self.eqn_of.append(self._eqn)
        self.code.extend(payload)
        self.ptr.append(len(self.code))

    def pool(self, values: np.ndarray) -> int:
        """Append an int array to the pool; return its offset."""
        arr = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
        off = self._pool_len
        self._pool.append(arr)
        self._pool_len += arr.size
        return off

    def need_work(self, size: int) -> None:
        """Make the float scratch buffer at least ``size`` long."""
        self.work = max(self.work, int(size))

    def residual(self, size: int) -> int:
        """Reserve ``size`` residual slots (kept on the tape); return their offset."""
        off = self.n_values
        self.n_values += int(size)
        return off

    def pool_array(self) -> np.ndarray:
        if not self._pool:
            return np.zeros(1, dtype=np.int64)
        return np.concatenate(self._pool + [np.zeros(1, dtype=np.int64)])


def size(v: Var) -> int:
    """Number of scalars of ``v`` (math.prod: much cheaper than np.prod per Var)."""
    return math.prod(v.shape)


def activity(graph: Graph) -> tuple[set[int], set[int]]:
    """(active, useful): ids that depend on an input / that some output depends on."""
    active = {v.id for v in graph.inputs}
    for e in graph.eqns:
        if any(v.id in active for v in e.inputs):
            active.update(v.id for v in e.outputs)
    useful = {v.id for v in graph.outputs}
    for e in reversed(graph.eqns):
        if any(v.id in useful for v in e.outputs):
            useful.update(v.id for v in e.inputs)
    return active, useful


def lower_graph(graph: Graph) -> Lowering:
    """Lower every equation of ``graph`` with the ``LOWERINGS`` table."""
    from ad.primitives.core import registry

    lw = Lowering(graph)
    active, useful = lw.active, lw.useful
    for i, e in enumerate(graph.eqns):
        name = e.prim.name
        fn = LOWERINGS.get(name)
        if fn is None or registry.get(name) is not e.prim:
            raise GraphError(
                f"node {i} ({name}): the compiled kernels have no instruction for this "
                "primitive; add an entry to ad/kernels/lower.py (or use engine='reference')"
            )
        need = any(v.id in active and v.id in useful for v in e.outputs)
        word = 1 if need else 0
        for k, v in enumerate(e.inputs[:62]):
            if v.id in active:
                word |= 2 << k
        lw._eqn, lw._act = i, word
        fn(lw, e)
    return lw


# ----------------------------------------------------------------------------------
# The table: one entry per primitive name
# ----------------------------------------------------------------------------------

Lower = Callable[[Lowering, Eqn], None]

_SCALAR_UNARY = {oc.SIN: oc.SIN_S, oc.COS: oc.COS_S, oc.TANH: oc.TANH_S}
_SCALAR_BINARY = {oc.ADD: oc.ADD_S, oc.SUB: oc.SUB_S, oc.MUL: oc.MUL_S}


def _unary(op: int) -> Lower:
    def lower(lw: Lowering, e: Eqn) -> None:
        (x,), (out,) = e.inputs, e.outputs
        n = int(e.params.get("n", 0))
        k = size(out)
        if k == 1 and op in _SCALAR_UNARY:
            lw.emit(_SCALAR_UNARY[op], [lw.slot[out.id], lw.slot[x.id]])
        elif k == 1 and op == oc.INTEGER_POW and n == 2:
            lw.emit(oc.SQUARE_S, [lw.slot[out.id], lw.slot[x.id]])
        else:
            lw.emit(op, [lw.slot[out.id], lw.slot[x.id], k, n])

    return lower


def _binary(op: int) -> Lower:
    def lower(lw: Lowering, e: Eqn) -> None:
        (x, y), (out,) = e.inputs, e.outputs
        s, k = lw.slot, size(out)
        if k == 1 and op in _SCALAR_BINARY:
            lw.emit(_SCALAR_BINARY[op], [s[out.id], s[x.id], s[y.id]])
        else:
            lw.emit(op, [s[out.id], s[x.id], s[y.id], k])

    return lower


def _select(lw: Lowering, e: Eqn) -> None:
    (a, b), (out,) = e.inputs, e.outputs
    mask = np.broadcast_to(np.asarray(e.params["mask"], dtype=bool), out.shape)
    m = lw.pool(mask.astype(np.int64))
    lw.emit(oc.SELECT, [lw.slot[out.id], lw.slot[a.id], lw.slot[b.id], out.size, m])


def _core_size(v: Var, core_ndim: int) -> int:
    return int(np.prod(v.shape[v.ndim - core_ndim :], dtype=np.int64)) if core_ndim else 1


def _gather(lw: Lowering, e: Eqn) -> None:
    """out[b, k] = concat(ravel(x_i[b]))[idx[k]]: expand batch rows to absolute slots."""
    idx = np.asarray(e.params["idx"], dtype=np.int64).reshape(-1)
    in_ndims = e.params["in_ndims"]
    (out,) = e.outputs
    x0 = e.inputs[0]
    batch = int(np.prod(x0.shape[: x0.ndim - in_ndims[0]], dtype=np.int64))
    cores = [_core_size(x, nd) for x, nd in zip(e.inputs, in_ndims)]
    # src[b, s]: absolute slot of source position s (of the concatenation) in batch row b
    rows = np.arange(batch, dtype=np.int64)[:, None]
    parts = [
        lw.slot[x.id] + rows * c + np.arange(c, dtype=np.int64) for x, c in zip(e.inputs, cores)
    ]
    src = np.concatenate(parts, axis=1) if parts else np.zeros((batch, 0), dtype=np.int64)
    if idx.size and src.shape[1] == 0:
        raise GraphError(f"gather v{out.id}: no source entries")
    amap = np.where(idx >= 0, src[:, np.clip(idx, 0, None)] if src.shape[1] else -1, -1)
    amap = np.broadcast_to(amap, (batch, idx.size)).reshape(-1)
    if size(out) == 1 and amap[0] >= 0:
        lw.emit(oc.GATHER_S, [lw.slot[out.id], int(amap[0])])
    else:
        lw.emit(oc.GATHER, [lw.slot[out.id], size(out), lw.pool(amap)])


def _scatter_add(lw: Lowering, e: Eqn) -> None:
    """out[b, idx[k]] += g[b, k]: expand batch rows to absolute target slots."""
    idx = np.asarray(e.params["idx"], dtype=np.int64).reshape(-1)
    ((g,), (out,)) = e.inputs, e.outputs
    size = int(np.prod(e.params["out_shape"], dtype=np.int64))
    batch = g.size // idx.size if idx.size else 0
    base = lw.slot[out.id] + np.arange(batch, dtype=np.int64)[:, None] * size
    amap = np.where(idx >= 0, base + idx, -1).reshape(-1)
    lw.emit(oc.SCATTER_ADD, [lw.slot[out.id], out.size, lw.slot[g.id], g.size, lw.pool(amap)])


def _reduce(op: int) -> Lower:
    def lower(lw: Lowering, e: Eqn) -> None:
        from ad.primitives.reductions import reduce_map

        ((x,), (out,)) = e.inputs, e.outputs
        cells, _ = reduce_map(x.shape, tuple(e.params["axes"]))
        m = lw.pool(cells)
        lw.need_work(out.size)
        lw.emit(op, [lw.slot[out.id], out.size, lw.slot[x.id], x.size, m])

    return lower


def _matmul(lw: Lowering, e: Eqn) -> None:
    (a, b), (out,) = e.inputs, e.outputs
    k = a.shape[-1]
    m = a.shape[-2] if a.ndim >= 2 else 1
    n = b.shape[-1] if b.ndim >= 2 else 1
    batch = int(np.prod(a.shape[:-2], dtype=np.int64)) if a.ndim > 2 else 1
    s = lw.slot
    lw.emit(oc.MATMUL, [s[out.id], s[a.id], s[b.id], batch, m, k, n])


def _square(x: Var) -> int:
    return int(x.shape[-1])


def _residual(lw: Lowering, size: int) -> int:
    """Residual slots, reserved only when the instruction's derivative is needed."""
    return lw.residual(size) if lw._act & 1 else 0


def _matrix_fn(op: int, residual: Callable[[int], int] | None) -> Lower:
    """inv, det, adjugate, cholesky: ``[out, x, n(, res)]``."""

    def lower(lw: Lowering, e: Eqn) -> None:
        (x,), (out,) = e.inputs, e.outputs
        n = _square(x)
        payload = [lw.slot[out.id], lw.slot[x.id], n]
        if residual is not None:
            payload.append(_residual(lw, residual(n)))
        lw.emit(op, payload)

    return lower


def _solve(lw: Lowering, e: Eqn) -> None:
    (a, b), (out,) = e.inputs, e.outputs
    n = _square(a)
    k = b.shape[1] if b.ndim == 2 else 1
    s = lw.slot
    lw.emit(oc.SOLVE, [s[out.id], s[a.id], s[b.id], n, k, _residual(lw, n * n)])


def _slogdet(lw: Lowering, e: Eqn) -> None:
    (x,), (sign, lad) = e.inputs, e.outputs
    n = _square(x)
    s = lw.slot
    lw.emit(oc.SLOGDET, [s[sign.id], s[lad.id], s[x.id], n, _residual(lw, n * n)])


def _eigh(op: int) -> Lower:
    def lower(lw: Lowering, e: Eqn) -> None:
        (x,), (w, v) = e.inputs, e.outputs
        upper = 1 if e.params.get("uplo", "L") == "U" else 0
        s = lw.slot
        lw.emit(op, [s[w.id], s[v.id], s[x.id], _square(x), upper])

    return lower


def _svd(op: int) -> Lower:
    def lower(lw: Lowering, e: Eqn) -> None:
        (x,), (u, sv, vt) = e.inputs, e.outputs
        m, n = x.shape
        full = 1 if e.params.get("full", False) else 0
        s = lw.slot
        lw.emit(op, [s[u.id], s[sv.id], s[vt.id], s[x.id], m, n, full])

    return lower


LOWERINGS: dict[str, Lower] = {
    # unary elementwise
    "neg": _unary(oc.NEG),
    "sin": _unary(oc.SIN),
    "cos": _unary(oc.COS),
    "tan": _unary(oc.TAN),
    "exp": _unary(oc.EXP),
    "log": _unary(oc.LOG),
    "log1p": _unary(oc.LOG1P),
    "expm1": _unary(oc.EXPM1),
    "sqrt": _unary(oc.SQRT),
    "tanh": _unary(oc.TANH),
    "sinh": _unary(oc.SINH),
    "cosh": _unary(oc.COSH),
    "arctan": _unary(oc.ARCTAN),
    "arcsin": _unary(oc.ARCSIN),
    "arccos": _unary(oc.ARCCOS),
    "abs": _unary(oc.ABS),
    "integer_pow": _unary(oc.INTEGER_POW),
    # binary elementwise
    "add": _binary(oc.ADD),
    "sub": _binary(oc.SUB),
    "mul": _binary(oc.MUL),
    "div": _binary(oc.DIV),
    "pow": _binary(oc.POW),
    "maximum": _binary(oc.MAXIMUM),
    "minimum": _binary(oc.MINIMUM),
    "select": _select,
    # structural and reductions
    "gather": _gather,
    "scatter_add": _scatter_add,
    "reduce_max": _reduce(oc.REDUCE_MAX),
    "reduce_min": _reduce(oc.REDUCE_MIN),
    # matrices
    "matmul": _matmul,
    "inv": _matrix_fn(oc.INV, None),
    "solve": _solve,
    "det": _matrix_fn(oc.DET, lambda n: n * n),
    "adjugate": _matrix_fn(oc.ADJUGATE, lambda n: 2 * n * n + n + 1),
    "slogdet": _slogdet,
    "cholesky": _matrix_fn(oc.CHOLESKY, lambda n: n * n),
    "eigh": _eigh(oc.EIGH),
    "eigvalsh": _eigh(oc.EIGVALSH),
    "svd": _svd(oc.SVD),
    "svdvals": _svd(oc.SVDVALS),
}


def covered(name: str) -> bool:
    """True if primitive ``name`` has a kernel instruction."""
    return name in LOWERINGS


def describe(lw: Any) -> str:  # pragma: no cover - debugging aid
    """The program as text, one instruction per line."""
    lines = []
    for i, op in enumerate(lw.ops):
        lines.append(f"{i:5d} {oc.NAMES[op]:12s} {lw.code[lw.ptr[i] : lw.ptr[i + 1]]}")
    return "\n".join(lines)
