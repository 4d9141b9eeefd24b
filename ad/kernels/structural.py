"""Structural instructions: moving, summing and picking entries.

The IR has two structural primitives, ``gather`` (every reshape, slice, transpose,
broadcast, concatenation, indexing) and ``scatter_add`` (every sum over axes), each with
an index map computed at trace time. The lowering reads the map and picks the cheapest
form:

- no instruction at all: a map that reads a contiguous run of its operand (a reshape, a
  basic slice along the first axis, ``x[1:]``) makes the output an ALIAS of those slots;
  a map that reads one number everywhere (``np.broadcast_to(2.0, shape)``) makes it a
  BROADCAST view, read with stride 0 by the elementwise instructions;
- ``move``: an affine map (transpose, strided slice, row/column broadcast, diagonal) of
  up to four axes after merging, a strided copy ``out[i] = src[base + sum_d i_d s_d]``;
- ``accumulate``: the transpose, ``out[sum_d i_d o_d] += g[i]`` (sums over axes), and
  ``sum``, a sum of all entries (four accumulators, as NumPy's pairwise loop);
- ``gather`` / ``scatter``: any other map, through an int pool of absolute slots (fancy
  indexing, ``-1`` = a zero entry);
- ``select`` (``where`` with a concrete mask) and ``reduce_max`` / ``reduce_min``.

The transposes pair up: the reverse of a move accumulates, the reverse of an accumulate
moves. Dual rows exist for active slots only, so the index-map kernels test a source
slot against the number of dual rows before reading its partials.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ad.kernels.jit import kjit
from ad.kernels.table import (
    MEMBER,
    VIEWS,
    Instruction,
    arg,
    declare,
    lowering,
    num,
    out,
    pool,
)
from ad.primitives.cumulative import lanes
from ad.primitives.reductions import reduce_map

MAX_AXES = 4  # a move/accumulate walks at most this many (merged) axes

# ==================================================================================
# Affine maps: the analysis the lowering runs on an index map
# ==================================================================================


def affine(flat: np.ndarray, shape: tuple[int, ...]) -> tuple[int, list[int]] | None:
    """``(base, strides)`` if ``flat`` (an index per entry of ``shape``, row-major) is
    ``base + sum_d i_d strides[d]``; None otherwise (or when it holds a -1)."""
    if flat.size == 0 or flat.min() < 0:
        return None
    M = flat.reshape(shape)
    base = int(M.reshape(-1)[0])
    strides = []
    for d, n in enumerate(shape):
        if n > 1:
            at = [0] * len(shape)
            at[d] = 1
            strides.append(int(M[tuple(at)]) - base)
        else:
            strides.append(0)
    want = np.full(shape, base, dtype=np.int64)
    for d, (n, s) in enumerate(zip(shape, strides)):
        if n > 1 and s:
            want = want + (np.arange(n, dtype=np.int64) * s).reshape(
                (1,) * d + (n,) + (1,) * (len(shape) - d - 1)
            )
    if not np.array_equal(M, want):
        return None
    return base, strides


def merge(shape: tuple[int, ...], *strides: list[int]) -> tuple[list[int], list[list[int]]]:
    """Drop unit axes and merge neighbours that every stride vector walks contiguously."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    dims = [shape[d] for d in keep]
    strs = [[s[d] for d in keep] for s in strides]
    d = len(dims) - 1
    while d > 0:
        if all(s[d - 1] == s[d] * dims[d] for s in strs):
            dims[d - 1] *= dims[d]
            del dims[d]
            for s in strs:
                s[d - 1] = s[d]
                del s[d]
        d -= 1
    return dims, strs


def padded(dims: list[int], *strides: list[int]) -> dict[str, int]:
    """The move/accumulate payload fields: 4 axes, leading unit axes added."""
    k = MAX_AXES - len(dims)
    fields = {f"n{d}": v for d, v in enumerate([1] * k + dims)}
    for name, s in zip("ds", strides):
        fields.update({f"{name}{d}": v for d, v in enumerate([0] * k + s)})
    return fields


def c_strides(shape: tuple[int, ...]) -> list[int]:
    """Row-major element strides of ``shape``."""
    out_, acc = [], 1
    for n in reversed(shape):
        out_.append(acc)
        acc *= n
    return out_[::-1]


# ==================================================================================
# Strided walks: four nested axes, the innermost as a tight loop
# ==================================================================================


@kjit
def _walk(dst, db, dd, src, sb, ss, nn, add):
    """dst[db + i.dd] (+)= src[sb + i.ss] over the box nn (1-d buffers: values)."""
    n0, n1, n2, n3 = nn
    d0, d1, d2, d3 = dd
    s0, s1, s2, s3 = ss
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                d = db + i0 * d0 + i1 * d1 + i2 * d2
                s = sb + i0 * s0 + i1 * s1 + i2 * s2
                if d3 == 1 and s3 == 1:
                    dv, sv = dst[d : d + n3], src[s : s + n3]
                    if add:
                        for i3 in range(n3):
                            dv[i3] += sv[i3]
                    else:
                        for i3 in range(n3):
                            dv[i3] = sv[i3]
                elif d3 == 0 and s3 == 1:  # a sum along the innermost axis
                    sv = src[s : s + n3]
                    t = 0.0
                    for i3 in range(n3):
                        t += sv[i3]
                    dst[d] = dst[d] + t if add else t
                else:
                    for i3 in range(n3):
                        if add:
                            dst[d + i3 * d3] += src[s + i3 * s3]
                        else:
                            dst[d + i3 * d3] = src[s + i3 * s3]


