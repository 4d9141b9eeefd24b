"""The lowered program: tape size, validation of bad programs, activity, errors."""

import numpy as np
import pytest
from kernel_graphs import N

import ad
from ad import reference
from ad.errors import GraphError, InputTypeError, NonFiniteError, ShapeError
from ad.ir import GraphBuilder
from ad.kernels import fusion, run, table
from ad.kernels.lower import lower_graph
from ad.kernels.program import Program, validate


def tape_bytes(g):
    return run.tape_bytes(run.compile(g))


def opcode(name):
    return table.BY_NAME[name].opcode


def field(prog, i, name):
    """Field ``name`` of instruction i's payload (its position in the code array)."""
    ins = table.INSTRUCTIONS[prog.ops[i]]
    return prog.ptr[i] + ins.index[name]


def one_op_graph():
    b = GraphBuilder()
    x = b.input((3,))
    return b.build(b.apply("sin", x))


def small_graph():
    b = GraphBuilder()
    x = b.input((3,))
    s = b.apply("sin", x)
    m = b.apply("mul", s, x)
    return b.build(b.apply("scatter_add", m, idx=np.zeros(3, dtype=np.int64), out_shape=()))


# -- tape_bytes ----------------------------------------------------------------------


def test_tape_bytes_is_eight_bytes_per_scalar_of_every_var():
    g = one_op_graph()  # x (3) + sin (3)
    assert tape_bytes(g) == 8 * 6 == ad.reverse.tape_bytes(g)


def test_a_fused_group_keeps_its_inputs_and_outputs_and_a_scratch_block():
    g = small_graph()  # sin, mul, sum fused: sin and mul are recomputed from x
    prog = run.compile(g)
    assert [table.INSTRUCTIONS[op].name for op in prog.ops] == ["fused", "sin", "mul", "sum"]
    # x (3) + sum (1) + scratch for the 2 internal values (2 x 3)
    assert tape_bytes(g) == 8 * (3 + 1 + 2 * 3)


def test_tape_bytes_counts_constants_and_matrices():
    b = GraphBuilder()
    A = b.input((4, 5))
    B = b.const(np.ones((5, 2)))
    g = b.build(b.apply("matmul", A, B))  # 20 + 10 + 8
    assert tape_bytes(g) == 8 * 38


def test_tape_of_the_random_program_is_one_float_per_value():
    from bench.problems.random import random_graph

    g = random_graph(10, 3, 1000, seed=0)
    # a one-entry gather reads its source's slot (an alias): no slot of its own
    copies = {e.outputs[0].id for e in g.eqns if e.prim.name == "gather" and len(e.inputs) == 1}
    values = sum(v.size for v in g.variables() if v.id not in copies)
    assert copies and tape_bytes(g) == 8 * values


# -- validation: bad programs never reach a kernel -------------------------------------


def test_a_graph_reading_an_undefined_variable_is_rejected():
    b = GraphBuilder()
    x = b.input((2,))
    other = GraphBuilder()
    other.input((2,))
    ghost = other.apply("sin", other.input((2,)))
    g = b.build(b.apply("add", x, ghost), validate=False)
    with pytest.raises(GraphError, match="not defined"):
        g(np.ones(2))


def fresh_program(g):
    """A program of its own (run.compile shares programs between equal structures:
    these tests corrupt theirs)."""
    return Program(g, lower_graph(g))


def _tampered(g, attr, index, value):
    prog = fresh_program(g)
    arr = getattr(prog, attr).copy()
    arr[index] = value
    setattr(prog, attr, arr)
    return prog


@pytest.mark.parametrize(
    "attr, index, value, message",
    [
        ("ops", 0, 999, "unknown opcode"),
        ("code", 0, 10**9, "slot range of out"),
        ("code", 1, -5, "slot range of x"),
        ("ptr", 1, 0, "payload has"),
    ],
)
def test_a_corrupted_program_is_rejected_in_python(attr, index, value, message):
    prog = _tampered(one_op_graph(), attr, index, value)
    with pytest.raises(GraphError, match=message):
        validate(prog)


def test_a_corrupted_fused_group_is_rejected():
    prog = fresh_program(small_graph())
    m = prog.code[field(prog, 0, "m")]
    prog.pool = prog.pool.copy()
    prog.pool[m + 4] = 10**6  # the first member's output slot
    with pytest.raises(GraphError, match="fused group member"):
        validate(prog)


