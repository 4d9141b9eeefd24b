"""Fused elementwise groups: a chain of elementwise instructions run block by block.

On an array program each elementwise instruction is a pass over memory, and every
intermediate goes to the tape: at 10^5 entries and beyond the sweeps are bound by
memory traffic, not arithmetic. A *group* is a run of elementwise instructions over
arrays of one size N (and a final sum of all entries) in the Wengert list. The
``fused`` instruction runs the group ``block`` entries at a time, every member on
one block before the next block, and keeps the group's *internal* values (those
read only inside the group) in a small scratch region instead of the tape:

- primal (a replay, or the recording of the reverse mode): per block, each member in
  order; internal values go to scratch, the others to their slots, sums accumulate;
- reverse: per block, the members' values are recomputed into scratch (cheap
  elementwise values are recomputed rather than stored: the tape keeps only the
  group's inputs and outputs), then the members' adjoint rules run backwards with the
  internal adjoints in scratch rows of the dual buffer;
- forward: per block, each member's dual-number rule in order, the internal values
  and their p partials in scratch: the partials of a group's intermediates never go
  to memory, and the dual buffer needs no rows for them. At p = 1 the members' loops
  run over the block's contiguous partials. For 2 <= p <= :data:`TANGENT_MAX_P` the
  group runs *tangent-major*: every value the group reads or writes has a ``(p,
  block)`` column of its tangents (:func:`_tangent_plan`); the operands from outside
  are transposed in from the dual buffer's ``(entry, p)`` rows at each block, the
  outputs transposed back, and each member (its ``tangents`` kernel) computes its
  values and partials in one pass, then each tangent row as one contiguous loop that
  LLVM vectorises. The ``(entry, p)`` loops run one entry at a time: measured on
  banded3 at n = 10^4 (one core) the group took 2.5x less time at p = 2-3, 1.6x less
  at p = 5, the same at p = 8 and more from p = 12, hence the bound. Wider sweeps
  keep the row layout, the block narrowed as p grows (:data:`FORWARD_ENTRIES` numbers
  a scratch row block), so that the scratch stays in cache at any width.

A gather whose map is runs of consecutive slots (a slice, a zero pad, a shift, a
concatenation: at least :data:`RUN_ENTRIES` entries per run on average), or a
``scatter_add`` of at least :data:`SCATTER_RUNS_MIN` entries that writes each entry at
most once (a slice's transpose: what the reverse mode makes of ``x[1:]``, so a gradient
graph's stencil is a group too), joins a group as a ``runs`` member
(:data:`ad.kernels.structural.RUNS`) when none of its sources is defined in the group
(it reads them at any entry, so they must be complete): per block it copies the runs'
values and dual rows (transposed into its tangent column in the tangent-major sweep)
and, in reverse, adds its adjoints to the sources' rows. A stencil residual (a pad and
shifted slices, then arithmetic) is then one group: the shifted copies stay in scratch
instead of taking a pass of their own over memory (measured on the ``sparse`` bench's
Broyden residual at n = 10^4, p = 3, one core: the forward sweep 157 -> 104 us; on its
2-D Laplacian at p = 5: 441 -> 281 us, its zero pad a runs instruction of its own).

A gather that reads another gather's output (the shifted slices of a zero-padded grid)
is judged as a gather of that one's sources, the maps composed (:func:`compose_gathers`):
where every reader of the inner gather joins a group so, the inner gather runs in no
fused sweep (:func:`elided`) and its output has no dual rows. Measured on that
Laplacian (p = 5, one core, the forward sweep): 42.6 -> 33.7 us at n = 10^4, 397 -> 298
us at n = 99856.

The members keep their own instructions, which follow the ``fused`` one in the
program, marked with the MEMBER activity bit: the unfused primal sweep that error
reports use runs them; every other sweep skips them. Each member is
described in the int pool by 9 numbers: its opcode, activity word, integer parameter
``n``, and (mode, slot) for its output and two operands, where mode 0 is a slot run
indexed by the block's first entry, 1 a scratch run of the block, 2 a broadcast number.
A ``runs`` member has no operand bits, ``n`` = the pool offset of its runs and both
operands (0, 0): its ``x`` is the block's first entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ad.ir import Eqn, Var
from ad.kernels import table
from ad.kernels.jit import kjit
from ad.kernels.structural import (
    RUN_ENTRIES,
    RUNS,
    SUM,
    _block_runs,
    _clip,
    _sum,
    check_runs,
    few_runs,
    gather_map,
    runs_of,
    runs_primal,
    scatter_map,
)
from ad.kernels.table import Generated, Instruction, declare, num, pool

#: Entries per block: the group's scratch (8 bytes x BLOCK per internal value, and as
#: much per direction of the adjoint) stays in the first levels of cache.
BLOCK = 1024
#: Partials per scratch row block in the forward sweep: a block of k entries with p
#: directions each keeps k p <= FORWARD_ENTRIES (128 KiB per internal value).
FORWARD_ENTRIES = 16384
#: Widths p that run the tangent-major forward sweep (:func:`_tangent_plan`), and its
#: tangents per column block (p x step <= TANGENT_ENTRIES).
TANGENT_MAX_P = 6
TANGENT_ENTRIES = 4096
#: Numbers per member description in the pool.
MEMBER_WIDTH = 9
FULL, SCRATCH, BROADCAST = 0, 1, 2


_MEMBER_READ = """\
            d = m + {width} * t
            op, a, nn = pool[d], pool[d + 1], pool[d + 2]
            out = pool[d + 4] + (lo if pool[d + 3] == 0 else 0)
            x = pool[d + 6] + (lo if pool[d + 5] == 0 else 0)
            y = pool[d + 8] + (lo if pool[d + 7] == 0 else 0)
            sx = 0 if pool[d + 5] == 2 else 1
            sy = 0 if pool[d + 7] == 2 else 1"""

FUSED_PRIMAL = f"""\
@kjit
def _fused_primal(act, pool, values, work, m, count, size, block, s0, s1):
    for lo in range(0, size, block):
        k = min(block, size - lo)
        for t in range(count):
{_MEMBER_READ.format(width=MEMBER_WIDTH)}
            if op == {{sum_op}}:  # partial sums of the blocks
                part = _sum(values[x : x + k])
                values[out] = part if lo == 0 else values[out] + part
            else:
                _fusable_primal(op, a, pool, values, work, out, x, y, k, sx, sy, nn)
    return 0