@kjit
def _walk_rows(dst, db, dd, src, sb, ss, nn, add):
    """The same walk over rows of p (q) directions (2-d buffers: partials, adjoints)."""
    n0, n1, n2, n3 = nn
    d0, d1, d2, d3 = dd
    s0, s1, s2, s3 = ss
    p = dst.shape[1]
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                d = db + i0 * d0 + i1 * d1 + i2 * d2
                s = sb + i0 * s0 + i1 * s1 + i2 * s2
                if d3 == 1 and s3 == 1:  # runs of whole rows: one flat loop, in order
                    dr, sr = dst[d : d + n3].reshape(n3 * p), src[s : s + n3].reshape(n3 * p)
                    if add:
                        for j in range(n3 * p):
                            dr[j] += sr[j]
                    else:
                        for j in range(n3 * p):
                            dr[j] = sr[j]
                    continue
                for i3 in range(n3):
                    dr, sr = dst[d + i3 * d3], src[s + i3 * s3]
                    if add:
                        for r in range(p):
                            dr[r] += sr[r]
                    else:
                        for r in range(p):
                            dr[r] = sr[r]


def _check_walk(F: np.ndarray, ins: Instruction, which: str, strides: str) -> tuple[Any, Any]:
    """Lowest and highest slot a walk touches (for validation)."""
    lo = F[:, ins.index[which]].copy()
    hi = lo.copy()
    for d in range(MAX_AXES):
        span = (F[:, ins.index[f"n{d}"]] - 1) * F[:, ins.index[f"{strides}{d}"]]
        lo += np.minimum(span, 0)
        hi += np.maximum(span, 0)
    return lo, hi


def check_walks(prog: Any, ins: Instruction, rows: np.ndarray, F: np.ndarray) -> str | None:
    """Validation of move/accumulate: both walks inside the buffers (and their duals)."""
    if np.any(F[:, [ins.index[f"n{d}"] for d in range(MAX_AXES)]] < 0):
        return "negative axis length"
    act = prog.act[rows]
    dest = "at" if "at" in ins.index else "out"
    for name, strides, bit in ((dest, "d", 1), ("src", "s", 2)):
        lo, hi = _check_walk(F, ins, name, strides)
        bad = (lo < 0) | (hi >= prog.n_values)
        # dual rows: the output's when the derivative is needed, the source's if active
        # (a member of a fused group runs in no dual sweep, see ad.kernels.fusion)
        need = (act & 1) != 0 if bit == 1 else ((act & 1) != 0) & ((act & bit) != 0)
        bad |= need & ((act & MEMBER) == 0) & (hi >= prog.n_reverse)
        empty = np.prod(F[:, [ins.index[f"n{d}"] for d in range(MAX_AXES)]], axis=1) == 0
        if np.any(bad & ~empty):
            return f"{name} walk outside the value slots"
    return None


def _walk_fields() -> tuple[Any, ...]:
    return tuple(num(f"{c}{d}") for c in "nds" for d in range(MAX_AXES))


# ==================================================================================
# move: out[i . d] = src[i . s]  ->  out_dot likewise ;  src_bar[i . s] += out_bar[i . d]
# ==================================================================================


@kjit
def move_primal(act, pool, values, work, out, src, n0, n1, n2, n3, d0, d1, d2, d3, s0, s1, s2, s3):
    nn, dd, ss = (n0, n1, n2, n3), (d0, d1, d2, d3), (s0, s1, s2, s3)
    _walk(values, out, dd, values, src, ss, nn, False)
    return 0


@kjit
def move_forward(
    act, pool, values, duals, work, unit, out, src, n0, n1, n2, n3, d0, d1, d2, d3, s0, s1, s2, s3
):
    nn, dd, ss = (n0, n1, n2, n3), (d0, d1, d2, d3), (s0, s1, s2, s3)
    _walk(values, out, dd, values, src, ss, nn, False)
    if act & 1:
        _walk_rows(duals, out, dd, duals, src, ss, nn, False)
    return 0


@kjit
def move_reverse(
    act, pool, values, duals, work, unit, out, src, n0, n1, n2, n3, d0, d1, d2, d3, s0, s1, s2, s3
):
    nn, dd, ss = (n0, n1, n2, n3), (d0, d1, d2, d3), (s0, s1, s2, s3)
    _walk_rows(duals, src, ss, duals, out, dd, nn, True)
    return 0


MOVE = declare(
    Instruction(
        "move",
        (out("out", "1", strided=True), arg("src", "1", 0, strided=True)) + _walk_fields(),
        move_primal,
        move_forward,
        move_reverse,
        cost="structural",
        work="n0 * n1 * n2 * n3",
        check=check_walks,
        doc="strided copy of up to 4 axes",
    )
)

# ==================================================================================
# accumulate: out = 0; out[i . d] += src[i . s]  (sums over axes; d has zeros)
#   -> out_dot likewise ;  src_bar[i . s] += out_bar[i . d]
# ==================================================================================


@kjit
def _zero(buf, start, size):
    for k in range(start, start + size):
        buf[k] = 0.0


@kjit
def _zero_rows(buf, start, size):
    buf[start : start + size] = 0.0


@kjit
def _one_run(out, size, at, nn, dd, ss):
    """True if the walk is one contiguous run inside [out, out + size) read from a
    contiguous run (a zero padding, ``x[1:]``'s adjoint): each output entry receives
    at most one term, so only the rest is zeroed and the run is copied, not added."""
    n0, n1, n2, n3 = nn
    return (
        n0 == 1
        and n1 == 1
        and n2 == 1
        and dd[3] == 1
        and ss[3] == 1
        and out <= at
        and at + n3 <= out + size
    )


