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
rows costs a few milliseconds per equation. Patterns with at most a few entries per row
(inputs, slices, pads, concatenations, elementwise functions of a few of them: the
variables of a stencil or banded residual) are kept as a table of columns per entry
instead, and their gathers and unions are passes over its lines.

Rules use them through :class:`Ops` (``S`` in a rule's signature): ``take`` (a
gather), ``add_into`` (a scatter-add), ``union``, ``pairs`` (an arbitrary list of
(output entry, operand entry) pairs, a linear map) and ``nonzero`` (where a constant
operand is nonzero). ``take``,
``add_into`` and ``pairs`` know an output entry is exactly zero where it reads only
known zeros, so a product with it (``S.product``) drops the other factor's
dependencies: the adjoints of a gradient graph are zero-padded, and the Hessian
pattern is exact only if those zeros survive the sums (``M^T y_bar``) they go through.

Hessian patterns (:func:`hessian_pattern`) are the Jacobian pattern of the gradient
graph (:func:`ad.reverse.gradient_graph`), made symmetric.
"""

from __future__ import annotations

import copy
import functools
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
def entry_rows(indptr):
    """The row of every entry of CSR arrays with row pointers ``indptr`` (int64): a
    one at each row's first entry, then a running sum (no loop per row: a row of a
    few entries cost a loop's set-up each, 1.7-2.2x the time at 3 entries per row)."""
    out = np.zeros(indptr[-1] + 1, np.int64)
    for r in range(1, indptr.shape[0] - 1):
        out[indptr[r]] += 1  # empty rows add up at one entry
    for t in range(1, out.shape[0]):
        out[t] += out[t - 1]
    return out[:-1]


@_jit
def _run(src):
    """(lead, first, count) if src is lead entries -1, then first, first + 1, ...,
    first + count - 1, then only -1 (a slice or a padding); count = -1 if not."""
    n = src.shape[0]
    lead = 0
    while lead < n and src[lead] < 0:
        lead += 1
    if lead == n:
        return lead, 0, 0
    first = src[lead]
    k = lead
    while k < n and src[k] == first + (k - lead):
        k += 1
    for t in range(k, n):
        if src[t] >= 0:
            return lead, first, -1
    return lead, first, k - lead


