"""Colourings: valid (checked independently), within 1.5x of the lower bound on every
family, the 5-point Laplacian in at most 5 colours, star colourings that are stars and
whose direct recovery is exact."""

import numpy as np
import pytest
import scipy.sparse as sp

from ad.errors import ShapeError
from ad.sparse.coloring import (
    LATTICE_SAMPLE,
    ORDERINGS,
    _lattice_rows,
    column_coloring,
    is_column_coloring,
    is_star_coloring,
    row_coloring,
    star_coloring,
)
from ad.sparse.compress import star_recovery
from ad.sparse.pattern import csr_arrays, jacobian_pattern, symmetrize
from bench.problems import sparse as family


def random_pattern(rng, m, n, density):
    P = sp.random_array((m, n), density=density, rng=rng, format="csr").astype(bool)
    return P


def laplacian(k):
    eye = sp.eye_array(k)
    tri = sp.diags_array([np.ones(k - 1), np.ones(k), np.ones(k - 1)], offsets=[-1, 0, 1])
    return (sp.kron(eye, tri) + sp.kron(tri, eye)).tocsr().astype(bool)


@pytest.mark.parametrize("ordering", ORDERINGS + ("best",))
@pytest.mark.parametrize("seed", range(4))
def test_column_and_row_colourings_are_valid(ordering, seed):
    rng = np.random.default_rng(seed)
    P = random_pattern(rng, 40, 30, 0.08)
    c = column_coloring(P, ordering)
    assert is_column_coloring(P, c.colors)
    assert c.n_colors == c.colors.max() + 1 >= c.lower_bound
    assert c.lower_bound == np.diff(sp.csr_array(P).indptr).max()
    r = row_coloring(P, ordering)
    assert is_column_coloring(P.T, r.colors)
    assert r.lower_bound == np.diff(sp.csc_array(P).indptr).max()
    assert r.kind == "row" and c.kind == "column"


def test_the_checks_can_fail():
    P = sp.csr_array(np.array([[1, 1, 0], [0, 1, 1]], dtype=bool))
    assert not is_column_coloring(P, np.array([0, 0, 1]))
    assert is_column_coloring(P, np.array([0, 1, 0]))
    # a path on four vertices coloured a b a b is a proper colouring, not a star colouring
    path = sp.diags_array([np.ones(3), np.ones(4), np.ones(3)], offsets=[-1, 0, 1]).astype(bool)
    assert not is_star_coloring(path, np.array([0, 1, 0, 1]))
    assert is_star_coloring(path, np.array([0, 1, 2, 0]))
    assert not is_star_coloring(path, np.array([0, 0, 1, 2]))  # not even distance-1


def test_explicit_zeros_in_a_pattern_are_ignored():
    P = sp.csr_array(
        (np.array([True, False, True]), np.array([0, 1, 2]), np.array([0, 3])), shape=(1, 3)
    )
    assert column_coloring(P).n_colors == 2


@pytest.mark.parametrize("k", list(range(2, 26)) + [31, 64, 100, 101])
def test_laplacian_takes_at_most_5_colours_in_forward_mode(k):
    P = laplacian(k)
    c = column_coloring(P)
    assert is_column_coloring(P, c.colors)
    assert c.n_colors <= 5 and c.lower_bound == (5 if k >= 3 else 3)


def grid(k1, k2, points=5):
    """The 5-point (or 9-point) stencil on a k1 x k2 grid, row-major unknowns."""
    tri = lambda k: sp.diags_array([np.ones(k - 1), np.ones(k), np.ones(k - 1)], offsets=[-1, 0, 1])
    if points == 9:
        return sp.kron(tri(k1), tri(k2)).tocsr().astype(bool)
    return (
        (sp.kron(sp.eye_array(k1), tri(k2)) + sp.kron(tri(k1), sp.eye_array(k2)))
        .tocsr()
        .astype(bool)
    )