@kjit
def _clear(buf, out, size, at, n, one):
    """Zero ``buf[out : out + size]`` (entries or rows) before the walk adds into it;
    with ``one`` run (:func:`_one_run`) only around ``[at, at + n)``, which the walk
    then copies."""
    if one:
        buf[out:at] = 0.0
        buf[at + n : out + size] = 0.0
    else:
        buf[out : out + size] = 0.0


@kjit
def accumulate_primal(
    act, pool, values, work, out, size, at, src, n0, n1, n2, n3, d0, d1, d2, d3, s0, s1, s2, s3
):
    nn, dd, ss = (n0, n1, n2, n3), (d0, d1, d2, d3), (s0, s1, s2, s3)
    one = _one_run(out, size, at, nn, dd, ss)
    _clear(values, out, size, at, n3, one)
    _walk(values, at, dd, values, src, ss, nn, not one)
    return 0


@kjit
def accumulate_forward(
    act,
    pool,
    values,
    duals,
    work,
    unit,
    out,
    size,
    at,
    src,
    n0,
    n1,
    n2,
    n3,
    d0,
    d1,
    d2,
    d3,
    s0,
    s1,
    s2,
    s3,
):
    nn, dd, ss = (n0, n1, n2, n3), (d0, d1, d2, d3), (s0, s1, s2, s3)
    one = _one_run(out, size, at, nn, dd, ss)
    _clear(values, out, size, at, n3, one)
    _walk(values, at, dd, values, src, ss, nn, not one)
    if act & 1:
        _clear(duals, out, size, at, n3, one)
        _walk_rows(duals, at, dd, duals, src, ss, nn, not one)
    return 0


@kjit
def accumulate_reverse(
    act,
    pool,
    values,
    duals,
    work,
    unit,
    out,
    size,
    at,
    src,
    n0,
    n1,
    n2,
    n3,
    d0,
    d1,
    d2,
    d3,
    s0,
    s1,
    s2,
    s3,
):
    nn, dd, ss = (n0, n1, n2, n3), (d0, d1, d2, d3), (s0, s1, s2, s3)
    _walk_rows(duals, src, ss, duals, at, dd, nn, True)
    return 0


ACCUMULATE = declare(
    Instruction(
        "accumulate",
        (
            out("out", "size"),
            num("size"),
            out("at", "1", strided=True),
            arg("src", "1", 0, strided=True),
        )
        + _walk_fields(),
        accumulate_primal,
        accumulate_forward,
        accumulate_reverse,
        cost="structural",
        work="n0 * n1 * n2 * n3",
        check=check_walks,
        doc="sum over axes: a strided accumulation of up to 4 axes",
    )
)

# ==================================================================================
# sum: out = sum_k x[k]  ->  out_dot = sum_k x_dot[k] ;  x_bar[k] += out_bar
# ==================================================================================


@kjit
def _sum(v):
    """Sum with four accumulators (vectorised, and rounding like NumPy's blocks)."""
    n = v.size
    s0 = s1 = s2 = s3 = 0.0
    m = n - n % 4
    for k in range(0, m, 4):
        s0 += v[k]
        s1 += v[k + 1]
        s2 += v[k + 2]
        s3 += v[k + 3]
    for k in range(m, n):
        s0 += v[k]
    return (s0 + s1) + (s2 + s3)


@kjit
def sum_primal(act, pool, values, work, out, x, size):
    values[out] = _sum(values[x : x + size])
    return 0


@kjit
def sum_forward(act, pool, values, duals, work, unit, out, x, size):
    values[out] = _sum(values[x : x + size])
    if act & 1:
        p = duals.shape[1]
        if p == 1:
            duals[out, 0] = _sum(duals[x : x + size].reshape(size))
            return 0
        row = duals[out]
        row[:] = 0.0
        for k in range(size):
            xr = duals[x + k]
            for r in range(p):
                row[r] += xr[r]
    return 0


@kjit
def sum_reverse(act, pool, values, duals, work, unit, out, x, size):
    q = duals.shape[1]
    row = duals[out]
    if q == 1:
        g = row[0]
        xv = duals[x : x + size].reshape(size)
        for k in range(size):
            xv[k] += g
        return 0
    for k in range(size):
        xr = duals[x + k]
        for r in range(q):
            xr[r] += row[r]
    return 0


SUM = declare(
    Instruction(
        "sum",
        (out("out", "1"), arg("x", "size", 0), num("size")),
        sum_primal,
        sum_forward,
        sum_reverse,
        cost="structural",
        work="size",
        doc="sum of all entries",
        fusable=True,
    )
)

# ==================================================================================
# runs: a gather by runs of consecutive slots (pads, concatenations)  ->  row copies
# ==================================================================================
# A slice, a pad, a concatenation or a shift is a gather whose map is a few runs of
# consecutive source slots (or of zeros): it runs as copies of those runs (memory
# speed, where the gather's map is read entry by entry). The pool holds the number of
# runs and (first entry, first source slot or -1, length) per run, in entry order, each
# run inside one activity region (its source slots all have dual rows, or none has).
# ``x`` is the first entry copied: 0 for the instruction, the block's first entry for a
# member of a fused group (ad.kernels.fusion), which runs it block by block; ``n`` is
# the runs' pool offset.

#: A gather runs as copies of runs when its map has at most one run per this many entries.
RUN_ENTRIES = 8


@kjit
def _first_run(pool, m, lo):
    """The run holding entry ``lo`` (the last run starting at or before it)."""
    a, b = 0, pool[m] - 1
    while a < b:
        c = (a + b + 1) // 2
        if pool[m + 1 + 3 * c] <= lo:
            a = c
        else:
            b = c - 1
    return a


