"""Sparse Jacobians and Hessians: plans (pattern + colourings + compressed sweeps),
cached per Graph and per function.

Graph level (what the benchmark uses)::

    plan = ad.sparse.jacobian_plan(graph)      # detection, once per graph
    J = plan(x)                                # scipy.sparse CSR, mode chosen by cost
    J = plan(x, mode="colored_reverse")
    hp = ad.sparse.hessian_plan(graph, x)      # scalar graph: gradient graph + star colouring
    H = hp(x)

Function level::

    J = ad.sparse_jacobian(f, x)               # mode="auto"
    H = ad.sparse_hessian(f, x)

The function-level calls trace ``f`` at every call (as ``ad.jacfwd`` does) and keep,
per function and input shape, the last Graph with its plan. The pattern is that of
the control flow taken when ``f`` was traced first; at a later call the new trace is
compared with the cached one (equations, shapes, index maps, masks and constants):
when they are identical the cached Graph, its compiled program, pattern and colouring
are reused, otherwise everything is recomputed from the new trace. A Hessian's plan keeps
the gradient graph recorded from the first trace (forward over reverse), reused while
f's trace is the same and the guards of the gradient graph hold (its derivative rules
bake values such as sign(x) in as constants, each under a guard): otherwise the
gradient graph is recorded again.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ad.engine import as_args, check_guards, guards_hold
from ad.errors import NonScalarOutputError, ShapeError, TracerError
from ad.ir import Graph
from ad.sparse import choice, coloring
from ad.sparse.compress import (
    Compression,
    hessian_compression,
    identity,
    jacobian_compression,
)
from ad.sparse.pattern import (
    csr_arrays,
    entry_rows,
    hessian_pattern,
    is_symmetric,
    jacobian_pattern,
    max_column_count,
    symmetrize,
)

MODES = ("auto",) + choice.MODES


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def _prototype(pattern: sp.csr_array) -> sp.csr_array:
    """The structure every result of a plan shares: ``pattern``'s indices in the dtype
    scipy picks for them (int32 when the shape and nnz allow), sorted. Its data is
    never read (each result brings its own), so it is left uninitialised."""
    dtype = sp.get_index_dtype(maxval=max(*pattern.shape, pattern.nnz))
    if isinstance(pattern, sp.csr_array) and pattern.has_canonical_format:
        out = copy.copy(pattern)  # what detection returns: no constructor checks again
        out.data = np.empty(pattern.nnz)
        out.indices = pattern.indices.astype(dtype)
        out.indptr = pattern.indptr.astype(dtype)
        return out
    out = sp.csr_array(
        (np.empty(pattern.nnz), pattern.indices.astype(dtype), pattern.indptr.astype(dtype)),
        shape=pattern.shape,
        copy=False,
    )
    out.has_sorted_indices = True
    return out


def _new_csr(structure: sp.csr_array, data: np.ndarray) -> sp.csr_array:
    """A CSR array with ``structure``'s (a plan's :func:`_prototype`) sorted indices,
    holding ``data`` (not copied).

    A shallow copy of the prototype with fresh ``indices`` and ``indptr``: never shared
    with the plan or another result, since scipy mutates them in place
    (``eliminate_zeros``, ``sum_duplicates``, ``resize``) and a shared pair would
    corrupt the next call's result. The copy skips ``csr_array``'s constructor, whose
    Python checks cost 11-29 us per call (warm or cold caches), for the same object."""
    out = copy.copy(structure)
    out.data = data
    out.indices = structure.indices.copy()
    out.indptr = structure.indptr.copy()
    return out


class _Entries:
    """What a plan derives from its ``pattern`` for evaluations, built on the first
    one (detection and colouring do not need it): each nonzero's row and column
    (int64, row-major) and the prototype of the results (:func:`_prototype`)."""

    pattern: sp.csr_array

    @functools.cached_property
    def rows(self) -> np.ndarray:
        """The row of each nonzero, in the pattern's (row-major) order."""
        return entry_rows(np.asarray(self.pattern.indptr, dtype=np.int64))

    @functools.cached_property
    def cols(self) -> np.ndarray:
        """The column of each nonzero, in the same order."""
        return np.asarray(self.pattern.indices, dtype=np.int64)

    @functools.cached_property
    def _proto(self) -> sp.csr_array:
        return _prototype(self.pattern)

    def prepare(self) -> _Entries:
        """Build the entry arrays and the results' prototype now rather than at the
        first evaluation (what a first call pays besides detection and colouring)."""
        self.rows, self.cols, self._proto  # noqa: B018 (cached on first access)
        return self