def _gather_rows(base: Pattern, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR arrays whose row r is row src[r] of ``base`` (empty where src[r] < 0). A
    contiguous run of rows (a slice, a padding) shares ``base``'s indices."""
    lead, first, count = _run(src)
    if count < 0:
        return _take_rows(base.indptr, base.indices, src)
    bp = base.indptr
    ptr = np.empty(src.shape[0] + 1, np.int64)
    ptr[: lead + 1] = 0
    ptr[lead + 1 : lead + count + 1] = bp[first + 1 : first + count + 1] - bp[first]
    ptr[lead + count + 1 :] = bp[first + count] - bp[first]
    return ptr, base.indices[bp[first] : bp[first + count]]


@_jit
def _union2(pa, ia, pb, ib):
    """Row-wise union of two patterns with equal row counts (sorted merge). The
    indices are a view of a buffer of both inputs' length (no copy to the exact size:
    63 -> 56 us for the last union of the Rosenbrock Hessian's detection at 10^4)."""
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
    return ptr, out[:o]


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


def _table_csr(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR arrays (int64) of an entry-column table (K x n, any signed integer type:
    entry r depends on the columns ``cols[:, r]`` that are >= 0, distinct), each row
    sorted. See :func:`_table_csr_kernel`."""
    cols = np.ascontiguousarray(cols)
    return _table_csr_kernel(cols, cols.view(cols.dtype.str.replace("i", "u")))


@_jit
def _table_csr_kernel(cols, unsigned):
    """:func:`_table_csr` on ``cols`` and the same table read as unsigned integers.

    Every pass runs over whole lines, so none loops per entry over its few columns
    (an insertion sort per entry took 1.5x the time on the Laplacian: K = 5, n = 10^4):
    - a sorting network across the lines (odd-even transposition, compare-exchange of
      two lines per pass) on a copy of ``unsigned``, where -1 (no column) is the
      largest: each entry's columns come first, ascending;
    - line q then goes to position ptr[r] + q of every entry r, written for all r
      without a test, lines from the last to the first: a write past an entry's own
      columns lands on a later entry's slot of a lower line (or the same line, a
      later entry), which is written after it; K spare slots take the writes past
      the end. (Those overwritten writes carry -1 read as unsigned; only columns,
      which are below 2^31, land in the result.)"""
    K, n = cols.shape
    u = unsigned.copy()
    for rnd in range(K):
        for i in range(rnd % 2, K - 1, 2):
            a, b = u[i], u[i + 1]
            for r in range(n):
                x, y = a[r], b[r]
                a[r] = min(x, y)
                b[r] = max(x, y)
    ptr = np.zeros(n + 1, np.int64)
    for q in range(K):
        line = cols[q]
        for r in range(n):
            ptr[r + 1] += line[r] >= 0
    for r in range(n):
        ptr[r + 1] += ptr[r]
    idx = np.empty(ptr[n] + K, np.int64)
    for q in range(K - 1, -1, -1):
        line = u[q]
        for r in range(n):
            idx[ptr[r] + q] = line[r]
    return ptr, idx[: ptr[n]]


@_jit
def _take_table(cols, src):
    """A gather of an entry-column table: entry r is entry src[r] (-1: empty); and
    whether any entry has a column."""
    out = np.empty((cols.shape[0], src.shape[0]), cols.dtype)
    top = -1
    for q in range(cols.shape[0]):
        row, o = cols[q], out[q]
        for r in range(src.shape[0]):
            s = src[r]
            c = row[s] if s >= 0 else -1
            o[r] = c
            top = max(top, c)
    return out, top >= 0


@_jit
def _take_mask(mask, src):
    """The gather of a boolean mask, True where src < 0; and whether any is True."""
    out = np.empty(src.shape[0], np.bool_)
    known = False
    for r in range(src.shape[0]):
        s = src[r]
        z = True if s < 0 else mask[s]
        out[r] = z
        known |= z  # no branch: the loop vectorises
    return out, known


@_jit
def _union_tables(a, b):
    """Row-wise union of two entry-column tables (Ka x n, Kb x n): a's lines, then
    b's with the columns already in a's entry dropped (-1). A line of b with columns
    left goes into the holes of a line already there if it fits (the lone corner
    entry of a tridiagonal Hessian's third line), else is appended. ``a`` itself when
    b adds nothing. Each pass runs over whole lines, so the loops vectorise (no loop
    per entry over its few columns); b's lines are reduced in place in the result,
    one pass per line of a, so a line that stays where it lands is not copied."""
    ka, n = a.shape
    kb = b.shape[0]
    out = np.empty((ka + kb, n), a.dtype)
    extra = ka  # b's reduced lines with a column left: out[ka:extra]
    for k in range(kb):
        e = out[extra]
        for q in range(ka - 1):  # the first pass reads b's line, the others e itself
            src, aq = b[k] if q == 0 else e, a[q]
            for r in range(n):
                v = src[r]
                e[r] = -1 if aq[r] == v else v
        src, aq = b[k] if ka == 1 else e, a[ka - 1]
        live = False
        for r in range(n):  # the last pass also tells whether a column is left
            v = src[r]
            v = -1 if aq[r] == v else v
            e[r] = v
            live |= v >= 0
        if live:
            extra += 1
    if extra == ka:
        return a
    for q in range(ka):  # (a loop: Numba's slice assignment took twice the time)
        line, aq = out[q], a[q]
        for r in range(n):
            line[r] = aq[r]
    lines = ka
    for j in range(ka, extra):
        e = out[j]
        into = lines
        for q in range(lines):
            fits = True
            line = out[q]
            for r in range(n):
                if e[r] >= 0 and line[r] >= 0:
                    fits = False
                    break
            if fits:
                into = q
                break
        if into < lines:
            line = out[into]
            for r in range(n):
                line[r] = e[r] if e[r] >= 0 else line[r]
        else:
            if j != lines:
                line = out[lines]
                for r in range(n):
                    line[r] = e[r]
            lines += 1
    return out[:lines]


@_jit
def _union_with_single(indptr, indices, col):
    """Row-wise union of a CSR pattern and a one-entry-per-row pattern: the same
    arrays (not copied) when every entry of ``col`` is in its row already."""
    n = indptr.shape[0] - 1
    extra = np.zeros(n, np.bool_)
    k = 0
    for r in range(n):
        c = col[r]
        if c >= 0:
            found = False
            for t in range(indptr[r], indptr[r + 1]):
                if indices[t] == c:
                    found = True
                    break
            if not found:
                extra[r] = True
                k += 1
    if k == 0:
        return indptr, indices
    ptr = np.empty(n + 1, np.int64)
    out = np.empty(indices.shape[0] + k, np.int64)
    ptr[0] = 0
    o = 0
    for r in range(n):
        c = col[r]
        placed = not extra[r]
        for t in range(indptr[r], indptr[r + 1]):
            v = indices[t]
            if not placed and c < v:
                out[o] = c
                o += 1
                placed = True
            out[o] = v
            o += 1
        if not placed:
            out[o] = c
            o += 1
        ptr[r + 1] = o
    return ptr, out


@_jit
def max_column_count(idx, n_cols):
    """The most entries any of the ``n_cols`` columns has (int64 column indices): the
    lower bound of a row colouring (one pass, against three for ``np.bincount``)."""
    count = np.zeros(n_cols, np.int64)
    for t in range(idx.shape[0]):
        count[idx[t]] += 1
    top = 0
    for j in range(n_cols):
        top = max(top, count[j])
    return top


@_jit
def transpose(ptr, idx, n_cols):
    """The transpose of CSR arrays (ptr, idx) with ``n_cols`` columns, i.e. the CSC
    arrays: rows come out sorted (a counting sort by column)."""
    n_rows = ptr.shape[0] - 1
    out_ptr = np.zeros(n_cols + 1, np.int64)
    for t in range(idx.shape[0]):
        out_ptr[idx[t] + 1] += 1
    for j in range(n_cols):
        out_ptr[j + 1] += out_ptr[j]
    fill = out_ptr[:-1].copy()
    out_idx = np.empty(idx.shape[0], np.int64)
    for r in range(n_rows):
        for t in range(ptr[r], ptr[r + 1]):
            j = idx[t]
            out_idx[fill[j]] = r
            fill[j] += 1
    return out_ptr, out_idx


@_jit
def is_symmetric(ptr, idx):
    """True if the square CSR pattern (sorted, unique rows) equals its transpose.

    One pass over the rows in order, no search: row c's entries above the diagonal
    (c, r1 < r2 < ...) must be mirrored by the entries (r1, c), (r2, c), ... that rows
    r1 < r2 < ... hold below theirs, and those arrive in that order. A cursor per row
    points at its next unmatched entry above the diagonal; every entry below the
    diagonal must be where its column's cursor points, and at the end every cursor
    must have reached its row's end (1.3-2x faster than a search per entry above the
    diagonal, on the sparse bench's patterns at n = 10^4)."""
    n = ptr.shape[0] - 1
    cur = np.empty(n, np.int64)
    for r in range(n):
        t, end = ptr[r], ptr[r + 1]
        while t < end and idx[t] < r:
            c = idx[t]
            u = cur[c]
            if u == ptr[c + 1] or idx[u] != r:
                return False
            cur[c] = u + 1
            t += 1
        if t < end and idx[t] == r:
            t += 1
        cur[r] = t
    for r in range(n):
        if cur[r] != ptr[r + 1]:
            return False
    return True


# ----------------------------------------------------------------------------------
# Patterns and the operations rules are written with
# ----------------------------------------------------------------------------------

_EMPTY = np.zeros(0, np.int64)
#: The most lines an entry-column table takes before a union makes it CSR.
TABLE_MAX = 8
#: The integer type of a table's column indices: half the bytes of int64, so the
#: passes over whole lines, which stream them, move half the memory.
TABLE_DTYPE = np.int32
#: Tables hold columns below this (more inputs than that: CSR arrays throughout).
TABLE_LIMIT = int(np.iinfo(TABLE_DTYPE).max)


class Pattern:
    """The dependency sets of one variable: CSR arrays over its entries (C order), or
    none for a constant (no dependency; ``value()`` gives its value).

    A pattern with at most :data:`TABLE_MAX` entries per row (an input, a slice, a pad,
    an elementwise function of a few of them: a stencil) is kept as an entry-column
    table ``cols`` instead, K x size: row k's columns are ``cols[:, k]``, those >= 0,
    distinct, in no order. Gathers and unions of tables are passes over K lines of
    integers that vectorise, not CSR rebuilds with a loop per row of a few entries
    (the Laplacian's four unions of shifted neighbours at n = 10^4: see the README's
    sparse section). ``indptr`` / ``indices`` (rows sorted) are derived on first use.

    ``zero`` (flat boolean, or None) marks entries known to be exactly zero: their rows
    are empty, and a product with them contributes no dependency (the zero-padded
    adjoints of a gradient graph, the off-diagonal of ``np.diag(v)``)."""

    __slots__ = (
        "shape",
        "size",
        "_indptr",
        "_indices",
        "cols",
        "constant",
        "_value",
        "zero",
        "_zero_known",
        "offset",
    )

    def __init__(
        self,
        shape: tuple[int, ...],
        indptr: np.ndarray | None = None,
        indices: np.ndarray | None = None,
        value: Any = None,
        zero: np.ndarray | None = None,
        cols: np.ndarray | None = None,
    ):
        self.shape = shape if type(shape) is tuple else tuple(int(d) for d in shape)
        self.size = math.prod(self.shape)
        self._indptr = indptr
        self._indices = indices
        self.cols = cols
        #: True if no entry depends on an input
        self.constant = indptr is None and cols is None
        self._value = value
        self.zero = zero if zero is not None and zero.any() else None  # None: none known
        self._zero_known = zero is not None or indptr is not None or cols is not None
        #: an input's own pattern: entry k depends on column offset + k (else -1)
        self.offset = -1

    @property
    def indptr(self) -> np.ndarray | None:
        """CSR row pointers (None for a constant)."""
        if self._indptr is None and self.cols is not None:
            self._indptr, self._indices = _table_csr(self.cols)
        return self._indptr

    @property
    def indices(self) -> np.ndarray | None:
        """CSR column indices, sorted within each row (None for a constant)."""
        return None if self.indptr is None else self._indices

    @property
    def nnz(self) -> int:
        if self.cols is not None:
            return int(np.count_nonzero(self.cols >= 0))
        return 0 if self._indptr is None else int(self._indptr[-1])

    def same(self, other: Pattern) -> bool:
        """True if both hold the same index arrays (equal dependency sets)."""
        if self.cols is not None:
            return self.cols is other.cols
        return self._indptr is other._indptr and self._indices is other._indices

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


def _table(
    shape: tuple[int, ...],
    cols: np.ndarray,
    zero: np.ndarray | None = None,
    live: bool | None = None,
) -> Pattern:
    """A pattern held as an entry-column table (constant if every entry is empty;
    ``live``: whether any entry has a column, if known)."""
    if live is None:
        live = bool(cols.size and cols.max() >= 0)
    return Pattern(shape, cols=cols, zero=zero) if live else Pattern(shape, zero=zero)


def _csr(p: Pattern) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) of a pattern; a constant has empty rows."""
    if p.constant:
        return np.zeros(p.size + 1, np.int64), _EMPTY
    return p.indptr, p.indices


class Ops:
    """The operations a sparsity rule is written with (``S`` in its signature).

    Every operation takes and returns :class:`Pattern` objects; a result is constant
    when nothing it reads depends on an input.
    """

    def __init__(self, n_cols: int):
        self.n_cols = int(n_cols)
        self._stamp = 0

    @functools.cached_property
    def _mark(self) -> np.ndarray:
        """The column marks of :func:`_combine` (built on first use: a detection that
        only gathers and unions tables never needs them)."""
        return np.full(max(self.n_cols, 1), -1, np.int64)

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
            a = np.asarray(v)
            if a.size == 1:  # a scalar, maybe broadcast: all zero or none
                x.zero = np.ones(x.size, bool) if x.size and a.reshape(-1)[0] == 0 else None
                return x.zero
            z = a == 0  # (one pass: count_nonzero of floats took twice the time)
            if not z.any():
                return None
            z = np.broadcast_to(z, x.shape).reshape(-1)
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
        if p.cols is not None:
            if not (p.cols[:, mask] >= 0).any():
                return Pattern(p.shape, cols=p.cols, zero=mask)
            cols = p.cols.copy()
            cols[:, mask] = -1
            return _table(p.shape, cols, mask)
        lengths = np.diff(p.indptr)
        if not lengths[mask].any():  # those rows are empty already
            return Pattern(p.shape, p.indptr, p.indices, zero=mask)
        keep = ~mask
        ptr = np.concatenate([[0], np.cumsum(lengths * keep)]).astype(np.int64)
        idx = p.indices[np.repeat(keep, lengths)]
        return Pattern(p.shape, ptr, idx, zero=mask) if idx.size else Pattern(p.shape, zero=mask)

    def linear(self, *xs: Pattern) -> Pattern:
        """Elementwise and zero where every operand is zero (add, sub, neg)."""
        out = self.union(*xs)
        for x in xs:  # an operand without known zeros decides it (constants: computed)
            if x._zero_known and x.zero is None:
                return out
        masks = []
        for x in xs:
            m = self.zeros(x)
            if m is None:
                return out
            masks.append(m)
        both = masks[0]
        for m in masks[1:]:
            both = both & m
        # the rows there are empty already (known zeros have no dependencies)
        return Pattern(out.shape, out._indptr, out._indices, zero=both, cols=out.cols)

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
            out = _union_pair(out, x)
        if out.zero is None:
            return out
        return Pattern(shape, out._indptr, out._indices, cols=out.cols)  # f(0, ...) need not be 0

    def take(
        self, xs: Sequence[Pattern], idx: np.ndarray, in_ndims: int | Sequence[int] | None = None
    ) -> Pattern:
        """The gather: ``out[..., k] = concat(ravel(xs))[..., idx[k]]`` (-1: none), where
        each operand's last ``in_ndims`` axes are its core and leading axes a batch."""
        idx = np.asarray(idx, dtype=np.int64)
        if in_ndims is None:
            nds = [len(x.shape) for x in xs]
        elif isinstance(in_ndims, (int, np.integer)):
            nds = [int(in_ndims)] * len(xs)
        else:
            nds = [int(d) for d in in_ndims]
        x = xs[0]
        batch = x.shape[: len(x.shape) - nds[0]]
        shape = batch + idx.shape
        for y in xs:
            if not y.constant:
                break
        else:
            return Pattern(shape)
        nb = math.prod(batch)
        flat = idx.reshape(-1)
        if len(xs) == 1 and nb == 1:
            if flat.size == x.size and _is_range(flat):  # a reshape: the same rows
                return Pattern(shape, x._indptr, x._indices, zero=x.zero, cols=x.cols)
            src, base, sizes = flat, x, (x.size,)
        else:  # stack the operands' rows; map (batch b, source g) to a stacked row
            sizes = [math.prod(y.shape[len(y.shape) - d :]) for y, d in zip(xs, nds)]
            src = flat if nb == 1 else _stacked_rows(flat, np.array(sizes, np.int64), nb)
            base = self._stack(xs)
            if nb == 1 and flat.size == base.size and _is_range(flat):  # a concatenation
                zero = self._stacked_zeros(xs, sizes)
                return Pattern(shape, base._indptr, base._indices, zero=zero, cols=base.cols)
        zero = self._take_zeros(xs, src, [nb * s for s in sizes])
        if base.offset >= 0 and zero is None and src.size:  # an input, every entry read:
            line = (src + base.offset if base.offset else src).astype(TABLE_DTYPE)
            return Pattern(shape, cols=line[None, :])
        if base.cols is not None:
            cols, live = _take_table(base.cols, src)
            return _table(shape, cols, zero, live)
        ptr, out = _gather_rows(base, src)
        return Pattern(shape, ptr, out, zero=zero) if out.size else Pattern(shape, zero=zero)

    def _stacked_zeros(self, xs: Sequence[Pattern], sizes: Sequence[int]) -> np.ndarray | None:
        """The operands' known zeros one after the other (``sizes`` entries each; None:
        none known)."""
        masks = [self.zeros(x) for x in xs]
        if all(m is None for m in masks):
            return None
        if len(masks) == 1:
            return masks[0]
        stacked = np.zeros(int(sum(sizes)), bool)
        at = 0
        for m, size in zip(masks, sizes):
            if m is not None:
                stacked[at : at + int(size)] = m
            at += int(size)
        return stacked

    def _take_zeros(self, xs: Sequence[Pattern], src: np.ndarray, sizes: Sequence[int]):
        """Known zeros of a gather: the -1 entries and the known zeros it reads."""
        stacked = self._stacked_zeros(xs, sizes)
        if stacked is None:
            if src.size == 0 or src.min() >= 0:
                return None
            return src < 0
        zero, known = _take_mask(stacked, src)
        return zero if known else None

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
        lead, first, count = _run(targets)
        if lead == 0 and count == targets.size and count:  # x lands on one run of cells
            return _shifted(x, shape, first, z)  # (a zero padding: a gradient's adjoint)
        inv, injective = _inverse(targets, nb * size)
        if injective:  # each cell receives at most one entry: a gather (padding adjoints)
            zero = inv < 0 if z is None else _take_mask(z, inv)[0]
            if x.cols is not None:
                cols, live = _take_table(x.cols, inv)
                return _table(shape, cols, zero, live)
            ptr, out_idx = _gather_rows(x, inv)
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
        if all(x.constant or x.cols is not None for x in xs):
            k = max(x.cols.shape[0] for x in xs if not x.constant)
            cols = np.full((k, sum(x.size for x in xs)), -1, TABLE_DTYPE)
            at = 0
            for x in xs:
                if not x.constant:
                    cols[: x.cols.shape[0], at : at + x.size] = x.cols
                at += x.size
            return Pattern((at,), cols=cols)
        parts = [_csr(x) for x in xs]
        ends = np.cumsum([0] + [p[0][-1] for p in parts])
        ptr = np.concatenate([[0]] + [p[0][1:] + e for p, e in zip(parts, ends)])
        idx = np.concatenate([p[1] for p in parts])
        return Pattern((int(ptr.size - 1),), ptr.astype(np.int64), idx)


def _shifted(x: Pattern, shape: tuple[int, ...], first: int, z: np.ndarray | None) -> Pattern:
    """Entry first + k of a zero array of ``shape`` is x's entry k (the others known
    zero): x's rows moved down by ``first``, its CSR indices shared."""
    size, stop = math.prod(shape), first + x.size
    zero = np.ones(size, bool)
    zero[first:stop] = False if z is None else z
    if x.cols is not None:  # a live table stays live
        cols = np.empty((x.cols.shape[0], size), x.cols.dtype)
        cols[:, :first] = -1
        cols[:, first:stop] = x.cols
        cols[:, stop:] = -1
        return Pattern(shape, cols=cols, zero=zero)
    xp, base = x.indptr, x.indptr[0]
    ptr = np.empty(size + 1, np.int64)
    ptr[: first + 1] = 0
    ptr[first + 1 : stop + 1] = xp[1:] - base
    ptr[stop + 1 :] = xp[-1] - base
    return Pattern(shape, ptr, x.indices[base : xp[-1]], zero=zero)


def _union_pair(a: Pattern, b: Pattern) -> Pattern:
    """Row-wise union of two non-constant patterns of one shape (known zeros dropped)."""
    if a.same(b):
        return a
    ka = 0 if a.cols is None else a.cols.shape[0]
    kb = 0 if b.cols is None else b.cols.shape[0]
    if ka and kb and ka + kb <= TABLE_MAX:
        cols = _union_tables(a.cols, b.cols)
        return a if cols is a.cols else Pattern(a.shape, cols=cols)
    if ka == 1 or kb == 1:  # a CSR pattern (or a wide table) and one line
        csr, line = (a, b) if kb == 1 else (b, a)
        ptr, idx = _union_with_single(csr.indptr, csr.indices, line.cols[0])
        if ptr is csr.indptr:
            return csr
        return Pattern(a.shape, ptr, idx)
    ptr, idx = _union2(a.indptr, a.indices, b.indptr, b.indices)
    return Pattern(a.shape, ptr, idx)


def _shape(shape: tuple[int, ...] | int) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(d) for d in shape)