@kjit
def _block_runs(pool, n, x, size):
    """The runs t0 .. t1 - 1 that overlap entries [x, x + size)."""
    t0 = _first_run(pool, n, x)
    t1 = t0
    while t1 < pool[n] and pool[n + 1 + 3 * t1] < x + size:
        t1 += 1
    return t0, t1


@kjit
def _clip(pool, n, t, x, size):
    """Run t within entries [x, x + size): its first entry - x, its first source slot
    (-1: zeros) and its length there."""
    o, s, ln = pool[n + 1 + 3 * t], pool[n + 2 + 3 * t], pool[n + 3 + 3 * t]
    a, b = max(o, x), min(o + ln, x + size)
    return a - x, s + a - o if s >= 0 else -1, b - a


@kjit
def _move_runs(buf, pool, n, out, x, size, back):
    """Entries [x, x + size) of the output's rows of ``buf`` (the values, or the dual
    rows: a run's sources have rows in both or in neither) from its runs' rows, zero
    where a run has none; ``back``: the transpose, the output's rows added to the
    sources' rows.

    A run of rows is one contiguous range of the flat buffer, copied by a loop over
    views indexed by its own counter (which vectorises). A slice assignment of rows
    ``buf[a:b] = buf[c:d]`` would run Numba's generic loop nest over (rows, p), 5x
    slower at p = 5 (the pad of the ``sparse`` bench's Laplacian at n = 10^4: 50 us)."""
    flat = buf.reshape(-1)
    w = flat.size // buf.shape[0] if buf.shape[0] else 1
    t0, t1 = _block_runs(pool, n, x, size)
    for t in range(t0, t1):
        e, s, ln = _clip(pool, n, t, x, size)
        has = 0 <= s < buf.shape[0]
        mine = flat[(out + e) * w : (out + e + ln) * w]
        if has:
            src = flat[s * w : (s + ln) * w]
            if back:
                for i in range(mine.size):
                    src[i] += mine[i]
            else:
                for i in range(mine.size):
                    mine[i] = src[i]
        elif not back:
            mine[:] = 0.0


@kjit
def runs_primal(act, pool, values, work, out, x, size, n):
    _move_runs(values, pool, n, out, x, size, False)
    return 0


@kjit
def runs_forward(act, pool, values, duals, work, unit, out, x, size, n):
    _move_runs(values, pool, n, out, x, size, False)
    if act & 1:
        _move_runs(duals, pool, n, out, x, size, False)
    return 0


@kjit
def runs_reverse(act, pool, values, duals, work, unit, out, x, size, n):
    _move_runs(duals, pool, n, out, x, size, True)
    return 0


def runs_of(amap: np.ndarray, boundary: int = 0) -> np.ndarray:
    """``(first entry, first source slot or -1, length)`` of the runs of a gather map:
    consecutive sources (or zeros), broken where a source crosses ``boundary`` (the
    first slot without dual rows)."""
    if amap.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    prev, cur = amap[:-1], amap[1:]
    same = ((cur == prev + 1) & (prev >= 0) & ((prev < boundary) == (cur < boundary))) | (
        (cur < 0) & (prev < 0)
    )
    starts = np.concatenate(([0], np.flatnonzero(~same) + 1))
    lengths = np.diff(np.concatenate((starts, [amap.size])))
    return np.stack([starts, np.where(amap[starts] >= 0, amap[starts], -1), lengths], axis=1)


def few_runs(runs: np.ndarray, size: int) -> bool:
    """Whether ``runs`` (from :func:`runs_of`) average :data:`RUN_ENTRIES` entries."""
    return size >= 2 * RUN_ENTRIES and RUN_ENTRIES * len(runs) <= size


def check_runs(prog: Any, runs: np.ndarray | None, size: int) -> str | None:
    """Validation of runs (an instruction's or a group member's): they tile [0, size)
    in order, each source run inside the value slots and on one side of the dual rows'
    end."""
    if runs is None or runs.size % 3:
        return "runs outside the pool"
    o, s, ln = runs[0::3], runs[1::3], runs[2::3]
    if o.size == 0 or o[0] != 0 or np.any(ln < 1) or o[-1] + ln[-1] != size:
        return "runs do not tile the group"
    if np.any(o[1:] != o[:-1] + ln[:-1]):
        return "runs do not tile the group"
    src = s >= 0
    if np.any(s < -1) or np.any(s[src] + ln[src] > prog.n_values):
        return "run source outside the value slots"
    if np.any(src & (s < prog.n_reverse) & (s + ln > prog.n_reverse)):
        return "run source crosses the end of the dual rows"
    return None


def _check_runs_rows(prog: Any, ins: Instruction, F: np.ndarray) -> str | None:
    """Validation of runs instructions: the runs tile the output and read no slot of it."""
    for row in F:
        out_, x, size, n = (ins.get(row, f) for f in ("out", "x", "size", "n"))
        count = prog.pool_slice(n, 1)
        runs = None if count is None else prog.pool_slice(n + 1, 3 * int(count[0]))
        problem = "runs start past the first entry" if x else check_runs(prog, runs, size)
        if problem:
            return problem
        src, ln = runs[1::3], runs[2::3]
        if np.any((src >= 0) & (src < out_ + size) & (src + ln > out_)):
            return "runs read the slots they write"
    return None


