"""Tracing plain NumPy code: what is recorded, constants, control flow, errors."""

import numpy as np
import pytest

import ad
from ad.errors import InputTypeError, TracerError, UnsupportedOperationError


def test_plain_numpy_code_is_recorded_as_primitives():
    g = ad.trace(lambda x: np.exp(x) * 2.0 + np.sum(x), np.ones(3))
    names = [e.prim.name for e in g.eqns]
    assert names[0] == "exp" and "mul" in names and "scatter_add" in names
    assert len(g.consts) == 1  # the 2.0 (broadcast explicitly, as a gather)


def test_broadcasting_is_explicit_in_the_ir():
    g = ad.trace(lambda x, y: x + y, np.ones((2, 3)), np.ones(3))
    gathers = [e for e in g.eqns if e.prim.name == "gather"]
    assert gathers and gathers[0].params["label"] == "broadcast_to"
    add = [e for e in g.eqns if e.prim.name == "add"][0]
    assert add.inputs[0].shape == add.inputs[1].shape == (2, 3)


def test_replaying_a_graph_on_new_inputs_matches_numpy():
    f = lambda x: np.tanh(x) @ x + np.max(x)
    g = ad.trace(f, np.ones(4) * 0.3)
    x1 = np.linspace(-1, 1, 4)
    np.testing.assert_allclose(ad.reference.evaluate(g, [x1])[g.outputs[0].id], f(x1))


def test_value_dependent_control_flow_differentiates():
    def taylor_sine(x):
        ans = term = x
        i = 0
        while np.abs(term) > 0.001:
            term = -term * x**2 / ((2 * i + 3) * (2 * i + 2))
            ans = ans + term
            i += 1
        return ans

    assert ad.grad(taylor_sine, engine="reference")(np.pi) == pytest.approx(
        -0.99989952970421, abs=1e-12
    )


def test_unsupported_function_is_named_with_how_to_add_it():
    with pytest.raises(
        UnsupportedOperationError, match=r"numpy\.i0.*add a primitive.*ad/numpy\.py"
    ):
        ad.trace(lambda x: np.i0(x), np.ones(2))
    with pytest.raises(UnsupportedOperationError, match="fft"):
        ad.trace(lambda x: np.fft.fft(x), np.ones(2))


def test_float_of_a_traced_value_is_refused():
    with pytest.raises(TracerError, match="float"):
        ad.grad(lambda x: float(x) * 2)(1.0)
    with pytest.raises(TracerError, match="asarray"):
        ad.trace(lambda x: np.asarray(x), np.ones(2))


def test_an_escaped_tracer_is_reported():
    kept = []
    ad.trace(lambda x: kept.append(x) or x, 1.0)
    with pytest.raises(TracerError, match="escaped"):
        ad.grad(lambda y: y * kept[0])(2.0)


@pytest.mark.parametrize("bad", [np.arange(3), np.ones(2, dtype=complex), np.array(["a"])])
def test_non_float_inputs_are_refused(bad):
    with pytest.raises(InputTypeError, match="argument 0"):
        ad.trace(lambda x: x, bad)


def test_integer_constants_inside_the_function_are_fine():
    np.testing.assert_allclose(
        ad.grad(lambda x: np.sum(x * np.arange(3)), engine="reference")(np.ones(3)), [0, 1, 2]
    )


def test_a_factor_of_ones_is_not_recorded():
    """x * 1 is x bit for bit: a constant factor of ones that broadcasts nothing is
    left out (the cotangent of a sum multiplies every partial of a gradient graph)."""
    x = np.array([-0.0, 2.0, 3.0])
    names = lambda f: [e.prim.name for e in ad.trace(f, x).eqns]
    assert names(lambda x: x * 1.0) == [] and names(lambda x: np.ones(3) * x) == []
    assert names(lambda x: x * True) == []
    with pytest.raises(InputTypeError, match="complex"):  # not a silent real x
        ad.trace(lambda x: x * (1.0 + 0.0j), x)
    assert "mul" in names(lambda x: x * 2.0)
    assert "mul" in names(lambda x: x * np.array([1.0, 1.0, 1.0 + 1e-15]))
    assert "mul" in names(lambda x: x * x)
    two = ad.trace(lambda x: x * np.ones((2, 3)), x)  # broadcasts x: recorded
    assert two(x).shape == (2, 3)
    same = ad.trace(lambda x: x * 1.0, x)(x)
    assert np.signbit(same[0])  # -0.0, as NumPy gives it

    def update(x):  # the product is a new array: updating it leaves x alone
        y = x * np.ones(3)
        y[0] = 5.0
        return x + y

    z = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ad.trace(update, z)(z), update(z))
    np.testing.assert_array_equal(ad.jacfwd(update)(z), np.diag([1.0, 2.0, 2.0]))
    grad_graph = ad.reverse.gradient_graph(ad.trace(lambda x: np.sum(np.sin(x)), z), z)
    ones = [
        v.id for v in grad_graph.consts if np.all(np.asarray(grad_graph.const_values[v.id]) == 1)
    ]
    assert not any(set(ones) & {v.id for v in e.inputs} for e in grad_graph.eqns)