def test_a_fused_member_reading_scratch_before_it_is_written_is_rejected():
    """The forward sweep's tangent columns follow the members' order: a scratch
    operand must be some earlier member's output."""
    prog = fresh_program(small_graph())
    m = prog.code[field(prog, 0, "m")]
    desc = prog.pool[m : m + 2 * fusion.MEMBER_WIDTH].reshape(2, -1)
    assert desc[0, 3] == fusion.SCRATCH  # the first member writes scratch
    prog.pool = prog.pool.copy()
    prog.pool[m + 5], prog.pool[m + 6] = fusion.SCRATCH, desc[0, 4]  # it reads its output
    with pytest.raises(GraphError, match="reads scratch no member wrote before"):
        validate(prog)


def test_a_gather_map_out_of_range_is_rejected():
    b = GraphBuilder()
    x = b.input((3,))
    g = b.build(b.apply("gather", x, idx=np.array([2, 0, 1, -1]), in_ndims=(1,)))
    prog = fresh_program(g)
    (i,) = np.flatnonzero(prog.ops == opcode("gather"))
    prog.pool = prog.pool.copy()
    prog.pool[prog.code[field(prog, i, "m")]] = 10**6
    with pytest.raises(GraphError, match="gather source slot out of range"):
        validate(prog)


def test_a_scatter_target_outside_its_output_is_rejected():
    b = GraphBuilder()
    x = b.input((4,))
    g = b.build(b.apply("scatter_add", x, idx=np.array([0, 2, 0, 1]), out_shape=(3,)))
    prog = fresh_program(g)
    (i,) = np.flatnonzero(prog.ops == opcode("scatter"))
    prog.pool = prog.pool.copy()
    prog.pool[prog.code[field(prog, i, "m")]] = 0  # the input's slot, not the output's
    with pytest.raises(GraphError, match="scatter target outside its output"):
        validate(prog)


def test_a_primitive_without_a_kernel_is_a_clear_error(monkeypatch):
    monkeypatch.delitem(table.LOWERINGS, "sin")
    with pytest.raises(GraphError, match="no instruction for this primitive"):
        lower_graph(small_graph())


def test_arguments_are_checked():
    g = small_graph()
    with pytest.raises(ShapeError, match="shape"):
        g(np.ones(4))
    with pytest.raises(ShapeError, match="inputs"):
        g(np.ones(3), np.ones(3))
    with pytest.raises(InputTypeError):
        g(np.arange(3))
    with pytest.raises(ShapeError, match="tangent"):
        ad.forward.jvp(g, np.ones(3), np.ones(4))
    with pytest.raises(ShapeError, match="None"):
        ad.engine.run_jvp(g, [np.ones(3)], [None], "compiled")
    assert g(np.ones(3)) == pytest.approx(3 * np.sin(1.0))


# -- activity: inactive operands are never differentiated -----------------------------


def test_pow_with_a_constant_exponent_never_forms_log_of_a_negative_base():
    b = GraphBuilder()
    x = b.input((N,))
    g = b.build(b.apply("pow", x, b.const(np.full(N, 3.0))))
    x0 = -np.linspace(0.5, 2.0, N)  # log(x) is NaN here
    J = ad.forward.jacobian(g, x0, engine="compiled")
    np.testing.assert_allclose(J, np.diag(3 * x0**2), rtol=1e-13)
    np.testing.assert_allclose(ad.reverse.jacobian(g, x0, engine="compiled"), J, rtol=1e-13)


def test_an_output_that_does_not_depend_on_the_inputs_has_no_tangent():
    b = GraphBuilder()
    x = b.input((2,))
    k = b.apply("sin", b.const(np.ones(2)))
    g = b.build((b.apply("sin", x), k))
    outs, touts = run.jvp(run.compile(g), [np.ones(2)], [np.ones((1, 2))])
    assert touts[1] is None
    np.testing.assert_allclose(outs[1], np.sin(np.ones(2)))


def test_instructions_off_the_path_to_an_output_are_skipped():
    b = GraphBuilder()
    x = b.input((2,))
    b.apply("exp", x)  # dead code
    g = b.build(b.apply("sin", x))
    prog = run.compile(g)
    needed = {table.INSTRUCTIONS[op].name: a & 1 for op, a in zip(prog.ops, prog.act)}
    assert needed["exp"] == 0 and needed["sin"] == 1


# -- the tape is explicit; calls share no state -----------------------------------------


def test_one_recording_serves_many_adjoint_sweeps(monkeypatch):
    g = small_graph()
    prog = run.compile(g)
    x0 = np.array([0.1, 0.2, 0.3])
    with run.record(prog, [x0]) as tape:
        for _ in range(3):
            (bar,) = tape.vjp([np.ones((1,))])
            np.testing.assert_allclose(bar[0], np.cos(x0) * x0 + np.sin(x0), rtol=1e-14)
    with pytest.raises(RuntimeError, match="closed"):
        tape.vjp([np.ones((1,))])