RUNS = declare(
    Instruction(
        "runs",
        (out("out", "size"), num("x"), num("size"), num("n")),
        runs_primal,
        runs_forward,
        runs_reverse,
        cost="structural",
        work="size",
        check=lambda prog, ins, rows, F: _check_runs_rows(prog, ins, F),
        doc="a gather by runs of consecutive slots (slices, pads, concatenations)",
        fusable=True,
    )
)


# ==================================================================================
# gather: out[k] = values[map[k]] (0 where -1)  ->  copies of rows ; src_bar += out_bar
# ==================================================================================


@kjit
def gather_primal(act, pool, values, work, out, size, m):
    for k in range(size):
        s = pool[m + k]
        values[out + k] = values[s] if s >= 0 else 0.0
    return 0


@kjit
def gather_forward(act, pool, values, duals, work, unit, out, size, m):
    gather_primal(act, pool, values, work, out, size, m)
    if not act & 1:
        return 0
    rows, p = duals.shape
    for k in range(size):  # rows by index, not views: p is often a few directions
        s = pool[m + k]
        if 0 <= s < rows:  # an active source slot (only those have dual rows)
            for r in range(p):
                duals[out + k, r] = duals[s, r]
        else:
            for r in range(p):
                duals[out + k, r] = 0.0
    return 0


@kjit
def gather_reverse(act, pool, values, duals, work, unit, out, size, m):
    rows, p = duals.shape
    for k in range(size):
        s = pool[m + k]
        if 0 <= s < rows:  # the transpose of a copy is an accumulation
            for r in range(p):
                duals[s, r] += duals[out + k, r]
    return 0


def check_gather(prog: Any, ins: Instruction, rows: np.ndarray, F: np.ndarray) -> str | None:
    for row in F:
        m = prog.pool_slice(ins.get(row, "m"), ins.get(row, "size"))
        if m is None or (m.size and (m.min() < -1 or m.max() >= prog.n_values)):
            return "gather source slot out of range"
    return None


GATHER = declare(
    Instruction(
        "gather",
        (out("out", "size"), num("size"), pool("m", "size")),
        gather_primal,
        gather_forward,
        gather_reverse,
        cost="structural",
        work="size",
        check=check_gather,
        doc="index-map gather (fancy indexing), map of absolute slots, -1 = zero",
    )
)

# ==================================================================================
# scatter: out = 0; out[map[k]] += g[k]  ->  likewise ;  g_bar[k] += out_bar[map[k]]
# ==================================================================================


@kjit
def scatter_primal(act, pool, values, work, out, out_size, g, g_size, m):
    _zero(values, out, out_size)
    for k in range(g_size):
        t = pool[m + k]
        if t >= 0:
            values[t] += values[g + k]
    return 0


@kjit
def scatter_forward(act, pool, values, duals, work, unit, out, out_size, g, g_size, m):
    scatter_primal(act, pool, values, work, out, out_size, g, g_size, m)
    if not act & 1:
        return 0
    _zero_rows(duals, out, out_size)
    p = duals.shape[1]
    for k in range(g_size):
        t = pool[m + k]
        if t >= 0:
            for r in range(p):
                duals[t, r] += duals[g + k, r]
    return 0


@kjit
def scatter_reverse(act, pool, values, duals, work, unit, out, out_size, g, g_size, m):
    p = duals.shape[1]
    for k in range(g_size):
        t = pool[m + k]
        if t >= 0:  # the transpose of a sum is a copy
            for r in range(p):
                duals[g + k, r] += duals[t, r]
    return 0


def check_scatter(prog: Any, ins: Instruction, rows: np.ndarray, F: np.ndarray) -> str | None:
    for row in F:
        m = prog.pool_slice(ins.get(row, "m"), ins.get(row, "g_size"))
        o, n = ins.get(row, "out"), ins.get(row, "out_size")
        if m is None or not np.all((m == -1) | ((m >= o) & (m < o + n))):
            return "scatter target outside its output"
    return None


SCATTER = declare(
    Instruction(
        "scatter",
        (
            out("out", "out_size"),
            num("out_size"),
            arg("g", "g_size", 0),
            num("g_size"),
            pool("m", "g_size"),
        ),
        scatter_primal,
        scatter_forward,
        scatter_reverse,
        cost="structural",
        work="g_size",
        check=check_scatter,
        doc="index-map scatter-add, map of absolute target slots, -1 = dropped",
    )
)

# ==================================================================================
# select: out = mask ? a : b (mask concrete, in the pool)  ->  rows of the chosen side
# ==================================================================================


@kjit
def select_primal(act, pool, values, work, out, a, b, size, m):
    for k in range(size):
        values[out + k] = values[a + k] if pool[m + k] else values[b + k]
    return 0


@kjit
def select_forward(act, pool, values, duals, work, unit, out, a, b, size, m):
    select_primal(act, pool, values, work, out, a, b, size, m)
    if not act & 1:
        return 0
    for k in range(size):
        o = duals[out + k]
        if pool[m + k]:
            if act & 2:
                o[:] = duals[a + k]
            else:
                o[:] = 0.0
        elif act & 4:
            o[:] = duals[b + k]
        else:  # the unselected branch gets an exact zero
            o[:] = 0.0
    return 0


@kjit
def select_reverse(act, pool, values, duals, work, unit, out, a, b, size, m):
    for k in range(size):
        o = duals[out + k]
        if pool[m + k]:
            if act & 2:
                d = duals[a + k]
                for r in range(o.size):
                    d[r] += o[r]
        elif act & 4:
            d = duals[b + k]
            for r in range(o.size):
                d[r] += o[r]
    return 0


