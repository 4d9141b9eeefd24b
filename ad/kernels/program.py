"""The lowered program of a Graph: flat arrays, buffers, validation and error reports.

A :class:`Program` is built once per Graph (cached on ``graph._cache["kernels"]``)
and owns every buffer the sweeps use, so a call allocates nothing but its results:

- ``values[n_values]``: one float64 slot per scalar of every Var (then residuals);
  constants are copied in at lowering. After a primal sweep it holds every
  intermediate value: it IS the tape of the reverse mode;
- ``partials(p)``: a zero-initialised ``(n_values, p)`` buffer per chunk width p (the
  dual parts of forward mode; rows of inactive slots are never written, stay zero);
- ``adjoints(q)``: a ``(n_values, q)`` buffer per cotangent count q;
- ``work``: float scratch (tie counts of reductions, ...).

Buffers are reused across calls, so a Program is not thread-safe: one graph must not
be swept from two threads at once.

:func:`validate` checks every opcode, payload length, slot range and pool index in
Python (vectorised per opcode) before any kernel runs, so a malformed program is a
``GraphError``, never an out-of-bounds access inside Numba.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ad.errors import GraphError, NonFiniteError
from ad.ir import Graph
from ad.kernels import opcodes as oc
from ad.kernels.lower import size as var_size

#: How many (p or q) dual buffers a Program keeps (least recently used dropped).
MAX_DUAL_BUFFERS = 4


class Program:
    """Flat program + buffers of one Graph (see the module docstring)."""

    def __init__(self, graph: Graph, lw: Any):
        self.ops = np.asarray(lw.ops, dtype=np.int64)
        self.ptr = np.asarray(lw.ptr, dtype=np.int64)
        self.code = np.asarray(lw.code + [0], dtype=np.int64)  # never empty
        self.pool = lw.pool_array()
        self.act = np.asarray(lw.act, dtype=np.int64)
        self.eqn_of = np.asarray(lw.eqn_of, dtype=np.int64)
        self.n_slots = lw.n_slots
        self.n_values = lw.n_values
        self.slot = dict(lw.slot)
        self.values = np.zeros(max(self.n_values, 1))
        self.work = np.zeros(lw.work)
        self.inputs = [(self.slot[v.id], var_size(v), v.shape) for v in graph.inputs]
        self.outputs = [(self.slot[v.id], var_size(v), v.shape) for v in graph.outputs]
        for v in graph.consts:
            value = np.asarray(graph.const_values[v.id], dtype=np.float64)
            self.values[self.slot[v.id] : self.slot[v.id] + v.size] = value.reshape(-1)
        active, useful = lw.active, lw.useful
        self.out_active = [v.id in active for v in graph.outputs]
        self.needed = active & useful
        self.tape_key: list[np.ndarray] | None = None
        self._duals: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    # -- buffers -------------------------------------------------------------------
    def dual(self, kind: str, width: int) -> np.ndarray:
        """The zero-initialised ``(n_values, width)`` partials or adjoints buffer."""
        key = (kind, int(width))
        buf = self._duals.get(key)
        if buf is None:
            buf = np.zeros((max(self.n_values, 1), int(width)))
            self._duals[key] = buf
            while len(self._duals) > MAX_DUAL_BUFFERS:
                self._duals.popitem(last=False)
        else:
            self._duals.move_to_end(key)
        return buf

    def load(self, args: list[np.ndarray]) -> None:
        """Copy the inputs into their slots."""
        for (off, size, _), a in zip(self.inputs, args):
            self.values[off : off + size] = a.reshape(-1)

    def read(self, which: list[tuple[int, int, tuple[int, ...]]]) -> list[np.ndarray]:
        """Copies of the values of the given (offset, size, shape) slots."""
        return [self.values[o : o + s].reshape(shape).copy() for o, s, shape in which]

    def tape_bytes(self) -> int:
        """8 x (slots of every Var + residual slots): see ``ad.kernels.tape_bytes``."""
        return 8 * self.n_values


# ----------------------------------------------------------------------------------
# Validation: every index a kernel will follow is checked here, in Python
# ----------------------------------------------------------------------------------

# opcode -> payload length, slot ranges [(start field, size)], where size is a field
# index (int), a constant ("one"), or a callable of the payload matrix F.
_UNARY = (4, [(0, 2), (1, 2)])
_BINARY = (4, [(0, 3), (1, 3), (2, 3)])
_SCALAR1 = (2, [(0, "one"), (1, "one")])
_SCALAR2 = (3, [(0, "one"), (1, "one"), (2, "one")])
SPECS: dict[int, tuple[int, list[tuple[int, Any]]]] = {
    **{op: _UNARY for op in range(oc.LAST_UNARY + 1)},
    **{op: _BINARY for op in (oc.ADD, oc.SUB, oc.MUL, oc.DIV, oc.POW, oc.MAXIMUM, oc.MINIMUM)},
    **{op: _SCALAR2 for op in (oc.ADD_S, oc.SUB_S, oc.MUL_S)},
    **{op: _SCALAR1 for op in (oc.SIN_S, oc.COS_S, oc.TANH_S, oc.SQUARE_S, oc.GATHER_S)},
    oc.SELECT: (5, [(0, 3), (1, 3), (2, 3)]),
    oc.GATHER: (3, [(0, 1)]),
    oc.SCATTER_ADD: (5, [(0, 1), (2, 3)]),
    oc.REDUCE_MAX: (5, [(0, 1), (2, 3)]),
    oc.REDUCE_MIN: (5, [(0, 1), (2, 3)]),
    oc.MATMUL: (
        7,
        [
            (0, lambda F: F[:, 3] * F[:, 4] * F[:, 6]),
            (1, lambda F: F[:, 3] * F[:, 4] * F[:, 5]),
            (2, lambda F: F[:, 3] * F[:, 5] * F[:, 6]),
        ],
    ),
    oc.INV: (3, [(0, lambda F: F[:, 2] ** 2), (1, lambda F: F[:, 2] ** 2)]),
    oc.SOLVE: (
        6,
        [
            (0, lambda F: F[:, 3] * F[:, 4]),
            (1, lambda F: F[:, 3] ** 2),
            (2, lambda F: F[:, 3] * F[:, 4]),
            (5, lambda F: F[:, 3] ** 2),
        ],
    ),
    oc.DET: (4, [(0, "one"), (1, lambda F: F[:, 2] ** 2), (3, lambda F: F[:, 2] ** 2)]),
    oc.ADJUGATE: (
        4,
        [
            (0, lambda F: F[:, 2] ** 2),
            (1, lambda F: F[:, 2] ** 2),
            (3, lambda F: 2 * F[:, 2] ** 2 + F[:, 2] + 1),
        ],
    ),
    oc.SLOGDET: (
        5,
        [(0, "one"), (1, "one"), (2, lambda F: F[:, 3] ** 2), (4, lambda F: F[:, 3] ** 2)],
    ),
    oc.CHOLESKY: (
        4,
        [(0, lambda F: F[:, 2] ** 2), (1, lambda F: F[:, 2] ** 2), (3, lambda F: F[:, 2] ** 2)],
    ),
    **{
        op: (5, [(0, 3), (1, lambda F: F[:, 3] ** 2), (2, lambda F: F[:, 3] ** 2)])
        for op in (oc.EIGH, oc.EIGVALSH)
    },
    **{
        op: (
            7,
            [
                (
                    0,
                    lambda F: (
                        F[:, 4] * np.where(F[:, 6] != 0, F[:, 4], np.minimum(F[:, 4], F[:, 5]))
                    ),
                ),
                (1, lambda F: np.minimum(F[:, 4], F[:, 5])),
                (
                    2,
                    lambda F: (
                        F[:, 5] * np.where(F[:, 6] != 0, F[:, 5], np.minimum(F[:, 4], F[:, 5]))
                    ),
                ),
                (3, lambda F: F[:, 4] * F[:, 5]),
            ],
        )
        for op in (oc.SVD, oc.SVDVALS)
    },
}


def _fail(prog: Program, graph: Graph | None, i: int, what: str) -> GraphError:
    where = f"instruction {i} ({oc.NAMES[prog.ops[i]] if 0 <= prog.ops[i] < oc.N_OPCODES else '?'})"
    if graph is not None and 0 <= prog.eqn_of[i] < len(graph.eqns):
        where += f" of node `{eqn_text(graph, int(prog.eqn_of[i]))}`"
    return GraphError(f"malformed kernel program: {where}: {what}")


def validate(prog: Program, graph: Graph | None = None, specs: dict | None = None) -> None:
    """Raise GraphError unless every instruction of ``prog`` is safe to run."""
    specs = SPECS if specs is None else specs
    n_ins = prog.ops.size
    if prog.ptr.size != n_ins + 1 or prog.ptr[0] != 0 or np.any(np.diff(prog.ptr) < 0):
        raise GraphError("malformed kernel program: instruction pointers are not a CSR index")
    if prog.ptr[-1] > prog.code.size or prog.act.size != n_ins:
        raise GraphError("malformed kernel program: payload or activity arrays too short")
    bad = np.flatnonzero((prog.ops < 0) | (prog.ops >= oc.N_OPCODES))
    if bad.size:
        raise _fail(prog, graph, int(bad[0]), f"unknown opcode {prog.ops[bad[0]]}")
    nv = prog.values.size
    for op in np.unique(prog.ops):
        if int(op) not in specs:
            raise _fail(prog, graph, int(np.flatnonzero(prog.ops == op)[0]), "no kernel for it")
        length, ranges = specs[int(op)]
        which = np.flatnonzero(prog.ops == op)
        lens = prog.ptr[which + 1] - prog.ptr[which]
        if np.any(lens != length):
            i = int(which[np.flatnonzero(lens != length)[0]])
            raise _fail(prog, graph, i, f"payload has {lens.max()} entries, expected {length}")
        F = prog.code[prog.ptr[which][:, None] + np.arange(length)]
        for start, size in ranges:
            if size == "one":
                sz = np.ones(which.size, dtype=np.int64)
            elif callable(size):
                sz = size(F)
            else:
                sz = F[:, size]
            lo = F[:, start]
            wrong = (sz < 0) | (lo < 0) | (lo + sz > nv)
            if np.any(wrong):
                i = int(which[np.flatnonzero(wrong)[0]])
                raise _fail(
                    prog,
                    graph,
                    i,
                    f"slot range [{lo[wrong][0]}, +{sz[wrong][0]}) outside the {nv} value slots",
                )
        _validate_pools(prog, graph, int(op), which, F)


def _pool_slice(prog, graph, i, start, size) -> np.ndarray:
    if start < 0 or size < 0 or start + size > prog.pool.size:
        raise _fail(prog, graph, i, f"pool range [{start}, +{size}) outside the int pool")
    return prog.pool[start : start + size]


def _validate_pools(prog: Program, graph: Any, op: int, which: np.ndarray, F: np.ndarray) -> None:
    nv = prog.values.size
    for row, i in zip(F, which):
        i = int(i)
        if op == oc.GATHER:
            m = _pool_slice(prog, graph, i, row[2], row[1])
            if m.size and (m.min() < -1 or m.max() >= nv):
                raise _fail(prog, graph, i, "gather source slot out of range")
        elif op == oc.SCATTER_ADD:
            m = _pool_slice(prog, graph, i, row[4], row[3])
            inside = (m == -1) | ((m >= row[0]) & (m < row[0] + row[1]))
            if not np.all(inside):
                raise _fail(prog, graph, i, "scatter_add target outside its output")
        elif op in (oc.REDUCE_MAX, oc.REDUCE_MIN):
            m = _pool_slice(prog, graph, i, row[4], row[3])
            if m.size and (m.min() < 0 or m.max() >= row[1]) or row[1] > prog.work.size:
                raise _fail(prog, graph, i, "reduction cell out of range")
        elif op == oc.SELECT:
            _pool_slice(prog, graph, i, row[4], row[3])


# ----------------------------------------------------------------------------------
# Reports: which node produced a non-finite number
# ----------------------------------------------------------------------------------


def eqn_text(graph: Graph, i: int) -> str:
    """``vN = prim(vA, vB)`` for equation i (no parameters, no shape comment)."""
    e = graph.eqns[i]
    lhs = ", ".join(map(repr, e.outputs))
    return f"{lhs} = {e.prim.name}({', '.join(map(repr, e.inputs))})"


def _producer(graph: Graph) -> dict[int, int]:
    return {v.id: i for i, e in enumerate(graph.eqns) for v in e.outputs}


def _slots(prog: Program, buf: np.ndarray, var: Any, batch: bool) -> np.ndarray:
    rows = buf[prog.slot[var.id] : prog.slot[var.id] + var.size]
    if not batch:
        return rows.reshape(var.shape)
    return rows.T.reshape((buf.shape[1],) + var.shape)


# The reports themselves are shared with the reference interpreters (ad.finite): these
# give them the program's buffers.


def nonfinite_value(prog: Program, graph: Graph) -> NonFiniteError:
    """The error for a non-finite output value: names the node that first produced it."""
    from ad.finite import value_error

    return value_error(graph, lambda v: _slots(prog, prog.values, v, False))


def nonfinite_tangent(prog: Program, graph: Graph, partials: np.ndarray) -> NonFiniteError:
    """The error for a non-finite output tangent: the node whose partials first are."""
    from ad.finite import tangent_error

    active = prog.needed | {v.id for v in graph.inputs}
    return tangent_error(
        graph,
        lambda v: _slots(prog, prog.values, v, False),
        lambda v: _slots(prog, partials, v, True) if v.id in active else None,
    )


def nonfinite_adjoint(prog: Program, graph: Graph, adjoints: np.ndarray) -> NonFiniteError:
    """The error for a non-finite input cotangent: the node where the adjoint sweep met it."""
    from ad.finite import adjoint_error

    return adjoint_error(
        graph,
        lambda v: _slots(prog, prog.values, v, False),
        lambda v: _slots(prog, adjoints, v, True),
    )


def status_error(prog: Program, graph: Graph, status: int) -> Exception:
    """The exception for a kernel status ``16 * instruction + code``, worded as the
    reference rules word it (the values named are read from the tape)."""
    from ad.errors import DegenerateDerivativeError, SingularMatrixError
    from ad.kernels import sweeps as sw

    i, code = divmod(int(status), 16)
    node = int(prog.eqn_of[i]) if 0 <= i < prog.eqn_of.size else -1
    where = f"node {node}: `{eqn_text(graph, node)}`" if node >= 0 else f"instruction {i}"
    if code == sw.STATUS_SINGULAR:
        name = graph.eqns[node].prim.name if node >= 0 else "?"
        what = "not positive definite" if name == "cholesky" else "singular"
        return SingularMatrixError(f"{name}: the matrix is {what}, at {where}")
    if node < 0:
        return GraphError(f"kernel could not run {where} (status {code})")
    e = graph.eqns[node]
    if code == sw.STATUS_DEGENERATE:
        vals_var = e.outputs[0] if e.prim.name in ("eigh", "eigvalsh") else e.outputs[1]
        off = prog.slot[vals_var.id]
        v = prog.values[off : off + vals_var.size]
        sym = "w" if e.prim.name.startswith("eig") else "s"
        order = np.argsort(v, kind="stable")
        gaps = np.diff(v[order])
        k = int(np.argmin(gaps))
        a, b = sorted((int(order[k]), int(order[k + 1])))
        vectors = "eigenvectors" if sym == "w" else "singular vectors"
        return DegenerateDerivativeError(
            f"{e.prim.name}: {sym}[{a}] = {v[a]:.6g} and {sym}[{b}] = {v[b]:.6g} are repeated "
            f"(gap {gaps[k]:.1e}), so the derivative of the {vectors} does not exist there "
            f"(it needs 1 / gap), at {where}. A function of the values alone is differentiable "
            "there: use the values-only function (eigvalsh, svd(compute_uv=False))."
        )
    if code == sw.STATUS_COMPLETION:
        m, n = e.inputs[0].shape
        what = f"the last {m - n} columns of U" if m > n else f"the last {n - m} rows of Vt"
        return DegenerateDerivativeError(
            f"svd(full_matrices=True) of a {m}x{n} matrix: {what} complete an orthonormal basis "
            f"and are not unique, so they have no derivative (at {where}). Pass "
            "full_matrices=False (or compute_uv=False for the singular values alone)."
        )
    if code == sw.STATUS_ZERO_SINGULAR:
        s_var = e.outputs[1]
        s = prog.values[prog.slot[s_var.id] : prog.slot[s_var.id] + s_var.size]
        j = int(np.argmin(s))
        m, n = e.inputs[0].shape
        return DegenerateDerivativeError(
            f"svd: s[{j}] = {s[j]:.1e} of the {m}x{n} (non-square) matrix is zero, so the "
            f"derivative of the singular vectors does not exist there (it needs 1 / s), at "
            f"{where}. A function of the singular values alone is differentiable."
        )
    return GraphError(f"kernel could not run {where} (status {code})")