def test_a_call_at_the_same_inputs_runs_every_sweep_again(monkeypatch):
    g = small_graph()
    calls = []
    real = run.primal_sweep
    monkeypatch.setattr(run, "primal_sweep", lambda *a: calls.append(1) or real(*a))
    x0 = np.array([0.1, 0.2, 0.3])
    for _ in range(3):
        ad.reverse.gradient(g, x0)
    assert len(calls) == 3


def test_an_interrupted_sweep_leaves_no_wrong_answer_behind(monkeypatch):
    g = small_graph()
    x0, x1 = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])
    ad.reverse.gradient(g, x0)
    real = run.reverse_sweep

    def interrupted(*args):
        args[5][:] = 123.0  # the recording was half overwritten when the signal came
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "reverse_sweep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ad.reverse.gradient(g, x1)
    monkeypatch.setattr(run, "reverse_sweep", real)
    for x in (x0, x1):
        np.testing.assert_allclose(ad.reverse.gradient(g, x), np.cos(x) * x + np.sin(x), rtol=1e-14)


def test_threads_calling_one_graph_get_their_own_answers(in_threads):
    g = small_graph()
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(3) for _ in range(400)]

    def ok(x):
        grad_ok = np.allclose(ad.reverse.gradient(g, x), np.cos(x) * x + np.sin(x), rtol=1e-13)
        return grad_ok and np.isclose(g(x), np.sum(np.sin(x) * x), rtol=1e-13)

    assert not in_threads(ok, xs)


def test_workspaces_are_reused_across_calls():
    g = small_graph()
    prog = run.compile(g)
    ad.forward.jacobian(g, np.ones(3), chunk=2)
    ws = prog._free[-1]  # the last one given back (other tests share this structure)
    buf = ws.duals("forward", 2)
    ad.forward.jacobian(g, 2 * np.ones(3), chunk=2)
    assert prog._free[-1] is ws and ws.duals("forward", 2) is buf
    assert run.compile(g) is prog


# -- non-finite values name the node ---------------------------------------------------


def test_a_non_finite_value_names_the_first_node_that_produced_it():
    b = GraphBuilder()
    x = b.input((2,))
    s = b.apply("sub", x, b.const(np.full(2, 5.0)))  # v2 = sub(v0, v1) < 0
    lg = b.apply("log", s)  # v3 = log(v2): NaN
    g = b.build(b.apply("exp", lg))
    with pytest.raises(NonFiniteError, match=r"v3 = log\(v2\)"):
        g(np.ones(2))
    with pytest.raises(NonFiniteError, match=r"v3 = log\(v2\)"):
        ad.reverse.gradient(
            b.build(b.apply("scatter_add", lg, idx=np.zeros(2, dtype=np.int64), out_shape=())),
            np.ones(2),
            engine="compiled",
        )


def test_a_non_finite_derivative_names_the_node_in_both_modes():
    b = GraphBuilder()
    x = b.input((2,))
    sq = b.apply("sqrt", x)  # derivative 1 / (2 sqrt 0) = inf at 0
    g = b.build(b.apply("sin", sq))
    x0 = np.array([0.0, 1.0])
    with pytest.raises(NonFiniteError, match=r"forward sweep.*sqrt"):
        ad.forward.jacobian(g, x0, engine="compiled")
    with pytest.raises(NonFiniteError, match=r"adjoint sweep.*sqrt"):
        ad.reverse.jacobian(g, x0, engine="compiled")


def test_the_non_finite_check_can_be_switched_off():
    b = GraphBuilder()
    x = b.input((2,))
    g = b.build(b.apply("log", x))
    with ad.nonfinite("propagate"):  # the policy of ad.policy, read by the kernels
        y = g(np.array([-1.0, 1.0]))
        assert np.isnan(y[0]) and y[1] == 0.0
        J = ad.forward.jacobian(g, np.array([0.0, 1.0]), engine="compiled")
        assert np.isinf(J[0, 0])
    with pytest.raises(NonFiniteError):
        g(np.array([-1.0, 1.0]))


# -- edge cases ---------------------------------------------------------------------


