"""Sparsity detection on the Graph: index sets propagated through the Wengert list.

Every variable of the Graph gets a :class:`Pattern`: for each of its entries (C order),
the set of graph inputs (flattened and concatenated, columns 0..n-1) that entry may
depend on, stored as CSR arrays (``indptr``, ``indices``; rows sorted, no repeats). An
input's pattern is the identity, a constant's is empty, and each equation's output
pattern follows from its operands' by the primitive's own rule, declared in its block
of ``ad/primitives/*.py`` with :func:`ad.primitives.core.defsparsity` (elementwise:
entry k depends on entry k of every operand; ``gather`` / ``scatter_add``: by their
index maps; ``matmul``: row and column unions; matrix functions: dense). The pattern of
the outputs is the Jacobian's sparsity pattern, as a ``scipy.sparse`` CSR array.

The analysis is conservative: a rule may add a dependency whose derivative happens to
vanish (``x - x``, ``max`` away from its argmax), never drop one. It is exact for the
primitives whose derivative is generically nonzero on their index maps, which covers
the benchmark's families. Like the Graph, the pattern is that of the control flow
taken when the function was traced (``np.where`` masks and indices are concrete).

The set operations are Numba kernels over CSR arrays, so a banded pattern with 10^5
rows costs a few milliseconds per equation. Rules use them through :class:`Ops`
(``S`` in a rule's signature): ``take`` (a gather), ``add_into`` (a scatter-add),
``union``, ``pairs`` (an arbitrary list of (output entry, operand entry) pairs, a
linear map) and ``nonzero`` (where a constant operand is nonzero). ``take``,
``add_into`` and ``pairs`` know an output entry is exactly zero where it reads only
known zeros, so a product with it (``S.product``) drops the other factor's
dependencies: the adjoints of a gradient graph are zero-padded, and the Hessian
pattern is exact only if those zeros survive the sums (``M^T y_bar``) they go through.

Hessian patterns (:func:`hessian_pattern`) are the Jacobian pattern of the gradient
graph (:func:`ad.reverse.gradient_graph`), made symmetric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from ad.errors import GraphError, ShapeError
from ad.ir import Graph
from ad.primitives.core import DENSE, ELEMENTWISE

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)


# ----------------------------------------------------------------------------------
# Kernels on CSR index sets (int64 indptr / indices, rows sorted and unique)
# ----------------------------------------------------------------------------------


@_jit
def _take_rows(indptr, indices, src):
    """Row r of the result is row src[r] of the input (empty where src[r] < 0)."""
    n = src.shape[0]
    ptr = np.empty(n + 1, np.int64)
    ptr[0] = 0
    for r in range(n):
        s = src[r]
        ptr[r + 1] = ptr[r] + (indptr[s + 1] - indptr[s] if s >= 0 else 0)
    out = np.empty(ptr[n], np.int64)
    for r in range(n):
        s = src[r]
        if s >= 0:
            a = indptr[s]
            o = ptr[r]
            for t in range(indptr[s + 1] - a):
                out[o + t] = indices[a + t]
    return ptr, out


@_jit
def _union2(pa, ia, pb, ib):
    """Row-wise union of two patterns with equal row counts (sorted merge)."""
    n = pa.shape[0] - 1
    ptr = np.empty(n + 1, np.int64)
    out = np.empty(ia.shape[0] + ib.shape[0], np.int64)
    ptr[0] = 0
    o = 0
    for r in range(n):
        i, i_end, j, j_end = pa[r], pa[r + 1], pb[r], pb[r + 1]
        while i < i_end and j < j_end:
            x, y = ia[i], ib[j]
            if x < y:
                out[o] = x
                i += 1
            elif y < x:
                out[o] = y
                j += 1
            else:
                out[o] = x
                i += 1
                j += 1
            o += 1
        while i < i_end:
            out[o] = ia[i]
            i += 1
            o += 1
        while j < j_end:
            out[o] = ib[j]
            j += 1
            o += 1
        ptr[r + 1] = o
    return ptr, out[:o].copy()


@_jit
def _sort_small(a, lo, hi):
    if hi - lo > 32:
        a[lo:hi] = np.sort(a[lo:hi])
        return
    for i in range(lo + 1, hi):
        v = a[i]
        j = i - 1
        while j >= lo and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@_jit
def _combine(sel_ptr, sel_idx, indptr, indices, mark, stamp):
    """Row r of the result = union of the input rows sel_idx[sel_ptr[r]:sel_ptr[r+1]]:
    a boolean sparse product, with ``mark`` (one int64 per column, values below
    ``stamp``) as the set-membership scratch. Returns (ptr, indices, next stamp)."""
    n = sel_ptr.shape[0] - 1
    ptr = np.empty(n + 1, np.int64)
    ptr[0] = 0
    for r in range(n):  # count
        s = stamp + r
        k = 0
        for t in range(sel_ptr[r], sel_ptr[r + 1]):
            row = sel_idx[t]
            for u in range(indptr[row], indptr[row + 1]):
                col = indices[u]
                if mark[col] != s:
                    mark[col] = s
                    k += 1
        ptr[r + 1] = ptr[r] + k
    stamp += n
    out = np.empty(ptr[n], np.int64)
    n_cols = mark.shape[0]
    for r in range(n):  # fill, then sort the row
        s = stamp + r
        o = ptr[r]
        for t in range(sel_ptr[r], sel_ptr[r + 1]):
            row = sel_idx[t]
            for u in range(indptr[row], indptr[row + 1]):
                col = indices[u]
                if mark[col] != s:
                    mark[col] = s
                    out[o] = col
                    o += 1
        if (o - ptr[r]) * 16 > n_cols:  # a dense row: read it off the marks, in order
            o = ptr[r]
            for col in range(n_cols):
                if mark[col] == s:
                    out[o] = col
                    o += 1
        else:
            _sort_small(out, ptr[r], o)
    return ptr, out, stamp + n


@_jit
def _stacked_rows(flat, sizes, nb):
    """Rows of the operands stacked one after the other (operand i: nb * sizes[i] rows,
    batch-major) read by out[b, k] = concat(x_i[b])[flat[k]] (-1 where flat[k] < 0)."""
    k_n = flat.shape[0]
    n_ops = sizes.shape[0]
    lo = np.zeros(n_ops + 1, np.int64)
    off = np.zeros(n_ops + 1, np.int64)
    for i in range(n_ops):
        lo[i + 1] = lo[i] + sizes[i]
        off[i + 1] = off[i] + sizes[i] * nb
    src = np.empty(nb * k_n, np.int64)
    for k in range(k_n):
        g = flat[k]
        if g < 0:
            for b in range(nb):
                src[b * k_n + k] = -1
            continue
        i = 0
        while g >= lo[i + 1]:
            i += 1
        for b in range(nb):
            src[b * k_n + k] = off[i] + b * sizes[i] + g - lo[i]
    return src


@_jit
def _is_range(a):
    for k in range(a.shape[0]):
        if a[k] != k:
            return False
    return True


@_jit
def _inverse(targets, n_out):
    """inv[j] = the k with targets[k] == j (-1: none), and whether the map is
    injective (no j hit twice; then inv is complete)."""
    inv = np.full(n_out, -1, np.int64)
    for k in range(targets.shape[0]):
        t = targets[k]
        if t >= 0:
            if inv[t] >= 0:
                return inv, False
            inv[t] = k
    return inv, True


@_jit
def _group(targets, n_out):
    """CSR of the inverse map: row j lists the k with targets[k] == j (k ascending)."""
    ptr = np.zeros(n_out + 1, np.int64)
    for k in range(targets.shape[0]):
        t = targets[k]
        if t >= 0:
            ptr[t + 1] += 1
    for j in range(n_out):
        ptr[j + 1] += ptr[j]
    fill = ptr[:-1].copy()
    idx = np.empty(ptr[n_out], np.int64)
    for k in range(targets.shape[0]):
        t = targets[k]
        if t >= 0:
            idx[fill[t]] = k
            fill[t] += 1
    return ptr, idx


# ----------------------------------------------------------------------------------
# Patterns and the operations rules are written with
# ----------------------------------------------------------------------------------

_EMPTY = np.zeros(0, np.int64)


class Pattern:
    """The dependency sets of one variable: CSR arrays over its entries (C order), or
    ``indptr is None`` for a constant (no dependency; ``value()`` gives its value).

    ``zero`` (flat boolean, or None) marks entries known to be exactly zero: their rows
    are empty, and a product with them contributes no dependency (the zero-padded
    adjoints of a gradient graph, the off-diagonal of ``np.diag(v)``)."""

    __slots__ = ("shape", "size", "indptr", "indices", "_value", "zero", "_zero_known")

    def __init__(
        self,
        shape: tuple[int, ...],
        indptr: np.ndarray | None = None,
        indices: np.ndarray | None = None,
        value: Any = None,
        zero: np.ndarray | None = None,
    ):
        self.shape = tuple(int(d) for d in shape)
        self.size = math.prod(self.shape)
        self.indptr = indptr
        self.indices = indices
        self._value = value
        self.zero = zero if zero is not None and zero.any() else None  # None: none known
        self._zero_known = zero is not None or indptr is not None

    @property
    def constant(self) -> bool:
        """True if no entry depends on an input."""
        return self.indptr is None

    @property
    def nnz(self) -> int:
        return 0 if self.indptr is None else int(self.indptr[-1])

    def value(self) -> np.ndarray | None:
        """The constant's value (computed on first use), or None if unknown."""
        v = self._value
        if callable(v):
            v = self._value = v()
        if v is None and self.zero is not None and self.zero.all():
            v = self._value = np.zeros(self.shape)
        return v

    def __repr__(self) -> str:
        kind = "constant" if self.constant else f"nnz={self.nnz}"
        return f"<Pattern shape={self.shape} {kind}>"


