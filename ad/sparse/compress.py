"""Compressed sweeps: one tangent (adjoint) direction per colour, then direct recovery.

A colouring of the columns of J gives the seed matrix S (n x c, S[j, k] = 1 if column
j has colour k); one forward sweep with the c columns of S as tangent directions
computes J S, and every nonzero is read back directly: J[i, j] = (J S)[i, colour(j)].
Reverse mode mirrors it with a row colouring: S^T J from c adjoints at once,
J[i, j] = (S^T J)[colour(i), j]. For a symmetric Hessian with a star colouring, H S
comes from forward sweeps over the gradient graph (forward over reverse) and H[i, j]
is (H S)[i, colour(j)] when no other neighbour of i has j's colour, else
(H S)[j, colour(i)] (Gebremedhin, Manne, Pothen, SIAM Review 2005, sec. 4.2).

The dense modes are the same machinery with the identity colouring (colour j = j),
in sweeps of the same widths.

Up to ``MAX_WIDTH`` colours go through one batched sweep (a banded or stencil
Jacobian: all of them), and any number whose tangent buffer (8 bytes x value slots x
directions) fits in ``CACHE_BYTES``; more are split into equal chunks of at most
``MAX_WIDTH``, and fewer still if a sweep's buffer would exceed ``MAX_SWEEP_BYTES``.
Measured here on the arrowhead: with 1000 and 3000 colours 24-32 directions per sweep
were fastest, 1000 in one sweep 2.2x slower than 32 (the buffer leaves the cache), 12
(the engines' dense default) 1.0-1.2x slower; with 100 colours on 1,300 slots one
sweep of 100 was 2x faster than four of 25.

The engines are called in one place only, :func:`sweep`: on the compiled engine it
takes a fast path (:func:`ad.kernels.run.jvp_take`, ``vjp_take``) when the
compression has one (:meth:`Compression.direct`): the chunk's seeds as one
``(seeded entries, p)`` block copied into the dual rows of the inputs (outputs; a
forward chunk's block is frozen, and a workspace that still holds it skips the copy),
and one flat index per chunk that reads its nonzeros straight out of the dual buffer;
no tangent, output value or sweep result is copied on the way. The reference engine, and
a graph where the fast path does not apply (a nonzero read in an inactive output, seeds
too large to keep), take the general path: per-variable tangents in, per-variable
results out, then the nonzeros taken from them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ad.ir import Graph, Var
from ad.kernels import run
from ad.kernels.program import Program

#: Memory allowed for the tangent (adjoint) buffer of one batched sweep: about
#: 8 bytes x value slots x directions.
MAX_SWEEP_BYTES = 2**28
#: Most directions per sweep when their buffer exceeds ``CACHE_BYTES`` (see the
#: module docstring); below it all colours share one sweep.
MAX_WIDTH = 32
CACHE_BYTES = 2**21
#: Seed arrays of a plan are kept for reuse up to this many bytes (else rebuilt per call).
MAX_SEED_BYTES = 2**26


def sweep(
    graph: Graph,
    xs: Sequence[Any],
    seeds: Sequence[Any],
    mode: str,
    engine: str = "compiled",
    direct: Direct | None = None,
) -> list[np.ndarray]:
    """One batched sweep: the only place where :mod:`ad.sparse` calls the engines.

    ``mode="forward"``: ``seeds`` are tangents ``(p,) + input.shape`` per input (None:
    zero), the result the output tangents ``(p,) + output.shape``. ``"reverse"``:
    cotangents ``(q,) + output.shape`` per output, the result ``(q,) + input.shape``
    per input. With ``direct`` (the compiled engine's fast path, ``seeds`` unused):
    the result is ``[nonzeros]``, the entries ``direct.index`` of the dual buffer.
    """
    if direct is not None:
        take = run.jvp_take if mode == "forward" else run.vjp_take
        return [take(direct.prog, xs, direct.rows, direct.index)]
    from ad import engine as eng

    if mode == "forward":
        return eng.run_jvp(graph, xs, seeds, engine)[1]
    return eng.run_vjp(graph, xs, seeds, engine)[1]


def slots(graph: Graph) -> int:
    """Scalar value slots of a graph (what one direction of a sweep stores)."""
    return sum(v.size for v in graph.variables())


def sweep_width(
    graph: Graph, directions: int, max_bytes: int | None = None, n_slots: int | None = None
) -> int:
    """Directions per sweep: all of them up to :data:`MAX_WIDTH`, else equal chunks of at
    most that many; at most what fits 8 x slots x directions in ``max_bytes`` (default
    :data:`MAX_SWEEP_BYTES`). ``n_slots``: ``slots(graph)``, if the caller has it."""
    limit = MAX_SWEEP_BYTES if max_bytes is None else max_bytes
    per_direction = 8 * max(slots(graph) if n_slots is None else n_slots, 1)
    fit = max(1, int(limit // per_direction))
    if directions > MAX_WIDTH and per_direction * directions > CACHE_BYTES:
        directions = math.ceil(directions / math.ceil(directions / MAX_WIDTH))
    return max(1, min(int(directions), fit))


def _split(flat: np.ndarray, vars_: Sequence[Var]) -> list[np.ndarray | None]:
    """A (p, total) seed block split per variable as (p,) + shape (None if all zero)."""
    out: list[np.ndarray | None] = []
    start, p = 0, flat.shape[0]
    for v in vars_:
        block = flat[:, start : start + v.size]
        start += v.size
        out.append(block.reshape((p,) + v.shape) if block.any() else None)
    return out


@dataclass
class Direct:
    """The compiled engine's fast path of one chunk: its program, its seeds as one
    C-contiguous ``(seeded entries, p)`` block, read-only (row i: the p seeds of
    flattened input i, forward, or output i, reverse) and the flat index of its nonzeros in the
    ``(rows, p)`` dual buffer (:func:`ad.kernels.run.take_index`)."""

    prog: Program
    rows: np.ndarray
    index: np.ndarray


@dataclass
class Chunk:
    """Colours [start, stop) in one sweep: their seeds (None: built per call), which
    nonzeros they give (``sel``; None: all of them, in order) and where each is in the
    flattened (p, L) sweep result (``flat``)."""

    start: int
    stop: int
    seeds: list[np.ndarray | None] | None
    sel: np.ndarray | None
    flat: np.ndarray


@dataclass
class Compression:
    """How to compute every nonzero of a pattern from compressed sweeps.

    ``mode``: the sweep ("forward" or "reverse"); ``colors``: the colour of each
    seeded entry (inputs for forward, outputs for reverse); ``kread[t]`` and
    ``pos[t]``: nonzero t is entry ``pos[t]`` of the sweep result of colour
    ``kread[t]`` (a flat output for forward, a flat input for reverse).
    """

    graph: Graph
    mode: str
    colors: np.ndarray
    n_colors: int
    kread: np.ndarray
    pos: np.ndarray
    width: int
    chunks: list[Chunk] = field(default_factory=list)
    #: per chunk its fast path (``direct()``: built on the first compiled call; False:
    #: the fast path does not apply)
    _direct: list[Direct] | bool | None = field(default=None, repr=False)

    @property
    def sweeps(self) -> int:
        """Number of batched sweeps per evaluation."""
        return len(self.chunks)

    @property
    def seeded(self) -> list[Var]:
        return self.graph.inputs if self.mode == "forward" else self.graph.outputs

    @property
    def result_vars(self) -> list[Var]:
        return self.graph.outputs if self.mode == "forward" else self.graph.inputs

    def build(self) -> Compression:
        """Split the colours into chunks of ``width``; precompute seeds and indices."""
        L = sum(v.size for v in self.result_vars)
        n_seeded = self.colors.size
        c = self.n_colors
        keep_seeds = 8 * c * n_seeded <= MAX_SEED_BYTES
        if c == 0 or self.kread.size == 0:  # nothing depends on the inputs
            self.chunks = []
            return self
        if c <= self.width:
            flat = self.kread * L + self.pos
            self.chunks = [Chunk(0, c, self._seeds(0, c) if keep_seeds else None, None, flat)]
            return self
        perm = np.argsort(self.kread, kind="stable")
        bounds = np.searchsorted(self.kread[perm], np.arange(0, c + self.width, self.width))
        bounds = np.minimum(bounds, perm.size)
        chunks = []
        for k, s in enumerate(range(0, c, self.width)):
            e = min(s + self.width, c)
            sel = perm[bounds[k] : bounds[k + 1]]
            flat = (self.kread[sel] - s) * L + self.pos[sel]
            chunks.append(Chunk(s, e, self._seeds(s, e) if keep_seeds else None, sel, flat))
        self.chunks = chunks
        return self

    def _seed_block(self, start: int, stop: int) -> np.ndarray:
        """The seed matrix of colours [start, stop): (colours, seeded entries)."""
        cols = np.flatnonzero((self.colors >= start) & (self.colors < stop))
        block = np.zeros((stop - start, self.colors.size))
        block[self.colors[cols] - start, cols] = 1.0
        return block

    def _seeds(self, start: int, stop: int) -> list[np.ndarray | None]:
        return _split(self._seed_block(start, stop), self.seeded)

    def direct(self) -> list[Direct] | None:
        """Per chunk the compiled engine's fast path (built once), or None where it does
        not apply: seeds too large to keep (:data:`MAX_SEED_BYTES`, as for ``seeds``) or
        a nonzero that :func:`ad.kernels.run.take_index` cannot locate.

        Its seed blocks take as much memory again as the chunks' ``seeds``."""
        if self._direct is None:
            self._direct = self._build_direct() or False
        return self._direct or None

    def _build_direct(self) -> list[Direct] | None:
        if any(ch.seeds is None for ch in self.chunks):
            return None
        prog = run.compile(self.graph)
        out = []
        for ch in self.chunks:
            sel = slice(None) if ch.sel is None else ch.sel
            p = ch.stop - ch.start
            index = run.take_index(prog, self.mode, self.pos[sel], self.kread[sel] - ch.start, p)
            if index is None:
                return None
            rows = np.array(self._seed_block(ch.start, ch.stop).T, order="C")
            rows.flags.writeable = False  # frozen: a workspace may keep it (Workspace.seeded)
            out.append(Direct(prog, rows, index))
        return out

    def run(self, xs: Sequence[Any], engine: str = "compiled") -> np.ndarray:
        """The nonzeros (in the pattern's order) at ``xs``: one sweep per chunk."""
        one = len(self.chunks) == 1 and self.chunks[0].sel is None  # gives every nonzero
        data = np.zeros(0 if one else self.kread.size)
        fast = self.direct() if engine == "compiled" and self.chunks else None
        for k, ch in enumerate(self.chunks):
            if fast is not None:
                got = sweep(self.graph, xs, (), self.mode, engine, fast[k])[0]
            else:
                seeds = ch.seeds if ch.seeds is not None else self._seeds(ch.start, ch.stop)
                res = sweep(self.graph, xs, seeds, self.mode, engine)
                p = ch.stop - ch.start
                flat = res[0].reshape(-1) if len(res) == 1 else _concat(res, p)
                got = flat.take(ch.flat)
            if ch.sel is None:
                data = got
            else:
                data[ch.sel] = got
        return data


def _concat(res: Sequence[np.ndarray], p: int) -> np.ndarray:
    return np.concatenate([np.reshape(r, (p, -1)) for r in res], axis=1).reshape(-1)


def jacobian_compression(
    graph: Graph,
    rows: np.ndarray,
    cols: np.ndarray,
    colors: np.ndarray,
    mode: str,
    width: int | None = None,
) -> Compression:
    """The compression of a Jacobian pattern (nonzeros at ``rows``, ``cols``) by a
    column colouring (``mode="forward"``) or a row colouring ("reverse")."""
    c = int(colors.max(initial=-1)) + 1
    if mode == "forward":
        kread, pos = colors[cols], rows
    else:
        kread, pos = colors[rows], cols
    w = sweep_width(graph, c) if width is None else max(1, min(int(width), max(c, 1)))
    return Compression(
        graph, mode, colors, c, kread.astype(np.int64), pos.astype(np.int64), w
    ).build()


def star_recovery(
    rows: np.ndarray, cols: np.ndarray, colors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Direct recovery of a symmetric pattern from H S with a star colouring: for each
    nonzero (i, j), the colour whose column of H S holds it and the row there.

    H[i, j] = (H S)[i, colour(j)] if j is the only neighbour of i with its colour,
    else (H S)[j, colour(i)] (then i is the hub of the bicoloured star, j a leaf whose
    only neighbour of colour(i) is i). The diagonal is (H S)[i, colour(i)].
    """
    k = int(colors.max(initial=0)) + 1
    key = rows.astype(np.int64) * k + colors[cols]
    _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    direct = (counts[inv] == 1) | (rows == cols)
    kread = np.where(direct, colors[cols], colors[rows])
    pos = np.where(direct, rows, cols)
    if not direct.all():  # the fallback must itself be unambiguous (star property)
        key2 = cols.astype(np.int64) * k + colors[rows]
        _, inv2, counts2 = np.unique(key2, return_inverse=True, return_counts=True)
        if np.any((counts2[inv2] != 1) & ~direct):
            raise ValueError("the colouring is not a star colouring of this pattern")
    return kread.astype(np.int64), pos.astype(np.int64)


def hessian_compression(
    grad_graph: Graph,
    rows: np.ndarray,
    cols: np.ndarray,
    colors: np.ndarray,
    width: int | None = None,
) -> Compression:
    """Forward sweeps over the gradient graph with a star colouring's seeds."""
    kread, pos = star_recovery(rows, cols, colors)
    c = int(colors.max(initial=-1)) + 1
    w = sweep_width(grad_graph, c) if width is None else max(1, min(int(width), max(c, 1)))
    return Compression(grad_graph, "forward", colors, c, kread, pos, w).build()


def identity(n: int) -> np.ndarray:
    """The colouring of the dense modes: every column (row) its own colour."""
    return np.arange(n, dtype=np.int64)


def n_sweeps(colors: int, width: int) -> int:
    return math.ceil(colors / max(width, 1)) if colors else 0