class JacobianPlan(_Entries):
    """Everything reusable about the sparse Jacobian of one Graph: the pattern (scipy
    CSR, m x n), the colourings (computed on first use), the compressions of each mode
    and the mode the cost model picks. ``plan(args, mode)`` evaluates the Jacobian.

    ``detect_s`` and ``color_s`` record the seconds detection and colouring took.
    """

    def __init__(self, graph: Graph, ordering: str = "best"):
        self.graph = graph
        self.ordering = ordering
        t0 = time.perf_counter()
        self.pattern = jacobian_pattern(graph)
        self.detect_s = time.perf_counter() - t0
        self.color_s = 0.0
        self.m, self.n = self.pattern.shape
        self.nnz = int(self.pattern.nnz)
        self._colorings: dict[str, coloring.Coloring] = {}
        self._compressions: dict[str, Compression] = {}
        self._auto: str | None = None

    def __repr__(self) -> str:
        return f"<JacobianPlan {self.m} x {self.n}, nnz={self.nnz}>"

    @functools.cached_property
    def row_bound(self) -> int:
        """The lower bound of the row colours: the most nonzeros in a column."""
        return int(max_column_count(csr_arrays(self.pattern)[1], self.n))

    def coloring(self, kind: str) -> coloring.Coloring:
        """The "column" (forward) or "row" (reverse) colouring, computed once. A
        structurally symmetric pattern reuses its column colouring for the rows."""
        got = self._colorings.get(kind)
        if got is None:
            t0 = time.perf_counter()
            other = self._colorings.get("row" if kind == "column" else "column")
            if other is not None and self._symmetric():
                got = coloring.Coloring(
                    other.colors, other.n_colors, other.lower_bound, kind, other.ordering
                )
            elif kind == "column":
                got = coloring.column_coloring(self.pattern, self.ordering)
            elif kind == "row":
                got = coloring.row_coloring(self.pattern, self.ordering)
            else:
                raise ValueError(f"kind must be 'column' or 'row', not {kind!r}")
            self._colorings[kind] = got
            self.color_s += time.perf_counter() - t0
        return got

    def _symmetric(self) -> bool:
        if self.m != self.n:
            return False
        return bool(is_symmetric(*csr_arrays(self.pattern)))

    def mode(self) -> str:
        """The mode ``mode="auto"`` runs: the cost model's choice (computed once)."""
        if self._auto is None:
            self._auto = choice.choose(self)
        return self._auto

    def compression(self, mode: str) -> Compression:
        """The compressed sweeps of one of the four modes (built once)."""
        got = self._compressions.get(mode)
        if got is None:
            if mode == "forward":  # dense: every column its own colour
                got = jacobian_compression(
                    self.graph, self.rows, self.cols, identity(self.n), "forward"
                )
            elif mode == "reverse":
                got = jacobian_compression(
                    self.graph, self.rows, self.cols, identity(self.m), "reverse"
                )
            elif mode == "colored_forward":
                got = jacobian_compression(
                    self.graph, self.rows, self.cols, self.coloring("column").colors, "forward"
                )
            elif mode == "colored_reverse":
                got = jacobian_compression(
                    self.graph, self.rows, self.cols, self.coloring("row").colors, "reverse"
                )
            else:
                raise ValueError(f"mode must be one of {choice.MODES}, not {mode!r}")
            self._compressions[mode] = got
        return got

    def __call__(self, args: Any, mode: str = "auto", engine: str = "compiled") -> sp.csr_array:
        """The Jacobian at ``args`` (one array per graph input, or a bare array) as a
        ``scipy.sparse.csr_array`` with this plan's pattern (explicit zeros kept).
        Raises GuardError where the graph's recorded control flow does not hold."""
        _check_mode(mode)
        xs = as_args(self.graph, args)
        check_guards(self.graph, xs, engine)
        return self._evaluate(xs, mode, engine)

    def _evaluate(self, xs: list[Any], mode: str, engine: str) -> sp.csr_array:
        comp = self.compression(self.mode() if mode == "auto" else mode)
        return _new_csr(self._proto, comp.run(xs, engine))

    def explain(self) -> str:
        """Why ``mode="auto"`` picks its mode: colours and the four predictions."""
        return "\n".join(choice.explain_lines(self))