def _csr(p: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) of a pattern; a constant has empty rows."""
    if p.indptr is None:
        return np.zeros(p.size + 1, np.int64), _EMPTY
    return p.indptr, p.indices


class Ops:
    """The operations a sparsity rule is written with (``S`` in its signature).

    Every operation takes and returns :class:`Pattern` objects; a result is constant
    when nothing it reads depends on an input.
    """

    def __init__(self, n_cols: int):
        self.n_cols = int(n_cols)
        self._mark = np.full(max(self.n_cols, 1), -1, np.int64)
        self._stamp = 0

    # -- constructors ---------------------------------------------------------------
    def constant(self, shape: tuple[int, ...] | int, value: Any = None) -> Pattern:
        """A pattern with no dependency (a constant, of known value if given)."""
        return Pattern(_shape(shape), value=value)

    def _combine(
        self, shape: tuple[int, ...], sel_ptr, sel_idx, src: Pattern, zero: np.ndarray | None = None
    ) -> Pattern:
        ptr, idx, self._stamp = _combine(
            sel_ptr, sel_idx, src.indptr, src.indices, self._mark, self._stamp
        )
        return Pattern(shape, ptr, idx, zero=zero) if idx.size else Pattern(shape, zero=zero)

    # -- known zeros ------------------------------------------------------------------
    def zeros(self, x: Pattern) -> np.ndarray | None:
        """Flat boolean mask of the entries of x known to be exactly zero (None: none
        known). A constant's come from its value (computed on first use)."""
        if x._zero_known:  # variables: from the rules; constants: computed once
            return x.zero
        x._zero_known = True
        v = x.value()
        if v is None:
            return None
        try:
            z = np.broadcast_to(np.asarray(v) == 0, x.shape).reshape(-1)
        except (TypeError, ValueError):  # a traced constant: value unknown here
            return None
        x.zero = z if z.any() else None
        return x.zero

    def nonzero(self, x: Pattern) -> np.ndarray:
        """Boolean array of x's shape: False where x is known to be zero."""
        z = self.zeros(x)
        return np.ones(x.shape, dtype=bool) if z is None else ~z.reshape(x.shape)

    def where_zero(self, p: Pattern, mask: np.ndarray | None) -> Pattern:
        """``p`` with the entries in ``mask`` (flat boolean) known zero, rows emptied."""
        if mask is None or not mask.any():
            return p
        if p.constant:
            return Pattern(p.shape, zero=mask)
        lengths = np.diff(p.indptr)
        if not lengths[mask].any():  # those rows are empty already
            return Pattern(p.shape, p.indptr, p.indices, zero=mask)
        keep = ~mask
        ptr = np.concatenate([[0], np.cumsum(lengths * keep)]).astype(np.int64)
        idx = p.indices[np.repeat(keep, lengths)]
        return Pattern(p.shape, ptr, idx, zero=mask) if idx.size else Pattern(p.shape, zero=mask)

    def linear(self, *xs: Pattern) -> Pattern:
        """Elementwise and zero where every operand is zero (add, sub, neg)."""
        masks = [self.zeros(x) for x in xs]
        out = self.union(*xs)
        if any(m is None for m in masks):
            return out
        both = masks[0]
        for m in masks[1:]:
            both = both & m
        # the rows there are empty already (known zeros have no dependencies)
        return Pattern(out.shape, out.indptr, out.indices, zero=both)

    def product(self, *xs: Pattern) -> Pattern:
        """Elementwise and zero where any operand is zero (mul, x ** n): a zero factor
        also removes the other factors' dependencies (d(x y) = y dx + x dy)."""
        either = None
        for x in xs:
            m = self.zeros(x)
            if m is not None:
                either = m if either is None else (either | m)
        return self.where_zero(self.union(*xs), either)

    def quotient(self, x: Pattern, y: Pattern) -> Pattern:
        """Elementwise x / y: zero where x is zero (then y's dependencies vanish too)."""
        return self.where_zero(self.union(x, y), self.zeros(x))

    # -- the operations -----------------------------------------------------------------
    def union(self, *xs: Pattern) -> Pattern:
        """Elementwise: entry k depends on entry k of every operand (equal shapes)."""
        live = [x for x in xs if not x.constant]
        shape = xs[0].shape
        for x in xs:
            if x.shape != shape:
                raise ShapeError(f"sparsity union of shapes {[x.shape for x in xs]}")
        if not live:
            return Pattern(shape)
        out = live[0]
        for x in live[1:]:
            if x.indptr is out.indptr and x.indices is out.indices:
                continue
            ptr, idx = _union2(out.indptr, out.indices, x.indptr, x.indices)
            out = Pattern(shape, ptr, idx)
        if out.shape == shape and out.zero is None:
            return out
        return Pattern(shape, out.indptr, out.indices)  # f(0, ...) need not be 0

    def take(
        self, xs: Sequence[Pattern], idx: np.ndarray, in_ndims: int | Sequence[int] | None = None
    ) -> Pattern:
        """The gather: ``out[..., k] = concat(ravel(xs))[..., idx[k]]`` (-1: none), where
        each operand's last ``in_ndims`` axes are its core and leading axes a batch."""
        xs = list(xs)
        idx = np.asarray(idx, dtype=np.int64)
        if in_ndims is None:
            nds = [len(x.shape) for x in xs]
        elif isinstance(in_ndims, (int, np.integer)):
            nds = [int(in_ndims)] * len(xs)
        else:
            nds = [int(d) for d in in_ndims]
        batch = xs[0].shape[: len(xs[0].shape) - nds[0]]
        shape = batch + idx.shape
        if all(x.constant for x in xs):
            return Pattern(shape)
        nb = math.prod(batch)
        sizes = np.array([math.prod(x.shape[len(x.shape) - d :]) for x, d in zip(xs, nds)])
        flat = idx.reshape(-1)
        if len(xs) == 1 and nb == 1 and flat.size == xs[0].size and _is_range(flat):
            x = xs[0]  # a reshape: the same rows
            return Pattern(shape, x.indptr, x.indices, zero=x.zero)
        if len(xs) == 1 and nb == 1:
            src, base = flat, xs[0]
        else:  # stack the operands' rows; map (batch b, source g) to a stacked row
            src = _stacked_rows(flat, sizes.astype(np.int64), nb)
            base = self._stack(xs)
        ptr, out = _take_rows(base.indptr, base.indices, src)
        zero = self._take_zeros(xs, src, nb * sizes)
        return Pattern(shape, ptr, out, zero=zero) if out.size else Pattern(shape, zero=zero)

    def _take_zeros(self, xs: Sequence[Pattern], src: np.ndarray, sizes: np.ndarray):
        """Known zeros of a gather: the -1 entries and the known zeros it reads."""
        masks = [self.zeros(x) for x in xs]
        if all(m is None for m in masks):
            if src.size == 0 or src.min() >= 0:
                return None
            return src < 0
        missing = src < 0
        stacked = np.concatenate(
            [np.zeros(int(s), bool) if m is None else m for m, s in zip(masks, sizes)]
        )
        zero = np.where(missing, True, stacked[np.where(missing, 0, src)])
        return zero if zero.any() else None

    def add_into(self, x: Pattern, idx: np.ndarray, out_shape: tuple[int, ...] | int) -> Pattern:
        """The scatter-add: ``out[..., j]`` depends on every ``x[..., k]`` with
        ``idx[k] == j`` (-1: dropped); x's last ``idx.ndim`` axes are the core."""
        idx = np.asarray(idx, dtype=np.int64)
        core = _shape(out_shape)
        batch = x.shape[: len(x.shape) - idx.ndim]
        shape = batch + core
        if x.constant:
            return Pattern(shape)
        nb, size = math.prod(batch), math.prod(core)
        flat = idx.reshape(-1)
        if nb == 1:
            targets = flat
        else:
            targets = flat[None, :] + size * np.arange(nb)[:, None]
            targets = np.where(flat[None, :] >= 0, targets, -1).reshape(-1)
        z = self.zeros(x)
        inv, injective = _inverse(targets, nb * size)
        if injective:  # each cell receives at most one entry: a gather (padding adjoints)
            ptr, out_idx = _take_rows(x.indptr, x.indices, inv)
            zero = inv < 0
            if z is not None:
                zero |= z[np.maximum(inv, 0)] & ~zero
        else:
            sel_ptr, sel_idx = _group(targets, nb * size)
            ptr, out_idx, self._stamp = _combine(
                sel_ptr, sel_idx, x.indptr, x.indices, self._mark, self._stamp
            )
            live = targets >= 0 if z is None else (targets >= 0) & ~z
            zero = np.bincount(targets[live], minlength=nb * size) == 0
        # known zeros: the cells no nonzero entry is added into
        if not out_idx.size:
            return Pattern(shape, zero=zero)
        return Pattern(shape, ptr, out_idx, zero=zero)

    def pairs(
        self, out_shape: tuple[int, ...] | int, out_idx: np.ndarray, x: Pattern, src_idx: np.ndarray
    ) -> Pattern:
        """Output entry ``out_idx[t]`` depends on entry ``src_idx[t]`` of ``x``, for all t
        (flat indices): any linear index map, e.g. a product with a constant matrix.

        An output entry is a sum over its pairs, so it is known zero where every entry it
        reads is (or it reads none): its row is empty then (the invariant of known
        zeros). Pairs are a linear map of x; a caller may leave out pairs whose
        coefficient is known zero (``matmul`` skips the zeros of the other factor)."""
        shape = _shape(out_shape)
        if x.constant:
            return Pattern(shape)
        size = math.prod(shape)
        out_idx = np.asarray(out_idx, dtype=np.int64).reshape(-1)
        src_idx = np.asarray(src_idx, dtype=np.int64).reshape(-1)
        z = self.zeros(x)
        live = out_idx >= 0 if z is None else (out_idx >= 0) & ~z[src_idx]
        zero = np.bincount(out_idx[live], minlength=size) == 0
        sel_ptr, order = _group(out_idx, size)
        return self._combine(shape, sel_ptr, src_idx[order], x, zero)

    def dense(self, xs: Sequence[Pattern], shapes: Sequence[tuple[int, ...]]) -> list[Pattern]:
        """Every output entry depends on every operand entry (matrix functions)."""
        live = [x for x in xs if not x.constant]
        if not live:
            return [Pattern(s) for s in shapes]
        base = self._stack(live)
        rows = base.indptr.shape[0] - 1
        one = self._combine((1,), np.array([0, rows]), np.arange(rows), base)
        out = []
        for s in shapes:
            if one.constant:
                out.append(Pattern(s))
                continue
            ptr, idx = _take_rows(one.indptr, one.indices, np.zeros(math.prod(s), np.int64))
            out.append(Pattern(s, ptr, idx))
        return out

    def _stack(self, xs: Sequence[Pattern]) -> Pattern:
        """The operands' rows one after the other (one pattern)."""
        if len(xs) == 1 and not xs[0].constant:
            return xs[0]
        parts = [_csr(x) for x in xs]
        ends = np.cumsum([0] + [p[0][-1] for p in parts])
        ptr = np.concatenate([[0]] + [p[0][1:] + e for p, e in zip(parts, ends)])
        idx = np.concatenate([p[1] for p in parts])
        return Pattern((int(ptr.size - 1),), ptr.astype(np.int64), idx)


