"""The Wengert list: builder, validation, printing."""

import numpy as np
import pytest

import ad
from ad.errors import GraphError
from ad.ir import Eqn, Graph, GraphBuilder, Var
from ad.primitives import registry


def small_graph():
    b = GraphBuilder()
    x, y = b.input(()), b.input(())
    v = b.apply("mul", x, y)
    return b.build(b.apply("sin", v))


def test_builder_makes_a_valid_graph_in_topological_order():
    g = small_graph()
    assert [v.id for v in g.inputs] == [0, 1]
    assert [e.prim.name for e in g.eqns] == ["mul", "sin"]
    assert g.n_in == 2 and g.n_out == 1 and len(g) == 2
    assert g.validate() is g


def test_printing_uses_the_seminar_notation():
    text = str(small_graph())
    assert "v2 = mul(v0, v1)" in text
    assert "v3 = sin(v2)" in text
    assert "# shape ()" in text
    assert "outputs: v3" in text


def test_to_dot_lists_every_edge():
    dot = small_graph().to_dot()
    assert dot.startswith("digraph")
    for edge in ("v0 -> v2", "v1 -> v2", "v2 -> v3"):
        assert edge in dot


def test_builder_rejects_a_shape_mismatch():
    b = GraphBuilder()
    x, y = b.input((3,)), b.input((4,))
    with pytest.raises(ad.errors.ShapeError, match="different shapes"):
        b.apply("add", x, y)


def test_builder_rejects_an_unknown_primitive():
    with pytest.raises(GraphError, match="unknown primitive 'frobnicate'"):
        GraphBuilder().apply("frobnicate")


def test_validate_rejects_an_undefined_or_out_of_order_variable():
    x = Var(0, ())
    later = Var(5, ())
    eqns = [Eqn(registry["sin"], (later,), (Var(1, ()),)), Eqn(registry["cos"], (x,), (later,))]
    g = Graph([x], [], {}, eqns, [Var(1, ())])
    with pytest.raises(GraphError, match="not defined above it"):
        g.validate()


def test_validate_rejects_reused_ids_and_wrong_shapes():
    x = Var(0, (2,))
    g = Graph([x], [], {}, [Eqn(registry["sin"], (x,), (Var(0, (2,)),))], [x])
    with pytest.raises(GraphError, match="defined twice"):
        g.validate()
    g = Graph([x], [], {}, [Eqn(registry["sin"], (x,), (Var(1, (3,)),))], [x])
    with pytest.raises(GraphError, match="shape rule"):
        g.validate()


def test_validate_rejects_a_wrong_arity_and_undefined_output():
    x = Var(0, ())
    g = Graph([x], [], {}, [Eqn(registry["add"], (x,), (Var(1, ()),))], [x])
    with pytest.raises(GraphError, match="takes 2 inputs"):
        g.validate()
    with pytest.raises(GraphError, match="output"):
        Graph([x], [], {}, [], [Var(7, ())]).validate()


def test_constants_are_part_of_the_list():
    b = GraphBuilder()
    x = b.input((2,))
    c = b.const(np.array([1.0, 2.0]))
    g = b.build(b.apply("mul", x, c))
    assert "v1 = const" in str(g)
    out = ad.forward.jacobian(g, np.ones(2), engine="reference")
    np.testing.assert_allclose(out, np.diag([1.0, 2.0]))


def test_a_traced_graph_computes_each_value_once():
    x = np.array([0.3, -1.2, 2.0])
    g = ad.trace(lambda x: np.sin(x) * np.sin(x) + np.sin(x), x)
    assert [e.prim.name for e in g.eqns] == ["sin", "mul", "add"]
    np.testing.assert_allclose(g(x), np.sin(x) ** 2 + np.sin(x), rtol=1e-15)
    # x * x: the adjoint rules give g x and g x, one product in the gradient graph
    G = ad.reverse.gradient_graph(ad.trace(lambda x: np.sum(x * x), x), [x])
    keys = [(e.prim.name, tuple(v.id for v in e.inputs)) for e in G.eqns]
    assert len(keys) == len(set(keys))
    np.testing.assert_allclose(G(x), 2 * x, rtol=1e-15)


def test_a_built_graph_keeps_every_equation_and_parameters_merge_only_when_equal():
    b = GraphBuilder()
    x = b.input((2,))
    assert b.apply("sin", x) is not b.apply("sin", x)  # as written, by default
    b = GraphBuilder(cse=True)
    x = b.input(())
    assert b.apply("sin", x) is b.apply("sin", x)
    assert b.apply("integer_pow", x, n=2) is not b.apply("integer_pow", x, n=3)
    assert b.apply("integer_pow", x, n=2) is b.apply("integer_pow", x, n=2)


def test_live_drops_what_no_output_or_guard_reads():
    def f(x):
        unused = np.exp(x) * 2.0  # read by nothing: dropped
        if np.sum(np.cos(x)) > 0:  # a guard reads this sum: kept
            return np.sin(x)
        return np.tan(x) + unused

    x = np.array([0.1, 0.2])
    g = ad.trace(f, x)
    live = g.live()
    names = [e.prim.name for e in live.eqns]
    assert "exp" not in names and "cos" in names and names[-1] == "sin"
    assert len(live) < len(g) and live.guards == g.guards and live.guards
    assert live.validate() is live and live.live() is live
    np.testing.assert_array_equal(live(x), np.sin(x))
    with pytest.raises(Exception, match="guard"):
        live(-x + np.pi)  # the guard is still checked


def test_a_gradient_graph_keeps_only_what_its_gradient_reads():
    x = np.array([0.3, -1.2, 2.0])
    f = ad.trace(lambda x: np.sum(x**3) + np.sum(np.exp(x)), x)
    G = ad.reverse.gradient_graph(f, [x])
    read = {v.id for e in G.eqns for v in e.inputs} | {v.id for v in G.outputs}
    assert all(any(v.id in read for v in e.outputs) for e in G.eqns)
    np.testing.assert_allclose(G(x), 3 * x**2 + np.exp(x), rtol=1e-14)


def test_a_cotangent_plus_a_negated_one_is_recorded_as_a_difference():
    """p + neg(c) is p - c bit for bit (IEEE): the adjoint sweep records the
    difference, and the negation, read by nothing else, leaves the gradient graph."""
    x = np.array([0.3, -1.2, 2.0, -0.0])
    f = lambda x: np.sum((1.0 - x) ** 2 + np.sin(x))  # x gets cos(x) and neg(2 (1 - x))
    G = ad.reverse.gradient_graph(ad.trace(f, x), [x])
    names = [e.prim.name for e in G.eqns]
    assert "neg" not in names and "sub" in names and "add" not in names, G
    np.testing.assert_array_equal(G(x), ad.grad(f, engine="reference")(x))  # concrete: add
    np.testing.assert_array_equal(G(x), np.cos(x) + -(2.0 * (1.0 - x)))
    kept = lambda x: np.sum(np.sin(x) - x**2) + np.sum(x**2 * np.cos(x))
    G2 = ad.reverse.gradient_graph(ad.trace(kept, x), [x])
    np.testing.assert_allclose(G2(x), ad.grad(kept, engine="reference")(x), rtol=1e-15)