@pytest.mark.parametrize("points", [5, 9])
def test_lattice_grouping_meets_the_bound_on_stencils_of_every_grid(points):
    """Goldfarb-Toint: a linear form of the grid coordinates mod w. On every grid with
    both sides >= 3 it finds w = the lower bound (5 or 9); its colours are checked
    independently, and as a star colouring of the symmetric pattern."""
    for k1 in range(3, 30):
        for k2 in (3, 4, 7, 10, 31, 100)[: 6 if k1 < 12 else 3]:
            if k1 * k2 <= points:  # as many colours as columns: nothing to group
                continue
            P = grid(k1, k2, points)
            c = column_coloring(P, "lattice")
            assert c.ordering == "lattice" and c.n_colors == c.lower_bound == points, (k1, k2)
            assert is_column_coloring(P, c.colors)
            r = row_coloring(P, "lattice")
            assert r.n_colors == points and is_column_coloring(P.T, r.colors)
            s = star_coloring(P, "lattice")
            assert s.n_colors == points and is_star_coloring(P, s.colors)
    assert column_coloring(grid(40, 50)).ordering == "lattice"  # "best" takes it first


def test_lattice_grouping_falls_back_where_there_is_none():
    # a 2 x k grid: lower bound 4, no colouring with 4 colours by a lattice
    P = grid(2, 9)
    c = column_coloring(P, "lattice")
    assert c.ordering == "natural" and is_column_coloring(P, c.colors)
    assert star_coloring(P, "lattice").ordering == "lattice"  # natural greedy inside
    assert is_star_coloring(P, star_coloring(P, "lattice").colors)
    rng = np.random.default_rng(0)
    for _ in range(20):  # random patterns: the screen and the full check reject
        R = random_pattern(rng, 60, 50, 0.06)
        got = column_coloring(R, "lattice")
        assert is_column_coloring(R, got.colors)


