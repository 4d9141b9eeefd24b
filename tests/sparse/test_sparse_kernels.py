"""The CSR index-set kernels of detection and colouring against scipy and against
each other: transpose, the column counts, the symmetry check and symmetrization, the
entry-column tables' unions and gathers, and the star colouring's lower bound."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ad.sparse import coloring
from ad.sparse import pattern as P


def random_pattern(rng, m, n, density):
    A = sp.random_array((m, n), density=density, format="csr", rng=rng)
    A.data[:] = 1.0
    A.sort_indices()
    return A.astype(bool)


def arrays(A):
    return A.indptr.astype(np.int64), A.indices.astype(np.int64)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (3, 5), (40, 40), (60, 17)])
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
def test_transpose_equals_scipys(shape, density):
    A = random_pattern(np.random.default_rng(0), *shape, density)
    ptr, idx = P.transpose(*arrays(A), shape[1])
    T = A.T.tocsr()
    T.sort_indices()
    np.testing.assert_array_equal(ptr, T.indptr)
    np.testing.assert_array_equal(idx, T.indices)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (3, 5), (40, 40), (60, 17)])
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
def test_max_column_count_equals_numpys(shape, density):
    A = random_pattern(np.random.default_rng(1), *shape, density)
    want = np.bincount(A.indices, minlength=shape[1]).max(initial=0)
    assert P.max_column_count(arrays(A)[1], shape[1]) == want


@pytest.mark.parametrize("seed", range(6))
def test_symmetry_check_and_symmetrize_agree_with_scipy(seed):
    rng = np.random.default_rng(seed)
    A = random_pattern(rng, 30, 30, [0.02, 0.1, 0.4][seed % 3])
    S = (A + A.T).astype(bool).tocsr()
    S.sort_indices()
    assert P.is_symmetric(*arrays(S))
    assert P.is_symmetric(*arrays(A)) == ((A != A.T).nnz == 0)
    got = P.symmetrize(A)
    np.testing.assert_array_equal(got.toarray(), S.toarray())
    assert got.has_canonical_format
    # a pattern with duplicates and explicit zeros is cleaned first
    coo = sp.coo_array(
        (np.array([1.0, 1.0, 0.0]), (np.array([0, 0, 1]), np.array([1, 1, 2]))), shape=(3, 3)
    )
    np.testing.assert_array_equal(
        P.symmetrize(coo).toarray(), np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
    )


def test_symmetry_check_on_delicate_patterns():
    arrow = np.eye(6, dtype=bool)
    arrow[0, :] = arrow[:, 0] = True
    assert P.is_symmetric(*arrays(sp.csr_array(arrow)))
    arrow[0, 5] = False  # one missing mirror entry, in the long row
    assert not P.is_symmetric(*arrays(sp.csr_array(arrow)))
    assert P.is_symmetric(np.zeros(4, np.int64), np.zeros(0, np.int64))  # 3 x 3, empty


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1), st.data())
def test_symmetry_check_finds_any_one_entry_without_its_mirror(n, density, seed, data):
    """Symmetric patterns, then each with one entry dropped: the check agrees with
    scipy's A == A^T on both (dropping a diagonal entry keeps the symmetry)."""
    A = random_pattern(np.random.default_rng(seed), n, n, density)
    S = (A + A.T).astype(bool).tocsr()
    S.sort_indices()
    assert P.is_symmetric(*arrays(S))
    if S.nnz == 0:
        return
    drop = data.draw(st.integers(0, S.nnz - 1))
    ptr, idx = arrays(S)
    row = np.searchsorted(ptr, drop, side="right") - 1
    D = sp.csr_array(
        (np.ones(S.nnz - 1, bool), np.delete(idx, drop), ptr - (np.arange(n + 1) > row)),
        shape=(n, n),
    )
    assert P.is_symmetric(*arrays(D)) == (idx[drop] == row)
    assert P.is_symmetric(*arrays(D)) == ((D != D.T).nnz == 0)


def table(draw, k, n):
    """A random entry-column table: k lines over n entries, columns 0..6, each entry's
    columns distinct (repeats become -1)."""
    t = np.array(draw(st.lists(st.integers(-1, 6), min_size=k * n, max_size=k * n)))
    t = t.reshape(k, n)
    for r in range(n):
        for q in range(1, k):
            if t[q, r] in t[:q, r]:
                t[q, r] = -1
    return t


def table_dense(t):
    out = np.zeros((t.shape[1], 7), bool)
    for q in range(t.shape[0]):
        live = t[q] >= 0
        out[np.flatnonzero(live), t[q][live]] = True
    return out


def csr_dense(ptr, idx, n):
    assert all(np.all(np.diff(idx[ptr[r] : ptr[r + 1]]) > 0) for r in range(n))  # sorted
    return sp.csr_array((np.ones(idx.size, bool), idx, ptr), shape=(n, 7)).toarray()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 12), st.data())