def test_outputs_that_are_inputs_or_constants_and_empty_arrays():
    b = GraphBuilder()
    x = b.input((2,))
    e = b.input((0,))
    k = b.const(np.array([1.0, 2.0]))
    g = b.build((x, k, b.apply("sin", e), b.apply("add", x, x)))
    args = [np.array([0.5, -0.5]), np.zeros(0)]
    outs = g(*args)
    env = reference.evaluate(g, args)
    for o, v in zip(outs, g.outputs):
        np.testing.assert_array_equal(o, env[v.id])
    J = ad.reverse.jacobian(g, tuple(args), engine="compiled")
    np.testing.assert_array_equal(J[0][0], np.eye(2))
    np.testing.assert_array_equal(J[3][0], 2 * np.eye(2))
    np.testing.assert_array_equal(J[1][0], np.zeros((2, 2)))


def test_nan_and_ties_in_maximum_follow_numpy():
    b = GraphBuilder()
    x, y = b.input((3,)), b.input((3,))
    g = b.build(b.apply("maximum", x, y))
    args = [np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])]
    J = ad.forward.jacobian(g, tuple(args), engine="compiled")
    np.testing.assert_array_equal(J[0], np.diag([0.5, 0.0, 1.0]))
    np.testing.assert_array_equal(J[1], np.diag([0.5, 1.0, 0.0]))


def test_cached_kernels_are_dropped_when_a_kernel_source_changes(tmp_path):
    from ad.kernels.jit import invalidate_stale_cache

    (tmp_path / "a.py").write_text("x = 1\n")
    assert invalidate_stale_cache(tmp_path)  # first time: no stamp
    cached = tmp_path / "__pycache__" / "a.f-1.py311.nbi"
    cached.write_text("")
    assert not invalidate_stale_cache(tmp_path) and cached.exists()
    (tmp_path / "a.py").write_text("x = 2\n")
    assert invalidate_stale_cache(tmp_path) and not cached.exists()


def test_results_are_not_views_of_a_reused_workspace():
    g = small_graph()
    prog = run.compile(g)
    first = run.vjp(prog, [np.ones(3)], [np.ones((1,))])[1][0]
    kept = first.copy()
    run.vjp(prog, [2 * np.ones(3)], [np.ones((1,))])  # the same workspace, new values
    np.testing.assert_array_equal(first, kept)


def _runs_member(prog):
    """(pool offset of the runs, the group's scratch start) of the first RUNS member."""
    ins = table.BY_NAME["fused"]
    for i in np.flatnonzero(prog.ops == ins.opcode):
        j = prog.ptr[i]
        m, count = prog.code[j + ins.index["m"]], prog.code[j + ins.index["count"]]
        for d in prog.pool[m : m + count * fusion.MEMBER_WIDTH].reshape(count, -1):
            if d[0] == opcode("runs"):
                return int(d[2]), int(prog.code[j + ins.index["s0"]])
    raise AssertionError("no runs member")


@pytest.mark.parametrize(
    "what, message",
    [
        ("length", "runs do not tile the group"),
        ("scratch", "reads a value its group writes"),
        ("range", "run source outside the value slots"),
    ],
)
def test_corrupted_runs_of_a_fused_group_are_rejected(what, message):
    x = np.linspace(-1, 1, 64)
    g = ad.trace(lambda x: np.sin(x) * np.concatenate([x[1:], np.zeros(1)]) + x, x)
    prog = fresh_program(g)
    validate(prog)
    r, s0 = _runs_member(prog)
    prog.pool = prog.pool.copy()
    if what == "length":
        prog.pool[r + 3] += 1  # the first run one entry longer
    elif what == "scratch":
        prog.pool[r + 2] = s0  # the first run reads the groups' scratch
    else:
        prog.pool[r + 2] = prog.n_values - 1
    with pytest.raises(GraphError, match=message):
        validate(prog)


@pytest.mark.parametrize(
    "what, message",
    [("x", "runs start past the first entry"), ("self", "runs read the slots they write")],
)
def test_a_corrupted_runs_instruction_is_rejected(what, message):
    """A zero pad outside any group is one runs instruction (copies of its runs)."""
    g = ad.trace(lambda x: np.concatenate([x, np.zeros(20)]), np.ones(20))
    prog = fresh_program(g)
    (i,) = np.flatnonzero(prog.ops == opcode("runs"))
    validate(prog)
    if what == "x":
        prog.code = prog.code.copy()
        prog.code[field(prog, i, "x")] = 1
    else:
        r = prog.code[field(prog, i, "n")]
        prog.pool = prog.pool.copy()
        prog.pool[r + 2] = prog.code[field(prog, i, "out")]  # the first run reads the output
    with pytest.raises(GraphError, match=message):
        validate(prog)