SELECT = declare(
    Instruction(
        "select",
        (
            out("out", "size"),
            arg("a", "size", 0),
            arg("b", "size", 1),
            num("size"),
            pool("m", "size"),
        ),
        select_primal,
        select_forward,
        select_reverse,
        cost="elementwise",
        work="size",
        doc="where(mask, a, b) with a concrete 0/1 mask in the pool",
    )
)

# ==================================================================================
# reduce_max / reduce_min: ans[c] = extreme of x over cell c; the derivative is split
# equally among the ties, recounted from the tape (x and ans) into the work buffer
# ==================================================================================


@kjit
def _extreme(is_max, pool, values, out, out_size, x, x_size, m):
    for i in range(out_size):
        values[out + i] = -math.inf if is_max else math.inf
    for k in range(x_size):
        c = out + pool[m + k]
        v, cur = values[x + k], values[c]
        if cur != cur:  # NaN propagates, as in np.max
            continue
        if v != v or (v > cur if is_max else v < cur):
            values[c] = v


@kjit
def _tie_counts(pool, values, work, out, out_size, x, x_size, m):
    """work[c] = number of entries of cell c equal to its extreme."""
    for i in range(out_size):
        work[i] = 0.0
    for k in range(x_size):
        c = pool[m + k]
        if values[x + k] == values[out + c]:
            work[c] += 1.0


@kjit
def _extreme_forward(is_max, act, pool, values, duals, work, unit, out, out_size, x, x_size, m):
    _extreme(is_max, pool, values, out, out_size, x, x_size, m)
    if not act & 1:
        return 0
    _tie_counts(pool, values, work, out, out_size, x, x_size, m)
    _zero_rows(duals, out, out_size)
    for k in range(x_size):
        c = pool[m + k]
        if values[x + k] == values[out + c]:  # ans_dot[c] = mean of x_dot over the ties
            w = 1.0 / work[c]
            o, s = duals[out + c], duals[x + k]
            for r in range(o.size):
                o[r] += w * s[r]
    return 0


@kjit
def _extreme_reverse(act, pool, values, duals, work, unit, out, out_size, x, x_size, m):
    _tie_counts(pool, values, work, out, out_size, x, x_size, m)
    for k in range(x_size):
        c = pool[m + k]
        if values[x + k] == values[out + c]:  # each tie gets an equal share of ans_bar[c]
            w = 1.0 / work[c]
            d, o = duals[x + k], duals[out + c]
            for r in range(d.size):
                d[r] += w * o[r]
    return 0


@kjit
def reduce_max_primal(act, pool, values, work, out, out_size, x, x_size, m):
    _extreme(True, pool, values, out, out_size, x, x_size, m)
    return 0


@kjit
def reduce_max_forward(act, pool, values, duals, work, unit, out, out_size, x, x_size, m):
    return _extreme_forward(True, act, pool, values, duals, work, unit, out, out_size, x, x_size, m)


@kjit
def reduce_min_primal(act, pool, values, work, out, out_size, x, x_size, m):
    _extreme(False, pool, values, out, out_size, x, x_size, m)
    return 0


@kjit
def reduce_min_forward(act, pool, values, duals, work, unit, out, out_size, x, x_size, m):
    return _extreme_forward(
        False, act, pool, values, duals, work, unit, out, out_size, x, x_size, m
    )


def check_cells(prog: Any, ins: Instruction, rows: np.ndarray, F: np.ndarray) -> str | None:
    for row in F:
        m = prog.pool_slice(ins.get(row, "m"), ins.get(row, "x_size"))
        n = ins.get(row, "out_size")
        if m is None or (m.size and (m.min() < 0 or m.max() >= n)) or n > prog.work_size:
            return "reduction cell out of range"
    return None


def _reduce_fields() -> tuple[Any, ...]:
    return (
        out("out", "out_size"),
        num("out_size"),
        arg("x", "x_size", 0),
        num("x_size"),
        pool("m", "x_size"),
    )


for _name, _primal, _forward in (
    ("reduce_max", reduce_max_primal, reduce_max_forward),
    ("reduce_min", reduce_min_primal, reduce_min_forward),
):
    declare(
        Instruction(
            _name,
            _reduce_fields(),
            _primal,
            _forward,
            _extreme_reverse,
            cost="structural",
            work="x_size",
            check=check_cells,
            doc="extreme over cells; derivative split among ties",
        )
    )

# ==================================================================================
# cumsum: running sums along the lanes (outer, n, inner) of x, from the start (or the end
# when ``reverse``)  ->  the same of the tangent ;  x_bar += the opposite running sum
# ==================================================================================


@kjit
def _scan(dst, src, outer, n, inner, reverse, add):
    """dst[lane k] (+)= sum of src over the lane up to k (from k when ``reverse``); 1-d
    buffers (values) or rows of directions (duals) alike, through 2-d views."""
    w = dst.shape[1]
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            for r in range(w):
                acc = 0.0
                for t in range(n):
                    k = n - 1 - t if reverse else t
                    acc += src[base + k * inner, r]
                    if add:
                        dst[base + k * inner, r] += acc
                    else:
                        dst[base + k * inner, r] = acc


@kjit
def cumsum_primal(act, pool, values, work, out, x, outer, n, inner, reverse):
    size = outer * n * inner
    dst = values[out : out + size].reshape((size, 1))
    _scan(dst, values[x : x + size].reshape((size, 1)), outer, n, inner, reverse != 0, False)
    return 0


@kjit
def cumsum_forward(act, pool, values, duals, work, unit, out, x, outer, n, inner, reverse):
    cumsum_primal(act, pool, values, work, out, x, outer, n, inner, reverse)
    if act & 1:
        size = outer * n * inner
        _scan(duals[out : out + size], duals[x : x + size], outer, n, inner, reverse != 0, False)
    return 0


