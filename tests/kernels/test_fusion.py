"""Fused elementwise groups run block by block in every sweep: several blocks, a
remainder block, a sum across blocks, a broadcast operand, an inactive array operand,
and forward widths on both sides of the tangent-major path (2 .. TANGENT_MAX_P) and
that narrow the block, all against the reference interpreters."""

import numpy as np
import pytest

import ad
from ad import reference
from ad.errors import NonFiniteError
from ad.kernels import fusion, run, table

SIZE = 2 * fusion.BLOCK + 37  # two full blocks and a remainder


def chain(x, c):
    """sin, mul, exp, sub of a broadcast number, tanh, a sum: one group."""
    s = np.sin(x) * x
    t = np.tanh(np.exp(0.1 * s) - c)
    return np.sum(t * x), t


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(7)
    x, c = rng.uniform(-1, 1, SIZE), np.asarray(0.3)
    g = ad.trace(chain, x, c)
    return g, run.compile(g), x, c, rng


def test_the_chain_is_one_group_whose_intermediates_have_no_dual_rows(case):
    _, prog, *_ = case
    names = [table.INSTRUCTIONS[op].name for op in prog.ops]
    assert names.count("fused") == 1
    assert prog.n_internal > 0
    assert prog.n_active == prog.n_reverse  # no partials rows for the internal values
    assert prog.n_internal == 6 * SIZE  # sin, mul, mul, exp, sub, the last mul
    # rows: x, c, the outputs t and the sum, one scratch block per internal value
    assert prog.n_active == SIZE + 1 + SIZE + 1 + 6 * fusion.BLOCK


WIDTHS = [1, 2, 3, fusion.TANGENT_MAX_P, fusion.TANGENT_MAX_P + 1, 40, 700]