def _shape(shape: tuple[int, ...] | int) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


# ----------------------------------------------------------------------------------
# Propagation through the Wengert list
# ----------------------------------------------------------------------------------


def _identity(shape: tuple[int, ...], offset: int) -> Pattern:
    size = math.prod(shape)
    return Pattern(
        shape, np.arange(size + 1, dtype=np.int64), np.arange(size, dtype=np.int64) + offset
    )


def _constant_value(prim: Any, ins: list[Pattern], params: dict[str, Any], k: int) -> Callable:
    """A thunk evaluating a constant-only equation (used only if a rule asks)."""

    def value() -> Any:
        vals = [p.value() for p in ins]
        if any(v is None for v in vals):
            return None
        out = prim.impl(*vals, **params)
        return out[k] if prim.n_out > 1 else out

    return value


def _apply(S: Ops, eqn: Any, ins: list[Pattern]) -> list[Pattern]:
    prim = eqn.prim
    shapes = [v.shape for v in eqn.outputs]
    if all(p.constant for p in ins):
        return [
            Pattern(s, value=_constant_value(prim, ins, eqn.params, k))
            for k, s in enumerate(shapes)
        ]
    rule = prim.sparsity
    if rule == ELEMENTWISE:
        outs = [S.union(*ins)]
    elif rule is None or rule == DENSE:
        outs = S.dense(ins, shapes)
    else:
        got = rule(S, *ins, **eqn.params)
        outs = list(got) if isinstance(got, (tuple, list)) else [got]
    if [p.shape for p in outs] != shapes:
        raise GraphError(
            f"the sparsity rule of '{prim.name}' returned shapes {[p.shape for p in outs]}, "
            f"the equation has {shapes} (see defsparsity in ad/primitives)"
        )
    return outs


