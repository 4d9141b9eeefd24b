"""Specialised fused groups (``ad.kernels.specialise``): the generated loop of a group
gives the interpreted ``fused`` instruction's results bit for bit (sums to round-off:
the same terms in another order), and the reference's
to round-off, for every elementwise rule, runs members (zero pads, shifts,
concatenations, sources without partials), sums, broadcast and inactive operands, at
widths 1 .. MAX_P; and the policy (second call, size, width, the switch, an unwritable
cache) decides when it runs."""

import platform

import numpy as np
import pytest
from numba.core import config as numba_config

import ad
from ad import reference
from ad.errors import NonFiniteError
from ad.kernels import fusion, run, specialise
from ad.kernels.elementwise import BINARY, UNARY

SIZE = 301  # entries per group here (MIN_SIZE is lowered to 64 for these tests)
WIDTHS = [1, 3, 4, 5, 8, specialise.MAX_P]  # 4, 5 and 8: what SLP packs (and leaves)


@pytest.fixture(autouse=True)
def small_groups(monkeypatch, tmp_path):
    """Specialise groups from 64 entries, on the first call, into a fresh cache."""
    monkeypatch.setattr(specialise, "MIN_SIZE", 64)
    monkeypatch.setattr(specialise, "HOT_CALLS", 1)
    monkeypatch.setattr(specialise, "ENABLED", True)


def every_rule(x, y):
    """Every unary and binary rule of the elementwise table, inside their domains."""
    u = 0.5 * np.tanh(x)  # in (-0.5, 0.5)
    v = 1.0 + u * u + np.abs(y)  # >= 1
    unary = [
        -u, np.sin(u), np.cos(u), np.tan(u), np.exp(u), np.log(v), np.log1p(u),
        np.expm1(u), np.sqrt(v), np.tanh(y), np.sinh(u), np.cosh(u), np.arctan(y),
        np.arcsin(u), np.arccos(u), np.abs(y), u**3, v**-2,
    ]  # fmt: skip
    binary = [
        u + y, u - y, u * y, u / v, v**u, np.maximum(u, y), np.minimum(u, y),
        np.arctan2(u, v), np.logaddexp(u, y),
    ]  # fmt: skip
    total = unary[0]
    for w in unary[1:] + binary:
        total = total + w
    return total