@pytest.mark.parametrize("p", WIDTHS)  # 700: a forward block of 23 entries
def test_forward_sweeps_of_a_fused_group_match_the_reference(case, p):
    g, prog, x, c, rng = case
    tx, tc = rng.standard_normal((p, SIZE)), rng.standard_normal((p,))
    outs, tans = run.jvp(prog, [x, c], [tx, tc])
    want_outs, want_tans = reference.jvp(g, [x, c], [tx, tc])
    for got, want in zip(list(outs) + list(tans), list(want_outs) + list(want_tans)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("q", [1, 5])
def test_reverse_sweeps_of_a_fused_group_match_the_reference(case, q):
    g, prog, x, c, rng = case
    bars = [rng.standard_normal((q,)), rng.standard_normal((q, SIZE))]
    got = run.vjp(prog, [x, c], bars)[1]
    want = reference.vjp(g, [x, c], bars)[1]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def mixed(x, w, c):
    """An inactive array operand (w), an active broadcast number (c) on either side,
    a group output read inside the group (u) and a unary chain."""
    u = x * w + c
    v = np.exp(-u) / (1.0 + c * u)
    return np.sum(np.sqrt(v * v + 1.0)) + 0.0 * np.sum(w), u, v - x


@pytest.mark.parametrize("p", WIDTHS[:5])
def test_tangent_major_and_row_major_forward_sweeps_agree(p):
    rng = np.random.default_rng(11)
    x, w, c = rng.uniform(0.1, 1, SIZE), rng.uniform(0.1, 1, SIZE), np.asarray(0.4)
    g = ad.trace(lambda x, c: mixed(x, w, c), x, c)
    prog = run.compile(g)
    assert [table.INSTRUCTIONS[op].name for op in prog.ops].count("fused") == 1
    tx, tc = rng.standard_normal((p, SIZE)), rng.standard_normal((p,))
    outs, tans = run.jvp(prog, [x, c], [tx, tc])
    want_outs, want_tans = reference.jvp(g, [x, c], [tx, tc])
    for got, want in zip(list(outs) + list(tans), list(want_outs) + list(want_tans)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # each direction alone (p = 1, the row-major path) gives the same tangents
    for r in range(p):
        one = run.jvp(prog, [x, c], [tx[r : r + 1], tc[r : r + 1]])[1]
        for got, want in zip(one, tans):
            np.testing.assert_allclose(got[0], want[r], rtol=1e-13, atol=1e-13)


# -- slices, pads and concatenations run inside the groups (RUNS members) ---------------


def stencil(x, w):
    """Broyden's tridiagonal residual with its zero padding (two concatenations), a
    concatenation of the active x with the inactive w, and a 2-D interior slice of a
    padded grid (a strided move): every gather is runs of consecutive slots."""
    left = np.concatenate([np.zeros(1), x[:-1]])
    right = np.concatenate([x[1:], np.zeros(1)])
    r = (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0
    both = np.concatenate([x[: SIZE // 2], w[SIZE // 2 :]])
    g = np.pad(np.reshape(np.exp(0.1 * x), (-1, 15)), 1)  # (rows + 2, 17)
    inner = np.reshape(g[1:-1, 1:-1] - 0.25 * g[:-2, 1:-1], -1)
    return r * both + inner


def runs_members(prog):
    """Number of RUNS members in the fused groups of ``prog``."""
    found = 0
    for i in np.flatnonzero(prog.ops == table.BY_NAME["fused"].opcode):
        ins, j = table.BY_NAME["fused"], prog.ptr[i]
        m, count = prog.code[j + ins.index["m"]], prog.code[j + ins.index["count"]]
        desc = prog.pool[m : m + count * fusion.MEMBER_WIDTH].reshape(count, -1)
        found += int(np.sum(desc[:, 0] == table.BY_NAME["runs"].opcode))
    return found


@pytest.fixture(scope="module")
def shifted():
    rng = np.random.default_rng(5)
    x, w = rng.uniform(-1, 1, SIZE), rng.uniform(-1, 1, SIZE)
    g = ad.trace(lambda x: stencil(x, w), x)
    return g, run.compile(g), x, w, rng


def test_slices_pads_and_concatenations_are_members_of_the_group(shifted):
    g, prog, x, w, _ = shifted
    assert runs_members(prog) == 5  # left, right, both and the two grid slices
    # the grid's zero pad (another size) is a runs instruction of its own
    assert "runs" in [table.INSTRUCTIONS[op].name for op in prog.ops]
    np.testing.assert_allclose(run.primal(prog, [x])[0], stencil(x, w), rtol=1e-14)
    want = reference.evaluate(g, [x])[g.outputs[0].id]
    np.testing.assert_allclose(want, stencil(x, w), rtol=1e-14)


@pytest.mark.parametrize("p", WIDTHS)
def test_forward_sweeps_with_runs_members_match_the_reference(shifted, p):
    g, prog, x, _, rng = shifted
    tx = rng.standard_normal((p, SIZE))
    outs, tans = run.jvp(prog, [x], [tx])
    want_outs, want_tans = reference.jvp(g, [x], [tx])
    np.testing.assert_allclose(outs[0], want_outs[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(tans[0], want_tans[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("q", [1, 3, 8])
def test_reverse_sweeps_with_runs_members_match_the_reference(shifted, q):
    g, prog, x, _, rng = shifted
    bars = [rng.standard_normal((q, SIZE))]
    got = run.vjp(prog, [x], bars)[1][0]
    want = reference.vjp(g, [x], bars)[1][0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_shift_of_a_value_of_the_group_starts_the_next_group():
    """A gather reads its source at any entry: a source the group computes is not
    complete while the group runs, so the shift of u begins a second group."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, SIZE)

    def f(x):
        u = np.sin(x) * x
        v = np.concatenate([u[1:], np.zeros(1)])
        return np.tanh(u * v + x)

    g = ad.trace(f, x)
    prog = run.compile(g)
    assert [table.INSTRUCTIONS[op].name for op in prog.ops].count("fused") == 2
    assert runs_members(prog) == 1
    tx = rng.standard_normal((3, SIZE))
    np.testing.assert_allclose(run.jvp(prog, [x], [tx])[1][0], reference.jvp(g, [x], [tx])[1][0])
    bars = [rng.standard_normal((2, SIZE))]
    np.testing.assert_allclose(run.vjp(prog, [x], bars)[1][0], reference.vjp(g, [x], bars)[1][0])
    np.testing.assert_allclose(run.primal(prog, [x])[0], f(x), rtol=1e-14)


def test_a_fancy_index_stays_out_of_the_groups():
    """A gather of scattered entries (one run per entry) keeps its own instruction."""
    rng = np.random.default_rng(4)
    x, perm = rng.uniform(-1, 1, SIZE), rng.permutation(SIZE)
    g = ad.trace(lambda x: np.sin(x) * x[perm] + x, x)
    prog = run.compile(g)
    assert runs_members(prog) == 0
    assert "gather" in [table.INSTRUCTIONS[op].name for op in prog.ops]


# -- a pad read only by slices: the slices read its source, the pad leaves the sweeps ----

COLS = 139  # the grid below is 15 x 139 (SIZE entries), padded to 17 x 141


def laplacian(x, extra=None):
    """A 5-point Laplacian residual of a zero-padded grid; ``extra`` reads the padded
    grid once more (as an output, a sum, a row slice that is a view of its slots)."""
    grid = np.pad(np.reshape(x, (-1, COLS)), 1)
    u = grid[1:-1, 1:-1]
    lap = 4.0 * u - grid[:-2, 1:-1] - grid[2:, 1:-1] - grid[1:-1, :-2] - grid[1:-1, 2:]
    r = np.reshape(lap - 0.1 * np.exp(u), (-1,))
    if extra == "output":
        return r, grid
    if extra == "sum":
        return r + np.sum(grid * grid)
    if extra == "view":
        return r, np.exp(grid[1:])
    return r


def pad_instruction(prog):
    """The activity word of the program's one zero pad (a runs instruction)."""
    (i,) = np.flatnonzero(prog.ops == table.BY_NAME["runs"].opcode)
    return int(prog.act[i])


def sweeps_match_the_reference(g, prog, x, rng):
    outs = run.primal(prog, [x])
    want = reference.evaluate(g, [x])
    for got, v in zip(outs, g.outputs):
        np.testing.assert_allclose(got, want[v.id].reshape(v.shape), rtol=1e-13, atol=1e-13)
    ws = prog.acquire()
    run._run_primal(prog, ws, [x], fused=False)  # what error reports run: every instruction
    for got, v in zip(prog.read_outputs(ws.values), g.outputs):
        np.testing.assert_allclose(got, want[v.id].reshape(v.shape), rtol=1e-13, atol=1e-13)
    prog.release(ws)
    for p in (1, 3, fusion.TANGENT_MAX_P + 1):
        tx = rng.standard_normal((p, SIZE))
        got, expect = run.jvp(prog, [x], [tx])[1], reference.jvp(g, [x], [tx])[1]
        for a, b in zip(got, expect):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    bars = [rng.standard_normal((3,) + v.shape) for v in g.outputs]
    got, expect = run.vjp(prog, [x], bars)[1][0], reference.vjp(g, [x], bars)[1][0]
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)


def test_a_pad_read_only_by_slices_runs_in_no_fused_sweep():
    """The four shifted slices and the interior read x through the pad's map (a zero
    where the pad has one): the pad is marked as a member (only the unfused primal,
    which error reports run, computes it) and its output has no dual rows."""
    assert SIZE % COLS == 0
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, SIZE)
    g = ad.trace(laplacian, x)
    prog = run.compile(g)
    assert pad_instruction(prog) & table.MEMBER
    assert unfused_names(prog) == ["fused"]
    assert runs_members(prog) == 5
    padded = (SIZE // COLS + 2) * (COLS + 2)
    kept = run.compile(ad.trace(lambda x: laplacian(x, "output"), x))
    assert not pad_instruction(kept) & table.MEMBER
    assert prog.n_active == kept.n_active - padded  # no dual rows for the pad
    assert prog.tape_bytes() == kept.tape_bytes() - 8 * padded  # nor a place on the tape
    sweeps_match_the_reference(g, prog, x, rng)


@pytest.mark.parametrize("extra", ["output", "sum", "view"])
def test_a_pad_read_otherwise_is_computed_by_every_sweep(extra):
    """A pad that is an output, or is read by more than the gathers that read through
    it (a product, a row slice lowered as a view of its slots), stays an instruction."""
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, SIZE)
    g = ad.trace(lambda x: laplacian(x, extra), x)
    prog = run.compile(g)
    assert not pad_instruction(prog) & table.MEMBER
    sweeps_match_the_reference(g, prog, x, rng)


def test_a_gather_of_a_composed_gather_reads_through_both():
    """Two slices of the pad form a group of their own (so the pad is elided), and
    slices of those slices read through both maps: none reads the pad's output, which
    no fused sweep computes."""
    rng = np.random.default_rng(14)
    x = rng.uniform(-1, 1, SIZE)

    def f(x):
        grid = np.pad(np.reshape(x, (-1, COLS)), 1)
        a, a2 = grid[:, 1:-1], grid[:, :-2]  # one group: two gathers of the pad
        b, b2 = a[1:-1, 1:], a2[1:-1, 1:]  # gathers of gathers
        return np.reshape(b * b2 + np.sin(b), -1)

    g = ad.trace(f, x)
    prog = run.compile(g)
    assert pad_instruction(prog) & table.MEMBER
    assert unfused_names(prog) == ["fused", "fused"]
    sweeps_match_the_reference(g, prog, x, rng)


def random_stencil(seed):
    """A random chain of pads, shifts, reversals and elementwise steps on the grid,
    an earlier array of the same shape multiplied in at times, two shifts shifted
    again: gathers of gathers in and out of groups, read by gathers only or by more."""
    steps = np.random.default_rng(seed).integers(0, 7, size=9)

    def f(x):
        arrs = [np.reshape(x, (-1, COLS))]
        for step in steps:
            a = arrs[-1]
            small = min(a.shape) < 6
            if step == 0:
                a = np.pad(a, 1)
            elif step == 1 and not small:
                a = a[:, 1:]
            elif step == 2 and not small:
                a = a[1:-1, :-2]
            elif step == 3:
                a = a[::-1, ::-1] if small else np.sin(a) * a
            elif step == 4:
                same = [b for b in arrs[:-1] if b.shape == a.shape]
                a = a * same[-1] if same else np.exp(0.1 * a)
            elif step == 5:
                a = np.tanh(a[:, ::-1])
            elif not small:  # two shifts (a group of gathers), then shifts of those
                a1, a2 = a[:, 1:], a[:, :-1]
                a = a1[:, 1:] * a2[:, :-1]
            arrs.append(a)
        return np.reshape(arrs[-1], -1), np.sum(arrs[len(arrs) // 2] ** 2)

    return f


def test_random_chains_of_gathers_match_the_reference_in_every_sweep():
    rng = np.random.default_rng(15)
    x = rng.uniform(-1, 1, SIZE)
    elided = 0
    for seed in range(40):
        g = ad.trace(random_stencil(seed), x)
        prog = run.compile(g)
        runs = prog.ops == table.BY_NAME["runs"].opcode
        elided += int(np.any(runs & ((prog.act & table.MEMBER) != 0)))
        sweeps_match_the_reference(g, prog, x, rng)
    assert elided >= 5  # the cases above occur


def test_a_non_finite_value_behind_an_elided_pad_is_reported():
    """The report reruns the unfused sweep, which computes the pad: the same error as
    the reference's, naming the exp."""
    x = np.full(SIZE, 0.5)
    x[7] = 800.0  # exp overflows
    g = ad.trace(laplacian, x)
    prog = run.compile(g)
    assert pad_instruction(prog) & table.MEMBER
    with ad.nonfinite("raise"), pytest.raises(NonFiniteError, match="exp"):
        run.primal(prog, [x])


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def gradient_program(f, n, seed=6):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    gg = ad.reverse.gradient_graph(ad.trace(f, x), [x])
    return gg, run.compile(gg), x, rng


def unfused_names(prog):
    return [
        table.INSTRUCTIONS[op].name for op, a in zip(prog.ops, prog.act) if not a & table.MEMBER
    ]


def test_the_shifted_accumulates_of_a_gradient_graph_are_runs_members():
    """The reverse mode adds the adjoints of x[1:] and x[:-1] into zeros: each entry
    once, so from SCATTER_RUNS_MIN entries both accumulates and their sum are one
    group (below, instructions of their own); the sweeps match the reference."""
    assert SIZE >= fusion.SCATTER_RUNS_MIN
    gg, prog, x, rng = gradient_program(rosenbrock, SIZE)
    assert unfused_names(prog) == ["fused", "fused"]
    assert runs_members(prog) == 2
    small = gradient_program(rosenbrock, fusion.SCATTER_RUNS_MIN - 1)[1]
    assert unfused_names(small).count("accumulate") == 2
    np.testing.assert_allclose(
        run.primal(prog, [x])[0], reference.evaluate(gg, [x])[gg.outputs[0].id], rtol=1e-14
    )
    for p in (1, 3, fusion.TANGENT_MAX_P + 1):
        tx = rng.standard_normal((p, SIZE))
        got, want = run.jvp(prog, [x], [tx])[1][0], reference.jvp(gg, [x], [tx])[1][0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    bars = [rng.standard_normal((3, SIZE))]
    got, want = run.vjp(prog, [x], bars)[1][0], reference.vjp(gg, [x], bars)[1][0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_scatter_that_adds_two_entries_into_one_stays_an_instruction():
    """The transpose of x[idx] with a repeated index sums: not a runs member."""
    idx = np.concatenate([np.arange(SIZE - 1), [0]])
    gg, prog, x, rng = gradient_program(lambda x: np.sum(np.sin(x[idx]) * x), SIZE)
    assert runs_members(prog) == 1  # x[idx] itself: two runs
    assert "scatter" in unfused_names(prog)
    tx = rng.standard_normal((2, SIZE))
    np.testing.assert_allclose(
        run.jvp(prog, [x], [tx])[1][0], reference.jvp(gg, [x], [tx])[1][0], rtol=1e-12, atol=1e-12
    )
