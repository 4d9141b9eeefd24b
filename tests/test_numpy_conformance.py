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

Ufunc cases are generated from the ufunc's arity; function cases are listed in
``CASES``. ``test_signatures_mirror_numpy`` compares every implementation's parameters
with NumPy's.
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


def SPD(n):
    a = _rng.standard_normal((n, n))
    return D(a @ a.T + n * np.eye(n))


def SYM(n):
    q, _ = np.linalg.qr(_rng.standard_normal((n, n)))
    return D((q * (np.arange(n) - n / 2 + 0.1)) @ q.T)


def WELL(n):
    q, _ = np.linalg.qr(_rng.standard_normal((n, n)))
    return D(q * np.linspace(1.0, 2.0, n) @ q.T + 0.1 * _rng.standard_normal((n, n)))


class Case:
    """``fn(*args, **kwargs)``; ``unsupported``: ad must raise UnsupportedArgumentError
    naming this argument; ``grad``: check derivatives; ``sym``: the function reads a
    symmetric matrix (derivatives checked on its symmetric part, JAX's convention)."""

    def __init__(self, *args, unsupported=None, grad=True, sym=False, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.unsupported, self.grad, self.sym = unsupported, grad, sym

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
    np.zeros_like: [Case(X(2, 3)), Case(X(2, 3), float)],
    np.ones_like: [Case(X(2, 3)), Case(X(2, 3), shape=(4,))],
    np.full_like: [Case(X(2, 3), 2.5), Case(X(2, 3), fill_value=1.0)],
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
          "divide", "true_divide"}  # fmt: skip


def ufunc_cases(u):
    """Array, broadcast, scalar and keyword forms of a ufunc (positive values in (0.2, 0.9)
    unless the ufunc is defined everywhere)."""
    lo, hi = (-0.9, 0.9) if u.__name__ in SIGNED else (0.2, 0.9)
    concrete_ufunc = getattr(UFUNCS[u], "concrete", False)  # NumPy's own arguments

    def arr(*shape):
        return X(*shape, lo=lo, hi=hi)

    if u.__name__ in ("divide", "true_divide"):  # a divisor away from 0
        denominators = [X(2, 3, lo=0.5, hi=1.5), X(3, lo=-1.5, hi=-0.5)]
    else:
        denominators = [arr(2, 3), arr(3)]
    if u.nin == 1:
        cases = [
            Case(arr(2, 3)),
            Case(arr()),
            Case(arr(3), dtype=float),
            Case(arr(3), casting="bogus"),
            Case(arr(3), dtype=np.float32, unsupported="dtype"),
            Case(arr(3), out=np.zeros(3), unsupported="out"),
            Case(arr(3), where=_mask(3), unsupported="where"),
        ]
    else:
        cases = [
            Case(arr(2, 3), denominators[0]),
            Case(arr(2, 3), denominators[1]),  # broadcast
            Case(arr(2, 3), 0.7),
            Case(0.7, denominators[0]),
            Case(arr(3), denominators[1], dtype=np.float64),
            Case(arr(3), denominators[1], dtype=np.float32, unsupported="dtype"),
        ]
    return [c for c in cases if not (concrete_ufunc and c.unsupported)]


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
    """``obj`` with each D replaced by the next value of ``it`` (or its own array)."""
    if isinstance(obj, D):
        return next(it) if it is not None else obj.value
    if isinstance(obj, list):
        return [_put(o, it) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_put(o, it) for o in obj)
    if isinstance(obj, dict):
        return {k: _put(o, it) for k, o in obj.items()}
    return obj


def _caller(fn, case):
    def g(*xs):
        it = iter(xs)
        return fn(*_put(case.args, it), **_put(case.kwargs, it))

    return g


def _leaves(x):
    if isinstance(x, tuple):  # tuples, named tuples (EighResult, SVDResult, ...)
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _family(err):
    for base in (TypeError, ValueError, IndexError, ArithmeticError):
        if isinstance(err, base):
            return base
    return Exception


def _same(got, want, where, check_dtype=True):
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
        np.testing.assert_allclose(
            g.astype(np.float64), w.astype(np.float64), rtol=1e-12, atol=1e-12, err_msg=where
        )


def _run(fn, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = fn(*_put(case.args, None), **_put(case.kwargs, None))
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
        _same(out, want, "traced value")
        _same(graph(*xs), want, "compiled replay", check_dtype=False)
        env = ad.reference.evaluate(graph, xs)
        _same(tuple(env[v.id] for v in graph.outputs), tuple(_leaves(want)), "reference", False)


def _differentiable(fn, case):
    want, err = _run(fn, case)
    if err is not None or case.unsupported is not None or not case.grad:
        return False
    if getattr(UFUNCS.get(fn) or FUNCTIONS.get(fn), "concrete", False):
        return False
    leaves = [np.asarray(w) for w in _leaves(want)]
    return bool(_diffs((case.args, case.kwargs), [])) and all(w.dtype.kind == "f" for w in leaves)


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
    if case.sym:  # the symmetric part: JAX's convention for cholesky, eigh, eigvalsh
        inner = g
        g = lambda *a: inner(*[(x + np.swapaxes(x, -1, -2)) / 2 for x in a])  # noqa: E731
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
    ],
)
def test_methods_of_a_traced_array_match_ndarray(call):
    want = call(A23)
    graph, _, out = trace_with_values(call, [A23])
    _same(out, want, "traced method")
    _same(graph(A23), want, "replay", check_dtype=False)
    ad.check_grads(call, (A23,), order=1)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda a: a.sum(0, np.float32), "dtype"),
        (lambda a: a.max(0, np.zeros(3)), "out"),
        (lambda a: a.mean(out=np.zeros(())), "out"),
    ],
)
def test_unsupported_method_arguments_are_named(call, argument):
    with pytest.raises(UnsupportedArgumentError, match=argument):
        ad.trace(call, A23)
