"""Every primitive through check_grads (order 2, both modes), on several shapes.

CASES maps each primitive name to functions of plain NumPy code that exercise it
(the linear-algebra ones are in test_linalg.CASES, run here too); the registry test
fails if a registered primitive has no case, no JVP rule or no VJP rule.
"""

import numpy as np
import pytest

import ad
from ad.primitives import registry
from tests.pending import skip_if_kernel_pending
from tests.primitives.test_linalg import CASES as LINALG_CASES


def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def positive(*shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def unit(*shape):
    return lambda rng: rng.uniform(-0.8, 0.8, shape)


def away(*shape):  # |x| in [0.5, 2], for abs, division, negative powers
    return lambda rng: rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(*shape):  # well-separated values, so max/min and maximum have no ties
    return lambda rng: (
        rng.permutation(np.arange(int(np.prod(shape)), dtype=float)).reshape(shape) * 0.37
        + rng.uniform(0, 0.01, shape)
    )


SHAPES = [(), (4,), (3, 5)]


def each_shape(make):
    return [(f"{s}", make(*s)) for s in SHAPES]


def unary_cases(fn, sampler):
    return [(f"{s}", fn, [sampler(*s)]) for s in SHAPES]


# name -> list of (label, function, [samplers for its arguments])
CASES = {
    "neg": unary_cases(lambda x: -x, normal),
    "add": [
        ("same", lambda x, y: x + y, [normal(3, 4), normal(3, 4)]),
        ("broadcast", lambda x, y: x + y, [normal(4), normal(3, 4)]),
        ("scalar", lambda x, y: x + 2.0 * y, [normal(), normal(5)]),
    ],
    "sub": [
        ("same", lambda x, y: x - y, [normal(5), normal(5)]),
        ("broadcast", lambda x, y: x - y, [normal(3, 1), normal(1, 4)]),
    ],
    "mul": [
        ("same", lambda x, y: x * y, [normal(5), normal(5)]),
        ("broadcast", lambda x, y: x * y, [normal(3, 1), normal(4)]),
        ("scalar", lambda x, y: x * y, [normal(), normal()]),
    ],
    "div": [
        ("same", lambda x, y: x / y, [normal(5), away(5)]),
        ("broadcast", lambda x, y: x / y, [normal(2, 3), away(3)]),
    ],
    "pow": [("array exponent", lambda x, y: x**y, [positive(4), normal(4)])],
    "integer_pow": [
        ("cube", lambda x: x**3, [normal(4)]),
        ("square", lambda x: np.square(x), [normal(2, 3)]),
        ("negative", lambda x: x**-2, [away(4)]),
    ],
    "sin": unary_cases(np.sin, normal),
    "cos": unary_cases(np.cos, normal),
    "tan": unary_cases(np.tan, unit),
    "exp": unary_cases(np.exp, normal),
    "log": unary_cases(np.log, positive),
    "log1p": unary_cases(np.log1p, unit),
    "expm1": unary_cases(np.expm1, normal),
    "sqrt": unary_cases(np.sqrt, positive),
    "tanh": unary_cases(np.tanh, normal),
    "sinh": unary_cases(np.sinh, normal),
    "cosh": unary_cases(np.cosh, normal),
    "arctan": unary_cases(np.arctan, normal),
    "arcsin": unary_cases(np.arcsin, unit),
    "arccos": unary_cases(np.arccos, unit),
    "abs": unary_cases(np.abs, away),
    "maximum": [
        ("pair", lambda x, y: np.maximum(x, y), [distinct(6), normal(6)]),
        ("broadcast", lambda x: np.maximum(x, 0.1), [away(5)]),
    ],
    "minimum": [("pair", lambda x, y: np.minimum(x, y), [distinct(6), normal(6)])],
    "select": [
        ("where", lambda x: np.where(x > 0, x**2, np.sin(x)), [away(6)]),
        ("broadcast", lambda x, y: np.where(x > 0, x, y), [away(2, 3), normal(3)]),
    ],
    "gather": [
        ("slice", lambda x: x[1:4] * x[::-2][:3], [normal(7)]),
        ("int index", lambda x: x[[0, 2, 2]] ** 2, [normal(4)]),
        ("2d index", lambda x: x[1, :] + x[:, 2].sum(), [normal(3, 4)]),
        ("transpose", lambda x: np.sin(x.T) @ x, [normal(3, 2)]),
        ("reshape", lambda x: np.reshape(x, (2, 3)) ** 2, [normal(6)]),
        ("broadcast_to", lambda x: np.broadcast_to(x, (2, 3)) * x[0], [normal(3)]),
        ("concatenate", lambda x, y: np.concatenate([x, y**2, x]), [normal(3), normal(2)]),
        ("stack", lambda x, y: np.stack([x, np.sin(y)], axis=1), [normal(3), normal(3)]),
        ("diag", lambda x: np.diag(x) @ np.diag(x**2), [normal(3)]),
        ("tril triu", lambda x: np.tril(x) * 2 + np.triu(x, 1) ** 2, [normal(3, 3)]),
        ("diagonal", lambda x: np.diagonal(x) * np.trace(x), [normal(3, 3)]),
        ("bool mask", lambda x: x[x > 0] ** 3, [away(6)]),
    ],
    "logaddexp": [
        ("softplus", lambda z: np.sum(np.logaddexp(0.0, z)), [normal(6)]),
        ("pair", lambda a, b: np.logaddexp(a, b), [normal(4), normal(4)]),
        ("tie", lambda a: np.logaddexp(a, a), [normal(3)]),
    ],
    "stop_gradient": [
        ("logsumexp shift", lambda x: ad.numpy.logsumexp(x, axis=1), [normal(3, 4)]),
        ("logsumexp all", lambda x: ad.numpy.logsumexp(x), [normal(5)]),
    ],
    "scatter_add": [
        ("sum all", lambda x: np.sum(x**2), [normal(3, 4)]),
        ("sum axis", lambda x: np.sum(np.sin(x), axis=0), [normal(3, 4)]),
        ("mean keepdims", lambda x: x - np.mean(x, axis=1, keepdims=True), [normal(3, 4)]),
        ("prod", lambda x: np.prod(x, axis=1), [normal(3, 5)]),
    ],
    "reduce_max": [
        ("all", lambda x: np.max(x) * x, [distinct(5)]),
        ("axis", lambda x: np.max(x, axis=1), [distinct(3, 4)]),
    ],
    "reduce_min": [("axis", lambda x: np.min(x, axis=0, keepdims=True) * x, [distinct(3, 4)])],
    "matmul": [
        ("mat mat", lambda a, b: a @ b, [normal(3, 4), normal(4, 2)]),
        ("mat vec", lambda a, b: a @ b, [normal(3, 4), normal(4)]),
        ("vec mat", lambda a, b: np.dot(a, b), [normal(3), normal(3, 2)]),
        ("vec vec", lambda a, b: np.dot(a, b), [normal(4), normal(4)]),
        ("batched", lambda a, b: np.tanh(a @ b), [normal(2, 3, 4), normal(4, 2)]),
    ],
    "arctan2": [
        ("pair", lambda y, x: np.arctan2(y, x), [normal(5), away(5)]),
        ("quadrants", lambda y, x: np.arctan2(y, x), [away(2, 3), normal(3)]),
    ],
    "cumsum": [
        ("flat", lambda x: np.cumsum(x), [normal(3, 4)]),
        ("axis 0", lambda x: np.cumsum(np.sin(x), axis=0) * x, [normal(3, 4)]),
        ("axis -1", lambda x: np.cumsum(x, axis=-1) ** 2, [normal(2, 5)]),
    ],
    "sort": [
        ("vector", lambda x: np.sort(x) * np.arange(6.0), [distinct(6)]),
        ("rows", lambda x: np.sort(x, axis=0) ** 2, [distinct(4, 3)]),
        ("flattened", lambda x: np.sort(x, axis=None)[-2:], [distinct(3, 2)]),
    ],
}


def all_cases():
    for name, cases in {**CASES, **LINALG_CASES}.items():
        for label, fn, samplers in cases:
            yield pytest.param(fn, samplers, id=f"{name}-{label}")


@pytest.mark.parametrize("fn, samplers", list(all_cases()))
def test_check_grads_order2_both_modes(fn, samplers, engine, rng):
    args = [s(rng) for s in samplers]
    skip_if_kernel_pending(engine, fn, *args)
    ad.check_grads(fn, args, order=2, modes=("fwd", "rev"), engine=engine)


def test_every_primitive_has_rules_and_a_test_case():
    covered = set(CASES) | set(LINALG_CASES)
    missing_case = sorted(set(registry) - covered)
    assert not missing_case, f"primitives without a test case: {missing_case}"
    for name, prim in registry.items():
        assert prim.jvp_rules is not None, f"{name} has no JVP rule"
        assert prim.vjp_rules is not None, f"{name} has no VJP rule"
        if prim.n_in is not None and not callable(prim.jvp_rules):
            assert len(prim.jvp_rules) == prim.n_in, f"{name}: one JVP rule per input"
            assert len(prim.vjp_rules) == prim.n_in, f"{name}: one VJP rule per input"


def test_the_check_itself_fails_on_a_wrong_rule(rng):
    """check_grads must catch a wrong derivative in either mode (it can fail)."""
    prim = registry["sin"]
    saved = prim.jvp_rules, prim.vjp_rules
    try:
        prim.jvp_rules = (lambda t, ans, x: t * ans,)  # wrong: sin instead of cos
        with pytest.raises(AssertionError, match="forward"):
            ad.check_grads(np.sin, [normal(4)(rng)], engine="reference")
        prim.jvp_rules = saved[0]
        prim.vjp_rules = (lambda g, ans, x: g * ans,)
        with pytest.raises(AssertionError, match="reverse"):
            ad.check_grads(np.sin, [normal(4)(rng)], engine="reference")
    finally:
        prim.jvp_rules, prim.vjp_rules = saved


def test_stop_gradient_blocks_the_derivative_on_both_engines(engine):
    """d/dx [x * stop_gradient(x^2)] = x^2 (the blocked factor is a constant)."""
    x = np.linspace(-1.0, 2.0, 5)
    f = lambda x: x * ad.stop_gradient(x**2)
    np.testing.assert_allclose(f(x), x**3)
    for jac in (ad.jacfwd, ad.jacrev):
        np.testing.assert_allclose(jac(f, engine=engine)(x), np.diag(x**2), rtol=1e-14)
