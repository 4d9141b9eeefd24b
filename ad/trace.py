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

from ad.errors import InputTypeError, ShapeError, TracerError
from ad.ir import Graph, GraphBuilder, Guard, Var

_stack: list[Trace] = []


class Trace:
    """One level of tracing: a GraphBuilder plus the value of every variable."""

    def __init__(self) -> None:
        self.level = len(_stack)
        self.builder = GraphBuilder(cse=True)
        self.values: dict[int, Any] = {}
        self.alive = True
        self._consts: dict[int, tuple[Any, Var]] = {}
        #: the concrete facts this trace relied on (see :func:`guard`)
        self.guards: list[Guard] = []

    def new_input(self, value: Any) -> Tracer:
        var = self.builder.input(np.shape(value))
        self.values[var.id] = value
        return Tracer(self, var, value)

    def to_var(self, x: Any) -> Var:
        if type(x) is Tracer and x._trace is self:
            return x._var
        hit = self._consts.get(id(x))
        if (
            hit is not None
            and hit[0] is x
            and hit[2] is getattr(x, "_var", None)  # an in-place update rebinds _var
            and _unchanged(x, self.values[hit[1].id])
        ):
            return hit[1]
        if isinstance(x, Tracer):  # a lower level's tracer: a snapshot, as x may be updated
            value = Tracer(x._trace, x._var, x._value)
        else:
            value = as_float_array(x)
        var = self.builder.const(value)  # a snapshot: arrays are copied, read-only
        self.values[var.id] = self.builder.const_values[var.id]
        # keep x alive so its id stays unique
        self._consts[id(x)] = (x, var, getattr(x, "_var", None))
        return var

    def captured(self) -> list[tuple[Any, Any]]:
        """``(array, snapshot)`` of every array read as a constant (for ad.jit's check)."""
        return [
            (hit[0], self.builder.const_values[hit[1].id])
            for hit in self._consts.values()
            if isinstance(hit[0], np.ndarray)
        ]

    def process(self, prim: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
        builder, values = self.builder, self.values
        in_vars, vals, nested = [], [], False
        for a in args:
            var = a._var if type(a) is Tracer and a._trace is self else self.to_var(a)
            val = values[var.id]
            nested = nested or type(val) is Tracer  # a lower level's tracer: record there too
            in_vars.append(var)
            vals.append(val)
        key, out_vars = builder.seen(prim, in_vars, params)
        if out_vars is not None:  # an equal equation was recorded: its value, no work
            if prim.n_out == 1:
                return Tracer(self, out_vars, values[out_vars.id])
            return tuple(Tracer(self, v, values[v.id]) for v in out_vars)
        out = bind(prim, vals, params) if nested else prim.impl(*vals, **params)
        out_vars = builder.record(prim, in_vars, params, key)
        if prim.n_out == 1:
            values[out_vars.id] = out
            return Tracer(self, out_vars, out)
        for v, o in zip(out_vars, out):
            values[v.id] = o
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
    """Shape of an array, tracer or scalar, without NumPy's dispatch (``np.shape`` of a
    tracer goes through ``__array_function__``: a few microseconds)."""
    s = getattr(x, "shape", None)
    return s if s is not None else np.shape(x)


def ndim_of(x: Any) -> int:
    """Number of axes of an array, tracer or scalar (see :func:`shape_of`)."""
    return len(shape_of(x))


def peek(x: Any) -> Any:
    """The NumPy value under any number of tracer levels, recording nothing: for values
    that only decide an error or a message, never what the graph computes."""
    while isinstance(x, Tracer):
        x = x._value
    return x


def guard(fn: Callable[..., Any], *args: Any, where: str = "") -> Any:
    """``fn`` of the concrete values of ``args``, recorded as a guard (:class:`Guard`)
    by every active trace that records one of ``args``: a replay of that trace's graph
    is valid only where ``fn`` gives the same result. Example (what ``x > 0`` does)::

        mask = guard(np.greater, x, 0.0)      # a concrete bool array
    """
    out = fn(*[peek(a) for a in args])
    traced = [a for a in args if isinstance(a, Tracer)]
    if not traced:
        return out
    for t in _stack:
        operands, hit = [], False
        for a in args:
            x = a
            while isinstance(x, Tracer) and x._trace is not t:
                x = x._value
            if isinstance(x, Tracer):
                operands.append(x._var)
                hit = True
            else:
                operands.append(peek(a))
        if hit:
            label = where or f"{getattr(fn, '__name__', 'fn')}({', '.join(map(repr, operands))})"
            t.guards.append(Guard(fn, tuple(operands), out, label))
    return out


def value_of(x: Any) -> Any:
    """The whole value (the guard :func:`concrete` records; its label reads
    ``value_of(v3)``)."""
    return x


def concrete(x: Any) -> Any:
    """The NumPy value under any number of tracer levels, recorded as a guard on the
    whole value (a replay elsewhere is a new trace). Code that derives something from
    the value should guard that instead (:func:`guard`), so that replays at other
    values stay valid; :func:`peek` is for values that decide no result."""
    if isinstance(x, Tracer):
        return guard(value_of, x)
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
    graph.guards = tuple(t.guards)
    graph.validated = True  # the builder ran every shape rule on Vars it made, in order
    return graph, t, out


def trace(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Graph:
    """Record ``f(*args, **kwargs)`` as a Graph (a Wengert list).

    ``f`` is plain NumPy code; ``args`` are float arrays or scalars, or pytrees of them
    (tuples, lists, dicts: the Graph's inputs and outputs are their leaves, in
    :func:`ad.tree.flatten` order), computed in float64 (a float32 or float16 input is
    converted, with one ``PrecisionWarning``); ``kwargs`` are passed through as
    constants. The Graph is value-specific: replaying it on other inputs
    (``graph(*new_args)``) is valid when Python control flow would take the same branches:
    ``graph(*new_args)`` and ``ad.reverse.gradient`` check the recorded guards and raise
    :class:`ad.errors.GuardError` where they fail (``ad.jit`` re-traces instead).

    Constants are snapshotted at trace time, as in JAX: every array ``f`` uses that is
    not an argument (a closure, a global, ``A`` in ``lambda x: A @ x``) is copied into
    the Graph when it is traced. Changing that array in place afterwards changes no
    replay and no derivative of the Graph, on any engine; trace again to use the new
    values. (``ad.grad(f)(x)`` and the other transformations trace at every call, so
    they always see the current values.) Example::

        g = ad.trace(lambda x: np.sin(x) * x, np.ones(3))
        print(g)
    """
    from ad.tree import FlatCall

    flat = FlatCall(f, args, kwargs, tuple(range(len(args))))
    return trace_with_values(flat.fun, flat.leaves)[0]


_anp = None


def _np():
    """ad.numpy, imported on first use (it imports this module)."""
    global _anp
    if _anp is None:
        import ad.numpy

        _anp = ad.numpy
    return _anp


def _caller_line() -> str:
    """The source line of the innermost frame outside ``ad`` (for a hint), or ''."""
    import linecache
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(2)
    for _ in range(40):
        if frame is None:
            return ""
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(here + os.sep):
            return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        frame = frame.f_back
    return ""


def _scipy_caller() -> str | None:
    """The SciPy function that is converting a traced value, if SciPy is on the stack."""
    import sys

    frame, name = sys._getframe(2), None
    for _ in range(60):
        if frame is None:
            break
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] == "scipy":
            name = f"{module.rsplit('.', 1)[0]}.{frame.f_code.co_name}"
        frame = frame.f_back
    return name


def _conversion_message(x: Tracer, what: str) -> str:
    """Why converting a tracer to a NumPy array or a Python number fails, and the fix."""
    head = (
        f"{what} of a traced value (v{x._var.id}, shape {x.shape}) would drop its "
        "derivative: NumPy arrays and Python numbers cannot hold a traced value."
    )
    scipy_fn = _scipy_caller()
    if scipy_fn is not None:
        from ad.numpy_ext import scipy_spelling

        return (
            f"{head} {scipy_fn} converts its argument to a NumPy array, so it cannot be "
            f"traced; use {scipy_spelling(scipy_fn)} instead."
        )
    line = _caller_line()
    hints = [
        "`buf[i] = value` where buf is a NumPy array (np.zeros(n)) cannot be intercepted: "
        "create buf from a traced array, `buf = np.zeros_like(x)` or `buf = x.copy()`, then "
        "`buf[i] = value` is recorded as an update",
        "`np.array([a, b])` of traced values: use `np.stack([a, b])`",
        "`math.sin(x)` and the other math functions: use `np.sin(x)`",
        "`float(x)`, `x.item()`: keep x an array (`ad.stop_gradient(x)` for a value without "
        "a derivative), or `from ad.trace import concrete` and `concrete(x)` for its NumPy "
        "value (under ad.jit a guard on the whole value: a new value traces again)",
    ]
    if "math." in line:
        hints.insert(0, hints.pop(2))
    elif "np.array(" in line or "np.asarray(" in line or "numpy.array(" in line:
        hints.insert(0, hints.pop(1))
    where = f" (at: {line})" if line else ""
    return f"{head}{where} Fixes: " + "; ".join(hints) + "."


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
        return f"Tracer(v{self._var.id}, shape={self.shape}, value={peek(self)!r})"

    # -- conversions that would lose the derivative -----------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None):
        raise TracerError(_conversion_message(self, "np.asarray()"))

    def __float__(self) -> float:
        raise TracerError(_conversion_message(self, "float()"))

    def __int__(self) -> int:
        raise TracerError(_conversion_message(self, "int()"))

    __complex__ = __index__ = __int__

    def __bool__(self) -> bool:
        return guard(bool, self)

    # -- comparisons give concrete booleans (no derivative), each a guard ---------------
    def __lt__(self, o):
        return guard(np.less, self, o)

    def __le__(self, o):
        return guard(np.less_equal, self, o)

    def __gt__(self, o):
        return guard(np.greater, self, o)

    def __ge__(self, o):
        return guard(np.greater_equal, self, o)

    def __eq__(self, o):
        return guard(np.equal, self, o)

    def __ne__(self, o):
        return guard(np.not_equal, self, o)

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
        return _np().positive(self)

    def __abs__(self):
        return _np().abs(self)

    def __getitem__(self, idx):
        return _np().getitem(self, idx)

    # -- in-place updates: functional updates that rebind this tracer -----------------
    # ``y[idx] = v`` and ``y += v`` record a new variable (a gather / an add) and make
    # this object stand for it, so later reads (and other references to y) see the
    # update, as NumPy and PyTorch users expect (JAX spells it y = y.at[idx].set(v)).
    def _rebind(self, new: Any, same_shape: bool = True) -> Tracer:
        if not isinstance(new, Tracer):  # pragma: no cover - a traced operand makes a tracer
            raise TracerError(f"an in-place update of v{self._var.id} lost its trace")
        if same_shape and new.shape != self.shape:
            raise ShapeError(
                f"in-place update of a traced array of shape {self.shape} with a result of "
                f"shape {new.shape} (NumPy: non-broadcastable output operand)"
            )
        self._trace, self._var, self._value = new._trace, new._var, new._value
        return self

    def __setitem__(self, idx, value):
        self._rebind(_np().setitem(self, idx, value))

    def __iadd__(self, o):
        return self._rebind(_np().add(self, o))

    def __isub__(self, o):
        return self._rebind(_np().subtract(self, o))

    def __imul__(self, o):
        return self._rebind(_np().multiply(self, o))

    def __itruediv__(self, o):
        return self._rebind(_np().divide(self, o))

    def __ipow__(self, o):
        return self._rebind(_np().power(self, o))

    def __imod__(self, o):
        return self._rebind(_np().remainder(self, o))

    # -- piecewise-constant operators: zero derivative where they are differentiable ----
    def __mod__(self, o):
        return _np().remainder(self, o)

    def __rmod__(self, o):
        return _np().remainder(o, self)

    def __floordiv__(self, o):
        return _np().floor_divide(self, o)

    def __rfloordiv__(self, o):
        return _np().floor_divide(o, self)

    def __divmod__(self, o):
        return _np().divmod(self, o)

    def __rdivmod__(self, o):
        return _np().divmod(o, self)

    def __round__(self, ndigits=None):
        return _np().round(self, ndigits or 0)

    def __floor__(self):
        return np.floor(concrete(self))

    def __ceil__(self):
        return np.ceil(concrete(self))

    def __trunc__(self):
        return np.trunc(concrete(self))

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

    def flatten(self, order: str = "C"):
        """A flattened copy (updating it in place leaves ``self`` alone)."""
        return _np().copy(_np().ravel(self, order))

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
        """float64: the array (a copy unless ``copy=False``); an integer or boolean dtype:
        NumPy's conversion of the values (piecewise constant, no derivative); another
        floating or complex dtype raises UnsupportedArgumentError (ad is float64 only)."""
        kind = np.dtype(dtype).kind
        if kind in "biu":
            return concrete(self).astype(dtype, order, casting, subok, copy)
        if np.dtype(dtype) != np.float64:
            from ad.errors import UnsupportedArgumentError

            raise UnsupportedArgumentError(
                "ndarray.astype", f"dtype={dtype!r}", "ad computes in float64 only"
            )
        return _np().copy(self) if copy else self

    def copy(self, order: str = "C"):
        """A new traced array with the same value (updating it leaves ``self`` alone)."""
        return _np().copy(self, order)

    # More ndarray methods (clip, std, var, cumsum, sort, argmax, tolist, ...) are
    # attached from the table ``METHODS`` of ad/numpy_ext.py.

    # -- NumPy protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _np().dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _np().dispatch_function(func, args, kwargs)