# ----------------------------------------------------------------------------------
# Propagation through the Wengert list
# ----------------------------------------------------------------------------------


def _identity(shape: tuple[int, ...], offset: int) -> Pattern:
    size = math.prod(shape)
    if offset + size > TABLE_LIMIT:  # columns past int32: CSR arrays (no table)
        ptr = np.arange(size + 1, dtype=np.int64)
        return Pattern(shape, ptr, np.arange(offset, offset + size, dtype=np.int64))
    p = Pattern(shape, cols=np.arange(offset, offset + size, dtype=TABLE_DTYPE)[None, :])
    p.offset = offset
    return p


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
    for p in ins:
        if not p.constant:
            break
    else:
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
    # equations no output depends on are skipped; a pattern is dropped after its last
    # reader (outputs: never)
    live, last = graph.needed({v.id for v in graph.outputs})
    for i, e in enumerate(graph.eqns):
        if not live[i]:
            continue
        ins = [env[v.id] for v in e.inputs]
        for v, p in zip(e.outputs, _apply(S, e, ins)):
            env[v.id] = p
        for v in e.inputs:
            if last[v.id] == i:
                env.pop(v.id, None)
    return [env[v.id] for v in graph.outputs]


#: An empty canonical boolean CSR array: what :func:`_canonical` copies.
_TEMPLATE = sp.csr_array((0, 0), dtype=bool)
_TEMPLATE.has_canonical_format = True