@kjit
def cumsum_reverse(act, pool, values, duals, work, unit, out, x, outer, n, inner, reverse):
    size = outer * n * inner  # the transpose: the running sum from the other end
    _scan(duals[x : x + size], duals[out : out + size], outer, n, inner, reverse == 0, True)
    return 0


declare(
    Instruction(
        "cumsum",
        (
            out("out", "outer * n * inner"),
            arg("x", "outer * n * inner", 0),
            num("outer"),
            num("n"),
            num("inner"),
            num("reverse"),
        ),
        cumsum_primal,
        cumsum_forward,
        cumsum_reverse,
        cost="structural",
        work="outer * n * inner",
        doc="running sums along an axis",
    )
)

# ==================================================================================
# sort: y = x sorted along the lanes, perm = the stable argsort (as float64)
#   ->  y_dot = x_dot permuted (perm has no derivative) ;  x_bar[perm[k]] += y_bar[k]
# ==================================================================================


@kjit
def sort_primal(act, pool, values, work, y, perm, x, outer, n, inner):
    lane = np.empty(n)
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            for k in range(n):
                lane[k] = values[x + base + k * inner]
            order = np.argsort(lane, kind="mergesort")  # stable, as np.sort's kind="stable"
            for k in range(n):
                values[y + base + k * inner] = lane[order[k]]
                values[perm + base + k * inner] = order[k]
    return 0


@kjit
def sort_forward(act, pool, values, duals, work, unit, y, perm, x, outer, n, inner):
    sort_primal(act, pool, values, work, y, perm, x, outer, n, inner)
    if not act & 1:
        return 0
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            for k in range(n):
                src = base + int(values[perm + base + k * inner]) * inner
                duals[y + base + k * inner] = duals[x + src]
                duals[perm + base + k * inner] = 0.0
    return 0


@kjit
def sort_reverse(act, pool, values, duals, work, unit, y, perm, x, outer, n, inner):
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            for k in range(n):
                dst = duals[x + base + int(values[perm + base + k * inner]) * inner]
                src = duals[y + base + k * inner]
                for r in range(dst.size):
                    dst[r] += src[r]
    return 0


declare(
    Instruction(
        "sort",
        (
            out("y", "outer * n * inner"),
            out("perm", "outer * n * inner"),
            arg("x", "outer * n * inner", 0),
            num("outer"),
            num("n"),
            num("inner"),
        ),
        sort_primal,
        sort_forward,
        sort_reverse,
        cost="structural",
        work="outer * n * inner",
        doc="stable sort along an axis; the permutation is an output (no derivative)",
    )
)


# ==================================================================================
# Lowering
# ==================================================================================


def gather_map(lw: Any, e: Any, address: Any) -> np.ndarray:
    """Flat map over the gather's output (batch rows expanded): the address of the
    entry each output entry reads, from ``address(var) -> (base, stride)``; -1 = zero."""
    idx = np.asarray(e.params["idx"], dtype=np.int64).reshape(-1)
    in_ndims = e.params["in_ndims"]
    x0 = e.inputs[0]
    batch = math.prod(x0.shape[: x0.ndim - in_ndims[0]])
    rows = np.arange(batch, dtype=np.int64)[:, None]
    parts = []
    for x, nd in zip(e.inputs, in_ndims):
        core = math.prod(x.shape[x.ndim - nd :])
        base, stride = address(x)
        parts.append(base + (rows * core + np.arange(core, dtype=np.int64)) * stride)
    src = np.concatenate(parts, axis=1) if parts else np.zeros((batch, 0), dtype=np.int64)
    if src.shape[1] == 0:
        return np.full(batch * idx.size, -1, dtype=np.int64)
    amap = np.where(idx >= 0, src[:, np.clip(idx, 0, None)], -1)
    return amap.reshape(-1)


def scatter_cells(e: Any) -> np.ndarray:
    """The output entry each entry of a ``scatter_add``'s operand adds into (batch rows
    expanded; -1: none)."""
    idx = np.asarray(e.params["idx"], dtype=np.int64).reshape(-1)
    g = e.inputs[0]
    size = math.prod(e.params["out_shape"])
    batch = g.size // idx.size if idx.size else 0
    cells = np.where(idx >= 0, np.arange(batch, dtype=np.int64)[:, None] * size + idx, -1)
    return cells.reshape(-1)


def scatter_map(e: Any, address: Any) -> np.ndarray | None:
    """The gather map of a ``scatter_add`` that writes each output entry at most once
    (a zero pad, a shift into zeros: the transpose of a slice, as reverse mode makes
    it): the address of the entry each output entry holds, -1 = zero; None when two
    entries add into one (a sum, not a gather)."""
    ((g,), (o,)) = e.inputs, e.outputs
    cells = scatter_cells(e)
    hit = cells >= 0
    if np.unique(cells[hit]).size != np.count_nonzero(hit):
        return None
    base, stride = address(g)
    amap = np.full(o.size, -1, dtype=np.int64)
    amap[cells[hit]] = base + np.flatnonzero(hit) * stride
    return amap


