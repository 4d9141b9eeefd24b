"""The CSR index-set kernels of detection and colouring against scipy and against
each other: transpose, the symmetry check and symmetrization, the one-entry-per-row
patterns' unions and gathers, and the star colouring's lower bound."""

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


singles = st.lists(st.integers(-1, 6), min_size=1, max_size=12)


def as_csr(col):
    rows = np.flatnonzero(col >= 0)
    return sp.csr_array((np.ones(rows.size, bool), (rows, col[rows])), shape=(col.size, 7))


@settings(max_examples=200, deadline=None)
@given(singles, st.data())
def test_one_entry_per_row_unions_equal_the_csr_union(a, data):
    a = np.array(a, np.int64)
    b = np.array(data.draw(st.lists(st.integers(-1, 6), min_size=a.size, max_size=a.size)))
    want = (as_csr(a) + as_csr(b)).astype(bool).toarray()
    col, ptr, idx = P._union_singles(a, b)
    if col.size:  # still one entry per row
        assert not ((a >= 0) & (b >= 0) & (a != b)).any()
        np.testing.assert_array_equal(as_csr(col).toarray(), want)
    else:
        got = sp.csr_array((np.ones(idx.size, bool), idx, ptr), shape=(a.size, 7))
        np.testing.assert_array_equal(got.toarray(), want)
        assert all(np.all(np.diff(idx[ptr[r] : ptr[r + 1]]) > 0) for r in range(a.size))
    # a CSR pattern united with a single: new arrays only when something is added
    B = sp.csr_array(as_csr(b).toarray() | (np.arange(7) == 3))
    ptr0, idx0 = arrays(B)
    ptr2, idx2 = P._union_with_single(ptr0, idx0, a)
    got = sp.csr_array((np.ones(idx2.size, bool), idx2, ptr2), shape=(a.size, 7))
    np.testing.assert_array_equal(got.toarray(), B.toarray() | as_csr(a).toarray())
    assert (ptr2 is ptr0) == np.array_equal(got.toarray(), B.toarray())


def test_a_single_pattern_reads_as_csr_and_gathers_as_one():
    p = P.Pattern((5,), col=np.array([3, -1, 0, 4, 4]))
    np.testing.assert_array_equal(p.indptr, [0, 1, 1, 2, 3, 4])
    np.testing.assert_array_equal(p.indices, [3, 0, 4, 4])
    assert p.nnz == 4 and not p.constant
    S = P.Ops(5)
    got = S.take([p], np.array([4, -1, 1, 0]))
    np.testing.assert_array_equal(got.col, [4, -1, -1, 3])
    np.testing.assert_array_equal(got.zero, [False, True, False, False])  # -1: a zero
    assert S.take([p], np.array([1, -1])).constant


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


@pytest.mark.parametrize("kind", ["single", "csr", "zeros"])
@pytest.mark.parametrize("first", [0, 3])
def test_scatter_onto_one_run_of_cells_equals_the_general_path(kind, first):
    # x (5 entries) added into cells first..first+4 of 10: the padding of an adjoint
    S = P.Ops(8)
    col = np.array([2, -1, 0, 7, 3])
    if kind == "single":
        x = P.Pattern((5,), col=col)
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
    np.testing.assert_array_equal(got.col, idx + 10)
    padded = S.take([x], np.array([-1, 2, 3]))  # a -1: the general path, a known zero
    np.testing.assert_array_equal(padded.col, [-1, 12, 13])
    assert padded.zero.tolist() == [True, False, False]