def stencil(x, w):
    """Runs members: zero pads and shifts of x, a concatenation of x with the inactive
    w (no partials), a rotation of w alone (an inactive member), a 2-D interior slice
    of a padded grid; a sum of the result."""
    left = np.concatenate([np.zeros(1), x[:-1]])
    right = np.concatenate([x[1:], np.zeros(1)])
    both = np.concatenate([x[: SIZE // 2], w[SIZE // 2 :]])
    r = (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0
    grid = np.pad(np.reshape(np.exp(0.1 * x), (-1, 7)), 1)
    inner = np.reshape(grid[1:-1, 1:-1] - 0.25 * grid[:-2, 1:-1], -1)
    out = r * both + inner * np.concatenate([w[1:], w[:1]])
    return out, np.sum(out * out)


def mixed(x, w, c):
    """An inactive array operand (w), an active broadcast number (c) on either side,
    a group output read inside the group (u), a sum."""
    u = x * w + c
    v = np.exp(-u) / (1.0 + c * u)
    return np.sum(np.sqrt(v * v + 1.0)), u, v - x


def cases():
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-1, 1, SIZE), rng.uniform(-1, 1, SIZE)
    w, c = rng.uniform(0.1, 1, SIZE - SIZE % 7), np.asarray(0.4)
    xs = x[: w.size]
    return {
        "every_rule": (every_rule, [x, y]),
        "stencil": (lambda x: stencil(x, w), [xs]),
        "mixed": (lambda x, c: mixed(x, w, c), [xs, c]),
        "linear": (lambda x, y: 2.0 * x - y - (-x + 0.5 * y), [x, y]),  # no factor kept
    }


def jvp(prog, xs, tangents, on, monkeypatch):
    monkeypatch.setattr(specialise, "ENABLED", on)
    return run.jvp(prog, xs, tangents)


@pytest.mark.parametrize("p", WIDTHS)
@pytest.mark.parametrize("name", ["every_rule", "stencil", "mixed", "linear"])
def test_the_loop_equals_the_interpreted_group_and_the_reference(name, p, monkeypatch):
    f, xs = cases()[name]
    g = ad.trace(f, *xs)
    prog = run.compile(g)
    rng = np.random.default_rng(p)
    tangents = [rng.standard_normal((p,) + np.shape(x)) for x in xs]
    got = jvp(prog, xs, tangents, True, monkeypatch)
    assert prog.specialised[p].groups >= 1
    interpreted = jvp(prog, xs, tangents, False, monkeypatch)
    sizes = [v.size for v in g.outputs] * 2  # values, then tangents
    for a, b, size in zip(got[0] + got[1], interpreted[0] + interpreted[1], sizes):
        if size > 1:  # arrays: bit for bit
            np.testing.assert_array_equal(a, b)  # the same expressions in the same order
        else:  # a sum adds the same terms in another order
            np.testing.assert_allclose(a, b, rtol=1e-14)
    want = reference.jvp(g, xs, tangents)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", WIDTHS)
def test_the_loop_of_a_gradient_graphs_accumulates_equals_the_interpreter(p, monkeypatch):
    """The chained Rosenbrock's gradient graph: its shifted accumulates and their sum
    are a group of two scatter runs members (from ``SCATTER_RUNS_MIN`` entries)."""
    n = fusion.SCATTER_RUNS_MIN + 5
    x = np.random.default_rng(8).uniform(-1, 1, n)

    def f(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    g = ad.reverse.gradient_graph(ad.trace(f, x), [x])
    prog = run.compile(g)
    tangents = [np.random.default_rng(p).standard_normal((p, n))]
    got = jvp(prog, [x], tangents, True, monkeypatch)
    assert prog.specialised[p].groups == 2
    interpreted = jvp(prog, [x], tangents, False, monkeypatch)
    for a, b in zip(got[0] + got[1], interpreted[0] + interpreted[1]):
        np.testing.assert_array_equal(a, b)
    want = reference.jvp(g, [x], tangents)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_every_rule_is_in_the_group():
    f, xs = cases()["every_rule"]
    prog = run.compile(ad.trace(f, *xs))
    assert specialise.ForwardPlan(prog, 2).groups == 1
    names = {ad.kernels.table.INSTRUCTIONS[op].name for op in prog.ops}
    assert set(UNARY) | set(BINARY) <= names


def test_the_second_call_specialises_and_small_groups_stay_interpreted(monkeypatch):
    monkeypatch.setattr(specialise, "HOT_CALLS", 2)
    f, xs = cases()["mixed"]
    prog = run.compile(ad.trace(lambda x, c: np.cos(f(x, c)[2]), *xs))  # a new program
    tangents = [np.ones((3,) + np.shape(x)) for x in xs]
    first = run.jvp(prog, xs, tangents)
    assert 3 not in prog.specialised  # a one-off call compiles nothing
    second = run.jvp(prog, xs, tangents)
    assert prog.specialised[3].groups == 1
    for a, b in zip(first[1], second[1]):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(specialise, "MIN_SIZE", SIZE + 1)
    small = run.compile(ad.trace(lambda x: np.sin(x) * x + 1.0, np.ones(SIZE)))
    for _ in range(3):
        run.jvp(small, [np.ones(SIZE)], [np.ones((3, SIZE))])
    assert specialise.forward_plan(small, 3) is None


def test_wide_sweeps_and_the_switch_keep_the_interpreter(monkeypatch):
    f, xs = cases()["mixed"]
    prog = run.compile(ad.trace(f, *xs))
    assert specialise.forward_plan(prog, specialise.MAX_P + 1) is None
    monkeypatch.setattr(specialise, "ENABLED", False)  # AD_SPECIALISE=0 at import
    assert specialise.forward_plan(prog, 2) is None
    monkeypatch.setattr(specialise, "ENABLED", True)
    assert specialise.forward_plan(prog, 2).groups == 1


def test_an_unwritable_cache_leaves_the_group_interpreted(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(specialise, "CACHE", blocker / "groups")
    monkeypatch.setattr(specialise, "_LOOPS", {})
    f, xs = cases()["mixed"]
    prog = run.compile(ad.trace(lambda x, c: f(x, c)[2] * 2.0, *xs))
    tangents = [np.ones((2,) + np.shape(x)) for x in xs]
    got = run.jvp(prog, xs, tangents)
    assert prog.specialised[2] is False  # no loop: the interpreted sweep ran
    want = reference.jvp(prog.graph, xs, tangents)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-12)


def test_a_non_finite_tangent_in_a_specialised_group_names_its_node():
    x = np.linspace(0.0, 1.0, SIZE)  # sqrt'(0) is infinite
    prog = run.compile(ad.trace(lambda x: np.sqrt(x) * x + 1.0, x))
    with pytest.raises(NonFiniteError, match="sqrt"):
        run.jvp(prog, [x], [np.ones((3, SIZE))])
    assert prog.specialised[3].groups == 1


def test_a_sparse_jacobian_through_the_public_api_with_the_loop_is_the_dense_one():
    def residual(x):
        left = np.concatenate([np.zeros(1), x[:-1]])
        right = np.concatenate([x[1:], np.zeros(1)])
        return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0

    x = np.random.default_rng(0).uniform(-1, 1, SIZE)
    f = ad.jit(residual)
    first, second = ad.sparse_jacobian(f, x), ad.sparse_jacobian(f, x + 0.5)
    dense = ad.jacobian(residual)(x + 0.5)
    np.testing.assert_allclose(second.toarray(), dense, rtol=1e-12, atol=1e-12)
    assert first.nnz == second.nnz == 3 * SIZE - 2


def test_the_stencil_runs_both_kinds_of_segments():
    """Zeros at the ends and w's rows without partials take the entry-map path, the
    rest the affine one: the comparisons above exercise both."""
    f, xs = cases()["stencil"]
    plan = specialise.ForwardPlan(run.compile(ad.trace(f, *xs)), 3)
    segments = [args[2] for kind, _, args in plan.steps if kind == "group" and len(args[2]) > 1]
    fast = np.concatenate([G[:, 2] for G in segments]).astype(bool)
    assert fast.any() and not fast.all()
    for G in segments:  # they tile each group's entries
        assert np.array_equal(G[1:, 0], G[:-1, 1]) and G[0, 0] == 0


def test_the_entry_maps_are_built_once_for_every_width():
    """A group's entry maps and segments depend on the program, not on p: the plans at
    two widths, of two traces of one structure, share them."""
    f, xs = cases()["stencil"]
    plans = [specialise.ForwardPlan(run.compile(ad.trace(f, *xs)), p) for p in (3, 5)]
    maps = [[args[1:3] for kind, _, args in plan.steps if kind == "group"] for plan in plans]
    assert maps[0]
    for (R3, G3), (R5, G5) in zip(*maps):
        assert R3 is R5 and G3 is G5


def test_a_loop_numba_cannot_compile_leaves_the_group_interpreted(monkeypatch):
    if not hasattr(numba_loop_probe(), "compile"):
        pytest.skip("NUMBA_DISABLE_JIT: nothing is compiled")
    monkeypatch.setattr(specialise, "SIGNATURE", "int64(float64)")  # cannot type the loop
    monkeypatch.setattr(specialise, "_LOOPS", {})
    f, xs = cases()["mixed"]
    prog = run.compile(ad.trace(lambda x, c: np.tan(f(x, c)[2]), *xs))  # a new program
    tangents = [np.ones((2,) + np.shape(x)) for x in xs]
    got = run.jvp(prog, xs, tangents)
    assert prog.specialised[2] is False
    want = reference.jvp(prog.graph, xs, tangents)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-12)


def numba_loop_probe():
    """A compiled group loop (a Numba dispatcher unless NUMBA_DISABLE_JIT=1)."""
    f, xs = cases()["mixed"]
    plan = specialise.ForwardPlan(run.compile(ad.trace(f, *xs)), 1)
    return next(fn for kind, fn, _ in plan.steps if kind == "group")


def test_the_loops_compile_with_slp_and_the_setting_is_restored(monkeypatch):
    """SLP is on while a generated loop compiles (off if AD_SPECIALISE_SLP=0) and
    Numba's own setting is back after, also when the compilation fails."""
    seen = []

    class Loop:
        def compile(self, signature):
            seen.append(numba_config.SLP_VECTORIZE)
            raise RuntimeError("no")

    before = numba_config.SLP_VECTORIZE
    for on in (True, False):
        monkeypatch.setattr(specialise, "SLP", on)
        with pytest.raises(RuntimeError):
            specialise._compile_signature(Loop())
        assert numba_config.SLP_VECTORIZE == before
    assert seen == [1, 0]
    monkeypatch.undo()
    assert f"slp {int(specialise.SLP)}" in specialise._header()  # separate cache files


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="reads x86 code")
def test_slp_packs_a_members_partials(monkeypatch, tmp_path):
    """A loop compiled here (a fresh cache: Numba cannot show cached code) at p = 4
    has more packed double arithmetic than the same loop without SLP (where only
    the loop of the values, vectorised across entries, has any)."""
    if not hasattr(numba_loop_probe(), "compile"):
        pytest.skip("NUMBA_DISABLE_JIT: nothing is compiled")
    x = np.linspace(0.1, 1.0, SIZE)
    prog = run.compile(ad.trace(lambda x, y: (x * y - 2.0 * y) * x, x, x[::-1].copy()))
    ((_, _, rows),) = specialise.fused_groups(prog)
    counts = {}
    for on in (True, False):
        monkeypatch.setattr(specialise, "SLP", on)
        monkeypatch.setattr(specialise, "CACHE", tmp_path / str(on))
        monkeypatch.setattr(specialise, "_LOOPS", {})
        specialise._header.cache_clear()
        loop = specialise._compile(specialise.group_source("loop", rows, 4)[0])
        asm = loop.inspect_asm(loop.signatures[0])
        counts[on] = sum(asm.count(op) for op in ("vmulpd", "vsubpd", "mulpd\t", "subpd\t"))
    specialise._header.cache_clear()
    assert counts[True] > counts[False]


def test_a_linear_group_splits_with_no_factor_to_keep():
    """Its partials need only numbers (constants, a broadcast scale): the split loop's
    scratch has no row, and the comparisons above run it."""
    f, xs = cases()["linear"]
    ((_, _, rows),) = specialise.fused_groups(run.compile(ad.trace(f, *xs)))
    source = specialise.group_source("loop", rows, 3)[0]
    assert "F = np.empty((0, " in source and "F[" not in source