def gather_view(lw: Any, e: Any) -> tuple[str, Any, int] | None:
    """An alias or broadcast view for a one-operand gather that needs no copy."""
    (o,) = e.outputs
    if len(e.inputs) != 1 or o.size == 0:
        return None
    x = e.inputs[0]
    kind, base, offset = lw.storage(x)
    if o.size == 1 and e.params["in_ndims"][0] == len(x.shape):  # one entry: x[k]
        k = int(np.reshape(e.params["idx"], -1)[0])
        if k < 0:
            return None
        return ("broadcast", base, offset) if kind == "broadcast" else ("alias", base, offset + k)
    # the answer depends on the index map, not on the offset: decided once per map
    # (tracing shares index maps between equations; the graph keeps them alive)
    idx, in_ndims = e.params["idx"], tuple(e.params["in_ndims"])
    key = ("gather_view", id(idx), in_ndims, x.shape, o.shape, kind == "broadcast")
    found = lw.memo.get(key, False)
    if found is False:
        amap = gather_map(lw, e, lambda v: (0, 0 if kind == "broadcast" else 1))
        found = None
        if amap.min() < 0:
            pass
        elif np.all(amap == amap[0]) and (o.size > 1 or kind == "broadcast"):
            found = "broadcast", int(amap[0])
        elif kind != "broadcast" and np.array_equal(amap, amap[0] + np.arange(amap.size)):
            found = "alias", int(amap[0])
        lw.memo[key] = found
    return None if found is None else (found[0], base, offset + found[1])


@lowering("gather", broadcast=True)
def lower_gather(lw: Any, e: Any) -> None:
    (o,) = e.outputs
    if lw.is_view(o):
        return  # an alias or a broadcast: no instruction
    amap = gather_map(lw, e, lw.ref)
    found = affine(amap, o.shape) if len(e.inputs) == 1 else None
    if found is not None:
        base, strides = found
        dims, (dst, src) = merge(o.shape, c_strides(o.shape), strides)
        if len(dims) <= MAX_AXES:
            lw.emit("move", out=lw.slot(o), src=base, **padded(dims, dst, src))
            return
    runs = runs_of(amap, lw.n_active)
    if few_runs(runs, o.size):
        m = lw.pool(np.concatenate(([len(runs)], runs.reshape(-1))))
        lw.emit("runs", out=lw.slot(o), x=0, size=o.size, n=m)
    elif o.size:
        lw.emit("gather", out=lw.slot(o), size=o.size, m=lw.pool(amap))


@lowering("scatter_add")
def lower_scatter_add(lw: Any, e: Any) -> None:
    ((g,), (o,)) = e.inputs, e.outputs
    cells = scatter_cells(e)
    out_slot, g_slot = lw.slot(o), lw.slot(g)
    if g.size and o.size == 1 and np.all(cells == 0):
        lw.emit("sum", out=out_slot, x=g_slot, size=g.size)
        return
    found = affine(cells, g.shape) if g.size else None
    if found is not None:
        base, strides = found
        dims, (dst, src) = merge(g.shape, strides, c_strides(g.shape))
        if len(dims) <= MAX_AXES:
            lw.emit(
                "accumulate",
                out=out_slot,
                size=o.size,
                at=out_slot + base,
                src=g_slot,
                **padded(dims, dst, src),
            )
            return
    amap = np.where(cells >= 0, out_slot + cells, -1)
    lw.emit("scatter", out=out_slot, out_size=o.size, g=g_slot, g_size=g.size, m=lw.pool(amap))


@lowering("select")
def lower_select(lw: Any, e: Any) -> None:
    (a, b), (o,) = e.inputs, e.outputs
    mask = np.broadcast_to(np.asarray(e.params["mask"], dtype=bool), o.shape)
    lw.emit(
        "select",
        out=lw.slot(o),
        a=lw.slot(a),
        b=lw.slot(b),
        size=o.size,
        m=lw.pool(mask.astype(np.int64)),
    )


@lowering("reduce_max", "reduce_min")
def lower_reduce(lw: Any, e: Any) -> None:
    ((x,), (o,)) = e.inputs, e.outputs
    cells, _ = reduce_map(x.shape, tuple(e.params["axes"]))
    lw.need_work(o.size)
    lw.emit(
        e.prim.name,
        out=lw.slot(o),
        out_size=o.size,
        x=lw.slot(x),
        x_size=x.size,
        m=lw.pool(cells),
    )


@lowering("cumsum")
def lower_cumsum(lw: Any, e: Any) -> None:
    ((x,), (o,)) = e.inputs, e.outputs
    outer, n, inner = lanes(x.shape, e.params["axis"])
    rev = 1 if e.params.get("reverse", False) else 0
    lw.emit("cumsum", out=lw.slot(o), x=lw.slot(x), outer=outer, n=n, inner=inner, reverse=rev)


@lowering("sort")
def lower_sort(lw: Any, e: Any) -> None:
    ((x,), (y, perm)) = e.inputs, e.outputs
    outer, n, inner = lanes(x.shape, e.params["axis"])
    lw.emit("sort", y=lw.slot(y), perm=lw.slot(perm), x=lw.slot(x), outer=outer, n=n, inner=inner)


def stop_gradient_view(lw: Any, e: Any) -> tuple[str, Any, int] | None:
    """stop_gradient: the operand's own slots (no instruction). It is inactive (the
    activity analysis gives it no derivative), so no instruction reads its dual rows."""
    kind, base, offset = lw.storage(e.inputs[0])
    return (kind if kind == "broadcast" else "alias"), base, offset


@lowering("stop_gradient", broadcast=True)
def lower_stop_gradient(lw: Any, e: Any) -> None:
    (x,), (o,) = e.inputs, e.outputs
    if lw.is_view(o):
        return  # a view (see stop_gradient_view)
    src, stride = lw.ref(x)  # a broadcast number that a reader needs in slots
    lw.emit("move", out=lw.slot(o), src=src, **padded([o.size], [1], [stride]))


VIEWS["gather"] = gather_view
VIEWS["stop_gradient"] = stop_gradient_view
