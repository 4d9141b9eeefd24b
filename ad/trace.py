"""Tracing plain NumPy code into a Graph.

A :class:`Tracer` stands for one variable of the Graph being recorded and carries its
concrete value, so value-dependent Python control flow works (``while abs(t) > eps``).
Operators and NumPy's protocols (``__array_ufunc__``, ``__array_function__``) route
every operation to a function of :mod:`ad.numpy`, which binds primitives.

Traces nest. Each active trace has a level; :func:`bind` records an operation in the
highest-level trace among its operands, and a tracer of a lower level is a constant
there. The value of a tracer may itself be a tracer of a lower level: evaluating an
operation at one level binds it at the level below, so the outer trace records what
the inner one computes (including the derivative rules the inner transformation
runs). Two perturbations therefore never mix (no perturbation confusion).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ad.errors import InputTypeError, TracerError
from ad.ir import Graph, GraphBuilder, Var

_stack: list[Trace] = []


class Trace:
    """One level of tracing: a GraphBuilder plus the value of every variable."""

    def __init__(self) -> None:
        self.level = len(_stack)
        self.builder = GraphBuilder()
        self.values: dict[int, Any] = {}
        self.alive = True
        self._consts: dict[int, tuple[Any, Var]] = {}

    def new_input(self, value: Any) -> Tracer:
        var = self.builder.input(np.shape(value))
        self.values[var.id] = value
        return Tracer(self, var, value)

    def to_var(self, x: Any) -> Var:
        if type(x) is Tracer and x._trace is self:
            return x._var
        hit = self._consts.get(id(x))
        if hit is not None and hit[0] is x and _unchanged(x, self.values[hit[1].id]):
            return hit[1]
        value = x if isinstance(x, Tracer) else as_float_array(x)
        var = self.builder.const(value)  # a snapshot: a read-only copy
        self.values[var.id] = self.builder.const_values[var.id]
        self._consts[id(x)] = (x, var)  # keep x alive so its id stays unique
        return var

    def process(self, prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
        in_vars = [self.to_var(a) for a in args]
        out = bind(prim, [self.values[v.id] for v in in_vars], params)
        out_vars = self.builder.apply(prim, *in_vars, **params)
        if prim.n_out == 1:
            self.values[out_vars.id] = out
            return Tracer(self, out_vars, out)
        for v, o in zip(out_vars, out):
            self.values[v.id] = o
        return tuple(Tracer(self, v, o) for v, o in zip(out_vars, out))


def lift(x: Any, like: Tracer) -> Tracer:
    """The constant ``x`` as a tracer of ``like``'s trace (its later operations are
    recorded, e.g. a broadcast)."""
    t = like._trace
    var = t.to_var(x)
    return Tracer(t, var, t.values[var.id])


def _unchanged(x: Any, snapshot: Any) -> bool:
    """Whether a captured array still holds its snapshot (not changed in place since)."""
    if isinstance(x, Tracer) or not isinstance(x, np.ndarray):
        return True  # tracers and Python numbers cannot change in place
    return x.shape == snapshot.shape and bool(np.array_equal(x, snapshot, equal_nan=True))


def bind(prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
    """Apply ``prim`` to ``args``: record it in the top trace, or evaluate it."""
    top = None
    for a in args:
        if type(a) is Tracer:
            if not a._trace.alive:
                raise TracerError(
                    f"a traced value (v{a._var.id}) escaped the function that was being "
                    "traced; return it instead of storing it outside"
                )
            if top is None or a._trace.level > top.level:
                top = a._trace
    if top is None:
        return prim.impl(*args, **params)
    return top.process(prim, args, params)


def as_float_array(x: Any) -> Any:
    """A non-traced operand as float64 (arrays) or float64 scalar."""
    a = np.asarray(x)
    if a.dtype != np.float64:
        if a.dtype.kind in "biuf":
            a = a.astype(np.float64)
        else:
            raise InputTypeError(f"cannot use a value of dtype {a.dtype} in a traced operation")
    return a


def shape_of(x: Any) -> tuple[int, ...]:
    """Shape of an array, tracer or scalar, without NumPy's dispatch."""
    s = getattr(x, "shape", None)
    return s if s is not None else np.shape(x)


def concrete(x: Any) -> Any:
    """The NumPy value under any number of tracer levels."""
    while isinstance(x, Tracer):
        x = x._value
    return x