#: Plans per Graph (weakly keyed: a plan lives as long as its Graph).
_PLANS: weakref.WeakKeyDictionary[Graph, dict[tuple[str, str], Any]] = weakref.WeakKeyDictionary()


def jacobian_plan(graph: Graph, ordering: str = "best") -> JacobianPlan:
    """The sparse-Jacobian plan of ``graph``, built once per graph."""
    plans = _PLANS.setdefault(graph, {})
    key = ("sparse_jacobian", ordering)
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = JacobianPlan(graph, ordering)
    return plan


class HessianPlan(_Entries):
    """The sparse Hessian of a scalar-output Graph: the gradient graph (recorded at the
    point given; valid where the control flow is the same), its symmetric pattern, a
    star colouring and the forward sweeps over the gradient graph that recover it.

    A call checks the guards of the gradient graph (what its derivative rules baked in:
    the sign ``abs`` differentiates by, a ``max``'s tie weights) and, when ``graph``
    (f's own Graph) is given, f's guards: GuardError rather than an answer along
    another path."""

    def __init__(self, grad_graph: Graph, ordering: str = "best", graph: Graph | None = None):
        self.grad_graph = grad_graph
        self.graph = graph
        t0 = time.perf_counter()
        self.pattern = symmetrize(jacobian_pattern(grad_graph))
        self.detect_s = time.perf_counter() - t0
        self.n = self.pattern.shape[0]
        self.nnz = int(self.pattern.nnz)
        t0 = time.perf_counter()
        self.star = coloring.star_coloring(self.pattern, ordering)
        self.color_s = time.perf_counter() - t0
        self._comp: dict[str, Compression] = {}

    def __repr__(self) -> str:
        return f"<HessianPlan {self.n} x {self.n}, nnz={self.nnz}, {self.star.n_colors} colours>"

    def compression(self, method: str = "star") -> Compression:
        """``"star"`` (default), or ``"dense"`` (n forward sweeps over the gradient)."""
        got = self._comp.get(method)
        if got is None:
            if method == "star":
                got = hessian_compression(self.grad_graph, self.rows, self.cols, self.star.colors)
            elif method == "dense":
                got = jacobian_compression(
                    self.grad_graph, self.rows, self.cols, identity(self.n), "forward"
                )
            else:
                raise ValueError(f"method must be 'star' or 'dense', not {method!r}")
            self._comp[method] = got
        return got

    def __call__(self, args: Any, method: str = "star", engine: str = "compiled") -> sp.csr_array:
        """The Hessian at ``args`` as a symmetric ``scipy.sparse.csr_array``."""
        xs = as_args(self.grad_graph, args)
        if self.graph is not None:
            check_guards(self.graph, xs, engine)
        check_guards(self.grad_graph, xs, engine)
        return self._evaluate(xs, method, engine)

    def _evaluate(self, xs: list[Any], method: str, engine: str) -> sp.csr_array:
        return _new_csr(self._proto, self.compression(method).run(xs, engine))


def hessian_plan(graph: Graph, args: Any, ordering: str = "best") -> HessianPlan:
    """The sparse-Hessian plan of a scalar-output graph, with a gradient graph valid at
    ``args``: cached on the graph, and recorded again at ``args`` when the guards of the
    cached one (the values its derivative rules baked in) do not hold there."""
    from ad.reverse import gradient_graph

    plans = _PLANS.setdefault(graph, {})
    key = ("sparse_hessian", ordering)
    plan = plans.get(key)
    if plan is None or not guards_hold(plan.grad_graph, as_args(graph, args)):
        plan = plans[key] = HessianPlan(gradient_graph(graph, args), ordering, graph)
    return plan


# ----------------------------------------------------------------------------------
# Function level: trace, compare with the cached trace, reuse or rebuild
# ----------------------------------------------------------------------------------

#: Cached (trace items, graph, plan) per (function, input shapes): at most this many.
CACHE_SIZE = 32
_CACHE: OrderedDict[Any, tuple[list, Graph, Any]] = OrderedDict()
#: Guards the cache's order and size (calls may come from several threads).
_LOCK = threading.Lock()