"""

FUSED_FORWARD = f"""\
@kjit
def _fused_forward(act, pool, values, duals, work, unit, m, count, size, block, s0, s1):
    p = duals.shape[1]
    if 2 <= p <= {TANGENT_MAX_P}:
        return _fused_tangents(pool, values, duals, work, m, count, size, block)
    step = max(1, min(block, {FORWARD_ENTRIES} // p))
    for lo in range(0, size, step):
        k = min(step, size - lo)
        for t in range(count):
{_MEMBER_READ.format(width=MEMBER_WIDTH)}
            if op == {{sum_op}}:  # partial sums of the blocks, values and partials
                part = _sum(values[x : x + k])
                values[out] = part if lo == 0 else values[out] + part
                if a & 1:
                    if lo == 0:
                        duals[out] = 0.0
                    _add_rows(duals, out, x, k)
            else:
                st = _fusable_forward(
                    op, a, pool, values, duals, work, unit, out, x, y, k, sx, sy, nn
                )
                if st != 0:
                    return st
    return 0


@kjit
def _fused_tangents(pool, values, duals, work, m, count, size, block):
    p = duals.shape[1]
    step = max(1, min(block, {TANGENT_ENTRIES} // p))
    cols, loads, stores, T, D = _tangent_plan(pool, m, count, p, step)
    for lo in range(0, size, step):
        k = min(step, size - lo)
        _stage(duals, T, loads, lo, k)
        for t in range(count):
{_MEMBER_READ.format(width=MEMBER_WIDTH)}
            if op == {{sum_op}}:  # partial sums of the blocks, values and tangent rows
                part = _sum(values[x : x + k])
                values[out] = part if lo == 0 else values[out] + part
                if a & 1:
                    for r in range(p):
                        part = _sum(T[cols[t, 1], r, :k])
                        duals[out, r] = part if lo == 0 else duals[out, r] + part
            elif op == {{runs_op}}:  # values, then the tangents from the dual rows
                runs_primal(a, pool, values, work, out, x, k, nn)
                if a & 1:
                    _runs_tangents(duals, T[cols[t, 0]], pool, x, k, nn)
            elif a & 1:
                _fusable_tangents(
                    op, a, values, T, D, cols[t, 0], cols[t, 1], cols[t, 2],
                    out, x, y, k, sx, sy, nn,
                )
            else:
                _fusable_primal(op, a, pool, values, work, out, x, y, k, sx, sy, nn)
        _unstage(duals, T, stores, lo, k)
    return 0
"""


@kjit
def _runs_tangents(duals, O, pool, x, k, n):
    """A runs member's tangents for entries [x, x + k): each run's dual rows transposed
    into ``O`` (zeros for a run of zeros or of sources without dual rows)."""
    t0, t1 = _block_runs(pool, n, x, k)
    for t in range(t0, t1):
        e, s, ln = _clip(pool, n, t, x, k)
        if 0 <= s < duals.shape[0]:
            _transpose(duals[s : s + ln], O[:, e : e + ln], ln, True)
        else:
            O[:, e : e + ln] = 0.0


@kjit
def _add_rows(duals, out, x, k):
    """duals[out] += the sum of rows x .. x + k - 1 (of all p columns)."""
    p = duals.shape[1]
    if p == 1:
        acc = 0.0
        for r in range(k):
            acc += duals[x + r, 0]
        duals[out, 0] += acc
        return
    for r in range(k):
        for c in range(p):
            duals[out, c] += duals[x + r, c]


@kjit
def _tangent_plan(pool, m, count, p, step):
    """The columns of a group's tangent-major forward sweep: ``T[c]`` is a ``(p, step)``
    block of the tangents of one value (entries along the rows, so the members' loops
    run over contiguous entries at any p).

    Returns ``cols`` (the column of each member's output, x and y; -1: none),
    ``loads`` (slot, stride, column) of the active operands defined outside the group
    (staged from the dual buffer at each block; stride 0: one number), ``stores``
    (slot, column) of the outputs the dual buffer keeps, and the buffers T and D (the
    members' partials, two per entry)."""
    keys = np.empty(3 * count, np.int64)
    cols = np.full((count, 3), -1, np.int64)
    loads = np.empty((2 * count, 3), np.int64)
    stores = np.empty((count, 2), np.int64)
    ncol, nload, nstore = 0, 0, 0
    for t in range(count):
        d = m + MEMBER_WIDTH * t
        if not pool[d + 1] & 1:
            continue
        for q in range(2):
            if pool[d + 1] & (2 << q):
                mode, slot = pool[d + 5 + 2 * q], pool[d + 6 + 2 * q]
                c = -1
                for j in range(ncol):
                    if keys[j] == mode + 3 * slot:
                        c = j
                        break
                if c < 0:  # defined outside the group (validation: scratch never is)
                    c, keys[ncol] = ncol, mode + 3 * slot
                    ncol += 1
                    loads[nload, 0], loads[nload, 1], loads[nload, 2] = slot, mode == FULL, c
                    nload += 1
                cols[t, 1 + q] = c
        mode, slot = pool[d + 3], pool[d + 4]
        if mode != BROADCAST:  # a sum's output is one number: its row of the dual buffer
            cols[t, 0], keys[ncol] = ncol, mode + 3 * slot
            ncol += 1
            if mode == FULL:
                stores[nstore, 0], stores[nstore, 1] = slot, cols[t, 0]
                nstore += 1
    T = np.empty((max(ncol, 1), p, step))
    D = np.empty((2, step))
    return cols, loads[:nload], stores[:nstore], T, D


@kjit
def _stage(duals, T, loads, lo, k):
    """The tangents of the operands from outside the group, block ``lo``, into T."""
    for t in range(loads.shape[0]):
        slot, c = loads[t, 0], loads[t, 2]
        if loads[t, 1]:
            _transpose(duals[slot + lo : slot + lo + k], T[c], k, True)
        else:
            for r in range(duals.shape[1]):
                T[c, r, :k] = duals[slot, r]


@kjit
def _unstage(duals, T, stores, lo, k):
    """The tangents of the group's outputs, block ``lo``, from T to the dual buffer."""
    for t in range(stores.shape[0]):
        slot, c = stores[t, 0], stores[t, 1]
        _transpose(duals[slot + lo : slot + lo + k], T[c], k, False)


@kjit
def _transpose(rows, cols, k, into_cols):
    """Between the k entries of ``rows`` (k, p) (the dual buffer's layout) and of
    ``cols`` (p, >= k) (a column of T): ``cols[r, e] = rows[e, r]`` if ``into_cols``,
    else the other way, in runs of 8 entries (a cache line of each of the p rows)."""
    p = rows.shape[1]
    full = k - k % 8
    for e0 in range(0, full, 8):
        if into_cols:
            for r in range(p):
                for e in range(8):
                    cols[r, e0 + e] = rows[e0 + e, r]
        else:
            for r in range(p):
                for e in range(8):
                    rows[e0 + e, r] = cols[r, e0 + e]
    for e in range(full, k):
        for r in range(p):
            if into_cols:
                cols[r, e] = rows[e, r]
            else:
                rows[e, r] = cols[r, e]


FUSED_REVERSE = f"""\
@kjit
def _fused_reverse(act, pool, values, duals, work, unit, m, count, size, block, s0, s1):
    for lo in range(0, size, block):
        k = min(block, size - lo)
        for t in range(count):  # recompute the block's values
{_MEMBER_READ.format(width=MEMBER_WIDTH)}
            if op != {{sum_op}}:
                _fusable_primal(op, a, pool, values, work, out, x, y, k, sx, sy, nn)
        duals[s0:s1] = 0.0  # the internal adjoints of this block
        for t in range(count - 1, -1, -1):
{_MEMBER_READ.format(width=MEMBER_WIDTH)}
            if a & 1:
                _fusable_reverse(op, a, pool, values, duals, work, unit, out, x, y, k, sx, sy, nn)
    return 0
"""

FUSED = declare(
    Instruction(
        "fused",
        (
            pool("m", f"count * {MEMBER_WIDTH}"),
            num("count"),
            num("size"),
            num("block"),
            num("s0"),
            num("s1"),
        ),
        Generated("_fused_primal", FUSED_PRIMAL.format(sum_op=SUM.opcode), uses=(_sum,)),
        Generated(
            "_fused_forward",
            FUSED_FORWARD.format(sum_op=SUM.opcode, runs_op=RUNS.opcode),
            uses=(_sum, _add_rows, _tangent_plan, _stage, _unstage, _runs_tangents, runs_primal),
        ),
        Generated("_fused_reverse", FUSED_REVERSE.format(sum_op=SUM.opcode)),
        cost="elementwise",
        work="0",
        check=lambda prog, ins, rows, F: check_members(prog, ins, rows, F),
        doc="a fused group of elementwise instructions, run block by block",
    )
)


def check_members(prog: Any, ins: Instruction, rows: np.ndarray, F: np.ndarray) -> str | None:
    """Validation: every member is a fusable instruction whose runs stay in bounds."""
    fusable = {i.opcode for i in table.INSTRUCTIONS if i.fusable}
    for row in F:
        count, size, block = ins.get(row, "count"), ins.get(row, "size"), ins.get(row, "block")
        s0, s1 = ins.get(row, "s0"), ins.get(row, "s1")
        if not (0 <= s0 <= s1 <= prog.n_reverse) or block < 1 or size < 0:
            return "fused group scratch out of bounds"
        desc = prog.pool_slice(ins.get(row, "m"), count * MEMBER_WIDTH)
        if desc is None:
            return "fused group members outside the pool"
        written: set[int] = set()  # scratch runs the members wrote so far
        maps, writes = [], []  # the runs members' sources; the slots the members write
        for d in desc.reshape(count, MEMBER_WIDTH):
            if int(d[0]) not in fusable:
                return "fused group member is not fusable"
            need = d[1] & 1
            operands = ((2, d[5], d[6]), (4, d[7], d[8]))
            if int(d[0]) == RUNS.opcode:
                if d[1] & 6 or d[5] != FULL or d[6] != 0:
                    return "fused runs member is not described by its runs"
                found = _check_runs(prog, int(d[2]), size, s0)
                if isinstance(found, str):
                    return found
                maps.append(found)
                operands = ()
            if d[3] == FULL:
                writes.append((int(d[4]), int(d[4]) + size))
            for bit, mode, slot in (*operands, (1, d[3], d[4])):
                if mode == SCRATCH and bit != 1 and int(slot) not in written:
                    return "fused group member reads scratch no member wrote before"
                if mode == SCRATCH and bit == 1:
                    written.add(int(slot))
                extent = {FULL: size, SCRATCH: min(block, size), BROADCAST: 1}.get(int(mode))
                if extent is None:
                    return "fused group member has an unknown operand mode"
                # adjoint rows: the output's if needed, an operand's if needed and active
                duals = need and (bit == 1 or d[1] & bit) and mode != SCRATCH
                limit = prog.n_reverse if duals else prog.n_values
                if slot < 0 or slot + extent > limit:
                    return "fused group member reads outside the value slots"
                if mode == SCRATCH and not (s0 <= slot and slot + extent <= s1):
                    return "fused group member scratch outside its region"
        for src, ln in maps:  # no run reads what a member of the group writes
            for lo, hi in (*writes, (s0, prog.n_reverse)):
                if np.any((src >= 0) & (src < hi) & (src + ln > lo)):
                    return "fused runs member reads a value its group writes"
    return None


def _check_runs(prog: Any, m: int, size: int, s0: int) -> tuple[Any, Any] | str:
    """The runs at pool offset ``m`` (see ``check_runs``): their sources and lengths."""
    count = prog.pool_slice(m, 1)
    runs = None if count is None else prog.pool_slice(m + 1, 3 * int(count[0]))
    problem = check_runs(prog, runs, size)
    if problem:
        return problem
    return runs[1::3], runs[2::3]


# ==================================================================================
# Finding the groups (the lowering calls this after deciding storage)
# ==================================================================================


class Group:
    """Members (equation indices) of one group over arrays of ``size`` entries."""

    def __init__(self, start: int, size: int):
        self.start = start
        self.size = size
        self.members: list[int] = []
        self.defined: set[int] = set()
        self.internal: list[int] = []


def _is_full_sum(e: Eqn, size: int) -> bool:
    if e.prim.name != "scatter_add" or e.outputs[0].size != 1:
        return False
    g = e.inputs[0]
    idx = np.asarray(e.params["idx"])
    return g.size == size and idx.size == size and not np.any(idx)


def find_groups(lw: Any) -> list[Group]:
    """Runs of fusable equations over equal sizes, with the values internal to each
    (a gather of a gather's output is judged as the gather of its sources that
    :func:`compose_gathers` made of it)."""
    graph = lw.graph
    names = {i.name for i in table.INSTRUCTIONS if i.fusable and i is not SUM}
    groups: list[Group] = []
    cur: Group | None = None
    for i, e in enumerate(graph.eqns):
        e = lw.composed.get(i, e)
        if lw.is_view(e.outputs[0]):
            continue  # a view emits nothing and breaks no group
        size = e.outputs[0].size
        runs = _few_runs(lw, e)  # a runs member (a gather, a scatter into zeros)
        fits = (e.prim.name in names or runs) and size > 1
        if cur is not None and _is_full_sum(e, cur.size):
            fits, size = True, cur.size
        if (
            fits
            and cur is not None
            and size == cur.size
            and _operands_ok(lw, e, cur)
            and (not runs or _gather_ok(lw, e, cur))
        ):
            cur.members.append(i)
            cur.defined.update(v.id for v in e.outputs)
            continue
        if cur is not None and len(cur.members) > 1:
            groups.append(cur)
        cur = None
        if fits and _operands_ok(lw, e, None):
            cur = Group(i, size)
            cur.members.append(i)
            cur.defined.update(v.id for v in e.outputs)
    if cur is not None and len(cur.members) > 1:
        groups.append(cur)
    if not groups:
        return groups
    readers = _readers(lw)
    outputs = {v.id for v in graph.outputs} | graph.guard_vars()  # values read after
    for grp in groups:
        inside = set(grp.members)
        for i in grp.members:
            v = graph.eqns[i].outputs[0]
            if v.size == grp.size and v.id not in outputs and readers[v.id] <= inside:
                grp.internal.append(v.id)
    return groups


#: The equations that can join a group as a ``runs`` member (see :func:`runs_map`).
RUNS_PRIMS = ("gather", "scatter_add")
#: Entries a scatter_add needs to join a group. Measured on the chained Rosenbrock
#: gradient graph (its two shifted accumulates and their sum one group, p = 3, one
#: core, forward sweep against the accumulates unfused): compiled loops
#: (:mod:`ad.kernels.specialise`) 0.68x the time at n = 10^5, 0.89x at 10^4, 0.94x at
#: 3162, 1.09x at 1000; the interpreted group 1.2-1.3x at every n (its tangent-major
#: staging costs more than the accumulates save), 1.15x at n = 100. A reused large
#: program runs compiled loops, a small one never does.
SCATTER_RUNS_MIN = 2048


def runs_map(lw: Any, e: Eqn, address: Any) -> np.ndarray | None:
    """The gather map of an equation that copies entries (-1: a zero): a gather, or a
    scatter_add that writes each entry at most once (the transpose of a slice or a pad,
    as reverse mode makes them); None for anything else."""
    if e.prim.name == "gather":
        return gather_map(lw, e, address)
    if e.prim.name == "scatter_add" and e.outputs[0].size > 1:
        return scatter_map(e, address)
    return None


def _few_runs(lw: Any, e: Eqn) -> bool:
    """An equation whose map (:func:`runs_map`) is runs of consecutive slots (a slice,
    a pad, a shift, a concatenation) averaging at least :data:`RUN_ENTRIES` entries."""
    size = e.outputs[0].size
    if e.prim.name not in RUNS_PRIMS or size < 2 * RUN_ENTRIES:
        return False  # (decided without building the map)
    if e.prim.name == "scatter_add" and size < SCATTER_RUNS_MIN:
        return False
    bases = {v.id: (k + 1) << 40 for k, v in enumerate(e.inputs)}  # apart, as slots are

    def address(v: Var) -> tuple[int, int]:
        return bases[v.id], 0 if lw.storage(v)[0] == "broadcast" else 1

    amap = runs_map(lw, e, address)
    return amap is not None and few_runs(runs_of(amap), amap.size)


def _whole(e: Eqn) -> bool:
    """A gather without batch axes: its map indexes every axis of its operands."""
    return all(nd == len(x.shape) for x, nd in zip(e.inputs, e.params["in_ndims"]))


def compose_gathers(lw: Any) -> dict[int, Eqn]:
    """Gathers that read another gather's output, rewritten to read its sources.

    Where every reader of a gather's output is a gather (a zero pad, then the shifted
    slices of a stencil) whose composed map (the inner map read through the outer
    one, -1 staying a zero) is few runs, each reader is described by an equation of
    its own output that gathers straight from the inner gather's operands: a runs
    member of a group then reads those, and the inner gather's output need not be
    computed by the fused sweeps (:func:`elided`). Keys: equation indices. The graph
    is not changed: the readers' own instructions still read the inner output."""
    graph = lw.graph
    readers = _readers(lw)
    kept = {v.id for v in graph.outputs} | graph.guard_vars()
    out: dict[int, Eqn] = {}
    for j, inner in enumerate(graph.eqns):
        # a gather composed already reads its own sources' sources: compose with that,
        # so that no reader is left reading the output of a gather that is elided
        inner = out.get(j, inner)
        v = inner.outputs[0]
        if inner.prim.name != "gather" or lw.is_view(v) or not _whole(inner):
            continue
        if v.id in kept or not readers[v.id]:
            continue
        found = {}
        first = np.asarray(inner.params["idx"], dtype=np.int64).reshape(-1)
        for i in sorted(readers[v.id]):
            e = graph.eqns[i]
            if e.prim.name != "gather" or len(e.inputs) != 1 or not _whole(e):
                break
            if lw.is_view(e.outputs[0]):
                break  # its output is a run of the inner output's slots
            idx = np.asarray(e.params["idx"], dtype=np.int64)
            both = np.where(idx >= 0, first[np.clip(idx, 0, None)], -1)
            params = {**e.params, "idx": both, "in_ndims": inner.params["in_ndims"]}
            c = Eqn(e.prim, inner.inputs, e.outputs, params)
            if not _few_runs(lw, c):
                break
            found[i] = c
        else:
            out.update(found)
    return out


def elided(lw: Any) -> set[int]:
    """The gathers (equation indices) whose every reader is composed
    (:func:`compose_gathers`) and a member of a group, and that are in no group
    themselves: no fused sweep reads their output. They are lowered as members are
    (the MEMBER bit): the unfused primal sweep runs them for the readers' own
    instructions, and their output keeps value slots only."""
    graph, members = lw.graph, {i for g in lw.groups for i in g.members}
    producer = {e.outputs[0].id: j for j, e in enumerate(graph.eqns)}
    readers = _readers(lw)
    out = set()
    for i in lw.composed:
        j = producer[graph.eqns[i].inputs[0].id]
        v = graph.eqns[j].outputs[0]
        if j not in members and all(r in members and r in lw.composed for r in readers[v.id]):
            out.add(j)
    return out


def _gather_ok(lw: Any, e: Eqn, grp: Group) -> bool:
    """A gather joins a group when none of its sources is defined in the group: it
    reads them at any entry, so they must be complete before the group runs."""
    for v in e.inputs:
        _, base, _ = lw.storage(v)
        if v.id in grp.defined or base.id in grp.defined:
            return False
    return True


def _operands_ok(lw: Any, e: Eqn, grp: Group | None) -> bool:
    """Every operand is read entry for entry (own or alias slots, or a group value),
    or is a broadcast number defined before the group."""
    for v in e.inputs:
        kind, base, _ = lw.storage(v)
        if kind == "broadcast":
            if grp is not None and (base.id in grp.defined or v.id in grp.defined):
                return False
        elif kind == "alias" and grp is not None and base.id in grp.defined:
            return False  # a shifted view of a group value: not entry for entry
    return True


def _readers(lw: Any) -> dict[int, set[int]]:
    """The equations that read each Var (built once per lowering, in ``lw.memo``)."""
    out = lw.memo.get("readers")
    if out is None:
        graph = lw.graph
        out = lw.memo["readers"] = {v.id: set() for v in graph.variables()}
        for i, e in enumerate(graph.eqns):
            for v in e.inputs:
                out[v.id].add(i)
    return out


def describe_member(
    lw: Any, e: Eqn, opcode: int, act: int, scratch: dict[int, int], n: int = 0
) -> list[int]:
    """The 9 numbers of one member (see the module docstring)."""

    def ref(v: Var | None) -> tuple[int, int]:
        if v is None:
            return FULL, 0
        if v.size == 1:  # a sum's output: one number, not indexed by the block
            return BROADCAST, lw.slot(v)
        if v.id in scratch:
            return SCRATCH, scratch[v.id]
        slot, stride = lw.ref(v)
        return (BROADCAST if stride == 0 else FULL), slot

    amap = runs_map(lw, e, lw.ref) if e.outputs[0].size > 1 else None
    if amap is not None:  # a RUNS member: x is the block's first entry (x = 0 + lo)
        runs = runs_of(amap, lw.n_active)
        m = lw.pool(np.concatenate(([len(runs)], runs.reshape(-1))))
        return [RUNS.opcode, act & 1, m, *ref(e.outputs[0]), FULL, 0, FULL, 0]
    x = e.inputs[0]
    y = e.inputs[1] if len(e.inputs) > 1 else None
    return [opcode, act, n, *ref(e.outputs[0]), *ref(x), *(ref(y) if y is not None else ref(x))]