def test_lattice_sample_rejects_only_pairs_that_fail():
    """The sample of rows tried before the full check: a pair it rejects is no
    colouring (the sample is a subset of the rows), and on the 100 x 100 grid it
    rejects the offsets next to the grid width, which pass the widest row alone."""
    P = grid(100, 100)
    ptr, idx = csr_arrays(P)
    n, w = P.shape[1], 5
    step, empty = max(1, n // LATTICE_SAMPLE), np.zeros(0, np.int64)
    for k in (99, 100, 101, 200):
        for s in range(w):
            colors = (np.arange(n) + s * (np.arange(n) // k)) % w
            for with_row, Q in ((False, P), (True, (P + sp.eye_array(n)).astype(bool))):
                seen = np.full(w, -1, np.int64)
                if not _lattice_rows(ptr, idx, n, w, k, s, with_row, seen, step, empty):
                    assert not is_column_coloring(Q, colors), (k, s)
                assert (seen == -1).all()
    seen = np.full(w, -1, np.int64)
    sample = (ptr, idx, n, w)
    assert not any(_lattice_rows(*sample, 99, s, False, seen, step, empty) for s in range(w))
    assert _lattice_rows(*sample, 100, 2, False, seen, step, empty)
    colors = (np.arange(n) + 2 * (np.arange(n) // 100)) % w  # the check of every row
    assert _lattice_rows(*sample, 0, 0, False, seen, 1, colors)
    colors[5050] = colors[5051]
    assert not _lattice_rows(*sample, 0, 0, False, seen, 1, colors)


def test_laplace_family_pattern_takes_5_colours_both_ways():
    p = family.make(2500, 2500, 0, 0, "laplace2d")
    P = jacobian_pattern(p.graph)
    assert column_coloring(P).n_colors == 5 and row_coloring(P).n_colors == 5


@pytest.mark.parametrize("variant", family.VARIANTS)
@pytest.mark.parametrize("n", [100, 1024, 10_000])
def test_colours_within_1_5x_of_the_lower_bound_on_every_family(variant, n):
    if variant == "laplace2d":
        n = round(np.sqrt(n)) ** 2
    p = family.make(n, n, 0, 0, variant)
    P = jacobian_pattern(p.notes["jacobian_graph"])
    for c in (column_coloring(P), row_coloring(P)):
        assert c.n_colors <= 1.5 * c.lower_bound, (variant, c)
    if variant == "rosenbrock_hessian":
        s = star_coloring(symmetrize(P))
        assert s.n_colors <= 1.5 * s.lower_bound and s.n_colors == 3


def test_arrowhead_needs_n_colours_one_way_but_2_as_a_star():
    p = family.make(50, 50, 0, 0, "arrowhead")
    P = jacobian_pattern(p.graph)
    assert column_coloring(P).n_colors == 50 and row_coloring(P).n_colors == 50
    star = star_coloring(symmetrize(P))
    assert star.n_colors == 2 and is_star_coloring(symmetrize(P), star.colors)


def random_symmetric(rng, n, density):
    A = sp.random_array((n, n), density=density, rng=rng, format="csr")
    A = A + A.T + sp.diags_array(rng.uniform(1, 2, n))
    return A.tocsr()


@pytest.mark.parametrize(
    "ordering", ("best", "banded", "natural", "largest_first", "smallest_last")
)
@pytest.mark.parametrize("seed", range(6))
def test_star_colouring_is_a_star_colouring_and_recovers_exactly(ordering, seed):
    rng = np.random.default_rng(seed)
    H = random_symmetric(rng, 60, 0.04)
    c = star_coloring(H.astype(bool), ordering)
    assert is_star_coloring(H.astype(bool), c.colors)
    S = np.zeros((60, c.n_colors))
    S[np.arange(60), c.colors] = 1.0
    B = (H @ S).T  # one row per colour: what the forward sweeps over the gradient give
    H.sort_indices()
    rows = np.repeat(np.arange(60), np.diff(H.indptr))
    kread, pos = star_recovery(rows, H.indices, c.colors)
    np.testing.assert_array_equal(B[kread, pos], H.data)  # exact: no arithmetic


def test_star_recovery_rejects_a_colouring_that_is_not_a_star():
    path = sp.diags_array([np.ones(3), np.ones(4), np.ones(3)], offsets=[-1, 0, 1]).tocsr()
    rows = np.repeat(np.arange(4), np.diff(path.indptr))
    with pytest.raises(ValueError, match="not a star colouring"):
        star_recovery(rows, path.indices, np.array([0, 1, 0, 1]))


def test_star_colouring_needs_a_square_pattern():
    with pytest.raises(ShapeError):
        star_coloring(sp.csr_array(np.ones((2, 3), bool)))


def test_large_banded_colouring_is_fast_enough_to_run():
    P = jacobian_pattern(family.make(100_000, 100_000, 0, 0, "banded11").graph)
    c = column_coloring(P)
    assert c.n_colors == 11 and is_column_coloring(P, c.colors)


@pytest.mark.parametrize("half", [0, 1, 2, 5])
@pytest.mark.parametrize("n", [1, 7, 40])
def test_banded_grouping_is_optimal_on_full_bands_and_valid_on_ragged_ones(half, n):
    # CPR: colour j mod w; on a full band it meets the lower bound, and "best" takes it
    # without a greedy pass; with the row's own index in the span it is a star colouring
    offsets = [d for d in range(-half, half + 1) if abs(d) < n]
    band = sp.diags_array([np.ones(n - abs(d)) for d in offsets], offsets=offsets).tocsr()
    band = band.astype(bool)
    c = column_coloring(band)
    assert c.n_colors == c.lower_bound == min(2 * half + 1, n)
    assert is_column_coloring(band, c.colors)
    assert c.ordering == ("banded" if c.lower_bound < n else "natural")  # natural: a full row
    s = star_coloring(band)
    assert is_star_coloring(band, s.colors) and s.n_colors <= min(2 * half + 1, n)
    ragged = band.tolil()
    ragged[n // 2, :] = False  # a hole: still valid, maybe not optimal
    ragged = ragged.tocsr()
    for kind in (column_coloring, row_coloring):
        got = kind(ragged, "banded")
        assert is_column_coloring(ragged if kind is column_coloring else ragged.T, got.colors)
    assert is_star_coloring(ragged, star_coloring(ragged, "banded").colors)
