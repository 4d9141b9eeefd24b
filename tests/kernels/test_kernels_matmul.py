"""Matrix products in the kernels: BLAS on the buffers, and the unit-seed paths.

A Jacobian's seeds are unit vectors, and the forward (reverse) sweep is told so: a
product with a seeded input (into a seeded output) copies columns (rows) instead of
multiplying by the identity. Every case is checked against the reference interpreters
at several chunk widths, so the seeds fall at every offset of the operands.
"""

import numpy as np
import pytest
from kernel_graphs import close

import ad
from ad.ir import GraphBuilder

SHAPES = [((3, 4), (4,)), ((3, 4), (4, 2)), ((4,), (4, 3)), ((2, 3, 4), (2, 4, 2))]


def graph_of(a_shape, b_shape, active):
    """C = A @ B with A and/or B an input (else a constant); C is the only output."""
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    b = GraphBuilder()
    args = []
    ops = []
    for name, shape in (("a", a_shape), ("b", b_shape)):
        if name in active:
            ops.append(b.input(shape))
            args.append(rng.standard_normal(shape))
        else:
            ops.append(b.const(rng.standard_normal(shape)))
    return b.build(b.apply("matmul", *ops)), args


@pytest.mark.parametrize("a_shape, b_shape", SHAPES)
@pytest.mark.parametrize("active", ["a", "b", "ab"])
def test_matmul_jacobians_match_reference_at_every_chunk(a_shape, b_shape, active):
    g, args = graph_of(a_shape, b_shape, active)
    want_f = ad.forward.jacobian(g, tuple(args), engine="reference")
    for mode in (ad.forward, ad.reverse):
        total = g.n_in if mode is ad.forward else g.n_out
        for chunk in sorted({1, 2, 3, total}):
            close(mode.jacobian(g, tuple(args), chunk=chunk, engine="compiled"), want_f)


def test_unit_seeds_are_used_only_for_outputs_nothing_else_reads():
    b = GraphBuilder()
    x = b.input((4,))
    W = b.const(np.arange(12.0).reshape(3, 4))
    y = b.apply("matmul", W, x)
    z = b.apply("sin", y)  # y is read again: its adjoint rows are not pure seeds
    g = b.build((y, z))
    prog = ad.kernels.run.compile(g)
    assert prog.out_run is None
    x0 = np.linspace(0.1, 0.4, 4)
    close(
        ad.reverse.jacobian(g, x0, engine="compiled"),
        ad.forward.jacobian(g, x0, engine="reference"),
    )
    alone = ad.trace(lambda x: np.arange(12.0).reshape(3, 4) @ x, x0)
    assert ad.kernels.run.compile(alone).out_run is not None
