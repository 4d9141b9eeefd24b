"""The lowered program of a Graph: flat arrays, workspaces, validation, error reports.

A :class:`Program` is immutable once built: the instruction arrays (``ops``, the CSR
payload ``ptr``/``code``, the int ``pool``, the activity words ``act``), the slot of
every Var, and a template of the ``values`` buffer with the constants in place.

The mutable buffers live in :class:`Workspace` objects: ``values`` (after a primal
sweep it holds every intermediate value: it IS the tape of the reverse mode), the
``work`` scratch and the dual buffers ``(n_active, width)``. A call takes a workspace
from the program's free list and gives it back when done, so concurrent calls (threads)
never share buffers, and nothing a call leaves in a workspace is trusted by the next
one: every call loads its inputs and runs its sweeps from the start (one exception,
:meth:`Workspace.seeded`: a frozen seed block the forward buffer still holds is not
copied again). An interrupted call simply does not give its workspace back.

:func:`validate` checks every opcode, payload length, slot range and pool range in
Python (vectorised per opcode, from the fields the table declares) before any kernel
runs, so a malformed program is a ``GraphError``, never an out-of-bounds access inside
Numba (the kernels run with ``boundscheck=False``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ad.errors import DegenerateDerivativeError, GraphError, SingularMatrixError
from ad.finite import eqn_text
from ad.ir import Graph, Var
from ad.kernels import table
from ad.kernels.table import Status

#: Free workspaces a program keeps for reuse (more are created under concurrency).
MAX_FREE_WORKSPACES = 2
#: Dual buffers (widths) a workspace keeps.
MAX_DUAL_WIDTHS = 2


class Workspace:
    """The mutable buffers of one call: values (the tape), work, dual buffers."""

    def __init__(self, prog: Program):
        self.values = prog.values0.copy()
        self.work = np.zeros(prog.work_size)
        self._rows = {"forward": prog.n_active, "reverse": prog.n_reverse}
        self._duals: dict[tuple[str, int], np.ndarray] = {}
        #: per forward width, the frozen seed block its buffer's input rows hold
        self._seeds: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def duals(self, sweep: str, width: int) -> np.ndarray:
        """The partials (``sweep="forward"``, ``(n_active, width)``) or adjoints
        (``"reverse"``, ``(n_reverse, width)``) buffer; contents arbitrary: the forward
        sweep writes every row it reads, the reverse caller zeroes it."""
        key = (sweep, width)
        if sweep == "forward":
            self._seeds.pop(width, None)  # the caller may write the input rows
        buf = self._duals.get(key)
        if buf is None:
            if len(self._duals) >= MAX_DUAL_WIDTHS:
                self._duals.pop(next(iter(self._duals)))
            buf = self._duals[key] = np.empty((max(self._rows[sweep], 1), width))
        return buf

    def seeded(self, rows: np.ndarray) -> np.ndarray:
        """The forward buffer at width ``rows.shape[1]`` with ``rows`` in its first
        rows (the inputs' seeds).

        The copy is skipped when this buffer still holds this very block from an
        earlier call: ``rows`` frozen (read-only and owning its data: a compressed
        Jacobian's seed block, the same at every call) and the buffer not handed out
        since (:meth:`duals` forgets what it held; no sweep writes an input's rows)."""
        width = rows.shape[1]
        held = self._seeds.get(width)
        buf = self.duals("forward", width)
        if held is None or held[0] is not rows or held[1] is not buf:
            buf[: rows.shape[0]] = rows
        if not rows.flags.writeable and rows.base is None:
            self._seeds[width] = (rows, buf)
        return buf


class Program:
    """Flat program of one Graph (see the module docstring)."""

    def __init__(self, graph: Graph, lw: Any):
        self.graph = graph
        self.ops = np.asarray(lw.ops, dtype=np.int64)
        self.ptr = np.asarray(lw.ptr, dtype=np.int64)
        code = np.asarray(lw.code + [0])  # never empty
        if code.dtype.kind not in "iu":
            raise GraphError(f"lowering wrote a non-integer payload ({code.dtype})")
        self.code = code.astype(np.int64, copy=False)
        self.pool = lw.pool_array()
        self.act = np.asarray(lw.act, dtype=np.int64)
        self.eqn_of = np.asarray(lw.eqn_of, dtype=np.int64)
        self.n_active = lw.n_active
        self.n_reverse = lw.n_reverse
        self.n_internal = lw.n_internal  # values internal to fused groups (never taped)
        self.n_values = max(lw.n_values, 1)
        self.work_size = max(lw.work, 1)
        self.slot_of = dict(lw.slot_of)
        self.broadcast = {vid for vid in lw.slot_of if lw.ref_kind(vid) == "broadcast"}
        self.values0 = np.zeros(self.n_values)
        for v in graph.consts:
            value = np.asarray(graph.const_values[v.id], dtype=np.float64)
            self.values0[self.slot_of[v.id] : self.slot_of[v.id] + v.size] = value.reshape(-1)
        for off, value in lw.parameters:
            self.values0[off] = value
        self.inputs = [(self.slot_of[v.id], v.size, v.shape) for v in graph.inputs]
        self.n_in = sum(v.size for v in graph.inputs)  # slots 0 .. n_in - 1, in order
        self.outputs = [(self.slot_of[v.id], v.size, v.shape) for v in graph.outputs]
        # per call: the slices that load() writes and read_outputs() copies
        self._loads = [(slice(o, o + n), len(shape) == 1) for o, n, shape in self.inputs]
        self._reads = [(slice(o, o + n), shape, len(shape) == 1) for o, n, shape in self.outputs]
        active, useful = graph.activity()
        self.out_active = [v.id in active for v in graph.outputs]
        own = [lw.ref_kind(v.id) == "own" for v in graph.outputs]
        self.out_run = _out_run(
            graph, self.outputs, [a and o for a, o in zip(self.out_active, own)]
        )
        # the forward Jacobian seeds the inputs' rows 0 .. n - 1 (they come first, in order)
        assert [off for off, _, _ in self.inputs] == list(
            np.cumsum([0] + [size for _, size, _ in self.inputs])[:-1]
        )
        self.needed = active & useful
        self._free: list[Workspace] = []
        # the specialised sweeps (ad.kernels.specialise), shared with with_constants
        self.specialised: dict[Any, Any] = {}
        #: per instruction kind: (work, active work, instructions, active instructions),
        #: the work from the table's ``work`` expression (filled by :func:`validate`,
        #: which has every kind's payload rows at hand; read by ``ad.cost.counts``)
        self.tally: dict[str, tuple[float, float, int, int]] = {}

    def with_constants(self, graph: Graph) -> Program:
        """This program for ``graph``, a graph of the same structure: the same
        instructions, ``graph``'s constants (shared if equal, else a new template)."""
        same = all(
            np.array_equal(graph.const_values[v.id], self.graph.const_values[v.id])
            for v in graph.consts
        )
        if same:
            return self
        other = copy.copy(self)
        other.graph = graph
        other.values0 = self.values0.copy()
        for v in graph.consts:
            value = np.asarray(graph.const_values[v.id], dtype=np.float64)
            other.values0[self.slot_of[v.id] : self.slot_of[v.id] + v.size] = value.reshape(-1)
        other._free = []
        return other

    # -- workspaces ------------------------------------------------------------------
    def acquire(self) -> Workspace:
        """A workspace for one call (list.pop/append are atomic: thread-safe)."""
        try:
            return self._free.pop()
        except IndexError:
            return Workspace(self)

    def release(self, ws: Workspace) -> None:
        """Give a workspace back after a call completed."""
        if len(self._free) < MAX_FREE_WORKSPACES:
            self._free.append(ws)

    # -- reading and writing the buffers ------------------------------------------------
    def load(self, ws: Workspace, args: list[np.ndarray]) -> None:
        """Copy the inputs into their slots."""
        values = ws.values
        for (where, flat), a in zip(self._loads, args):
            values[where] = a if flat else a.reshape(-1)

    def read(self, buf: np.ndarray, which: list[tuple[int, int, tuple[int, ...]]]) -> list:
        """Copies of the given (offset, size, shape) slots of ``buf``."""
        return [buf[o : o + s].reshape(shape).copy() for o, s, shape in which]

    def read_outputs(self, buf: np.ndarray) -> list[np.ndarray]:
        """Copies of the outputs' values (``read(buf, self.outputs)``, faster)."""
        return [
            buf[where].copy() if flat else buf[where].reshape(shape).copy()
            for where, shape, flat in self._reads
        ]

    def var_values(self, buf: np.ndarray, v: Var) -> np.ndarray:
        """The entries of ``v`` in ``buf`` (values or dual rows), broadcasts expanded."""
        s = self.slot_of[v.id]
        if v.id in self.broadcast:
            return np.broadcast_to(buf[s : s + 1], (v.size,) + buf.shape[1:])
        return buf[s : s + v.size]

    def tape_bytes(self) -> int:
        """8 x the slots the reverse mode reads after recording: every Var with storage
        of its own, except the values internal to fused groups (recomputed, their
        scratch counted instead), plus the residuals. See ``ad.kernels.run.tape_bytes``."""
        return 8 * (self.n_values - self.n_internal)

    def pool_slice(self, start: int, size: int) -> np.ndarray | None:
        """``pool[start:start + size]``, or None when the range is outside the pool."""
        if start < 0 or size < 0 or start + size > self.pool.size:
            return None
        return self.pool[start : start + size]


def _out_run(graph: Graph, outputs: list, live: list[bool]) -> tuple[int, int] | None:
    """``(lo, hi)`` when the outputs are one run of slots, in order, active with slots of
    their own, and read by no equation: the reverse sweep may then treat seeds there as
    unit seeds (nothing adds to those adjoint rows before the instruction that made them
    reads them)."""
    read = {v.id for e in graph.eqns for v in e.inputs}
    if not all(live) or any(v.id in read for v in graph.outputs) or not outputs:
        return None
    lo = pos = outputs[0][0]
    for off, size, _ in outputs:
        if off != pos:
            return None
        pos += size
    return lo, pos


# ----------------------------------------------------------------------------------
# Validation: every index a kernel will follow is checked here, in Python
# ----------------------------------------------------------------------------------


def _fail(prog: Program, i: int, what: str) -> GraphError:
    op = int(prog.ops[i])
    name = table.INSTRUCTIONS[op].name if 0 <= op < len(table.INSTRUCTIONS) else "?"
    where = f"instruction {i} ({name})"
    if 0 <= prog.eqn_of[i] < len(prog.graph.eqns):
        where += f" of node `{eqn_text(prog.graph, int(prog.eqn_of[i]))}`"
    return GraphError(f"malformed kernel program: {where}: {what}")


def validate(prog: Program) -> None:
    """Raise GraphError unless every instruction of ``prog`` is safe to run; on the way,
    tally each instruction kind's work (``prog.tally``)."""
    n_ins = prog.ops.size
    if prog.ptr.size != n_ins + 1 or prog.ptr[0] != 0 or np.any(np.diff(prog.ptr) < 0):
        raise GraphError("malformed kernel program: instruction pointers are not a CSR index")
    if prog.ptr[-1] > prog.code.size or prog.act.size != n_ins:
        raise GraphError("malformed kernel program: payload or activity arrays too short")
    bad = np.flatnonzero((prog.ops < 0) | (prog.ops >= len(table.INSTRUCTIONS)))
    if bad.size:
        raise _fail(prog, int(bad[0]), f"unknown opcode {prog.ops[bad[0]]}")
    tally = {}
    for op in np.unique(prog.ops):
        ins = table.INSTRUCTIONS[int(op)]
        rows = np.flatnonzero(prog.ops == op)
        lens = prog.ptr[rows + 1] - prog.ptr[rows]
        if np.any(lens != len(ins.fields)):
            i = int(rows[np.flatnonzero(lens != len(ins.fields))[0]])
            raise _fail(prog, i, f"payload has {lens.max()} entries, expected {len(ins.fields)}")
        F = prog.code[prog.ptr[rows][:, None] + np.arange(len(ins.fields))]
        _check_fields(prog, ins, rows, F)
        if ins.check is not None:
            problem = ins.check(prog, ins, rows, F)
            if problem:
                raise _fail(prog, int(rows[0]), problem)
        work = ins.sizes(F, ins.work)
        need = (prog.act[rows] & 1) != 0
        tally[ins.name] = (
            float(work.sum()),
            float(work @ need),
            int(rows.size),
            int(np.count_nonzero(need)),
        )
    prog.tally = tally


def _check_fields(prog: Program, ins: table.Instruction, rows: np.ndarray, F: np.ndarray) -> None:
    act = prog.act[rows]
    need = (act & 1) != 0
    # dual rows end at n_reverse; members of fused groups run in no dual sweep
    rows_of = np.where((act & table.MEMBER) != 0, prog.n_values, prog.n_reverse)
    for k, f in enumerate(ins.fields):
        if f.kind == "int" or f.strided:
            continue
        size = ins.sizes(F, f.size)
        lo = F[:, k]
        if f.kind == "pool":
            wrong = (size < 0) | (lo < 0) | (lo + size > prog.pool.size)
            what = "pool range"
        else:
            limit = np.full(rows.size, prog.n_values)
            # dual rows exist for the active slots only
            if f.role == "out":
                limit = np.where(need, rows_of, limit)
            elif f.role == "in":
                live = need & ((act & (2 << f.operand)) != 0)
                limit = np.where(live, rows_of, limit)
            wrong = (size < 0) | (lo < 0) | (lo + size > limit)
            if f.role == "res":
                wrong &= need
            wrong &= size > 0
            what = f"slot range of {f.name}"
        if np.any(wrong):
            w = int(np.flatnonzero(wrong)[0])
            raise _fail(prog, int(rows[w]), f"{what} [{lo[w]}, +{size[w]}) out of bounds")


# ----------------------------------------------------------------------------------
# Reports: which node could not be evaluated (non-finite results: see run.py)
# ----------------------------------------------------------------------------------


def status_error(prog: Program, values: np.ndarray, result: int) -> Exception:
    """The exception for a sweep result ``STATUS_STRIDE * i + status``, worded as the
    reference rules word it (the values named are read from the tape)."""
    graph = prog.graph
    i, code = table.decode_status(result)
    node = int(prog.eqn_of[i]) if 0 <= i < prog.eqn_of.size else -1
    where = f"node {node}: `{eqn_text(graph, node)}`" if node >= 0 else f"instruction {i}"
    if code == Status.SINGULAR:
        name = graph.eqns[node].prim.name if node >= 0 else "?"
        what = "not positive definite" if name == "cholesky" else "singular"
        return SingularMatrixError(f"{name}: the matrix is {what}, at {where}")
    if node < 0:
        return GraphError(f"kernel could not run {where} (status {code.name})")
    e = graph.eqns[node]
    if code == Status.DEGENERATE:
        vals_var = e.outputs[0] if e.prim.name in ("eigh", "eigvalsh") else e.outputs[1]
        v = np.asarray(prog.var_values(values, vals_var))
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
    if code == Status.COMPLETION:
        m, n = e.inputs[0].shape
        what = f"the last {m - n} columns of U" if m > n else f"the last {n - m} rows of Vt"
        return DegenerateDerivativeError(
            f"svd(full_matrices=True) of a {m}x{n} matrix: {what} complete an orthonormal basis "
            f"and are not unique, so they have no derivative (at {where}). Pass "
            "full_matrices=False (or compute_uv=False for the singular values alone)."
        )
    if code == Status.ZERO_SINGULAR:
        s = np.asarray(prog.var_values(values, e.outputs[1]))
        j = int(np.argmin(s))
        m, n = e.inputs[0].shape
        return DegenerateDerivativeError(
            f"svd: s[{j}] = {s[j]:.1e} of the {m}x{n} (non-square) matrix is zero, so the "
            f"derivative of the singular vectors does not exist there (it needs 1 / s), at "
            f"{where}. A function of the singular values alone is differentiable."
        )
    if code == Status.RANK_DEFICIENT:
        r = np.asarray(prog.var_values(values, e.outputs[1])).reshape(e.outputs[1].shape)
        d = np.abs(np.diagonal(r))
        i = int(np.argmin(d))
        m, n = e.inputs[0].shape
        return DegenerateDerivativeError(
            f"qr: R[{i}, {i}] = {r[i, i]:.1e}: the {m}x{n} matrix does not have full column "
            f"rank, so column {i} of Q is not determined and QR has no derivative there "
            f"(at {where}). For least squares with a rank-deficient matrix use "
            "np.linalg.lstsq or np.linalg.pinv (derivative at constant rank)."
        )
    return GraphError(f"kernel could not run {where} (status {code.name})")
