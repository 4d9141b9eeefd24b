"""The kernel infrastructure of ad/kernels/jit.py: borrowed views of the sweep buffers."""

import sys

import numpy as np

import ad
from ad.kernels import run
from ad.kernels.jit import borrowed, kjit


@kjit
def _add_through_borrowed(x, value):
    """x[...] += value through a borrowed view of x; returns the view's sum and shape."""
    view = borrowed(x)
    for i in range(view.shape[0]):
        for j in range(view.shape[1]):
            view[i, j] += value
    return view.sum(), view.shape[0], view.shape[1]


def test_a_borrowed_view_is_the_same_data_shape_and_strides():
    x = np.arange(12.0).reshape(3, 4)
    total, rows, cols = _add_through_borrowed(x, 1.0)
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(3, 4) + 1.0)
    assert (total, rows, cols) == (x.sum(), 3, 4)
    strided = np.arange(24.0).reshape(4, 6)[::2, 1::2]  # non-contiguous
    want = strided + 2.0
    _add_through_borrowed(strided, 2.0)
    np.testing.assert_array_equal(strided, want)


def test_sweeps_keep_the_reference_counts_of_their_buffers():
    x0 = np.linspace(-1.0, 1.0, 5)
    g = ad.trace(lambda x: np.sum(np.sin(x) * x[::-1]), x0)
    G = ad.reverse.gradient_graph(g, x0)
    prog = run.compile(G)
    ad.forward.jvp(G, x0, np.ones(5))
    ad.reverse.vjp(G, x0, np.ones(5))
    (ws,) = prog._free  # the one workspace both calls used, back in the free list
    buffers = (
        ws.values,
        prog.code,
        prog.pool,
        ws.work,
        ws.duals("forward", 1),
        ws.duals("reverse", 1),
    )
    before = [sys.getrefcount(b) for b in buffers]
    for k in range(100):  # new inputs each time: primal, forward and adjoint sweeps
        x = x0 + 0.01 * k
        ad.forward.jvp(G, x, np.ones(5))
        ad.reverse.vjp(G, x, np.ones(5))
    assert [sys.getrefcount(b) for b in buffers] == before
