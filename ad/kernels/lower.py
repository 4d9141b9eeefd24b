"""Lowering a Graph to a flat program, in three passes over the Wengert list.

1. **Storage.** Each Var gets a storage: its OWN run of slots, an ALIAS of a run of
   another Var's slots (a gather that reads a contiguous run: reshape, ``x[1:]``), or
   a BROADCAST of one slot (read with stride 0 by the primitives that accept it,
   materialised for the others). The views come from :data:`ad.kernels.table.VIEWS`.
   Then the fused groups (:mod:`ad.kernels.fusion`), where a gather of a gather's
   output counts as the gather of its sources; a gather that every reader reads
   through is ``elided``: lowered with the MEMBER bit, its output gets value slots only.
2. **Slots.** Own storage is laid out in one float64 ``values`` buffer, the active
   Vars (those that depend on an input) first: the dual buffers then need rows for the
   first ``n_active`` slots only (partials), or ``n_reverse`` (adjoints: the values
   internal to fused groups, :mod:`ad.kernels.fusion`, come last among the active
   ones, since the reverse sweep keeps their adjoints in the groups' scratch). Inactive
   Vars (constants and what depends only on them) follow, then the residuals the
   matrix rules keep.
3. **Instructions.** Each equation is lowered by its entry of
   :data:`ad.kernels.table.LOWERINGS` (declared beside its instructions), which emits
   instructions with named payload fields through :meth:`Lowering.emit`, the one
   writer of payloads.

The activity word of every instruction is computed here once, from the graph's
activity (:meth:`ad.ir.Graph.activity`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ad.errors import GraphError
from ad.ir import Eqn, Graph, Var
from ad.kernels import fusion, table


class Lowering:
    """The state of one lowering; the API the lowering functions use."""

    def __init__(self, graph: Graph):
        self.graph = graph
        active, useful = graph.activity()
        self.active_ids, self.useful_ids = active, useful
        # pass 1: storage (id -> (kind, base var, offset)); kind own/alias/broadcast
        self._storage: dict[int, tuple[str, Var, int]] = {}
        #: what a lowering function decided once and may reuse within this lowering
        #: (keys may hold ``id()`` of parameter arrays: the graph keeps them alive)
        self.memo: dict[Any, Any] = {}
        self._plan_storage()
        #: gathers of a gather's output, as gathers of its sources (by equation index)
        self.composed = fusion.compose_gathers(self)
        self.groups = fusion.find_groups(self)
        self._member_of = {i: g for g in self.groups for i in g.members}
        #: the gathers no fused sweep needs (every reader reads through them)
        self.elided = fusion.elided(self)
        # pass 2: slots of the own storage, active first (then the groups' scratch)
        self.slot_of: dict[int, int] = {}
        self.n_active = self.n_values = 0
        self._allocate()
        # pass 3: instructions
        self.ops: list[int] = []
        self.act: list[int] = []
        self.eqn_of: list[int] = []
        self.ptr: list[int] = [0]
        self.code: list[int] = []
        self._pool: list[np.ndarray] = []
        self.parameters: list[tuple[int, float]] = []
        self._pool_len = 0
        self.work = 1
        self._act = 0
        self._eqn = -1
        self._emit_all()

    # -- pass 1 ----------------------------------------------------------------------
    def storage(self, v: Var) -> tuple[str, Var, int]:
        """``(kind, base, offset)``: own storage is ``("own", v, 0)``."""
        return self._storage.get(v.id) or ("own", v, 0)

    def _plan_storage(self) -> None:
        g, views, storage = self.graph, table.VIEWS, self._storage
        for e in g.eqns:
            view = views.get(e.prim.name)
            if view is not None:
                found = view(self, e)
                if found is not None:
                    storage[e.outputs[0].id] = found
        broadcast = {vid for vid, (kind, _, _) in storage.items() if kind == "broadcast"}
        if not broadcast:
            return
        # a broadcast read by an instruction that cannot take one (or an output):
        # give it its own slots (its gather then lowers to a stride-0 move)
        need_slots = {v.id for v in g.outputs}
        for e in g.eqns:
            if e.prim.name not in table.BROADCAST_OK:
                need_slots.update(v.id for v in e.inputs)
        for vid in broadcast & need_slots:
            del storage[vid]

    def is_view(self, v: Var) -> bool:
        """True if ``v`` has no storage of its own (no instruction computes it)."""
        return v.id in self._storage

    # -- pass 2 ----------------------------------------------------------------------
    def _allocate(self) -> None:
        internal = {vid for g in self.groups for vid in g.internal}
        internal.update(self.graph.eqns[j].outputs[0].id for j in self.elided)
        active, fused, inactive = [], [], []
        for v in self.graph.variables():
            if v.id in self._storage:
                continue
            if v.id not in self.active_ids:
                inactive.append(v)
            else:
                (fused if v.id in internal else active).append(v)
        n = 0
        for v in active:
            self.slot_of[v.id] = n
            n += v.size
        # one scratch region serves every group (they run one at a time)
        self.scratch = n
        for g in self.groups:
            n = max(n, self.scratch + len(g.internal) * min(fusion.BLOCK, g.size))
        # the dual buffers end here: the fused sweeps keep internal values in scratch
        self.n_reverse = self.n_active = n
        for v in fused:  # their slots serve the unfused primal sweep (error reports)
            self.slot_of[v.id] = n
            n += v.size
        self.n_internal = n - self.n_active
        for v in inactive:
            self.slot_of[v.id] = n
            n += v.size
        self.n_values = n
        for vid, (_, base, offset) in self._storage.items():
            self.slot_of[vid] = self.slot_of[base.id] + offset

    def slot(self, v: Var) -> int:
        """The first slot of ``v`` (own or alias storage; a broadcast's one slot)."""
        return self.slot_of[v.id]

    def ref_kind(self, vid: int) -> str:
        """``"own"``, ``"alias"`` or ``"broadcast"``: the storage of Var ``vid``."""
        return self._storage.get(vid, ("own",))[0]

    def ref(self, v: Var) -> tuple[int, int]:
        """``(slot, element stride)``: stride 0 for a broadcast view, else 1."""
        found = self._storage.get(v.id)
        return self.slot_of[v.id], 0 if found is not None and found[0] == "broadcast" else 1

    # -- pass 3 ----------------------------------------------------------------------
    def _emit_all(self) -> None:
        lowerings, member_of, word = table.LOWERINGS, self._member_of, self._word
        for i, e in enumerate(self.graph.eqns):
            fn = lowerings.get(e.prim.name)
            if fn is None:
                raise GraphError(
                    f"node {i} ({e.prim.name}): the compiled engine has no instruction for "
                    "this primitive; declare one in ad/kernels/ (see docs/architecture.md) "
                    "or use engine='reference'"
                )
            group = member_of.get(i)
            if group is None:
                self._eqn, self._act = i, word(e) | (table.MEMBER if i in self.elided else 0)
            else:
                if group.members[0] == i:
                    self._emit_group(group)
                self._eqn, self._act = i, word(e) | table.MEMBER
            fn(self, e)

    def _word(self, e: Eqn) -> int:
        active, useful = self.active_ids, self.useful_ids
        word = 0
        for v in e.outputs:
            if v.id in active and v.id in useful:
                word = 1
                break
        bit = 2
        for v in e.inputs[: table.MAX_OPERAND_BITS]:
            if v.id in active:
                word |= bit
            bit <<= 1
        return word

    def _emit_group(self, g: fusion.Group) -> None:
        """The ``fused`` instruction of group ``g`` (its members follow it)."""
        block = min(fusion.BLOCK, g.size)
        scratch = {vid: self.scratch + k * block for k, vid in enumerate(g.internal)}
        desc, needed = [], 0
        for i in g.members:
            e = self.graph.eqns[i]
            name = "sum" if e.prim.name == "scatter_add" else e.prim.name
            word = self._word(e)
            needed |= word & 1
            n = int(e.params.get("n", 0))
            desc += fusion.describe_member(
                self, self.composed.get(i, e), table.BY_NAME[name].opcode, word, scratch, n
            )
        self._eqn, self._act = g.members[0], table.GROUP | needed
        self.emit(
            "fused",
            m=self.pool(np.asarray(desc)),
            count=len(g.members),
            size=g.size,
            block=block,
            s0=self.scratch,
            s1=self.scratch + len(g.internal) * block,
        )

    @property
    def act_word(self) -> int:
        """The activity word of the equation being lowered."""
        return self._act

    def instruction(self, name: str) -> table.Instruction:
        return table.BY_NAME[name]

    def emit(self, name: str, **fields: int) -> None:
        """Append instruction ``name`` with its payload given by field name."""
        ins = table.BY_NAME[name]
        self.ops.append(ins.opcode)
        self.act.append(self._act)
        self.eqn_of.append(self._eqn)
        code = self.code
        try:
            code += ins.take(fields)
        except KeyError:
            ins.payload(fields)  # raises the GraphError naming the missing field
        self.ptr.append(len(code))

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

    def residual(self, ins: table.Instruction, name: str, **ints: int) -> int:
        """Reserve the residual slots of field ``name`` (only when the derivative is
        needed: a primal-only instruction keeps none); return their offset."""
        if not self._act & 1:
            return 0
        f = ins.fields[ins.index[name]]
        size = int(eval(f.size, {"min": min, "max": max}, ints))  # noqa: S307 (table text)
        off = self.n_values
        self.n_values += size
        return off

    def parameter(self, value: float) -> int:
        """A slot holding the float ``value`` (a primitive's float parameter, such as
        pinv's rcond): the program writes it into every workspace; return the slot."""
        off = self.n_values
        self.n_values += 1
        self.parameters.append((off, float(value)))
        return off

    def pool_array(self) -> np.ndarray:
        if not self._pool:
            return np.zeros(1, dtype=np.int64)
        return np.concatenate(self._pool + [np.zeros(1, dtype=np.int64)])


def size(v: Var) -> int:
    """Number of scalars of ``v``."""
    return math.prod(v.shape)


def lower_graph(graph: Graph) -> Lowering:
    """Run the three passes on ``graph`` (see the module docstring)."""
    return Lowering(graph)


def describe(lw: Any) -> str:  # pragma: no cover - debugging aid
    """The program as text, one instruction per line, fields by name."""
    lines = []
    for i, op in enumerate(lw.ops):
        ins = table.INSTRUCTIONS[op]
        vals = lw.code[lw.ptr[i] : lw.ptr[i + 1]]
        body = ", ".join(f"{f.name}={v}" for f, v in zip(ins.fields, vals))
        lines.append(f"{i:5d} {ins.name:12s} act={lw.act[i]:#x} {body}")
    return "\n".join(lines)


__all__ = ["Eqn", "Lowering", "describe", "lower_graph", "size"]
