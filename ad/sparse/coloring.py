"""Graph colouring of sparsity patterns: which columns (rows) can share a sweep.

Following A. H. Gebremedhin, F. Manne and A. Pothen, "What color is your Jacobian?
Graph coloring for computing derivatives", SIAM Review 47(4):629-705, 2005 [GMP],
which casts each of these as a colouring problem:

- Column colouring (forward mode) is a *partial distance-2 colouring* of the column
  vertices of the bipartite graph of J (rows on one side, columns on the other): two
  columns that share a row get different colours. Then J S, with S the n x c seed
  matrix of the colour classes, holds every nonzero of J once:
  J[i, j] = (J S)[i, colour(j)] (direct recovery).
- Row colouring (reverse mode) is the same on the transpose: S^T J with one adjoint
  per row colour.
- Star colouring (symmetric Hessians, direct recovery) is a distance-1 colouring of the
  adjacency graph of H in which every path on four vertices uses at least three
  colours; then every nonzero H[i, j] can be read directly from H S, at
  (H S)[i, colour(j)] or at (H S)[j, colour(i)] (see :mod:`ad.sparse.compress`). The
  greedy star colouring follows [GMP]: a colour is forbidden for v if v would end a
  bicoloured path on four vertices v-w-x-y (w coloured, colour(y) == colour(w)), and
  through a still uncoloured neighbour w the colours of w's other neighbours are
  forbidden (a distance-2 constraint that keeps the later colouring of w legal).

Orderings of the greedy algorithms (as in [GMP] and ColPack): ``natural``,
``largest_first`` (by distance-2 degree), ``smallest_last`` (repeatedly remove a vertex
of smallest degree, colour in the reverse order; Matula and Beck 1983), and the
dynamic ``dsatur`` (colour next the vertex whose coloured neighbours show the most
distinct colours; Brelaz 1979; ``dsatur_degree`` breaks ties by degree).

``banded`` is not an ordering but the grouping of A. R. Curtis, M. J. D. Powell and
J. K. Reid, "On the estimation of sparse Jacobian matrices", J. Inst. Math. Appl.
13:117-119, 1974 (CPR): with w the widest span of a row (last minus first column, plus
one), two columns of one row differ by less than w, so colour j mod w is a column
colouring, found in one pass over the rows without the transpose the greedy loops
need. Counting each row's own index in its span makes it a distance-2 colouring of a
symmetric pattern's graph, hence a star colouring. It meets the lower bound on banded
patterns whose bands are full.

``lattice`` extends it to stencils on grids, after D. Goldfarb and Ph. L. Toint,
"Optimal estimation of Jacobian and Hessian matrices that arise in finite difference
calculations", Math. Comp. 43(167):69-88, 1984, who colour grid point (i, j) by a
linear form a i + b j modulo the number of colours (the 5-point Laplacian: i + 2 j
mod 5). Unknowns numbered j = i k + l on a grid of width k, that is colour
(j + s (j // k)) mod w: the grouping tries w = the lower bound, k each column offset
within a widest row (the grid width is one) and s = 0..w-1, each pair first on that
row alone, and keeps the first pair under which no row has two columns of one colour
(a check of every row, at most 8 of them, each for a pair that has passed
:data:`LATTICE_SAMPLE` rows spread over the pattern first: on the 5-point Laplacian
the offsets next to the grid width pass the widest row and fail elsewhere). When it
succeeds it is optimal; 5 colours on the 5-point Laplacian at every grid size in the
benchmark, in one pass over the pattern (smallest-last needs its distance-2 degrees
and bucket queue first: 0.12 against 1.1 ms at n = 10^4, timeit on one core).

``best`` (the default) stops as soon as the count meets the lower bound, trying in
turn: the banded grouping (one pass; optimal on full bands), the lattice grouping,
smallest-last (5 colours on the 5-point Laplacian of an even-sided grid, where
natural and largest-first take 7), natural (optimal on ragged bands), then DSatur (5
colours on every grid side from 2 to 59, and at 100, 101, 316, 317).

Lower bounds: every column colouring needs at least the largest number of nonzeros in
a row (those columns pairwise conflict), every row colouring at least the largest in a
column. For a star colouring of a symmetric pattern this row count is *not* a lower
bound (an arrowhead takes 2 colours); :attr:`Coloring.lower_bound` then reports it
as the bound of the unsymmetric (column) approach, for comparison. A pattern with a
full row and a full column (an arrowhead Jacobian) needs n colours in either
direction; bicolouring (both at once) is the remedy there and is not implemented.

The greedy loops are Numba functions on CSR / CSC index arrays: their cost is the sum
over rows of (nonzeros in the row)^2, a few milliseconds for a banded pattern with
10^5 columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from ad.errors import ShapeError
from ad.sparse.pattern import csr_arrays, structure, transpose

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)

ORDERINGS = (
    "banded",
    "lattice",
    "natural",
    "largest_first",
    "smallest_last",
    "dsatur",
    "dsatur_degree",
)
#: What ``ordering="best"`` tries, cheapest first, until the count meets the lower bound.
BEST = ("banded", "lattice", "smallest_last", "natural", "dsatur", "dsatur_degree")
#: Rows a lattice pair is first tried on, spread over the pattern, before every row.
LATTICE_SAMPLE = 64
#: The kinds of colouring and the mode each serves.
KINDS = {"column": "forward", "row": "reverse", "star": "forward over reverse"}


@dataclass(frozen=True)
class Coloring:
    """A colouring of the columns (``kind="column"``, "star") or rows ("row") of a
    pattern: ``colors[j]`` in 0..n_colors-1, the ordering used, and the lower bound
    (largest number of nonzeros in a row for columns, in a column for rows)."""

    colors: np.ndarray
    n_colors: int
    lower_bound: int
    kind: str
    ordering: str

    def __repr__(self) -> str:
        return (
            f"<Coloring {self.kind}: {self.n_colors} colours (lower bound "
            f"{self.lower_bound}), {self.ordering} ordering>"
        )

    def groups(self) -> list[np.ndarray]:
        """The colour classes: indices of the columns (rows) of each colour."""
        order = np.argsort(self.colors, kind="stable")
        cuts = np.searchsorted(self.colors[order], np.arange(1, self.n_colors))
        return np.split(order, cuts)


# ----------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------


@_jit
def _d2_degrees(col_ptr, col_rows, row_ptr, row_cols, n):
    """Distance-2 degree of every column: columns sharing a row with it."""
    mark = np.full(n, -1, np.int64)
    deg = np.zeros(n, np.int64)
    for v in range(n):
        mark[v] = v
        d = 0
        for a in range(col_ptr[v], col_ptr[v + 1]):
            r = col_rows[a]
            for b in range(row_ptr[r], row_ptr[r + 1]):
                w = row_cols[b]
                if mark[w] != v:
                    mark[w] = v
                    d += 1
        deg[v] = d
    return deg


@_jit
def _smallest_last(col_ptr, col_rows, row_ptr, row_cols, n):
    """Smallest-last ordering on the distance-2 (column intersection) graph, with
    bucket lists of vertices by current degree."""
    deg = _d2_degrees(col_ptr, col_rows, row_ptr, row_cols, n)
    max_deg = 0
    for v in range(n):
        if deg[v] > max_deg:
            max_deg = deg[v]
    head = np.full(max_deg + 1, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    prv = np.full(n, -1, np.int64)
    for v in range(n):
        d = deg[v]
        nxt[v] = head[d]
        if head[d] >= 0:
            prv[head[d]] = v
        head[d] = v
    removed = np.zeros(n, np.bool_)
    mark = np.full(n, -1, np.int64)
    order = np.empty(n, np.int64)
    low = 0
    for k in range(n - 1, -1, -1):
        while head[low] < 0:
            low += 1
        v = head[low]
        head[low] = nxt[v]
        if nxt[v] >= 0:
            prv[nxt[v]] = -1
        removed[v] = True
        order[k] = v
        mark[v] = v
        for a in range(col_ptr[v], col_ptr[v + 1]):
            r = col_rows[a]
            for b in range(row_ptr[r], row_ptr[r + 1]):
                w = row_cols[b]
                if removed[w] or mark[w] == v:
                    continue
                mark[w] = v
                d = deg[w]  # move w from bucket d to d - 1
                if prv[w] >= 0:
                    nxt[prv[w]] = nxt[w]
                else:
                    head[d] = nxt[w]
                if nxt[w] >= 0:
                    prv[nxt[w]] = prv[w]
                d -= 1
                deg[w] = d
                prv[w] = -1
                nxt[w] = head[d]
                if head[d] >= 0:
                    prv[head[d]] = w
                head[d] = w
                if d < low:
                    low = d
    return order


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _heap_push(keys, verts, size, key, v):
    if size == keys.shape[0]:  # grow
        k2 = np.empty(2 * size + 16, np.int64)
        v2 = np.empty(2 * size + 16, np.int64)
        k2[:size] = keys[:size]
        v2[:size] = verts[:size]
        keys, verts = k2, v2
    i = size
    keys[i] = key
    verts[i] = v
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] >= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        verts[parent], verts[i] = verts[i], verts[parent]
        i = parent
    return keys, verts, size + 1


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _heap_pop(keys, verts, size):
    key, v = keys[0], verts[0]
    size -= 1
    keys[0], verts[0] = keys[size], verts[size]
    i = 0
    while True:
        a, b, top = 2 * i + 1, 2 * i + 2, i
        if a < size and keys[a] > keys[top]:
            top = a
        if b < size and keys[b] > keys[top]:
            top = b
        if top == i:
            break
        keys[top], keys[i] = keys[i], keys[top]
        verts[top], verts[i] = verts[i], verts[top]
        i = top
    return key, v, size


@_jit
def _dsatur_buckets(col_ptr, col_rows, row_ptr, row_cols, n):
    """DSatur (Brelaz 1979) on the distance-2 graph of the columns: colour next the
    column whose coloured distance-2 neighbours show the most distinct colours, with
    the smallest colour they do not show. Bucket lists by saturation; ties go to the
    column promoted last (initially the largest distance-2 degree)."""
    deg = _d2_degrees(col_ptr, col_rows, row_ptr, row_cols, n)
    span = 1
    for v in range(n):
        if deg[v] + 1 > span:
            span = deg[v] + 1
    words = span // 64 + 1
    seen = np.zeros((n, words), np.uint64)
    sat = np.zeros(n, np.int64)
    colors = np.full(n, -1, np.int64)
    mark = np.full(n, -1, np.int64)
    head = np.full(span + 1, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    prv = np.full(n, -1, np.int64)
    for v in np.argsort(deg, kind="mergesort"):  # the head of bucket 0: largest degree
        nxt[v] = head[0]
        if head[0] >= 0:
            prv[head[0]] = v
        head[0] = v
    top = 0
    one = np.uint64(1)
    for _ in range(n):
        while top > 0 and head[top] < 0:
            top -= 1
        v = head[top]
        head[top] = nxt[v]
        if nxt[v] >= 0:
            prv[nxt[v]] = -1
        c = 0
        while (seen[v, c // 64] >> np.uint64(c % 64)) & one:
            c += 1
        colors[v] = c
        word, bit = c // 64, one << np.uint64(c % 64)
        mark[v] = v
        for a in range(col_ptr[v], col_ptr[v + 1]):
            r = col_rows[a]
            for b in range(row_ptr[r], row_ptr[r + 1]):
                w = row_cols[b]
                if mark[w] == v or colors[w] >= 0:
                    continue
                mark[w] = v
                if not (seen[w, word] & bit):
                    seen[w, word] |= bit
                    s = sat[w]  # move w from bucket s to s + 1
                    if prv[w] >= 0:
                        nxt[prv[w]] = nxt[w]
                    else:
                        head[s] = nxt[w]
                    if nxt[w] >= 0:
                        prv[nxt[w]] = prv[w]
                    s += 1
                    sat[w] = s
                    prv[w] = -1
                    nxt[w] = head[s]
                    if head[s] >= 0:
                        prv[head[s]] = w
                    head[s] = w
                    if s > top:
                        top = s
    return colors


@_jit
def _dsatur_d2(col_ptr, col_rows, row_ptr, row_cols, n):
    """DSatur as :func:`_dsatur_buckets`, ties broken by the larger distance-2 degree
    (a lazy binary heap: slower, sometimes one colour fewer)."""
    deg = _d2_degrees(col_ptr, col_rows, row_ptr, row_cols, n)
    span = 1
    for v in range(n):
        if deg[v] + 1 > span:
            span = deg[v] + 1
    words = span // 64 + 1
    seen = np.zeros((n, words), np.uint64)
    sat = np.zeros(n, np.int64)
    colors = np.full(n, -1, np.int64)
    mark = np.full(n, -1, np.int64)
    keys = np.empty(n + 16, np.int64)
    verts = np.empty(n + 16, np.int64)
    size = 0
    for v in range(n - 1, -1, -1):
        keys, verts, size = _heap_push(keys, verts, size, deg[v], v)
    one = np.uint64(1)
    for _ in range(n):
        v = -1
        while size > 0:
            key, u, size = _heap_pop(keys, verts, size)
            if colors[u] < 0 and key == sat[u] * span + deg[u]:
                v = u
                break
        c = 0
        while (seen[v, c // 64] >> np.uint64(c % 64)) & one:
            c += 1
        colors[v] = c
        word, bit = c // 64, one << np.uint64(c % 64)
        mark[v] = v
        for a in range(col_ptr[v], col_ptr[v + 1]):
            r = col_rows[a]
            for b in range(row_ptr[r], row_ptr[r + 1]):
                w = row_cols[b]
                if mark[w] == v or colors[w] >= 0:
                    continue
                mark[w] = v
                if not (seen[w, word] & bit):
                    seen[w, word] |= bit
                    sat[w] += 1
                    keys, verts, size = _heap_push(keys, verts, size, sat[w] * span + deg[w], w)
    return colors


@_jit
def _greedy_d2(order, col_ptr, col_rows, row_ptr, row_cols, n):
    """Greedy partial distance-2 colouring of the columns, in the given order."""
    colors = np.full(n, -1, np.int64)
    forbidden = np.full(n + 1, -1, np.int64)
    for v in order:
        for a in range(col_ptr[v], col_ptr[v + 1]):
            r = col_rows[a]
            for b in range(row_ptr[r], row_ptr[r + 1]):
                c = colors[row_cols[b]]
                if c >= 0:
                    forbidden[c] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        colors[v] = c
    return colors


@_jit
def _greedy_star(order, ptr, adj, n):
    """Greedy star colouring of the adjacency graph (ptr, adj), diagonal excluded."""
    colors = np.full(n, -1, np.int64)
    forbidden = np.full(n + 1, -1, np.int64)
    for v in order:
        for a in range(ptr[v], ptr[v + 1]):
            w = adj[a]
            if w == v:
                continue
            cw = colors[w]
            if cw >= 0:
                forbidden[cw] = v
            for b in range(ptr[w], ptr[w + 1]):
                x = adj[b]
                if x == v or x == w:
                    continue
                cx = colors[x]
                if cx < 0:
                    continue
                if cw < 0:  # w uncoloured: keep v and x apart (distance 2)
                    forbidden[cx] = v
                else:  # v-w-x-y bicoloured if colour(y) == colour(w) for some y of x
                    for t in range(ptr[x], ptr[x + 1]):
                        y = adj[t]
                        if y != w and y != x and colors[y] == cw:
                            forbidden[cx] = v
                            break
        c = 0
        while forbidden[c] == v:
            c += 1
        colors[v] = c
    return colors


@_jit
def _star_bound(ptr, adj, n):
    """A lower bound of the star colours of the adjacency graph (diagonal excluded):
    0 without vertices, 1 without edges, 2 if every component is a star, else 3 (an
    edge u-v with further neighbours a of u and b of v is a triangle if a == b, else
    the path a-u-v-b, which two colours cannot star-colour)."""
    deg = np.full(n, -1, np.int64)  # degrees, counted when first needed
    bound = 1 if n else 0
    for u in range(n):
        du = _degree(ptr, adj, u)
        for a in range(ptr[u], ptr[u + 1]):
            v = adj[a]
            if v != u:
                bound = 2
                if du >= 2:
                    if deg[v] < 0:
                        deg[v] = _degree(ptr, adj, v)
                    if deg[v] >= 2:
                        return 3  # in the first rows of any graph that is not a forest
    return bound


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _degree(ptr, adj, v):
    d = 0
    for a in range(ptr[v], ptr[v + 1]):
        d += adj[a] != v
    return d


@_jit
def _banded(ptr, idx, n, with_row):
    """The CPR grouping of the n columns: colour j mod w, w the widest row's span (last
    column - first column + 1, the row's own index counted among its columns if
    ``with_row``; see the module docstring)."""
    w = 1
    for r in range(ptr.shape[0] - 1):
        a, b = ptr[r], ptr[r + 1]
        if a == b:
            continue
        lo, hi = idx[a], idx[b - 1]
        if with_row:
            lo, hi = min(lo, r), max(hi, r)
        w = max(w, hi - lo + 1)
    colors = np.empty(n, np.int64)
    c = 0
    for j in range(n):
        colors[j] = c
        c = c + 1 if c + 1 < w else 0
    return colors


@_jit
def _lattice(ptr, idx, n, w, with_row):
    """The lattice grouping (after Goldfarb and Toint 1984; see the module docstring):
    colour (j + s (j // k)) mod w with w the lower bound, k one of the column offsets
    of a widest row and s in 0..w-1, the first pair under which every row's columns
    (and, ``with_row``, the row's own index) take distinct colours. Each pair is first
    tried on that widest row alone; at most 8 pass to the check of every row. Returns
    an empty array when no pair gives a colouring."""
    empty = np.empty(0, np.int64)
    best, top = -1, 0
    for r in range(ptr.shape[0] - 1):
        if ptr[r + 1] - ptr[r] > top:
            best, top = r, ptr[r + 1] - ptr[r]
    if best < 0 or w < 2 or w >= n:
        return empty
    a0, b0 = ptr[best], ptr[best + 1]
    colors = np.empty(n, np.int64)
    seen = np.full(w, -1, np.int64)
    full_checks = 0
    for t in range(a0 + 1, b0):
        k = idx[t] - idx[a0]
        if k < 2:
            continue
        for s in range(w):
            ok = True  # the widest row alone
            for u in range(a0, b0):
                j = idx[u]
                c = (j + s * (j // k)) % w
                if seen[c] == -2 - s - w * t:
                    ok = False
                    break
                seen[c] = -2 - s - w * t
            step = max(1, (ptr.shape[0] - 1) // LATTICE_SAMPLE)
            if not ok or not _lattice_rows(ptr, idx, n, w, k, s, with_row, seen, step, empty):
                continue
            if full_checks == 8:
                return empty
            full_checks += 1
            jw, qs, jk = 0, 0, 0  # j mod w, s (j // k) mod w, j mod k: no division
            for j in range(n):
                c = jw + qs
                colors[j] = c - w if c >= w else c
                jw = jw + 1 if jw + 1 < w else 0
                jk += 1
                if jk == k:
                    jk = 0
                    qs = qs + s - w if qs + s >= w else qs + s
            if _lattice_rows(ptr, idx, n, w, k, s, with_row, seen, 1, colors):
                return colors
    return empty


@_jit
def _lattice_rows(ptr, idx, n, w, k, s, with_row, seen, step, colors):
    """Whether rows 0, step, 2 step, ... have their columns (and, ``with_row``, the
    row's own index) in distinct colours: ``colors[j]``, or when ``colors`` is empty
    the lattice pair's (j + s (j // k)) mod w. With ``step`` = rows //
    :data:`LATTICE_SAMPLE` a sample spread over the pattern, tried first (a pair that
    fails somewhere mostly fails on many rows: on the 5-point Laplacian the offsets
    next to the grid width do); with ``step`` = 1 the check of every row. Leaves
    ``seen`` all -1."""
    ok = True
    for r in range(0, ptr.shape[0] - 1, step):
        if with_row and r < n:
            seen[colors[r] if colors.size else (r + s * (r // k)) % w] = r
        for u in range(ptr[r], ptr[r + 1]):
            j = idx[u]
            if with_row and j == r:
                continue
            c = colors[j] if colors.size else (j + s * (j // k)) % w
            if seen[c] == r:
                ok = False
                break
            seen[c] = r
        if not ok:
            break
    seen[:] = -1
    return ok


@_jit
def _degrees_adj(ptr, adj, n):
    deg = np.empty(n, np.int64)
    for v in range(n):
        deg[v] = _degree(ptr, adj, v)
    return deg


# ----------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------


def _max_count(ptr: np.ndarray) -> int:
    return int(np.diff(ptr).max(initial=0))


def _order(name: str, arrays: tuple[np.ndarray, ...], n: int) -> np.ndarray:
    if name == "natural":
        return np.arange(n, dtype=np.int64)
    if name == "largest_first":
        deg = _d2_degrees(*arrays, n)
        return np.argsort(-deg, kind="stable").astype(np.int64)
    if name == "smallest_last":
        return _smallest_last(*arrays, n)
    raise ValueError(f"ordering must be one of {ORDERINGS} or 'best', not {name!r}")


def column_coloring(pattern: sp.sparray | sp.spmatrix, ordering: str = "best") -> Coloring:
    """Partial distance-2 colouring of the columns of ``pattern`` (forward mode).

    Example::

        c = column_coloring(ad.jacobian_sparsity(f, x)); c.n_colors, c.lower_bound
    """
    n = pattern.shape[1]
    row_ptr, row_cols = csr_arrays(pattern)
    return _best(row_ptr, row_cols, lambda: transpose(row_ptr, row_cols, n), n, "column", ordering)


def row_coloring(pattern: sp.sparray | sp.spmatrix, ordering: str = "best") -> Coloring:
    """Colouring of the rows of ``pattern`` (reverse mode): the column colouring of
    its transpose; the lower bound is the largest number of nonzeros in a column."""
    m, n = pattern.shape
    row_ptr, row_cols = csr_arrays(pattern)
    col_ptr, col_rows = transpose(row_ptr, row_cols, n)
    return _best(col_ptr, col_rows, lambda: (row_ptr, row_cols), m, "row", ordering)


def star_coloring(pattern: sp.sparray | sp.spmatrix, ordering: str = "best") -> Coloring:
    """Star colouring of a symmetric pattern (Hessians), for direct recovery.

    ``ordering="best"`` tries the banded grouping, natural, largest-first (by degree)
    and smallest-last, keeps the fewest colours, and stops as soon as the count meets
    a lower bound of the star colours (:func:`_star_bound`: 3 once a component is not
    a star, so a tridiagonal Hessian takes the banded grouping at once). Example::

        c = star_coloring(ad.hessian_sparsity(f, x))
    """
    n, n2 = pattern.shape
    if n != n2:
        raise ShapeError(f"star colouring needs a square (symmetric) pattern, got {pattern.shape}")
    ptr, adj = csr_arrays(pattern)
    bound = _max_count(ptr)
    names = ("banded", "natural", "largest_first", "smallest_last")
    enough = _star_bound(ptr, adj, n)
    best = None
    for name in names if ordering == "best" else (ordering,):
        if name == "banded":  # a distance-2 colouring: a star colouring too
            colors = _banded(ptr, adj, n, with_row=True)
        elif name == "lattice":  # distance-2 too; natural when there is none
            colors = _lattice(ptr, adj, n, bound, True)
            if not colors.size:
                colors = _greedy_star(_order("natural", (), n), ptr, adj, n)
        elif name == "largest_first":
            order = np.argsort(-_degrees_adj(ptr, adj, n), kind="stable").astype(np.int64)
            colors = _greedy_star(order, ptr, adj, n)
        else:
            colors = _greedy_star(_order(name, (ptr, adj, ptr, adj), n), ptr, adj, n)
        k = int(colors.max(initial=-1)) + 1
        if best is None or k < best.n_colors:
            best = Coloring(colors, k, bound, "star", name)
        if k <= enough:
            break
    assert best is not None
    return best


def _best(ptr, idx, vertex_rows, n, kind, ordering) -> Coloring:
    """The partial distance-2 colouring of the n vertices (columns) whose conflicts are
    the rows (ptr, idx): each row's vertices pairwise distinct. ``vertex_rows()``
    gives each vertex's rows (the transpose), built only if a greedy pass runs."""
    bound = _max_count(ptr)
    if n and bound >= n:  # a full row: every column needs its own colour
        return Coloring(np.arange(n, dtype=np.int64), n, bound, kind, "natural")
    arrays = None
    best = None
    # an explicit ordering runs alone; natural follows "lattice" in case it finds none
    for name in BEST if ordering == "best" else (ordering, "natural"):
        if name == "banded":
            colors = _banded(ptr, idx, n, with_row=False)
        elif name == "lattice":
            colors = _lattice(ptr, idx, n, bound, False)
            if not colors.size:  # no lattice grouping with `bound` colours
                continue
        else:
            arrays = arrays or (*vertex_rows(), ptr, idx)
            if name == "dsatur":
                colors = _dsatur_buckets(*arrays, n)
            elif name == "dsatur_degree":
                colors = _dsatur_d2(*arrays, n)
            else:
                colors = _greedy_d2(_order(name, arrays, n), *arrays, n)
        k = int(colors.max(initial=-1)) + 1
        if best is None or k < best.n_colors:
            best = Coloring(colors, k, bound, kind, name)
        if k <= bound or ordering != "best":
            break
    assert best is not None
    return best


# ----------------------------------------------------------------------------------
# Checks (used by the tests; cheap enough to run on any pattern)
# ----------------------------------------------------------------------------------


def is_column_coloring(pattern: sp.sparray | sp.spmatrix, colors: np.ndarray) -> bool:
    """True if no row has two nonzeros in columns of the same colour."""
    csr = structure(pattern)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    key = rows.astype(np.int64) * (int(colors.max(initial=0)) + 1) + colors[csr.indices]
    return bool(np.unique(key).size == key.size)


def is_star_coloring(pattern: sp.sparray | sp.spmatrix, colors: np.ndarray) -> bool:
    """True if ``colors`` is a distance-1 colouring of the symmetric pattern's graph in
    which every bicoloured connected subgraph is a star (GMP, Definition 4.4)."""
    csr = structure(pattern)
    coo = csr.tocoo()
    off = coo.row != coo.col
    i, j = coo.row[off], coo.col[off]
    if np.any(colors[i] == colors[j]):
        return False
    k = int(colors.max(initial=0)) + 1
    lo, hi = np.minimum(colors[i], colors[j]), np.maximum(colors[i], colors[j])
    key = lo * k + hi
    n = csr.shape[0]
    for pair in np.unique(key):
        sel = key == pair
        sub = sp.coo_array((np.ones(sel.sum()), (i[sel], j[sel])), shape=(n, n)).tocsr()
        n_comp, label = sp.csgraph.connected_components(sub, directed=False)
        deg = np.diff(sub.indptr)
        verts = np.flatnonzero(deg)
        edges = np.bincount(label[i[sel]], minlength=n_comp) // 2
        size = np.bincount(label[verts], minlength=n_comp)
        big = np.bincount(label[verts], weights=(deg[verts] > 1), minlength=n_comp)
        for comp in np.unique(label[verts]):  # a tree with at most one vertex of degree > 1
            if edges[comp] != size[comp] - 1 or big[comp] > 1:
                return False
    return True
