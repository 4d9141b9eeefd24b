"""``jvp_take`` / ``vjp_take``: seeds written straight into the dual rows, entries
gathered straight out of the dual buffer, equal to ``jvp`` / ``vjp`` read at those
entries, on random (non-unit) seeds; ``take_index`` refuses what it cannot locate."""

import numpy as np
import pytest
from kernel_graphs import N

import ad
from ad.errors import NonFiniteError
from ad.kernels import run


def two_by_three(a, b):
    """Two inputs (one a matrix), outputs of own, alias, input and inactive storage."""
    s = np.sin(a) * b[0]
    return s * b[1], s[1:], b, np.ones(3), np.exp(a).reshape(2, N // 2)


def flat(arrays, p):
    return np.concatenate([np.reshape(t, (p, -1)) for t in arrays], axis=1)


@pytest.fixture
def program(rng):
    a, b = rng.uniform(-1, 1, N), rng.uniform(-1, 1, (2, N))
    g = ad.trace(two_by_three, a, b)
    return run.compile(g), [a, b]


def test_jvp_take_reads_the_tangents_of_jvp(program, rng):
    prog, xs = program
    p = 3
    rows = rng.standard_normal((prog.n_in, p))
    tangents = [
        np.ascontiguousarray(rows[:N].T),
        np.ascontiguousarray(rows[N:].T).reshape(p, 2, N),
    ]
    outs, touts = run.jvp(prog, xs, tangents)
    assert touts[3] is None  # the constant output has no tangent: none is asked of it
    want = flat([np.zeros((p, 3)) if t is None else t for t in touts], p)
    sizes = [size for _, size, _ in prog.outputs]
    constant = np.arange(sum(sizes[:3]), sum(sizes[:4]))
    pos = rng.permutation(np.setdiff1d(np.arange(want.shape[1]), constant))[:-4]
    lane = rng.integers(0, p, pos.size)
    index = run.take_index(prog, "forward", pos, lane, p)
    assert index is not None
    np.testing.assert_array_equal(run.jvp_take(prog, xs, rows, index), want[lane, pos])


def test_vjp_take_reads_the_cotangents_of_vjp(program, rng):
    prog, xs = program
    q = 4
    sizes = [size for _, size, _ in prog.outputs]
    rows = rng.standard_normal((sum(sizes), q))
    ends = np.cumsum(sizes)
    cotangents = [
        np.ascontiguousarray(rows[e - size : e].T).reshape((q,) + shape)
        for e, (_, size, shape) in zip(ends, prog.outputs)
    ]
    _, bars = run.vjp(prog, xs, cotangents)
    want = flat(bars, q)
    pos = rng.permutation(prog.n_in)
    lane = rng.integers(0, q, pos.size)
    index = run.take_index(prog, "reverse", pos, lane, q)
    np.testing.assert_array_equal(run.vjp_take(prog, xs, rows, index), want[lane, pos])


def test_take_index_refuses_an_inactive_output_and_out_of_range(program):
    prog, _ = program
    sizes = [size for _, size, _ in prog.outputs]
    constant = sum(sizes[:3])  # the first entry of the inactive output np.ones(3)
    assert run.take_index(prog, "forward", np.array([0, constant]), np.array([0, 0]), 2) is None
    assert run.take_index(prog, "forward", np.array([sum(sizes)]), np.array([0]), 2) is None
    assert run.take_index(prog, "forward", np.array([0]), np.array([2]), 2) is None
    assert run.take_index(prog, "reverse", np.array([prog.n_in]), np.array([0]), 2) is None
    assert run.take_index(prog, "reverse", np.array([0]), np.array([-1]), 2) is None


@pytest.mark.parametrize("bad", [4, -1, -(2**62), 2**62])
def test_the_gather_never_reads_outside_the_buffer(bad):
    """Past the end, and negative (one unsigned comparison: it wraps past the end)."""
    with pytest.raises(IndexError):
        run._gather(np.zeros(4), np.array([0, bad], dtype=np.int64))
    np.testing.assert_array_equal(run._gather(np.arange(4.0), np.array([3, 0, 3])), [3, 0, 3])


def test_a_non_finite_tangent_raises_the_jvp_error(rng):
    x = np.linspace(0.5, 1.5, N)
    x[2] = 0.0
    prog = run.compile(ad.trace(lambda x: np.sqrt(x * x) * 2.0, x))  # sqrt'(0) = inf
    rows = np.ones((N, 1))
    index = run.take_index(prog, "forward", np.arange(N), np.zeros(N, dtype=np.int64), 1)
    with ad.nonfinite("raise"):
        with pytest.raises(NonFiniteError) as fast:
            run.jvp_take(prog, [x], rows, index)
        with pytest.raises(NonFiniteError) as slow:
            run.jvp(prog, [x], [rows.T.copy()])
    assert str(fast.value) == str(slow.value) and "tangent" in str(fast.value)


def _take_all(prog, xs, rows):
    """Every tangent entry of every output with dual rows, by ``jvp_take``."""
    p = rows.shape[1]
    live = [size for (_, size, _), a in zip(prog.outputs, prog.out_active) if a]
    pos = np.arange(live[0])  # the first output is active (two_by_three)
    lanes = np.repeat(np.arange(p), pos.size)
    index = run.take_index(prog, "forward", np.tile(pos, p), lanes, p)
    return run.jvp_take(prog, xs, rows, index)


def test_a_frozen_seed_block_is_kept_only_while_the_buffer_holds_it(program, rng):
    """``Workspace.seeded`` skips the copy of a frozen block the buffer still holds: the
    results stay those of fresh seeds after a jvp at the same width wrote the input
    rows, after another width evicted the buffer, and with the block's values changed
    (a writable block is copied at every call)."""
    prog, xs = program
    p = 3

    def expect(rows):
        tangents = [
            np.ascontiguousarray(rows[:N].T),
            np.ascontiguousarray(rows[N:].T).reshape(p, 2, N),
        ]
        return np.reshape(run.jvp(prog, xs, tangents)[1][0], -1)

    frozen = np.array(rng.standard_normal((prog.n_in, p)), order="C")
    frozen.flags.writeable = False
    want = expect(frozen)
    np.testing.assert_array_equal(_take_all(prog, xs, frozen), want)
    np.testing.assert_array_equal(_take_all(prog, xs, frozen), want)  # copy skipped
    other = rng.standard_normal((prog.n_in, p))
    np.testing.assert_array_equal(_take_all(prog, xs, other), expect(other))
    np.testing.assert_array_equal(_take_all(prog, xs, frozen), want)  # copied again
    expect(other)  # a jvp at width p writes the input rows of the same buffer
    np.testing.assert_array_equal(_take_all(prog, xs, frozen), want)
    for width in (5, 7):  # two other widths: the width-p buffer is evicted
        _take_all(prog, xs, rng.standard_normal((prog.n_in, width)))
    np.testing.assert_array_equal(_take_all(prog, xs, frozen), want)
    writable = frozen.copy()
    np.testing.assert_array_equal(_take_all(prog, xs, writable), want)
    writable[:] = other
    np.testing.assert_array_equal(_take_all(prog, xs, writable), expect(other))
