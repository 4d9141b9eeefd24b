"""Every function of ``ad.numpy``'s tables against NumPy on the same arguments.

For each entry of ``UFUNCS`` and ``FUNCTIONS`` (iterated, so that a new entry without a
case fails ``test_every_table_entry_has_conformance_cases``), the cases below call the
NumPy function itself, once on plain arrays and once inside ``ad.trace`` (so the call
goes through NumPy's dispatch to ad, positional and keyword forms alike), and check:

- the same values, shapes and dtype kind at trace time, on a compiled replay of the
  Graph and on the reference interpreter (NaN where NumPy gives NaN: policy
  "propagate");
- NumPy's error where NumPy raises (the same family: ValueError, TypeError, IndexError),
  and ``UnsupportedArgumentError`` naming the argument where ad cannot follow NumPy;
- derivatives against central finite differences of NumPy's own function, in both
  modes (``ad.check_grads``).

Ufunc cases are generated from the ufunc's arity (``ufunc_cases``, with a domain per
ufunc); function cases are listed in ``CASES``. A function that updates an argument in
place (``np.copyto``, ``np.put``) is checked on that argument after the call
(``inplace=``). A graph with a primitive whose kernel is pending replays on the reference
interpreter only. ``test_signatures_mirror_numpy`` compares every implementation's
parameters with NumPy's.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import ad
from ad.errors import UnsupportedArgumentError
from ad.numpy import FUNCTIONS, UFUNCS
from ad.trace import concrete, trace_with_values
from tests.pending import pending_kernels

_rng = np.random.default_rng(20251202)


class D:
    """A differentiable argument (traced); the other arguments are passed as they are."""

    def __init__(self, value):
        self.value = np.asarray(value, dtype=np.float64)

    def __repr__(self):
        order = "F" if self.value.flags.f_contiguous and self.value.ndim > 1 else "C"
        return f"D{self.value.shape}{order}"


def X(*shape, lo=-1.0, hi=1.0):
    """A differentiable array of distinct values (no ties for max/min, clip, sort)."""
    n = int(np.prod(shape, dtype=np.int64))
    vals = np.linspace(lo, hi, n + 2)[1:-1] if n else np.zeros(0)
    return D(_rng.permutation(vals).reshape(shape) + _rng.uniform(0, 1e-3, shape))


def XF(*shape):
    """As X, laid out in Fortran order (for order='A' / 'K')."""
    return D(np.asfortranarray(X(*shape).value))


def XN(*shape):
    """As X with NaN entries (the nan-functions): every 4th, from the second, so that no
    row or column of a (2, 3) array is NaN alone."""
    x = X(*shape).value
    return D(np.where(np.arange(x.size).reshape(shape) % 4 == 1, np.nan, x))


def SPD(n):
    a = _rng.standard_normal((n, n))
    return D(a @ a.T + n * np.eye(n))


def SYM(n):
    q, _ = np.linalg.qr(_rng.standard_normal((n, n)))
    return D((q * (np.arange(n) - n / 2 + 0.1)) @ q.T)


def SEP(m, n):
    """An m x n matrix with well separated singular values (2 down to 0.5)."""
    k = min(m, n)
    u, _ = np.linalg.qr(_rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(_rng.standard_normal((n, k)))
    return D((u * np.linspace(2.0, 0.5, k)) @ v.T)


def WELL(n):
    q, _ = np.linalg.qr(_rng.standard_normal((n, n)))
    return D(q * np.linspace(1.0, 2.0, n) @ q.T + 0.1 * _rng.standard_normal((n, n)))


class Case:
    """``fn(*args, **kwargs)``; ``unsupported``: ad must raise UnsupportedArgumentError
    naming this argument; ``grad``: check derivatives; ``sym``: the function reads a
    symmetric matrix (derivatives checked on its symmetric part, JAX's convention);
    ``inplace=i``: the function updates argument i in place (the result checked is that
    argument after the call); ``values=False``: NumPy's values are undefined (np.empty_like),
    only shapes and dtypes are compared."""

    def __init__(self, *args, unsupported=None, grad=True, sym=False, inplace=None,
                 values=True, **kwargs):  # fmt: skip
        self.args, self.kwargs = args, kwargs
        self.unsupported, self.grad, self.sym = unsupported, grad, sym
        self.inplace, self.values = inplace, values

    def __repr__(self):
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


def _mask(*shape):
    return _rng.uniform(size=shape) > 0.4


M23 = _mask(2, 3)

# numpy function -> its cases (ufuncs are generated below)
CASES = {
    np.sum: [
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), 1, float),  # dtype is the third positional argument
        Case(X(2, 3), 0, np.float64),
        Case(X(2, 3), 0, None, None, True),  # keepdims is the fifth
        Case(X(2, 3), (0, 1)),
        Case(X(2, 3), axis=-1, keepdims=True),
        Case(X(2, 3), 0, initial=2.5),
        Case(X(2, 3), where=M23),
        Case(X(2, 3), 1, where=M23, keepdims=True),
        Case(X(2, 3), (0, 0)),  # NumPy: duplicate value in 'axis'
        Case(X(2, 3), 2),  # AxisError
        Case(X(0)),
        Case(X(0, 3), 0),
        Case(X(3, 0), 0),
        Case(X(2, 3), dtype=np.float32, unsupported="dtype"),
        Case(X(2, 3), dtype=int, unsupported="dtype"),
        Case(X(2, 3), out=np.zeros(3), axis=0, unsupported="out"),
    ],
    np.mean: [
        Case(X(2, 3)),
        Case(X(2, 3), 0, np.float64),
        Case(X(2, 3), 1, float, None, True),
        Case(X(2, 3), (1, 0)),
        Case(X(2, 3), axis=(0, 0)),
        Case(X(2, 3), axis=-3),
        Case(X(2, 3), where=M23),
        Case(X(2, 3), 0, where=M23),
        Case(X(0), grad=False),  # nan, as NumPy (the derivative is checked elsewhere)
        Case(X(0, 3), 0, grad=False),
        Case(X(3, 0), 0),
        Case(X(2, 3), 0, np.float32, unsupported="dtype"),
    ],
    np.prod: [
        Case(X(2, 3)),
        Case(X(2, 3), 1, float),
        Case(X(2, 3), 0, None, None, True),
        Case(X(2, 3), initial=2.0),
        Case(X(2, 3), where=M23),
        Case(X(2, 3), (0, 0)),
        Case(X(0)),
        Case(X(0, 3), 0),
        Case(X(3, 0), 0),
        Case(X(3, 0), 1),
        Case(X(2, 3), dtype=np.float16, unsupported="dtype"),
    ],
    np.max: [
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), 1, None, True),  # keepdims is the fourth (no dtype)
        Case(X(2, 3), axis=0, initial=0.5),
        Case(X(2, 3), where=M23, initial=-5.0),
        Case(X(2, 3), where=M23),  # NumPy: needs initial
        Case(X(2, 3), (1, 1)),
        Case(X(0)),  # NumPy: zero-size array, no identity
        Case(X(0), initial=1.5),
        Case(X(0, 3), 1),
        Case(X(3, 0), 0),
        Case(X(2, 3), 0, np.zeros(3), unsupported="out"),
    ],
    np.dot: [
        Case(X(3), X(3)),
        Case(X(2, 3), X(3)),
        Case(X(3), X(3, 2)),
        Case(X(2, 3), X(3, 4)),
        Case(X(2, 3), 2.5),
        Case(X(2, 2, 3), X(4, 3, 2)),
        Case(X(2, 3, 4), X(4)),
        Case(X(2, 3), X(2, 3)),  # not aligned
        Case(X(2, 3), X(3, 4), np.zeros((2, 4)), unsupported="out"),
    ],
    np.matmul: [
        Case(X(2, 3), X(3, 4)),
        Case(X(3), X(3, 4)),
        Case(X(2, 3), X(3)),
        Case(X(2, 2, 3), X(3, 2)),
        Case(X(3), X(2, 3, 4)),
        Case(X(2, 3), X(2, 3)),
        Case(X(2, 3), X(3, 2), axes=[(-2, -1), (-2, -1), (-2, -1)], unsupported="axes"),
    ],
    np.inner: [
        Case(X(3), X(3)),
        Case(X(2, 3), X(4, 3)),  # A @ B.T
        Case(X(3), X(4, 3)),  # contraction over the LAST axis of both
        Case(X(2, 3), X(3)),
        Case(X(2, 2, 3), X(4, 3)),
        Case(X(2, 3), X(2, 2, 3)),
        Case(X(2, 3), 1.5),
        Case(X(2, 3), X(3, 2)),  # not aligned
    ],
    np.outer: [Case(X(3), X(4)), Case(X(2, 2), X(3))],
    np.reshape: [
        Case(X(2, 3), (3, 2)),
        Case(X(2, 3), (3, 2), "F"),
        Case(X(2, 3), (3, 2), order="F"),
        Case(X(2, 3, 2), (4, 3), "F"),
        Case(X(2, 3), -1),
        Case(X(2, 3), shape=(6, 1)),
        Case(X(2, 3), (3, 2), "A"),
        # 'A': Fortran order for a Fortran-laid-out value. Its derivative is not checked by
        # finite differences: x + eps v is laid out in C order, so NumPy's 'A' changes.
        Case(XF(2, 3), (3, 2), "A", grad=False),
        Case(X(2, 3), (3, 2), "K"),  # NumPy: not permitted
        Case(X(2, 3), (3, 2), "X"),
        Case(X(2, 3), (4, 2)),
    ],
    np.ravel: [
        Case(X(2, 3)),
        Case(X(2, 3), "F"),
        Case(X(2, 3, 2), order="F"),
        Case(XF(2, 3), "A", grad=False),  # (as reshape 'A')
        Case(XF(2, 3), "K", grad=False),
        Case(X(2, 3), "K"),
        Case(X(2, 3), "Q"),
    ],
    np.transpose: [Case(X(2, 3)), Case(X(2, 3, 4), (1, 0, 2)), Case(X(2, 3, 4), axes=(2, 0, 1))],
    np.swapaxes: [Case(X(2, 3, 4), 0, 2), Case(X(2, 3), axis1=0, axis2=1)],
    np.moveaxis: [Case(X(2, 3, 4), 0, -1), Case(X(2, 3, 4), source=(0, 1), destination=(2, 0))],
    np.squeeze: [
        Case(X(1, 3, 1)),
        Case(X(1, 3, 1), 0),
        Case(X(1, 3, 1), axis=(0, 2)),
        Case(X(2, 3), 0),
    ],
    np.expand_dims: [Case(X(2, 3), 0), Case(X(2, 3), (0, 3)), Case(X(2, 3), axis=-1)],
    np.broadcast_to: [Case(X(3), (2, 3)), Case(X(2, 1), shape=(2, 4)), Case(X(3), (2, 4))],
    np.concatenate: [
        Case([X(2, 3), X(1, 3)]),
        Case([X(2, 3), X(2, 2)], 1),
        Case([X(2, 3), X(3)], None),
        Case((X(2, 3), X(2, 3)), axis=-1, dtype=float),
        Case([X(2, 3), X(2, 3)], casting="bogus"),
        Case([X(2, 3), X(2, 3)], dtype=np.float32, unsupported="dtype"),
    ],
    np.stack: [Case([X(2, 3), X(2, 3)]), Case([X(2, 3), X(2, 3)], 2), Case([X(3), X(3)], axis=1)],
    np.hstack: [Case([X(2, 3), X(2, 1)]), Case((X(3), X(2)))],
    np.vstack: [Case([X(2, 3), X(1, 3)]), Case((X(3), X(3)))],
    np.diag: [Case(X(3)), Case(X(3), 1), Case(X(3, 3)), Case(X(3, 4), k=-1)],
    np.diagonal: [Case(X(3, 3)), Case(X(2, 3, 3), 0, 1, 2), Case(X(3, 4), offset=1)],
    np.trace: [
        Case(X(3, 3)),
        Case(X(3, 3), 1),
        Case(X(2, 3, 3), 0, 1, 2),
        Case(X(3, 3), dtype=float),
        Case(X(3, 3), 0, 0, 1, np.float32, unsupported="dtype"),
    ],
    np.tril: [Case(X(3, 3)), Case(X(3, 4), 1), Case(X(3)), Case(X(2, 3, 3), k=-1)],
    np.triu: [Case(X(3, 3)), Case(X(3, 4), -1), Case(X(3)), Case(X(2, 3, 3), k=1)],
    np.flip: [Case(X(2, 3)), Case(X(2, 3), 0), Case(X(2, 3), axis=(0, 1))],
    np.tile: [Case(X(2, 3), 2), Case(X(2, 3), (2, 1)), Case(X(3), reps=(2, 2))],
    np.repeat: [Case(X(2, 3), 2), Case(X(2, 3), 2, 0), Case(X(2, 3), [1, 2], axis=0)],
    np.pad: [
        Case(X(2, 3), 1),
        Case(X(2, 3), ((1, 0), (0, 2))),
        Case(X(2, 3), 1, "edge"),
        Case(X(2, 3), 1, "reflect"),
        Case(X(2, 3), 2, mode="symmetric"),
        Case(X(2, 3), 1, "wrap"),
        Case(X(2, 3), 1, constant_values=3.0),
        Case(X(2, 3), 1, "constant", constant_values=((1.0, 2.0), (3.0, 4.0))),
        Case(X(2, 3), 1, "edge", bogus=1),  # NumPy: unsupported keyword for the mode
        Case(X(2, 3), 1, "mean", unsupported="mode"),
        Case(X(2, 3), 1, "reflect", reflect_type="odd", unsupported="reflect_type"),
    ],
    np.where: [
        Case(M23, X(2, 3), X(2, 3)),
        Case(M23, X(2, 3), 0.0),
        Case(M23[0], 1.0, X(2, 3)),
        Case(M23),  # the nonzero indices
        Case(M23, X(2, 3)),  # NumPy: both or neither
    ],
    np.clip: [
        Case(X(2, 3), -0.5, 0.5),
        Case(X(2, 3), None, 0.25),
        Case(X(2, 3), -0.25, None),
        Case(X(2, 3), min=-0.3),
        Case(X(2, 3), max=0.3),
        Case(X(2, 3), X(2, 3, lo=-2.0, hi=-1.5), X(2, 3, lo=1.5, hi=2.0)),  # traced bounds
        Case(X(2, 3), -0.5, 0.5, min=0.0),  # NumPy: forbidden
        Case(X(2, 3), -0.5, 0.5, dtype=np.float32, unsupported="dtype"),
    ],
    np.copy: [Case(X(2, 3)), Case(X(2, 3), "F"), Case(X(2, 3), order="Z")],
    np.linalg.norm: [
        Case(X(3)),
        Case(X(3), 1),
        Case(X(3), np.inf),
        Case(X(3), -np.inf),
        Case(X(2, 3)),
        Case(X(2, 3), "fro"),
        Case(X(2, 3), "nuc"),
        Case(X(2, 3), 2),
        Case(X(2, 3), -1),
        Case(X(2, 3), None, 1),
        Case(X(2, 3), 1, 0),
        Case(X(2, 3), 2, (1, 0), True),
        Case(X(2, 3, 2), None, (0, 2)),
        Case(X(3), "fro"),  # NumPy: invalid for vectors
        Case(X(2, 3), 3),  # NumPy: invalid for matrices
        Case(X(2, 3, 2), 2),  # NumPy: improper number of dimensions
    ],
    np.linalg.inv: [Case(WELL(3)), Case(D(np.stack([WELL(2).value, WELL(2).value])))],
    np.linalg.solve: [Case(WELL(3), X(3)), Case(WELL(3), X(3, 2))],
    np.linalg.det: [Case(WELL(3)), Case(X(2, 2, 2))],
    np.linalg.slogdet: [Case(WELL(3)), Case(D(-WELL(2).value))],
    np.linalg.cholesky: [Case(SPD(3), sym=True), Case(SPD(3), upper=True, sym=True)],
    np.linalg.eigh: [Case(SYM(3), sym=True), Case(SYM(3), "U", sym=True)],
    np.linalg.eigvalsh: [Case(SYM(4), sym=True), Case(SYM(3), UPLO="U", sym=True)],
    np.linalg.svd: [
        Case(X(3, 3)),
        Case(X(4, 2), full_matrices=False),
        Case(X(2, 3), False, False),
        Case(X(3, 4), compute_uv=False),
    ],
    np.zeros_like: [Case(X(2, 3)), Case(X(2, 3), float), Case(X(2, 3), int, "F", shape=(3,))],
    np.ones_like: [Case(X(2, 3)), Case(X(2, 3), shape=(4,))],
    np.full_like: [
        Case(X(2, 3), 2.5),
        Case(X(2, 3), fill_value=1.0),
        Case(X(2, 3), X()),  # a traced fill value keeps its derivative
        Case(X(2, 3), X(3), float, shape=(4, 3)),
        Case(X(2, 3), X(), int),  # integers: NumPy's, no derivative
    ],
    np.shape: [Case(X(2, 3))],
    np.ndim: [Case(X(2, 3))],
    np.size: [Case(X(2, 3)), Case(X(2, 3), 1), Case(X(2, 3), axis=0)],
    np.argmax: [Case(X(2, 3)), Case(X(2, 3), 0), Case(X(2, 3), axis=1, keepdims=True)],
    np.argmin: [Case(X(2, 3)), Case(X(2, 3), 1)],
    np.argsort: [Case(X(2, 3)), Case(X(2, 3), 0)],
    np.isclose: [Case(X(2, 3), X(2, 3)), Case(X(3), X(3), 1e-3, 1.0)],
    np.allclose: [Case(X(3), X(3)), Case(X(3), X(3), atol=10.0)],
    np.all: [Case(X(2, 3)), Case(X(2, 3), 0)],
    np.any: [Case(X(2, 3)), Case(X(2, 3), axis=1, keepdims=True)],
}
# -- ad/numpy_ext.py: statistics, order statistics, cumulative operations ---------------------
V5, V4 = X(5), X(4)
DUPS = D([0.3, -0.2, 0.3, 0.1, -0.2])  # repeated values (np.unique; no derivative check)
ZEROS = D([0.0, 0.0, 0.5, -0.2, 0.0])  # zeros at both ends (np.trim_zeros)
PHASE = D([0.0, 3.1, 6.4, 0.7, -2.9])  # jumps of more than pi (np.unwrap)
INF = D([np.inf, -np.inf, np.nan, 0.5, -0.25])
POS = X(2, 3, lo=0.5, hi=1.5)  # positive weights
CASES.update({
    np.empty_like: [  # NumPy's values are undefined: shapes and dtypes only
        Case(X(2, 3), values=False),
        Case(X(2, 3), float, "F", values=False),
        Case(X(2, 3), shape=(4,), values=False),
        Case(X(2, 3), int, values=False),
    ],
    np.ptp: [
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), 1, None, True),
        Case(X(2, 3), axis=(0, 1)),
        Case(X(2, 3), 2),
        Case(X(2, 3), 0, np.zeros(3), unsupported="out"),
    ],
    np.var: [
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), 1, float, None, 1),  # ddof is the fifth
        Case(X(2, 3), 0, None, None, 0, True),  # keepdims the sixth
        Case(X(2, 3), ddof=1, keepdims=True),
        Case(X(2, 3), axis=1, where=M23),
        Case(X(2, 3), correction=1),
        Case(X(2, 3), ddof=1, correction=1),  # NumPy: not both
        Case(X(2, 3), 0, mean=X(1, 3)),  # a (traced) precomputed mean
        Case(X(3), ddof=3, grad=False),  # inf, with NumPy's warning
        Case(X(0), grad=False),
        Case(X(2, 3), (0, 0)),
        Case(X(2, 3), out=X(), grad=False),
        Case(X(2, 3), dtype=np.float32, unsupported="dtype"),
        Case(X(2, 3), 0, None, np.zeros(3), unsupported="out"),
    ],
    np.std: [
        Case(X(2, 3)),
        Case(X(2, 3), 1, None, None, 1),
        Case(X(2, 3), axis=1, keepdims=True, where=M23),
        Case(X(2, 3), correction=1),
        Case(X(2, 3), 3),
        Case(X(2, 3), dtype=np.float16, unsupported="dtype"),
    ],
    np.average: [
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), 1, X(3, lo=0.5, hi=1.5)),  # 1-d weights along the axis
        Case(X(2, 3), None, POS),
        Case(X(2, 3), 0, X(2, lo=0.5, hi=1.5), True),  # returned
        Case(X(2, 3), axis=1, keepdims=True),
        Case(X(2, 3), axis=(0, 1), weights=POS, returned=True),
        Case(X(2, 3), weights=X(3)),  # NumPy: axis needed
        Case(X(2, 3), 1, X(2)),  # NumPy: inconsistent shape
        Case(X(2, 3), 0, D(np.array([1.0, -1.0]))),  # NumPy: weights sum to zero
    ],
    np.nansum: [
        Case(XN(2, 3)),
        Case(XN(2, 3), 0),
        Case(XN(2, 3), 1, float, None, True),
        Case(XN(2, 3), initial=1.5, where=M23),
        Case(XN(2, 3), 2),
        Case(XN(2, 3), dtype=np.float32, unsupported="dtype"),
    ],
    np.nanprod: [Case(XN(2, 3)), Case(XN(2, 3), 1, keepdims=True), Case(XN(2, 3), initial=2.0)],
    np.nanmean: [
        Case(XN(2, 3)),
        Case(XN(2, 3), 0),
        Case(XN(2, 3), 1, None, None, True),
        Case(XN(2, 3), where=M23),
        Case(D([np.nan, np.nan]), grad=False),  # nan, with NumPy's warning
    ],
    np.nanvar: [
        Case(XN(2, 3)),
        Case(XN(2, 3), 1, ddof=1),
        Case(XN(2, 3), 1, None, None, 0, True),
        Case(XN(2, 3), correction=1, where=M23),
    ],
    np.nanstd: [Case(XN(2, 3)), Case(XN(2, 3), 1), Case(XN(2, 3), mean=np.zeros((1, 1)))],
    np.nanmax: [
        Case(XN(2, 3)),
        Case(XN(2, 3), 0),
        Case(XN(2, 3), 1, None, True),
        Case(XN(2, 3), initial=5.0, where=M23),
        Case(D([[np.nan, 0.5], [np.nan, np.nan]]), 1, grad=False),  # an all-NaN row: nan
        Case(XN(2, 3), 0, np.zeros(3), unsupported="out"),
    ],
    np.nanmin: [Case(XN(2, 3)), Case(XN(2, 3), axis=1, keepdims=True), Case(XN(2, 3), 3)],
    np.median: [
        Case(X(5)),
        Case(X(2, 3)),
        Case(X(2, 4), 1),
        Case(X(2, 3), 0, None, False, True),
        Case(X(2, 3), axis=(0, 1)),
        Case(X(0), grad=False),  # nan, with NumPy's warning
        Case(X(2, 3), 2),
        Case(X(2, 3), 0, np.zeros(3), unsupported="out"),
    ],
    np.quantile: [
        Case(X(5), 0.3),
        Case(X(2, 3), [0.1, 0.5, 0.9], 1),
        Case(X(2, 3), 0.25, 0, None, False, "lower"),
        Case(X(2, 3), 0.25, 0, method="higher"),
        Case(X(2, 3), 0.4, method="nearest"),
        Case(X(2, 3), [0.3, 0.6], 1, method="midpoint"),
        Case(X(2, 3), 0.5, axis=1, keepdims=True),
        Case(X(2, 3), np.array([[0.2], [0.7]]), 1),
        Case(X(5), 1.5),  # NumPy: out of range
        Case(X(5), 0.3, method="bogus"),
        Case(X(5), 0.3, method="weibull", unsupported="method"),
        Case(X(5), 0.3, method="inverted_cdf", weights=np.ones(5), unsupported="weights"),
        Case(X(5), X(), unsupported="q"),
    ],
    np.percentile: [
        Case(X(5), 30),
        Case(X(2, 3), [10, 50, 90], 0),
        Case(X(2, 3), 25.0, 1, None, False, "midpoint", True),
        Case(X(5), 150),
        Case(X(5), 30, method="hazen", unsupported="method"),
    ],
    np.sort: [
        Case(X(5)),
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), None),
        Case(X(2, 3), -1, "stable"),
        Case(X(2, 3), stable=True),
        Case(X(2, 3), kind="bogus"),
        Case(X(2, 3), 2),
        Case(X(3), order="a"),  # NumPy: no fields
    ],
    np.unique: [
        Case(X(5)),
        Case(DUPS, grad=False),
        Case(DUPS, True, True, True, grad=False),
        Case(X(2, 3), return_counts=True),
        Case(D(np.array([[0.5, 0.1], [0.2, 0.3], [0.5, 0.1]])), axis=0, grad=False),
        Case(DUPS, return_inverse=True, sorted=True, grad=False),
        Case(X(2, 3), axis=2),
    ],
    np.unique_values: [Case(X(5)), Case(DUPS, grad=False)],
    np.cumsum: [
        Case(X(5)),
        Case(X(2, 3)),
        Case(X(2, 3), 0),
        Case(X(2, 3), 1, float),
        Case(X(2, 3), axis=-1),
        Case(X(2, 3), 1, None, X(2, 3)),  # out= a traced array
        Case(X(2, 3), 2),
        Case(X(2, 3), dtype=np.float32, unsupported="dtype"),
        Case(X(2, 3), 0, None, np.zeros((2, 3)), unsupported="out"),
    ],
    np.cumprod: [
        Case(X(5)),
        Case(X(2, 3)),
        Case(X(2, 5), 1),
        Case(D([0.5, 0.0, 2.0, -1.5])),  # exact at a zero
        Case(X(2, 3), axis=0, dtype=float),
        Case(X(2, 3), -3),
        Case(X(2, 3), dtype=int, unsupported="dtype"),
    ],
    np.cumulative_sum: [
        Case(X(5)),
        Case(X(2, 3), axis=0),
        Case(X(2, 3), axis=1, include_initial=True),
        Case(X(2, 3)),  # NumPy: axis needed
        Case(X()),  # NumPy: not for a scalar
        Case(X(5), dtype=np.float32, unsupported="dtype"),
    ],
    np.cumulative_prod: [Case(X(5)), Case(X(2, 3), axis=-1, include_initial=True), Case(X(2, 3))],
    np.nancumsum: [Case(XN(5)), Case(XN(2, 3), 0), Case(XN(2, 3), axis=1, dtype=float)],
    np.nancumprod: [Case(XN(5)), Case(XN(2, 3), 1)],
    np.diff: [
        Case(X(5)),
        Case(X(5), 2),
        Case(X(2, 3), 1, 0),
        Case(X(2, 3), axis=0, prepend=0.5),
        Case(X(2, 3), append=X(2, 1)),
        Case(X(2, 3), prepend=X(2, 2), append=1.0),
        Case(X(5), 0),
        Case(X(5), -1),  # NumPy: order must be non-negative
        Case(X(), 1),  # NumPy: at least one dimension
        Case(X(2, 3), axis=2),
    ],
    np.ediff1d: [
        Case(X(5)),
        Case(X(2, 3)),
        Case(X(5), 1.0, -1.0),
        Case(X(5), to_begin=X(2)),
        Case(X(5), to_end=[1.0, 2.0]),
    ],
    np.gradient: [
        Case(X(5)),
        Case(X(5), 0.5),
        Case(X(2, 3)),
        Case(X(3, 4), 0.5, 2.0),
        Case(X(3, 4), axis=1),
        Case(X(3, 4), 0.25, axis=(0, 1)),
        Case(X(5), edge_order=2),
        Case(X(2), edge_order=2),  # NumPy: too few entries
        Case(X(5), edge_order=3),
        Case(X(5), X(5), unsupported="varargs"),  # coordinates, not a spacing
    ],
    np.trapezoid: [
        Case(X(5)),
        Case(X(5), X(5)),
        Case(X(5), dx=0.5),
        Case(X(2, 3), axis=0),
        Case(X(2, 3), X(3)),
        Case(X(2, 3), None, 0.1, 0),
    ],
    np.round: [
        Case(X(2, 3)),
        Case(X(2, 3), 1),
        Case(X(2, 3), decimals=2),
        Case(X(2, 3), 1, X(2, 3)),  # out= a traced array
        Case(X(2, 3), 0, np.zeros((2, 3)), unsupported="out"),
    ],
    np.fix: [Case(X(2, 3)), Case(X(2, 3), X(2, 3)), Case(X(3), np.zeros(3), unsupported="out")],
    np.sinc: [Case(X(2, 3)), Case(D([0.0, 0.5, -1.5]))],
    np.nan_to_num: [
        Case(XN(2, 3)),
        Case(INF),
        Case(INF, nan=1.0, posinf=2.0, neginf=-2.0),
        Case(INF, False, 0.5),
    ],
    np.real: [Case(X(2, 3)), Case(X())],
    np.imag: [Case(X(2, 3))],
    np.angle: [Case(X(3)), Case(X(3), True)],
    np.real_if_close: [Case(X(2, 3)), Case(X(3), 1000)],
    np.iscomplexobj: [Case(X(3))],
    np.isrealobj: [Case(X(3))],
    # -- structural functions: one gather each ------------------------------------------------
    np.roll: [
        Case(X(5), 2),
        Case(X(2, 3), 1),
        Case(X(2, 3), -1, 0),
        Case(X(2, 3), (1, 2), (0, 1)),
        Case(X(2, 3), shift=1, axis=1),
        Case(X(2, 3), 1, 2),
    ],
    np.rot90: [
        Case(X(2, 3)),
        Case(X(2, 3), 2),
        Case(X(2, 3, 2), 1, (1, 2)),
        Case(X(2, 3), k=-1, axes=(1, 0)),
        Case(X(3)),  # NumPy: needs two axes
    ],
    np.fliplr: [Case(X(2, 3)), Case(X(3))],
    np.flipud: [Case(X(2, 3)), Case(X(3)), Case(X())],
    np.rollaxis: [Case(X(2, 3, 4), 2), Case(X(2, 3, 4), 2, 1), Case(X(2, 3, 4), axis=0, start=3)],
    np.diagflat: [Case(X(3)), Case(X(2, 2), 1), Case(X(3), k=-1)],
    np.resize: [Case(X(5), 3), Case(X(2, 3), (3, 4)), Case(X(2, 3), new_shape=7)],
    np.delete: [
        Case(X(5), 1),
        Case(X(2, 3), [0, 2], 1),
        Case(X(2, 3), slice(0, 1), axis=0),
        Case(X(5), 7),  # NumPy: out of bounds
    ],
    np.insert: [
        Case(X(5), 1, 0.5),
        Case(X(5), 1, X(1)),
        Case(X(2, 3), 1, X(3), 0),
        Case(X(2, 3), [0, 2], X(2, 2), axis=1),
        Case(X(5), 9, 0.5),
    ],
    np.append: [
        Case(X(3), X(2)),
        Case(X(2, 3), X(1, 3), 0),
        Case(X(2, 3), X(2, 3), axis=None),
        Case(X(2, 3), [1.0, 2.0]),
        Case(X(2, 3), X(3), 0),  # NumPy: dimensions differ
    ],
    np.take: [
        Case(X(5), [0, 2]),
        Case(X(2, 3), [[0, 1], [2, 2]], 1),
        Case(X(2, 3), 1, axis=0),
        Case(X(5), [7], mode="clip"),
        Case(X(5), [7, -8], mode="wrap"),
        Case(X(5), [7]),  # NumPy: out of bounds
        Case(X(5), [0, 1], None, X(2)),  # out= a traced array
        Case(X(5), [0], None, np.zeros(1), unsupported="out"),
    ],
    np.take_along_axis: [
        Case(X(2, 3), np.array([[0], [2]]), 1),
        Case(X(2, 3), np.array([[1, 0, 1]]), axis=0),
        Case(X(4), np.array([3, 0]), None),
        Case(X(2, 3), np.array([0, 1]), 1),  # NumPy: dimensions differ
    ],
    np.compress: [
        Case([True, False, True], X(3)),
        Case([True, False], X(2, 3), 0),
        Case([False, True, True], X(2, 3), axis=1),
        Case([True, False, True], X(2, 3)),
        Case([True], X(3), 0, np.zeros(1), unsupported="out"),
    ],
    np.extract: [Case(M23, X(2, 3)), Case(np.array([1, 0, 1]), X(3))],
    np.choose: [
        Case(np.array([0, 1, 0]), [X(3), X(3)]),
        Case(np.array([[0, 1, 1]]), [X(3), X(2, 3)]),
        Case(np.array([0, 2]), [X(2), X(2)], mode="clip"),
        Case(np.array([0, 2]), [X(2), X(2)]),  # NumPy: invalid entry
        Case(np.array([0, 1]), [X(2), X(2)], X(2)),  # out= a traced array
        Case(np.array([0, 1]), [X(2), X(2)], np.zeros(2), unsupported="out"),
    ],
    np.matrix_transpose: [Case(X(2, 3)), Case(X(2, 2, 3)), Case(X(3))],
    np.split: [
        Case(X(6), 3),
        Case(X(6), [1, 4]),
        Case(X(2, 4), 2, 1),
        Case(X(4, 2), indices_or_sections=[1], axis=0),
        Case(X(5), 2),  # NumPy: not an equal division
    ],
    np.array_split: [Case(X(5), 2), Case(X(2, 5), 3, axis=1), Case(X(5), 0)],
    np.hsplit: [Case(X(2, 4), 2), Case(X(4), [1])],
    np.vsplit: [Case(X(4, 2), 2), Case(X(4), 2)],
    np.dsplit: [Case(X(2, 2, 4), 2), Case(X(2, 4), 2)],
    np.unstack: [Case(X(2, 3)), Case(X(2, 3), axis=1), Case(X(2, 3), axis=2)],
    np.atleast_1d: [Case(X()), Case(X(3)), Case(X(), X(2, 3))],
    np.atleast_2d: [Case(X()), Case(X(3)), Case(X(2, 3), X(3))],
    np.atleast_3d: [Case(X(3)), Case(X(2, 3)), Case(X(2, 3, 2))],
    np.column_stack: [Case([X(3), X(3)]), Case((X(3), X(3, 2))), Case([X(3), X(2)])],
    np.dstack: [Case([X(2, 3), X(2, 3)]), Case((X(3), X(3)))],
    np.block: [
        Case([X(2), X(3)]),
        Case([[X(2, 2), X(2, 1)], [X(1, 3)]]),
        Case([[X(2, 2)], [X(1, 3)]]),  # NumPy: mismatched shapes
    ],
    np.broadcast_arrays: [Case(X(3), X(2, 1)), Case(X(2, 3), 1.0), Case(X(3), X(2))],
    np.meshgrid: [
        Case(X(3), X(2)),
        Case(X(3), X(2), indexing="ij"),
        Case(X(3), X(2), sparse=True),
        Case(X(2), X(3), X(2)),
        Case(X(3), X(2), indexing="bogus"),
    ],
    np.select: [
        Case([M23, ~M23], [X(2, 3), X(2, 3)]),
        Case([M23], [X(2, 3)], 0.5),
        Case([M23[0]], [X(2, 3)], X(2, 3)),
        Case([M23], [X(2, 3), X(2, 3)]),  # NumPy: lengths differ
        Case([np.ones((2, 3))], [X(2, 3)]),  # NumPy: conditions must be boolean
    ],
    np.bincount: [
        Case(np.array([0, 1, 1, 3]), X(4)),
        Case(np.array([0, 1, 1]), X(3), 5),
        Case(np.array([0, 1]), weights=X(2), minlength=3),
        Case(np.array([-1, 1]), X(2)),  # NumPy: negative entries
        Case(X(3)),  # NumPy: float entries
    ],
    np.linspace: [
        Case(X(), X(), 5),
        Case(0.0, X(), 4),
        Case(X(), 1.0, 5, False),
        Case(X(), X(), 5, retstep=True),
        Case(X(3), X(3), 4),
        Case(X(3), X(3), 4, axis=1),
        Case(X(2), X(2, 1), 3, axis=-1),
        Case(X(), X(), 1),
        Case(X(), X(), -1),  # NumPy: negative number of samples
        Case(X(), X(), 5, dtype=np.float32, unsupported="dtype"),
    ],
    np.logspace: [
        Case(X(), X(), 5),
        Case(X(), X(), 4, False, 2.0),
        Case(X(2), X(2), 3, axis=1),
        Case(0.0, X(), 3, base=X(lo=1.5, hi=2.5)),
    ],
    np.interp: [
        Case(X(4, lo=0.1, hi=0.9), [0.0, 0.5, 1.0], X(3)),
        Case(X(3, lo=-0.4, hi=0.4), D([-0.5, 0.1, 0.5]), X(3)),
        Case(X(5, lo=-2.0, hi=2.0), [-1.0, 0.1, 1.0], [1.0, 2.0, 0.0], 0.5, X()),
        Case(X(3), [0.0, 1.0], [1.0, 2.0, 3.0]),  # NumPy: lengths differ
        Case(X(3), [0.0, 1.0], [1.0, 2.0], period=2.0, unsupported="period"),
    ],
    np.polyval: [Case(X(3), X(4)), Case([1.0, 2.0], X(3)), Case(X(3), 0.5), Case(X(3), X(2, 2))],
    np.polyfit: [
        Case(X(5), X(5), 1),
        Case(X(5), X(5, 2), 2),
        Case(X(5), X(5), -1),  # NumPy: negative degree
        Case(X(5), X(5), 1, None, True, unsupported="full"),
        Case(X(5), X(5), 1, w=np.ones(5), unsupported="w"),
    ],
    np.polyder: [Case(X(4)), Case(X(4), 2), Case(X(4), m=-1)],
    np.polymul: [Case(X(3), X(2)), Case([1.0, 2.0], X(3))],
    np.polyadd: [Case(X(3), X(2)), Case(X(2), [1.0, 2.0, 3.0])],
    np.polysub: [Case(X(3), X(2)), Case(X(2), X(4))],
    np.vander: [Case(X(3)), Case(X(3), 4), Case(X(3), N=2, increasing=True)],
    np.convolve: [
        Case(X(5), X(3)),
        Case(X(3), X(5)),
        Case(X(5), X(3), "same"),
        Case(X(5), X(3), mode="valid"),
        Case(X(3), [1.0, 2.0]),
        Case(X(0), X(3)),  # NumPy: empty
    ],
    np.correlate: [
        Case(X(5), X(3)),
        Case(X(3), X(5)),
        Case(X(5), X(3), "same"),
        Case(X(5), X(3), mode="full"),
    ],
    np.trim_zeros: [
        Case(X(4)),
        Case(ZEROS, grad=False),  # a zero made nonzero changes the slice
        Case(ZEROS, "f", grad=False),
        Case(ZEROS, trim="b", grad=False),
        Case(D([[0.0, 0.0, 0.0], [0.0, 0.3, 0.0]]), grad=False),
        Case(D([[0.0, 0.0, 0.0], [0.0, 0.3, 0.0]]), axis=1, grad=False),
        Case(D([0.0, 0.0]), grad=False),
        Case(ZEROS, "x"),
    ],
    np.unwrap: [
        Case(PHASE),
        Case(PHASE, np.pi / 2),
        Case(D(np.stack([PHASE.value, -PHASE.value])), axis=1),
        Case(PHASE, period=4.0),
    ],
    np.apply_along_axis: [
        Case(np.sum, 0, X(2, 3)),
        Case(np.diff, 1, X(2, 3)),
        Case(lambda v: np.outer(v, v), 0, X(2, 3)),
        Case(np.sum, 2, X(2, 3)),
    ],
    np.piecewise: [
        Case(V4, [V4.value < 0], [np.sin, np.cos]),
        Case(V4, [V4.value < 0, V4.value > 0.5], [np.sin, lambda x: x**2, 0.5]),
        Case(V4, [V4.value < 0], [1.0, 2.0]),
    ],
    np.histogram: [
        Case(X(5)),
        Case(X(5), 3, (-1.0, 1.0)),
        Case(X(5), [-1.0, 0.1, 1.0]),
        Case(np.arange(4.0), 2, weights=X(4)),
        Case(X(6), 3, None, True),  # density: the edges move with the data
        Case(np.linspace(0, 1, 5), [0.0, 0.5, 1.0], None, True, X(5)),
        Case(X(5), -1),
    ],
    np.histogram_bin_edges: [
        Case(X(5)),
        Case(X(5), 3),
        Case(X(5), [0.0, 0.5]),
        Case(X(5), 2, (-1.0, 1.0)),
        Case(X(5), "auto"),
    ],
    # -- products ---------------------------------------------------------------------------
    np.einsum: [
        Case("ij,jk->ik", X(2, 3), X(3, 4)),
        Case("ij,jk", X(2, 3), X(3, 4)),
        Case("ii->i", X(3, 3)),
        Case("ii", X(3, 3)),
        Case("ij->", X(2, 3)),
        Case("i,i", X(3), X(3)),
        Case("...ij,...jk->...ik", X(2, 2, 3), X(2, 3, 2)),
        Case("bij,bjk->bik", X(2, 2, 3), X(2, 3, 2), optimize=True),
        Case("ij,jk,kl->il", X(2, 3), X(3, 4), X(4, 2), optimize="optimal"),
        Case(X(2, 3), [0, 1], X(3, 4), [1, 2], [0, 2]),
        Case("ij,jk->ik", X(2, 3), X(2, 3)),  # NumPy: sizes differ
        Case("ij->ij", X(2, 3), out=X(2, 3)),
        Case("ij->ji", X(2, 3), order="F", casting="no"),
        Case("ij", X(2, 3), casting="bogus"),
        Case("ij", X(2, 3), bogus=1),
        Case("ij", X(2, 3), dtype=np.float32, unsupported="dtype"),
        Case("ij->ij", X(2, 3), out=np.zeros((2, 3)), unsupported="out"),
    ],
    np.tensordot: [
        Case(X(2, 3), X(3, 4), 1),
        Case(X(2, 3), X(2, 3)),
        Case(X(2, 3, 4), X(3, 4, 2)),
        Case(X(2, 3), X(4, 3), ([1], [1])),
        Case(X(2, 3), X(3, 2), axes=([0, 1], [1, 0])),
        Case(X(2, 3), X(3, 4), 0),
        Case(X(2, 3), X(2, 3), 1),  # NumPy: shape mismatch
    ],
    np.kron: [Case(X(2), X(3)), Case(X(2, 2), X(2, 3)), Case(X(2, 2), X(3)), Case(X(2), 2.0)],
    np.vdot: [Case(X(3), X(3)), Case(X(2, 3), X(2, 3)), Case(X(2, 3), X(3, 2)), Case(X(3), X(2))],
    np.cross: [
        Case(X(3), X(3)),
        Case(X(2, 3), X(3)),
        Case(X(3, 2), X(3, 2), axis=0),
        Case(X(3, 2), X(2, 3), axisa=0),
        Case(X(2, 3), X(2, 3), axisc=0),
        Case(X(2), X(3)),
        Case(X(4), X(3)),  # NumPy: incompatible dimensions
    ],
    np.cov: [
        Case(X(2, 5)),
        Case(X(5)),
        Case(X(5), X(5)),
        Case(X(5, 2), rowvar=False),
        Case(X(2, 5), None, True, True),
        Case(X(2, 5), ddof=2),
        Case(X(2, 2, 2)),  # NumPy: more than two dimensions
        Case(X(2, 5), fweights=np.ones(5, dtype=int), unsupported="fweights"),
        Case(X(2, 5), dtype=np.float32, unsupported="dtype"),
    ],
    np.corrcoef: [Case(X(2, 5)), Case(X(5), X(5)), Case(X(5, 3), rowvar=False)],
    # -- in-place updates of a traced array -------------------------------------------------
    np.copyto: [
        Case(X(2, 3), X(2, 3), inplace=0),
        Case(X(2, 3), X(3), inplace=0),
        Case(X(2, 3), 0.5, where=M23, inplace=0),
        Case(X(2, 3), X(2, 3), "no", inplace=0),
        Case(X(2, 3), X(2, 3), casting="bogus", inplace=0),
        Case(np.zeros((2, 3)), X(2, 3), unsupported="dst"),
    ],
    np.put: [
        Case(X(5), [0, 2], X(2), inplace=0),
        Case(X(2, 3), [5], 0.5, inplace=0),
        Case(X(5), [7], X(1), mode="clip", inplace=0),
        Case(X(5), [7], X(1), inplace=0),  # NumPy: out of bounds
        Case(np.zeros(5), [0], X(1), unsupported="put"),
    ],
    np.fill_diagonal: [
        Case(X(3, 3), 0.5, inplace=0),
        Case(X(3, 3), X(3), inplace=0),
        Case(X(5, 2), X(1), True, inplace=0),
    ],
    np.may_share_memory: [Case(X(3), X(3))],
    np.shares_memory: [Case(X(3), X(3))],
    np.astype: [
        Case(X(3), float),
        Case(X(3), np.float64, copy=False),
        Case(X(3), int),  # integers: NumPy's, no derivative
        Case(X(3), np.float32, unsupported="dtype"),
    ],
    # -- numpy.linalg -------------------------------------------------------------------------
    np.linalg.vector_norm: [
        Case(X(3)),
        Case(X(2, 3)),
        Case(X(2, 3), axis=1),
        Case(X(2, 3), axis=(0, 1), keepdims=True),
        Case(X(3), ord=1),
        Case(X(3), ord=np.inf),
        Case(X(3), ord=-np.inf),
        Case(X(3), ord=3),
        Case(X(3), ord=0),
        Case(X(3), ord=0.5),
        Case(X(3), ord="fro"),  # NumPy: invalid for vectors
        Case(X(2, 3), axis=2),
    ],
    np.linalg.matrix_norm: [
        Case(SEP(2, 3)),
        Case(SEP(2, 3), ord="nuc"),
        Case(SEP(2, 3), ord=2),
        Case(SEP(2, 3), ord=-2),
        Case(SEP(2, 3), ord=1),
        Case(SEP(2, 3), ord=-np.inf),
        Case(D(np.stack([SEP(2, 3).value, SEP(2, 3).value])), keepdims=True),
        Case(X(3)),  # NumPy: needs two dimensions
        Case(SEP(2, 3), ord=3),
    ],
    np.linalg.qr: [
        Case(SEP(3, 3)),
        Case(SEP(4, 2)),
        Case(SEP(2, 4)),
        Case(SEP(4, 2), "r"),
        Case(SEP(3, 3), mode="complete"),
        Case(D(np.stack([SEP(3, 3).value, SEP(3, 3).value]))),
        Case(SEP(3, 3), "bogus"),
        Case(SEP(4, 2), mode="complete", unsupported="mode"),  # Q's completion: no derivative
        Case(SEP(3, 3), mode="raw", unsupported="mode"),
    ],
    np.linalg.pinv: [
        Case(SEP(3, 3)),
        Case(SEP(4, 2)),
        Case(SEP(2, 4)),
        Case(SEP(4, 2), 1e-10),
        Case(SYM(3), hermitian=True, sym=True),
        Case(SEP(4, 2), rtol=1e-10),
        Case(D(np.stack([SEP(3, 2).value, SEP(3, 2).value]))),
    ],
    np.linalg.lstsq: [
        Case(SEP(4, 2), X(4)),
        Case(SEP(4, 2), X(4, 2)),
        Case(SEP(2, 3), X(2)),  # underdetermined: no residuals
        Case(SEP(4, 2), X(4), None),
        Case(SEP(4, 2), X(4), rcond=1e-10),
        Case(SEP(4, 2), X(3)),  # NumPy: incompatible dimensions
    ],
    np.linalg.matrix_power: [
        Case(WELL(3), 3),
        Case(WELL(3), 0),
        Case(WELL(3), -2),
        Case(WELL(3), n=1),
        Case(D(np.stack([WELL(2).value, WELL(2).value])), 2),
        Case(X(2, 3), 2),  # NumPy: not square
        Case(WELL(3), 1.5),  # NumPy: the exponent must be an integer
    ],
    np.linalg.multi_dot: [
        Case([X(2, 3), X(3, 4), X(4, 2)]),
        Case([X(3), X(3, 4), X(4)]),
        Case([X(2, 3), X(3, 4)]),
        Case([X(2, 3), X(3, 4), X(4, 2), X(2, 5)]),
        Case([X(2, 3), X(3, 2), X(2, 2)], out=X(2, 2)),
        Case([X(2, 3)]),  # NumPy: at least two arrays
        Case([X(2, 3), X(4, 2), X(2, 2)]),  # NumPy: not aligned
        Case([X(2, 3), X(3, 2), X(2, 2)], out=np.zeros((2, 2)), unsupported="out"),
    ],
    np.linalg.cond: [
        Case(WELL(3)),
        Case(WELL(3), 2),
        Case(WELL(3), -2),
        Case(WELL(3), "fro"),
        Case(WELL(3), 1),
        Case(WELL(3), np.inf),
        Case(SEP(2, 3)),
        Case(SEP(2, 3), 1),  # NumPy: not square
    ],
    np.linalg.matrix_rank: [
        Case(X(3, 3)),
        Case(X(2, 3), 1e-3),
        Case(X(3, 3), hermitian=False),
        Case(X(3, 3), rtol=0.1),
    ],
    np.linalg.cross: [
        Case(X(3), X(3)),
        Case(X(2, 3), X(3)),
        Case(X(3, 2), X(3, 2), axis=0),
        Case(X(2), X(2)),  # NumPy: 3-vectors only
    ],
    np.linalg.outer: [Case(X(3), X(2)), Case(X(2, 2), X(3))],
    np.linalg.matrix_transpose: [Case(X(2, 3)), Case(X(3))],
    np.linalg.tensordot: [Case(X(2, 3), X(3, 4), axes=1), Case(X(2, 3), X(2, 3))],
    np.linalg.vecdot: [Case(X(2, 3), X(3)), Case(X(3, 2), X(3, 2), axis=0), Case(X(3), X(2))],
    np.linalg.matmul: [Case(X(2, 3), X(3, 4)), Case(X(3), X(3)), Case(X(2, 3), X(2, 3))],
    np.linalg.trace: [
        Case(X(3, 3)),
        Case(X(2, 3, 3), offset=1),
        Case(X(3, 3), dtype=np.float32, unsupported="dtype"),
    ],
    np.linalg.diagonal: [Case(X(3, 3)), Case(X(2, 3, 4), offset=-1)],
    # -- piecewise-constant functions: NumPy's on the values ---------------------------------
    np.argwhere: [Case(X(2, 3))],
    np.flatnonzero: [Case(X(5))],
    np.count_nonzero: [Case(X(2, 3)), Case(X(2, 3), 0), Case(X(2, 3), axis=1, keepdims=True)],
    np.searchsorted: [
        Case(D([0.1, 0.5, 0.9]), X(3)),
        Case(D([0.1, 0.5, 0.9]), 0.5, "right"),
        Case(X(3), 0.5, sorter=np.argsort(X(3).value)),
    ],
    np.array_equal: [Case(X(3), X(3)), Case(X(3), X(2)), Case(XN(3), XN(3), equal_nan=True)],
    np.array_equiv: [Case(X(3), X(3)), Case(X(2, 3), X(3))],
    np.digitize: [Case(X(5), [0.0, 0.5]), Case(X(5), [0.0, 0.5], True)],
    np.isreal: [Case(X(3))],
    np.iscomplex: [Case(X(3))],
    np.nonzero: [Case(X(2, 3))],
    np.argpartition: [Case(X(5), 2), Case(X(2, 3), 1, axis=0), Case(X(5), 9)],
    np.isin: [Case(X(3), [0.5]), Case(X(3), X(2)), Case(X(3), X(2), invert=True)],
    np.isneginf: [Case(INF)],
    np.isposinf: [Case(INF)],
    np.nanargmax: [Case(XN(2, 3)), Case(XN(2, 3), 1)],
    np.nanargmin: [Case(XN(2, 3)), Case(XN(2, 3), axis=0, keepdims=True)],
    np.lexsort: [Case((X(4), X(4))), Case(X(2, 4))],
})  # fmt: skip
CASES[np.around] = CASES[np.round]
CASES[np.amax] = CASES[np.max]
CASES[np.min] = CASES[np.max]
CASES[np.amin] = CASES[np.max]
if hasattr(np.linalg, "svdvals"):
    CASES[np.linalg.svdvals] = [Case(X(3, 4)), Case(X(2, 3, 2))]

# -- ufuncs: generated from the arity; the domain keeps every value real and finite --------
SIGNED = {"add", "subtract", "multiply", "negative", "positive", "absolute", "fabs", "sign",
          "sin", "cos", "tan", "exp", "expm1", "square", "tanh", "sinh", "cosh", "arctan",
          "maximum", "minimum", "greater", "greater_equal", "less", "less_equal", "equal",
          "not_equal", "isfinite", "isnan", "isinf", "floor", "ceil", "rint", "signbit",
          "divide", "true_divide", "trunc", "logical_and", "logical_or", "logical_xor",
          "logical_not", "spacing", "nextafter", "cbrt", "deg2rad", "radians", "rad2deg",
          "degrees", "logaddexp", "logaddexp2", "hypot", "arctan2", "arcsinh", "fmax", "fmin",
          "copysign", "conjugate", "heaviside", "vecdot", "matvec", "vecmat"}  # fmt: skip
#: the values a ufunc is tested at (otherwise (-0.9, 0.9) for SIGNED, else (0.2, 0.9))
DOMAIN = {"arccosh": (1.2, 1.9), "cbrt": (-0.9, -0.2), "arctan2": (-0.9, 0.7), "hypot": (-0.9, 0.7)}


def ufunc_cases(u):
    """Array, broadcast, scalar and keyword forms of a ufunc, ``out=`` a traced array
    (with ``where=``), in its domain (``DOMAIN``, ``SIGNED``)."""
    lo, hi = DOMAIN.get(u.__name__, (-0.9, 0.9) if u.__name__ in SIGNED else (0.2, 0.9))
    concrete_ufunc = getattr(UFUNCS[u], "concrete", False)  # NumPy's own arguments

    def arr(*shape):
        return X(*shape, lo=lo, hi=hi)

    def outs(*shape):  # out= for each output
        return X(*shape) if u.nout == 1 else tuple(X(*shape) for _ in range(u.nout))

    def zeros(*shape):
        return np.zeros(shape) if u.nout == 1 else tuple(np.zeros(shape) for _ in range(u.nout))

    if u.__name__ in ("divide", "true_divide"):  # a divisor away from 0
        denominators = [X(2, 3, lo=0.5, hi=1.5), X(3, lo=-1.5, hi=-0.5)]
    elif u.__name__ in ("remainder", "fmod", "divmod", "floor_divide"):  # away from the jumps
        denominators = [X(2, 3, lo=1.2, hi=1.9), X(3, lo=1.2, hi=1.9)]
    else:
        denominators = [arr(2, 3), arr(3)]
    if u.nin == 1:
        cases = [
            Case(arr(2, 3)),
            Case(arr()),
            Case(arr(3), dtype=float),
            Case(arr(3), casting="bogus"),
            Case(arr(3), out=outs(3)),  # a traced out= is updated in place
            Case(arr(2, 3), out=outs(2, 3), where=M23),  # and keeps its entries off where
            Case(arr(3), dtype=np.float32, unsupported="dtype"),
            Case(arr(3), out=zeros(3), unsupported="out"),
            Case(arr(3), where=_mask(3), unsupported="where"),
        ]
    else:
        cases = [
            Case(arr(2, 3), denominators[0]),
            Case(arr(2, 3), denominators[1]),  # broadcast
            Case(arr(2, 3), 0.7),
            Case(0.7, denominators[0]),
            Case(arr(3), denominators[1], dtype=np.float64),
            Case(arr(2, 3), denominators[1], out=outs(2, 3)),
            Case(arr(2, 3), denominators[0], out=outs(2, 3), where=M23),
            Case(arr(3), denominators[1], dtype=np.float32, unsupported="dtype"),
            Case(arr(3), denominators[1], out=zeros(3), unsupported="out"),
        ]
    return [c for c in cases if not (concrete_ufunc and c.unsupported)]


# ufuncs whose operands are not all alike: an integer exponent, gufunc core dimensions
CASES[np.ldexp] = [
    Case(X(2, 3), np.array([1, 2, 3])),
    Case(X(3), 2),
    Case(X(3), -1, out=X(3)),
    Case(0.7, X(3)),  # NumPy: no loop for a float exponent
    Case(X(3), np.array([1, 2, 3]), dtype=np.float32, unsupported="dtype"),
]
CASES[np.vecdot] = [
    Case(X(2, 3), X(2, 3)),
    Case(X(2, 3), X(3)),
    Case(X(3, 2), X(3, 2), axis=0),
    Case(X(2, 3), 0.7),  # NumPy: not enough dimensions
    Case(X(2, 3), X(2)),  # NumPy: core dimension mismatch
    Case(X(2, 3), X(3), out=X(2)),
    Case(X(3), X(3), axes=[-1, -1, ()], unsupported="axes"),
]
CASES[np.matvec] = [
    Case(X(2, 3), X(3)),
    Case(X(2, 2, 3), X(2, 3)),
    Case(X(3), X(3)),  # NumPy: not enough dimensions
    Case(X(2, 3), X(2)),
]
CASES[np.vecmat] = [Case(X(3), X(3, 2)), Case(X(2, 3), X(2, 3, 4)), Case(X(3), X(2, 3))]


for _u in UFUNCS:
    if _u not in CASES:
        CASES[_u] = ufunc_cases(_u)


def _entries():
    return [(fn, c) for fn in list(UFUNCS) + list(FUNCTIONS) for c in CASES.get(fn, [])]


def _name(fn):
    mod = getattr(fn, "__module__", None) or "numpy"
    return f"{mod.replace('numpy.linalg', 'linalg').replace('numpy', 'np')}.{fn.__name__}"


# ----------------------------------------------------------------------------------
# the runner
# ----------------------------------------------------------------------------------


def _diffs(obj, out):
    if isinstance(obj, D):
        out.append(obj.value)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _diffs(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _diffs(o, out)
    return out


def _put(obj, it):
    """``obj`` with each D replaced by the next value of ``it`` (or a copy of its array)."""
    if isinstance(obj, D):
        return next(it) if it is not None else obj.value.copy(order="K")
    if isinstance(obj, list):
        return [_put(o, it) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_put(o, it) for o in obj)
    if isinstance(obj, dict):
        return {k: _put(o, it) for k, o in obj.items()}
    return obj


def _call(fn, case, args, kwargs):
    """``fn(*args, **kwargs)``, or the argument it updated in place."""
    out = fn(*args, **kwargs)
    return out if case.inplace is None else args[case.inplace]


def _caller(fn, case):
    def g(*xs):
        it = iter(xs)
        return _call(fn, case, _put(case.args, it), _put(case.kwargs, it))

    return g


def _leaves(x):
    if isinstance(x, (tuple, list)):  # tuples, named tuples (EighResult, ...), split's lists
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _family(err):
    for base in (TypeError, ValueError, IndexError, ArithmeticError):
        if isinstance(err, base):
            return base
    return Exception


def _same(got, want, where, check_dtype=True, values=True):
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want), f"{where}: {len(got)} results, NumPy {len(want)}"
    for g, w in zip(got, want):
        g, w = concrete(g), np.asarray(w)
        if not isinstance(g, np.ndarray) and not np.isscalar(g):
            raise AssertionError(f"{where}: a {type(g).__name__}, not an array")
        g = np.asarray(g)
        assert g.shape == w.shape, f"{where}: shape {g.shape}, NumPy {w.shape}"
        if check_dtype:
            kind = {"b": "b", "i": "i", "u": "i", "f": "f"}
            assert kind.get(g.dtype.kind) == kind.get(w.dtype.kind), (
                f"{where}: dtype {g.dtype}, NumPy {w.dtype}"
            )
        if values:
            np.testing.assert_allclose(
                g.astype(np.float64), w.astype(np.float64), rtol=1e-12, atol=1e-12, err_msg=where
            )


def _run(fn, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = _call(fn, case, _put(case.args, None), _put(case.kwargs, None))
        except Exception as err:  # noqa: BLE001 - NumPy's error is the expectation
            return None, err
    return want, None


@pytest.mark.parametrize(
    "fn, case", [pytest.param(fn, c, id=f"{_name(fn)}({c!r})") for fn, c in _entries()]
)
def test_values_and_errors_match_numpy(fn, case):
    want, numpy_error = _run(fn, case)
    xs = _diffs((case.args, case.kwargs), [])
    g = _caller(fn, case)
    with ad.nonfinite("propagate"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.unsupported is not None:
            with pytest.raises(UnsupportedArgumentError, match=case.unsupported):
                trace_with_values(g, xs)
            return
        if numpy_error is not None:
            with pytest.raises(_family(numpy_error)):
                trace_with_values(g, xs)
            return
        graph, _, out = trace_with_values(g, xs)
        _same(out, want, "traced value", values=case.values)
        if not pending_kernels(graph):  # else the reference interpreter alone
            _same(graph(*xs), want, "compiled replay", False, case.values)
        env = ad.reference.evaluate(graph, xs)
        got = tuple(env[v.id] for v in graph.outputs)
        _same(got, tuple(_leaves(want)), "reference", False, case.values)


def _differentiable(fn, case):
    want, err = _run(fn, case)
    if err is not None or case.unsupported is not None or not case.grad or not case.values:
        return False
    if getattr(UFUNCS.get(fn) or FUNCTIONS.get(fn), "concrete", False):
        return False
    leaves = [np.asarray(w) for w in _leaves(want)]
    return bool(_diffs((case.args, case.kwargs), [])) and any(w.dtype.kind == "f" for w in leaves)


@pytest.mark.parametrize(
    "fn, case",
    [
        pytest.param(fn, c, id=f"{_name(fn)}({c!r})")
        for fn, c in _entries()
        if _differentiable(fn, c)
    ],
)
def test_derivatives_match_finite_differences_of_numpy(fn, case):
    g = _caller(fn, case)
    xs = _diffs((case.args, case.kwargs), [])
    floats = [np.asarray(w).dtype.kind == "f" for w in _leaves(_run(fn, case)[0])]
    if not all(floats):  # the float results only (lstsq's rank, unique's counts)
        whole = g
        g = lambda *a: tuple(v for v, f in zip(_leaves(whole(*a)), floats) if f)  # noqa: E731
    if case.sym:  # the symmetric part: JAX's convention for cholesky, eigh, eigvalsh
        inner = g
        g = lambda *a: inner(*[(x + np.swapaxes(x, -1, -2)) / 2 for x in a])  # noqa: E731
    finite = all(np.all(np.isfinite(x)) for x in xs)
    with ad.nonfinite("raise" if finite else "propagate"):  # NaN inputs of the nan-functions
        ad.check_grads(g, xs, order=1, modes=("fwd", "rev"))


# ----------------------------------------------------------------------------------
# coverage and signatures
# ----------------------------------------------------------------------------------


def test_every_table_entry_has_conformance_cases():
    missing = [_name(fn) for fn in list(UFUNCS) + list(FUNCTIONS) if not CASES.get(fn)]
    assert not missing, f"no conformance case for {missing}: add them to CASES"


def _params(fn):
    return list(inspect.signature(fn).parameters.values())


@pytest.mark.parametrize(
    "fn", [pytest.param(f, id=_name(f)) for f in FUNCTIONS if not isinstance(f, np.ufunc)]
)
def test_signatures_mirror_numpy(fn):
    """Our implementation takes NumPy's parameters, in NumPy's order and kinds (a
    positional-only parameter may also be ours by keyword; ours may add keyword-only
    ones, such as reshape's ``newshape`` of NumPy 1.x)."""
    try:
        theirs = _params(fn)
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        pytest.skip("NumPy gives no signature")
    ours = _params(FUNCTIONS[fn])
    P = inspect.Parameter
    positional = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
    t_pos = [p for p in theirs if p.kind in positional]
    o_pos = [p for p in ours if p.kind in positional]
    assert len(o_pos) == len(t_pos), (ours, theirs)
    for o, t in zip(o_pos, t_pos):
        if t.kind == P.POSITIONAL_OR_KEYWORD:
            assert o.kind == P.POSITIONAL_OR_KEYWORD and o.name == t.name, (o, t)
    t_kw = {p.name for p in theirs if p.kind == P.KEYWORD_ONLY}
    o_kw = {p.name for p in ours if p.kind == P.KEYWORD_ONLY}
    assert t_kw <= o_kw, (ours, theirs)
    for kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
        assert any(p.kind == kind for p in ours) == any(p.kind == kind for p in theirs)


# ----------------------------------------------------------------------------------
# the methods of a traced array: ndarray's signatures
# ----------------------------------------------------------------------------------

A23 = X(2, 3).value


def _updated(a, update):
    """An in-place method's result: ``update`` applied to a copy of ``a``."""
    b = a.copy()
    update(b)
    return b


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.sum(0, float),
        lambda a: a.sum(1, None, None, True),
        lambda a: a.mean(0, np.float64),
        lambda a: a.mean(axis=1, keepdims=True),
        lambda a: a.prod(1, float),
        lambda a: a.max(0, None, True),
        lambda a: a.min(initial=-3.0),
        lambda a: a.max(where=M23, initial=-3.0),
        lambda a: a.reshape(3, 2, order="F"),
        lambda a: a.reshape((3, 2), order="C"),
        lambda a: a.reshape(-1),
        lambda a: a.ravel("F"),
        lambda a: a.flatten("F"),
        lambda a: a.transpose(1, 0),
        lambda a: a.dot(np.ones(3)),
        lambda a: a.T @ a,
        lambda a: a.var(0),
        lambda a: a.std(1, None, None, 1),
        lambda a: a.clip(-0.5, 0.5),
        lambda a: a.clip(max=0.2),
        lambda a: a.cumsum(1),
        lambda a: a.cumprod(),
        lambda a: a.round(1),
        lambda a: a.trace(),
        lambda a: a.trace(1),
        lambda a: a.diagonal(),
        lambda a: a.repeat(2, 0),
        lambda a: a.swapaxes(0, 1),
        lambda a: a.take([0, 2], 1),
        lambda a: a.compress([True, False], 0),
        lambda a: a.flatten(),
        lambda a: a.copy(),
        lambda a: a.astype(float),
        lambda a: a[:1].squeeze(),
        lambda a: a.conj(),
        lambda a: a.real,
        lambda a: a.mT,
        lambda a: +a,
        lambda a: a.item(1),
        lambda a: tuple(a.tolist()[1]),
        lambda a: _updated(a, lambda b: b.sort(axis=0)),
        lambda a: _updated(a, lambda b: b.fill(0.5)),
        lambda a: _updated(a, lambda b: b.put([0, 4], [1.0, 2.0])),
        lambda a: _updated(a, lambda b: b.__setitem__((0, slice(1, 3)), 0.25)),
        lambda a: _updated(a, lambda b: b.__iadd__(a[0])),
    ],
)
def test_methods_of_a_traced_array_match_ndarray(call):
    want = call(A23)
    graph, _, out = trace_with_values(call, [A23])
    _same(out, want, "traced method")
    if pending_kernels(graph):
        env = ad.reference.evaluate(graph, [A23])
        _same(tuple(env[v.id] for v in graph.outputs), tuple(_leaves(want)), "reference", False)
    else:
        _same(graph(A23), want, "replay", check_dtype=False)
    ad.check_grads(call, (A23,), order=1)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda a: a.sum(0, np.float32), "dtype"),
        (lambda a: a.max(0, np.zeros(3)), "out"),
        (lambda a: a.mean(out=np.zeros(())), "out"),
        (lambda a: a.astype(np.float32), "dtype"),
        (lambda a: a.var(dtype=np.float32), "dtype"),
        (lambda a: a.cumsum(out=np.zeros(6)), "out"),
    ],
)
def test_unsupported_method_arguments_are_named(call, argument):
    with pytest.raises(UnsupportedArgumentError, match=argument):
        ad.trace(call, A23)