def trace_items(graph: Graph) -> list[Any]:
    """Everything that makes a Graph the function it is, as a flat list to compare with
    :func:`same_trace`: inputs, equations (primitive, operands, shapes, parameters
    including index maps and masks), constants (values) and outputs. Equal lists: the
    same Wengert list. Arrays stay arrays (not copied; :func:`frozen_items` copies
    what a cache keeps); a constant tracing could not turn into numbers is an object
    equal to nothing."""
    items: list[Any] = [tuple(v.shape for v in graph.inputs)]
    for v in graph.consts:
        value = graph.const_values[v.id]
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):  # a traced constant: never equal
            value = object()
        items += [v.id, value]
    for e in graph.eqns:
        operands, shapes = tuple(v.id for v in e.inputs), tuple(v.shape for v in e.outputs)
        items.append((e.prim.name, operands, shapes))
        for k in sorted(e.params):
            items.append(k)
            _param_items(items, e.params[k])
    items.append(tuple(v.id for v in graph.outputs))
    return items


def _param_items(items: list[Any], v: Any) -> None:
    if isinstance(v, (tuple, list)):
        items.append("(")
        for x in v:
            _param_items(items, x)
        items.append(")")
    else:
        items.append(v if isinstance(v, np.ndarray) else repr(v))


def frozen_items(items: list[Any]) -> list[Any]:
    """``items`` with every writable array replaced by a read-only copy: a caller that
    mutates an index map or a constant after the call cannot change the cached one."""
    out = []
    for x in items:
        if isinstance(x, np.ndarray) and x.flags.writeable:
            x = x.copy()
            x.flags.writeable = False
        out.append(x)
    return out


def same_trace(new: list[Any], cached: list[Any]) -> bool:
    """True if the items of a new trace equal the cached ones: arrays bit for bit
    (0.0 and -0.0 differ, a NaN equals the same NaN), in dtype and shape. A shared
    read-only map (slices, broadcasts) is the cached object itself; any other array is
    compared in place (a few us for 10^4 entries, where hashing it took 86 us)."""
    if len(new) != len(cached):
        return False
    for a, b in zip(new, cached):
        if a is b:
            continue
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if not (
                isinstance(a, np.ndarray)
                and isinstance(b, np.ndarray)
                and a.dtype == b.dtype
                and a.shape == b.shape
                and np.array_equal(_bytes(a), _bytes(b))
            ):
                return False
        elif a != b:  # (the object of a traced constant equals nothing else)
            return False
    return True