def propagate(graph: Graph) -> list[Pattern]:
    """The pattern of every output of ``graph`` (one per output, in order).

    Columns are the graph's inputs flattened and concatenated. Patterns of variables
    no later equation reads are dropped as the sweep goes (memory stays bounded by
    the live variables). Example::

        (p,) = propagate(ad.trace(lambda x: x[1:] * x[:-1], np.ones(5)))
        p.indptr, p.indices          # row i: columns i, i + 1
    """
    S = Ops(graph.n_in)
    env: dict[int, Pattern] = {}
    offset = 0
    for v in graph.inputs:
        env[v.id] = _identity(v.shape, offset)
        offset += v.size
    for v in graph.consts:
        env[v.id] = Pattern(v.shape, value=graph.const_values[v.id])
    keep = {v.id for v in graph.outputs}
    live, _ = graph.needed(keep)  # equations no output depends on are skipped
    last: dict[int, int] = {}
    for i, e in enumerate(graph.eqns):
        if live[i]:
            for v in e.inputs:
                last[v.id] = i
    for i, e in enumerate(graph.eqns):
        if not live[i]:
            continue
        ins = [env[v.id] for v in e.inputs]
        for v, p in zip(e.outputs, _apply(S, e, ins)):
            env[v.id] = p
        for v in e.inputs:
            if last.get(v.id) == i and v.id not in keep:
                env.pop(v.id, None)
    return [env[v.id] for v in graph.outputs]