def check_input(x: Any, where: str) -> Any:
    """Validate a differentiable input: real floating point, finite shape; float64.

    Another floating type (float32, float16, longdouble) is converted to float64 with a
    ``PrecisionWarning``, once per calling line.
    """
    if isinstance(x, Tracer):
        return x
    a = np.asarray(x)
    if a.dtype.kind in "c":
        raise InputTypeError(f"{where} is complex ({a.dtype}); ad differentiates real float64 only")
    if a.dtype.kind not in "f":
        raise InputTypeError(
            f"{where} has dtype {a.dtype}; differentiable inputs must be floating point "
            "(pass x.astype(float) if you meant a real variable)"
        )
    if a.dtype != np.float64:
        _warn_precision(f"{where} has dtype {a.dtype}")
    return a.astype(np.float64)


def _user_frame() -> tuple[Any, int]:
    """The first frame outside the ``ad`` package above the caller, and the ``stacklevel``
    that attributes a warning issued by the caller to it."""
    import sys

    level, frame = 2, sys._getframe(2)  # stacklevel 2: the caller's caller
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "ad":
        frame, level = frame.f_back, level + 1
    return frame, level


def user_stacklevel() -> int:
    """``stacklevel`` for a warning about the user's line (the first outside ``ad``)."""
    return _user_frame()[1] - 1


_precision_warned: set[tuple[str, int, str]] = set()


def _warn_precision(what: str) -> None:
    """One PrecisionWarning per calling line outside the ``ad`` package (the line it is
    attributed to; kept here too, since other libraries reset the warnings registry)."""
    import warnings

    from ad.errors import PrecisionWarning

    frame, level = _user_frame()
    site = (frame.f_code.co_filename, frame.f_lineno, what) if frame else ("", 0, what)
    if site in _precision_warned:
        return
    _precision_warned.add(site)
    warnings.warn(
        f"{what}: ad computes in float64, so the results (values and derivatives) are "
        "float64, not the input's precision",
        PrecisionWarning,
        stacklevel=level,
    )


def trace_with_values(f: Callable[..., Any], args: Sequence[Any]) -> tuple[Graph, Trace, Any]:
    """Trace ``f`` at ``args``; return the Graph, the trace (values) and f's raw output."""
    t = Trace()
    _stack.append(t)
    try:
        tracers = [t.new_input(a) for a in args]
        out = f(*tracers)
    finally:
        _stack.pop()
        t.alive = False
    single = not isinstance(out, (tuple, list))
    outs = [out] if single else list(out)
    out_vars = []
    for i, o in enumerate(outs):
        if isinstance(o, Tracer) and o._trace is t:
            out_vars.append(o._var)
        else:  # an output that does not depend on the inputs
            try:
                out_vars.append(t.to_var(o))
            except InputTypeError:
                raise InputTypeError(f"output {i} of the traced function is not an array") from None
    graph = t.builder.build(out_vars[0] if single else tuple(out_vars), validate=False)
    return graph, t, out


def trace(f: Callable[..., Any], *args: Any) -> Graph:
    """Record ``f(*args)`` as a Graph (a Wengert list).

    ``f`` is plain NumPy code; ``args`` are float arrays or scalars (computed in
    float64: a float32 or float16 input is converted, with one ``PrecisionWarning``).
    The Graph is value-specific: replaying it on other inputs (``graph(*new_args)``) is
    valid when Python control flow would take the same branches.

    Constants are snapshotted at trace time, as in JAX: every array ``f`` uses that is
    not an argument (a closure, a global, ``A`` in ``lambda x: A @ x``) is copied into
    the Graph when it is traced. Changing that array in place afterwards changes no
    replay and no derivative of the Graph, on any engine; trace again to use the new
    values. (``ad.grad(f)(x)`` and the other transformations trace at every call, so
    they always see the current values.) Example::

        g = ad.trace(lambda x: np.sin(x) * x, np.ones(3))
        print(g)
    """
    args = [check_input(a, f"argument {i}") for i, a in enumerate(args)]
    return trace_with_values(f, args)[0]


_anp = None


def _np():
    """ad.numpy, imported on first use (it imports this module)."""
    global _anp
    if _anp is None:
        import ad.numpy

        _anp = ad.numpy
    return _anp