def test_entry_column_tables_unite_and_read_as_csr(ka, kb, n, data):
    a, b = table(data.draw, ka, n), table(data.draw, kb, n)
    want = table_dense(a) | table_dense(b)
    np.testing.assert_array_equal(csr_dense(*P._table_csr(a), n), table_dense(a))
    a0, b0 = a.copy(), b.copy()
    got = P._union_tables(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)  # operands left as they were
    np.testing.assert_array_equal(csr_dense(*P._table_csr(got), n), want)
    for r in range(n):  # each entry's columns stay distinct
        live = got[:, r][got[:, r] >= 0]
        assert live.size == np.unique(live).size
    assert (got is a) == (want == table_dense(a)).all()
    assert got.shape[0] <= ka + kb and (got[ka:] >= 0).any(axis=1).all()  # no empty line
    # a CSR pattern united with one line: new arrays only when something is added
    B = sp.csr_array(table_dense(b) | (np.arange(7) == 3))
    ptr0, idx0 = arrays(B)
    ptr2, idx2 = P._union_with_single(ptr0, idx0, a[0])
    united = csr_dense(ptr2, idx2, n)
    np.testing.assert_array_equal(united, B.toarray() | table_dense(a[:1]))
    assert (ptr2 is ptr0) == np.array_equal(united, B.toarray())
    # through the Ops: tables up to TABLE_MAX lines, CSR beyond, the same sets
    S = P.Ops(7)
    x, y = P.Pattern((n,), cols=a), P.Pattern((n,), cols=b)
    u = S.union(x, y)
    assert (u.cols is not None) == (ka + kb <= P.TABLE_MAX)
    np.testing.assert_array_equal(csr_dense(u.indptr, u.indices, n), want)


def test_a_line_that_fits_the_holes_of_a_table_fills_them():
    # the tridiagonal Hessian's corner: a line with one column goes into a hole
    a = np.array([[0, 1, 2, 3], [1, 0, 3, -1]])
    b = np.array([[-1, -1, -1, 2], [1, 2, 3, -1]])
    got = P._union_tables(a, b)
    np.testing.assert_array_equal(got, [[0, 1, 2, 3], [1, 0, 3, 2], [-1, 2, -1, -1]])
    np.testing.assert_array_equal(table_dense(got), table_dense(a) | table_dense(b))


def test_a_table_pattern_reads_as_csr_and_gathers_as_one():
    p = P.Pattern((5,), cols=np.array([[3, -1, 0, 4, 4], [-1, -1, 2, 1, -1]]))
    np.testing.assert_array_equal(p.indptr, [0, 1, 1, 3, 5, 6])
    np.testing.assert_array_equal(p.indices, [3, 0, 2, 1, 4, 4])
    assert p.nnz == 6 and not p.constant
    S = P.Ops(5)
    got = S.take([p], np.array([4, -1, 1, 0, 3]))
    np.testing.assert_array_equal(got.cols, [[4, -1, -1, 3, 4], [-1, -1, -1, -1, 1]])
    np.testing.assert_array_equal(got.zero, [False, True, False, False, False])  # -1: a zero
    assert S.take([p], np.array([1, -1])).constant
    seven = np.full((P.TABLE_MAX - 1, 5), -1)
    seven[0] = 4
    wide = S.union(p, P.Pattern((5,), cols=seven))
    assert wide.cols is None  # beyond TABLE_MAX lines: CSR
    np.testing.assert_array_equal(wide.indices, [3, 4, 4, 0, 2, 4, 1, 4, 4])
    z = S.where_zero(p, np.array([False, False, True, False, False]))
    np.testing.assert_array_equal(z.cols, [[3, -1, -1, 4, 4], [-1, -1, -1, 1, -1]])


@pytest.mark.parametrize(
    "edges, n, bound",
    [
        ([], 3, 1),
        ([(0, 1)], 2, 2),
        ([(0, 1), (0, 2), (0, 3)], 4, 2),  # a star
        ([(0, 1), (1, 2)], 3, 2),  # a path on 3 vertices is a star
        ([(0, 1), (1, 2), (2, 3)], 4, 3),  # P4
        ([(0, 1), (1, 2), (2, 0)], 3, 3),  # a triangle
        ([(0, 1), (2, 3), (2, 4)], 5, 2),  # two stars
    ],
)
def test_star_bound(edges, n, bound):
    A = np.eye(n, dtype=bool)
    for i, j in edges:
        A[i, j] = A[j, i] = True
    ptr, idx = arrays(sp.csr_array(A))
    assert coloring._star_bound(ptr, idx, n) == bound
    c = coloring.star_coloring(sp.csr_array(A))
    assert c.n_colors >= bound and coloring.is_star_coloring(sp.csr_array(A), c.colors)