def to_csr(patterns: Sequence[Pattern], n_cols: int) -> sp.csr_array:
    """The patterns' rows stacked into one boolean ``scipy.sparse.csr_array``."""
    parts = [_csr(p) for p in patterns]
    ends = np.cumsum([0] + [p[0][-1] for p in parts])
    ptr = np.concatenate([[0]] + [p[0][1:] + e for p, e in zip(parts, ends)]).astype(np.int64)
    idx = np.concatenate([p[1] for p in parts]) if parts else _EMPTY
    m = int(ptr.size - 1)
    out = sp.csr_array((np.ones(idx.size, dtype=bool), idx, ptr), shape=(m, int(n_cols)))
    out.has_sorted_indices = True
    return out


def jacobian_pattern(graph: Graph) -> sp.csr_array:
    """The Jacobian sparsity pattern of ``graph``: a boolean CSR array of shape (m, n),
    rows the outputs and columns the inputs, each flattened and concatenated."""
    return to_csr(propagate(graph), graph.n_in)


def symmetrize(pattern: sp.csr_array) -> sp.csr_array:
    """P or P^T, as a boolean CSR array with sorted indices."""
    sym = (pattern + pattern.T).tocsr().astype(bool)
    sym.sort_indices()
    return sym


def hessian_pattern(graph: Graph, args: Any) -> tuple[sp.csr_array, Graph]:
    """The Hessian pattern of a scalar-output graph, and the gradient graph it came
    from: the Jacobian pattern of :func:`ad.reverse.gradient_graph`, made symmetric."""
    from ad.reverse import gradient_graph

    grad = gradient_graph(graph, args)
    return symmetrize(jacobian_pattern(grad)), grad