def _bytes(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _trace(f: Callable[..., Any], x: Any) -> tuple[Graph, list[Any]]:
    from ad.trace import check_input, trace

    xs = [check_input(x, "x")]
    return trace(f, *xs), xs


def _cached(
    key: Any,
    graph: Graph,
    build: Callable[[Graph], Any],
    holds: Callable[[Any], bool] | None = None,
) -> Any:
    """The cached plan if the new trace is identical (and ``holds(plan)``), else a
    plan built from the new trace."""
    items = trace_items(graph)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None and same_trace(items, hit[0]) and (holds is None or holds(hit[2])):
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
        return hit[2]
    plan = build(graph)  # outside the lock: two threads may both build; either is right
    with _LOCK:
        _CACHE[key] = (frozen_items(items), graph, plan)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return plan


def _key(kind: str, f: Any, x: Any) -> Any:
    return (kind, f, np.shape(x))


def jacobian_sparsity(f: Callable[..., Any], x: Any) -> sp.csr_array:
    """The Jacobian sparsity pattern of ``f`` at ``x``: a boolean ``scipy.sparse``
    CSR array of shape (f(x).size, x.size) (outputs and input flattened).

    Conservative (a reported entry may be zero at some x, none is ever missed) and the
    pattern of the control flow taken at ``x``. Example::

        ad.jacobian_sparsity(lambda x: x[1:] - x[:-1], np.ones(4))     # bidiagonal
    """
    graph, _ = _trace(f, x)
    return jacobian_pattern(graph)


def hessian_sparsity(f: Callable[..., Any], x: Any) -> sp.csr_array:
    """The Hessian sparsity pattern of a scalar ``f`` at ``x`` (symmetric, boolean
    CSR, x.size x x.size): the Jacobian pattern of the recorded gradient."""
    graph, xs = _trace(f, x)
    _check_scalar(graph)
    return hessian_pattern(graph, xs)[0]


def _jitted(f: Any, x: Any) -> tuple[Graph, list[Any]] | None:
    """For ``f = ad.jit(g)``: g's Graph at ``x`` from the jit's cache (a variant whose
    guards hold at ``x``, or a new trace the jit keeps) and the inputs; else None."""
    trace_at = getattr(f, "trace_at", None)
    if trace_at is None:
        return None
    from ad.trace import check_input

    return trace_at(check_input(x, "x"))


def _check_traced(x: Any, name: str) -> None:
    from ad.trace import Tracer

    if isinstance(x, Tracer):
        raise TracerError(
            f"ad.{name} returns a scipy.sparse array, which a trace (ad.jit, ad.grad, ...) "
            f"cannot record; to reuse a trace in a loop, pass a jitted function: "
            f"ad.{name}(ad.jit(f), x)"
        )


def _check_scalar(graph: Graph) -> None:
    if len(graph.outputs) != 1 or graph.outputs[0].size != 1:
        raise NonScalarOutputError(
            f"sparse_hessian needs a scalar output, got shape(s) {[v.shape for v in graph.outputs]}"
        )


def sparse_jacobian(
    f: Callable[..., Any], x: Any, mode: str = "auto", *, engine: str = "compiled"
) -> sp.csr_array:
    """The Jacobian of ``f`` at ``x`` as a ``scipy.sparse.csr_array`` of shape
    (f(x).size, x.size), computed from the sparsity pattern with compressed sweeps.

    ``mode``: "auto" (the cost model picks, see ``ad.cost.explain(f, x, sparse=True)``),
    "colored_forward" (one tangent per column colour), "colored_reverse" (one adjoint
    per row colour), "forward" / "reverse" (dense sweeps, read back sparse). The
    pattern and colouring are cached per function and input shape, and reused while
    the traced Wengert list stays the same (see the module docstring). With
    ``f = ad.jit(g)`` the jit's trace is used (no re-trace: its guards are checked at
    ``x``, and a failing guard traces a new variant), the fast form in a loop. Example::

        J = ad.sparse_jacobian(lambda x: x[1:] * x[:-1], np.arange(5.0))
        jf = ad.jit(lambda x: x[1:] * x[:-1])
        J = ad.sparse_jacobian(jf, np.arange(5.0))     # later calls: the sweeps only
    """
    _check_mode(mode)
    _check_traced(x, "sparse_jacobian")
    jitted = _jitted(f, x)
    if jitted is not None:  # the jit's Graph, its guards checked at x: its plan
        graph, xs = jitted
        return jacobian_plan(graph)._evaluate(xs, mode, engine)
    graph, xs = _trace(f, x)
    plan = _cached(_key("jacobian", f, x), graph, jacobian_plan)
    return plan._evaluate(xs, mode, engine)  # traced at xs: its guards hold there


def sparse_hessian(
    f: Callable[..., Any], x: Any, *, method: str = "star", engine: str = "compiled"
) -> sp.csr_array:
    """The Hessian of a scalar ``f`` at ``x`` as a symmetric ``scipy.sparse.csr_array``:
    a star colouring of its pattern and one forward sweep over the recorded gradient
    (forward over reverse) with one direction per colour, then direct recovery.

    ``method="dense"`` runs n directions instead (for comparison). The plan (gradient
    graph, pattern, star colouring) is cached per function and input shape while f's
    trace stays the same and the gradient graph's guards hold; with ``f = ad.jit(g)``
    the jit's trace is used, as in :func:`sparse_jacobian`. Example::

        H = ad.sparse_hessian(lambda x: np.sum((x[1:] - x[:-1]) ** 4), np.arange(5.0))
    """
    from ad.reverse import gradient_graph

    _check_traced(x, "sparse_hessian")
    jitted = _jitted(f, x)
    if jitted is not None:  # the jit's Graph (f's guards hold at x), its plan
        graph, xs = jitted
        _check_scalar(graph)
        return hessian_plan(graph, xs)._evaluate(xs, method, engine)
    graph, xs = _trace(f, x)
    _check_scalar(graph)

    def holds(plan: HessianPlan) -> bool:  # what the derivative rules baked in
        return guards_hold(plan.grad_graph, xs)

    def build(graph: Graph) -> HessianPlan:
        return HessianPlan(gradient_graph(graph, xs), graph=graph)

    plan = _cached(_key("hessian", f, x), graph, build, holds)
    return plan._evaluate(xs, method, engine)  # f traced and its gradient checked at xs


def explain(f_or_graph: Any, *args: Any) -> str:
    """Which Jacobian mode ``mode="auto"`` takes for ``f`` at ``args`` (or a Graph),
    with the colour counts and the four predicted costs."""
    if isinstance(f_or_graph, Graph):
        return jacobian_plan(f_or_graph).explain()
    if len(args) != 1:
        raise ShapeError("explain(f, x) takes one input array x")
    graph, _ = _trace(f_or_graph, args[0])
    return jacobian_plan(graph).explain()
