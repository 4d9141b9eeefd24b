"""The compiled engine's program caches (issue 12): by structure and by identity.

A traced graph equal to one lowered before takes that program; a graph that differs
in anything the lowering reads (an index map, the Vars its guards read) must not."""

import gc

import numpy as np
import pytest

import ad
from ad.errors import GraphError, ShapeError
from ad.ir import Var
from ad.kernels import run
from ad.kernels.lower import lower_graph
from ad.kernels.program import Program
from ad.primitives import shape
from ad.trace import trace_with_values


def traced(f, x):
    return trace_with_values(f, [x])[0]


def test_a_retrace_takes_the_program_of_the_first_trace():
    f = lambda x: np.sin(x[0]) * np.tanh(x[1]) * x[2]  # noqa: E731
    x = np.array([0.3, 0.5, 0.7])
    g1, g2 = traced(f, x), traced(f, x)
    assert g1.eqn_keys is not None and g1.eqn_keys == g2.eqn_keys
    assert run.compile(g1) is run.compile(g2)


def test_other_index_maps_get_other_programs():
    x = np.array([0.3, 0.5, 0.7])
    for i in (0, 1, 2, 0, 2, 1):
        g = traced(lambda x, i=i: np.sin(x[i]) * 2.0, x)
        assert np.isclose(g(x), np.sin(x[i]) * 2.0)
        assert np.isclose(ad.grad(lambda x, i=i: np.sin(x[i]) * 2.0)(x)[i], 2 * np.cos(x[i]))


def test_identity_keys_stay_sound_when_the_shared_maps_are_dropped():
    """The identity cache names index maps by id(): it keeps their graph alive, so a new
    map can never take the id of one it names (checked by dropping the shared maps and
    allocating many new ones between calls)."""
    x = np.arange(1.0, 9.0)
    for k in range(40):
        shape._MAPS.clear()
        gc.collect()
        junk = [np.arange(j % 7, dtype=np.int64) for j in range(200)]  # recycle ids
        i = k % 8
        got = ad.grad(lambda x, i=i: np.sum(x[i:] ** 2))(x)
        want = np.where(np.arange(8) >= i, 2 * x, 0.0)
        np.testing.assert_allclose(got, want, rtol=1e-15)
        del junk


def test_graphs_whose_guards_read_other_values_get_other_programs():
    """Same equations, other guards: the lowering keeps the values guards read (a
    fused group's internal values are not stored), so the program must differ."""

    def f(x):
        y = np.sin(x) * 2.0
        z = np.cos(y) + 1.0
        if np.all(y > 0) or np.all(z > 0.5):  # trace A reads y only, trace B y and z
            return np.sum(z * z)
        return np.sum(z * z)

    a = np.full(4, 0.3)  # y > 0: z is not read
    b = np.full(4, -0.3)  # y < 0: z is read
    ga, gb = traced(f, a), traced(f, b)
    assert [e.prim.name for e in ga.eqns] == [e.prim.name for e in gb.eqns]
    assert ga.guard_vars() != gb.guard_vars()
    pa, pb = run.compile(ga), run.compile(gb)
    assert pa is not pb
    # the compiled values satisfy each graph's own guards (none read a stale slot)
    assert run.replay(pb, [b], gb.guards) is not None
    assert run.replay(pa, [a], ga.guards) is not None
    np.testing.assert_allclose(ad.grad(f)(b), ad.grad(f, engine="reference")(b), rtol=1e-14)


def test_var_size_is_its_shapes_product():
    assert Var(3, (2, 3)).size == 6 and Var(0, ()).size == 1 and Var(1, (0, 4)).size == 0
    assert Var(3, (2, 3)) == Var(3, (2, 3)) and Var(3, (2, 3)) != Var(3, (3, 2))
    with pytest.raises(ShapeError, match="size 5"):
        Var(3, (2, 3), 5)


def test_a_non_integer_payload_is_refused():
    g = traced(lambda x: np.sin(x) * x, np.ones(3))
    lw = lower_graph(g)
    lw.code[1] = 2.5  # a lowering that wrote a float where a slot belongs
    with pytest.raises(GraphError, match="non-integer payload"):
        Program(g, lw)