class Tracer:
    """A traced array: a Graph variable plus its concrete value."""

    __slots__ = ("_trace", "_var", "_value")
    __array_priority__ = 1000

    def __init__(self, trace: Trace, var: Var, value: Any):
        self._trace = trace
        self._var = var
        self._value = value

    # -- array attributes ------------------------------------------------------------
    shape = property(lambda self: self._var.shape)
    ndim = property(lambda self: len(self._var.shape))
    size = property(lambda self: self._var.size)
    dtype = property(lambda self: np.dtype(np.float64))
    T = property(lambda self: _np().transpose(self))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"Tracer(v{self._var.id}, shape={self.shape}, value={concrete(self)!r})"

    # -- conversions that would lose the derivative -----------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None):
        raise TracerError(
            f"np.asarray() of a traced value (v{self._var.id}) would drop its derivative; "
            "use numpy functions on it directly (they are traced) or ad.numpy"
        )

    def __float__(self) -> float:
        raise TracerError(
            f"float() of a traced value (v{self._var.id}) would drop its derivative; "
            "keep it an array, or use ad.trace.concrete(x) if you mean a constant"
        )

    __int__ = __complex__ = __index__ = __float__

    def __bool__(self) -> bool:
        return bool(concrete(self))

    # -- comparisons give concrete booleans (they have no derivative) ----------------
    def __lt__(self, o):
        return concrete(self) < concrete(o)

    def __le__(self, o):
        return concrete(self) <= concrete(o)

    def __gt__(self, o):
        return concrete(self) > concrete(o)

    def __ge__(self, o):
        return concrete(self) >= concrete(o)

    def __eq__(self, o):
        return concrete(self) == concrete(o)

    def __ne__(self, o):
        return concrete(self) != concrete(o)

    __hash__ = object.__hash__

    # -- arithmetic --------------------------------------------------------------------
    def __add__(self, o):
        return _np().add(self, o)

    def __radd__(self, o):
        return _np().add(o, self)

    def __sub__(self, o):
        return _np().subtract(self, o)

    def __rsub__(self, o):
        return _np().subtract(o, self)

    def __mul__(self, o):
        return _np().multiply(self, o)

    def __rmul__(self, o):
        return _np().multiply(o, self)

    def __truediv__(self, o):
        return _np().divide(self, o)

    def __rtruediv__(self, o):
        return _np().divide(o, self)

    def __pow__(self, o):
        return _np().power(self, o)

    def __rpow__(self, o):
        return _np().power(o, self)

    def __matmul__(self, o):
        return _np().matmul(self, o)

    def __rmatmul__(self, o):
        return _np().matmul(o, self)

    def __neg__(self):
        return _np().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _np().abs(self)

    def __getitem__(self, idx):
        return _np().getitem(self, idx)

    # -- methods: ndarray's signatures (the function's, without the array) ---------------
    def reshape(self, *shape, order: str = "C", copy: Any = None):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _np().reshape(self, shape, order=order, copy=copy)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _np().transpose(self, axes or None)

    def ravel(self, order: str = "C"):
        return _np().ravel(self, order)

    flatten = ravel

    def sum(self, *args, **kwargs):
        return _np().sum(self, *args, **kwargs)

    def mean(self, *args, **kwargs):
        return _np().mean(self, *args, **kwargs)

    def prod(self, *args, **kwargs):
        return _np().prod(self, *args, **kwargs)

    def max(self, *args, **kwargs):
        return _np().max(self, *args, **kwargs)

    def min(self, *args, **kwargs):
        return _np().min(self, *args, **kwargs)

    def dot(self, b, out=None):
        return _np().dot(self, b, out)

    def squeeze(self, axis=None):
        return _np().squeeze(self, axis=axis)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if np.dtype(dtype) != np.float64:
            raise TracerError(f"astype({dtype}) of a traced value; ad traces float64 only")
        return self

    def copy(self, order="C"):
        return _np().copy(self, order)

    # -- NumPy protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        anp = _np()
        fn = anp.UFUNCS.get(ufunc)
        if method != "__call__" or fn is None:
            name = ufunc.__name__ + ("" if method == "__call__" else "." + method)
            from ad.errors import UnsupportedOperationError

            raise UnsupportedOperationError("numpy." + name)
        if getattr(fn, "concrete", False):  # run by NumPy itself, with its arguments
            return fn(*inputs, **kwargs)
        anp.ufunc_kwargs(ufunc.__name__, kwargs)  # what is accepted changes nothing
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        anp = _np()
        fn = anp.FUNCTIONS.get(func)
        if fn is None:
            from ad.errors import UnsupportedOperationError

            mod = func.__module__ or "numpy"
            raise UnsupportedOperationError(f"{mod}.{func.__name__}")
        return fn(*args, **kwargs)