@pytest.mark.parametrize(
    "src",
    [
        [0, 1, 2, 3, 4, 5],  # all rows
        [-1, 2, 3, 4, -1, -1],  # a padding
        [1, 2, 3],  # a slice
        [-1, -1],  # nothing
        [3, 4, -1, 5],  # a hole: not a run
        [2, 1, 0],  # reversed
        [0, 0, 1],  # repeated
        [-1, 5],
    ],
)
def test_row_gather_takes_runs_as_slices_and_equals_the_general_kernel(src):
    rng = np.random.default_rng(1)
    A = random_pattern(rng, 6, 9, 0.4)
    base = P.Pattern((6,), *arrays(A))
    src = np.array(src, np.int64)
    ptr, idx = P._gather_rows(base, src)
    want_ptr, want_idx = P._take_rows(*arrays(A), src)
    np.testing.assert_array_equal(ptr, want_ptr)
    np.testing.assert_array_equal(idx, want_idx)
    pos = np.flatnonzero(src >= 0)  # a run: contiguous places, consecutive rows
    run = pos.size == 0 or (np.all(np.diff(pos) == 1) and np.all(np.diff(src[pos]) == 1))
    assert (P._run(src)[2] >= 0) == run


@pytest.mark.parametrize("shape", [(1, 1), (6, 9), (40, 30)])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_entry_rows_equal_numpys_repeat(shape, density):
    A = random_pattern(np.random.default_rng(2), *shape, density)
    ptr = A.indptr.astype(np.int64)
    want = np.repeat(np.arange(shape[0]), np.diff(ptr))
    np.testing.assert_array_equal(P.entry_rows(ptr), want)


@pytest.mark.parametrize(
    "counts", [[0, 0, 2, 0, 0, 3, 0], [4], [0], [], [1, 0, 0], [0, 0, 1], [2, 2, 0, 0]]
)
def test_entry_rows_with_empty_rows_at_either_end(counts):
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    want = np.repeat(np.arange(len(counts)), counts)
    np.testing.assert_array_equal(P.entry_rows(ptr), want)


@pytest.mark.parametrize("seed", range(4))
def test_symmetry_check_bisects_long_rows(seed):
    # rows longer than 16 entries are searched by bisection: check against scipy
    rng = np.random.default_rng(seed)
    A = random_pattern(rng, 50, 50, 0.6)
    S = (A + A.T).astype(bool).tocsr()
    S.sort_indices()
    assert P.is_symmetric(*arrays(S)) and not P.is_symmetric(*arrays(A))
    arrow = np.eye(40, dtype=bool)
    arrow[0, :] = arrow[:, 0] = True
    assert P.is_symmetric(*arrays(sp.csr_array(arrow)))
    for k in (1, 20, 39):  # a mirror missing from the long row, or from the long column
        for missing in ((0, k), (k, 0)):
            B = arrow.copy()
            B[missing] = False
            assert not P.is_symmetric(*arrays(sp.csr_array(B)))
    swapped = np.zeros((3, 3), bool)  # one entry above and one below, not mirrors
    swapped[0, 1] = swapped[2, 0] = True
    assert not P.is_symmetric(*arrays(sp.csr_array(swapped)))


def test_canonical_arrays_equal_scipys_constructor():
    A = random_pattern(np.random.default_rng(3), 30, 20, 0.2)
    ptr, idx = arrays(A)
    got = P._canonical(ptr, idx, (30, 20))
    want = sp.csr_array((np.ones(idx.size, bool), idx, ptr), shape=(30, 20))
    assert got.indices is idx and got.indptr is ptr  # int64, not copied
    assert isinstance(got, sp.csr_array) and got.shape == (30, 20) and got.dtype == bool
    assert got.has_canonical_format and (got != want).nnz == 0
    got.copy().check_format(full_check=True)  # (it may recast the arrays it checks)


@pytest.mark.parametrize("kind", ["table", "csr", "zeros"])
@pytest.mark.parametrize("first", [0, 3])
def test_scatter_onto_one_run_of_cells_equals_the_general_path(kind, first):
    # x (5 entries) added into cells first..first+4 of 10: the padding of an adjoint
    S = P.Ops(8)
    cols = np.array([[2, -1, 0, 7, 3], [-1, 4, 1, -1, -1]])
    if kind == "table":
        x = P.Pattern((5,), cols=cols)
    else:
        x = P.Pattern((5,), *arrays(random_pattern(np.random.default_rng(first), 5, 8, 0.4)))
        if kind == "zeros":
            x = S.where_zero(x, np.array([False, True, False, False, True]))
    got = S.add_into(x, np.arange(first, first + 5), (10,))
    scattered = np.arange(first, first + 5)[::-1].copy()  # a permutation: the general path
    want = S.add_into(S.take([x], np.arange(4, -1, -1)), scattered, (10,))
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    zero = np.zeros(10, bool) if got.zero is None else got.zero
    want_zero = np.zeros(10, bool) if want.zero is None else want.zero
    np.testing.assert_array_equal(zero, want_zero)
    assert zero[:first].all() and zero[first + 5 :].all()


def test_an_input_gathered_shares_the_index_map():
    S = P.Ops(20)
    x = P._identity((10,), 10)  # the second input of a graph: columns 10..19
    idx = np.array([4, 5, 6, 9])
    got = S.take([x], idx)
    np.testing.assert_array_equal(got.cols, [idx + 10])
    padded = S.take([x], np.array([-1, 2, 3]))  # a -1: the general path, a known zero
    np.testing.assert_array_equal(padded.cols, [[-1, 12, 13]])
    assert padded.zero.tolist() == [True, False, False]