def _canonical(ptr: np.ndarray, idx: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """A boolean CSR array over sorted, unique rows (int64 arrays, kept as they are),
    marked canonical (so colouring reads its arrays without a copy).

    Detection builds these arrays itself, so the array is a shallow copy of an empty
    one with the arrays and shape set (scipy's own attributes), not a call of the
    constructor, whose checks cost 10-30 us at 10^4 rows; scipy versions without a
    ``_shape`` attribute take the constructor (a test checks both agree)."""
    if "_shape" not in _TEMPLATE.__dict__:
        out = sp.csr_array((np.ones(idx.size, dtype=bool), idx, ptr), shape=shape)
        out.has_canonical_format = True
        return out
    out = copy.copy(_TEMPLATE)
    out.data = np.ones(idx.size, dtype=bool)
    out.indices = idx
    out.indptr = ptr
    out._shape = (int(shape[0]), int(shape[1]))
    return out


def to_csr(patterns: Sequence[Pattern], n_cols: int) -> sp.csr_array:
    """The patterns' rows stacked into one boolean ``scipy.sparse.csr_array``."""
    if len(patterns) == 1:
        ptr, idx = _csr(patterns[0])
    else:
        parts = [_csr(p) for p in patterns]
        ends = np.cumsum([0] + [p[0][-1] for p in parts])
        ptr = np.concatenate([[0]] + [p[0][1:] + e for p, e in zip(parts, ends)]).astype(np.int64)
        idx = np.concatenate([p[1] for p in parts]) if parts else _EMPTY
    return _canonical(ptr, idx, (int(ptr.size - 1), int(n_cols)))


def jacobian_pattern(graph: Graph) -> sp.csr_array:
    """The Jacobian sparsity pattern of ``graph``: a boolean CSR array of shape (m, n),
    rows the outputs and columns the inputs, each flattened and concatenated."""
    return to_csr(propagate(graph), graph.n_in)


def structure(pattern: sp.sparray | sp.spmatrix) -> sp.csr_array:
    """The pattern as a CSR array without explicit zeros or duplicates (a copy)."""
    csr = sp.csr_array(pattern, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return csr


def csr_arrays(pattern: sp.sparray | sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """int64 (indptr, indices) of the pattern's structure: read straight off a CSR
    array already in canonical form (sorted, no duplicates, no explicit zeros; what
    detection returns), else from :func:`structure`."""
    csr = pattern
    if not (
        isinstance(csr, (sp.csr_array, sp.csr_matrix))
        and csr.has_canonical_format
        and csr.data.all()
    ):
        csr = structure(pattern)
    as64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)
    return as64(csr.indptr), as64(csr.indices)


def symmetrize(pattern: sp.sparray | sp.spmatrix) -> sp.csr_array:
    """P or P^T (P square), as a boolean CSR array in canonical form."""
    n = pattern.shape[0]
    ptr, idx = csr_arrays(pattern)
    if is_symmetric(ptr, idx):
        if (
            isinstance(pattern, sp.csr_array)
            and pattern.dtype == bool
            and pattern.has_canonical_format
            and pattern.data.all()
        ):
            return pattern  # symmetric and canonical already
        return _canonical(ptr, idx, (n, n))
    return _canonical(*_union2(ptr, idx, *transpose(ptr, idx, n)), (n, n))


def hessian_pattern(graph: Graph, args: Any) -> tuple[sp.csr_array, Graph]:
    """The Hessian pattern of a scalar-output graph, and the gradient graph it came
    from: the Jacobian pattern of :func:`ad.reverse.gradient_graph`, made symmetric."""
    from ad.reverse import gradient_graph

    grad = gradient_graph(graph, args)
    return symmetrize(jacobian_pattern(grad)), grad
