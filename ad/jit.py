"""``ad.jit``: trace once per input signature, replay the compiled graph under guards.

``ad.jit(fun)`` returns a function that, on its first call with a given *signature*
(the pytree structure of the arguments, the shape of every array leaf, the values of
the static arguments and of the non-float leaves, the keyword arguments), traces
``fun`` into a Graph and compiles it. Later calls with the same signature run the
compiled program only: no Python of ``fun`` runs, no tracing, no lowering. It composes
with every transformation, since a transformation applied to tracers is recorded like
any NumPy code: ``ad.jit(ad.grad(f))`` records the gradient computation (the primal
and its adjoint sweep) as one Graph, ``ad.jit(ad.hessian(f))`` the Hessian's.

Python control flow on values stays correct, which ``jax.jit`` refuses to do: every
point where tracing made a traced value concrete (``bool()`` in an ``if`` or
``while``, a comparison, an ``np.where`` mask, ``max`` ties, a boolean mask, an integer
used as an index) is a guard of the Graph (:class:`ad.ir.Guard`). A replay checks its
guards on the values it computed; if one differs, the result is discarded and ``fun``
is traced again at the new arguments, and the new variant is cached beside the old one
(at most ``max_variants`` per signature, the least recently used dropped). A replay
never returns a value computed along another branch; an error or a non-finite result
met by a replay whose guards do not all hold is not raised either: the re-trace runs
the real path.

Constants are baked in, as in ``jax.jit``: arrays ``fun`` reads that are not its
arguments (closures, globals) are copied into the Graph when it is traced. Changing
such an array (in place, or rebinding the global) does not change later results of the
jitted function; pass the array as an argument, or jit again, to use new values.
``check_constants=True`` keeps references to those arrays and raises
:class:`ad.errors.StaleConstantError` on a call where one has changed since it was
traced, instead of answering with the old values.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ad import engine, tree
from ad.errors import ADError, InputTypeError, NonScalarOutputError, RetraceWarning
from ad.ir import Graph
from ad.kernels import run
from ad.primitives.shape import stop_gradient
from ad.reverse import gradient_graph
from ad.trace import Tracer, check_input, trace_with_values

#: Variants (traces along different paths) kept per signature.
MAX_VARIANTS = 8


class StaleConstantError(ADError, RuntimeError):
    """An array a jitted function read as a constant changed after it was traced."""


class _Variant:
    """One traced path: the Graph, its compiled program and its output structure."""

    __slots__ = ("graph", "prog", "out_def", "consts")

    def __init__(self, graph: Graph, out_def: tree.TreeDef, consts: list[tuple[Any, Any]]):
        self.graph = graph
        self.prog = run.compile(graph)
        self.out_def = out_def
        self.consts = consts  # (the user's array, the snapshot) for check_constants

    def replay(self, leaves: Sequence[np.ndarray]) -> Any:
        """The result at ``leaves``, or None when a guard does not hold there."""
        outs = run.replay(self.prog, leaves, self.graph.guards)
        return None if outs is None else tree.unflatten(self.out_def, outs)


class _GradVariant(_Variant):
    """``jit(grad(f))`` / ``jit(value_and_grad(f))``: the graph of ``f`` itself, run by
    the compiled reverse engine (one recording, one adjoint sweep), not the graph of
    its derivative rules. ``pick(bars)`` turns the per-leaf gradients into the result."""

    __slots__ = ("pick", "with_value")

    def __init__(self, graph: Graph, pick: Callable[[list], Any], with_value: bool, consts):
        super().__init__(graph, tree.flatten(None)[1], consts)
        self.pick = pick
        self.with_value = with_value

    def replay(self, leaves: Sequence[np.ndarray]) -> Any:
        got = run.gradient(self.prog, leaves, self.graph.guards)
        if got is None:
            return None
        value, bars = got
        grads = self.pick(bars)
        return (np.float64(value), grads) if self.with_value else grads


class _HessianVariant(_Variant):
    """``jit(hessian(f))`` at one array argument: the gradient graph of ``f`` run by
    the compiled forward engine (all directions in as few sweeps as the dual budget
    allows), not the graph of the traced forward-over-reverse rules (which holds
    n x n intermediates). Before the sweeps, ``f``'s program checks ``f``'s guards and
    the gradient graph's program checks the guards its derivative rules recorded (the
    sign ``abs`` baked in, a ``max``'s tie weights): either failing re-traces."""

    __slots__ = ("grad_graph", "grad_prog", "chunk")

    def __init__(self, graph: Graph, grad_graph: Graph, consts):
        super().__init__(graph, tree.flatten(None)[1], consts)
        self.grad_graph = grad_graph
        self.grad_prog = run.compile(grad_graph)
        n = grad_graph.inputs[0].size
        self.chunk = max(1, min(n, engine.pick_chunk(n, self.grad_prog.n_active)))

    def replay(self, leaves: Sequence[np.ndarray]) -> Any:
        if self.graph.guards and not run.guards_hold(self.prog, leaves, self.graph.guards):
            return None
        guards = self.grad_graph.guards
        if guards and not run.guards_hold(self.grad_prog, leaves, guards):
            return None
        x = leaves[0]
        J = run.jacobian_forward(self.grad_prog, leaves, self.chunk)[1]
        return J.reshape(x.shape + x.shape)


def _is_dynamic(leaf: Any) -> bool:
    """Float arrays and numbers are traced; everything else is part of the signature."""
    if isinstance(leaf, np.ndarray):
        return leaf.dtype.kind in "fc"
    return isinstance(leaf, (float, np.floating))


def _static_key(value: Any) -> Any:
    """A hashable stand-in for a static value (arrays by their bytes)."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.tobytes())
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"ad.jit: a static argument or non-float leaf of type {type(value).__name__} is "
            "not hashable; pass arrays as float arrays, or make it hashable"
        ) from None
    return value


class Jitted:
    """The function ``ad.jit`` returns (see the module docstring)."""

    def __init__(
        self,
        fun: Callable[..., Any],
        static_argnums: int | Sequence[int] = (),
        max_variants: int = MAX_VARIANTS,
        check_constants: bool = False,
    ):
        # first: update_wrapper copies fun's __dict__ (ad.grad's spec; a jitted
        # function's own state, which must not replace this one's)
        functools.update_wrapper(self, fun)
        self.fun = fun
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.static_argnums = frozenset(int(a) for a in nums)
        self.max_variants = int(max_variants)
        self.check_constants = bool(check_constants)
        self._cache: dict[Any, tuple[_Variant, ...]] = {}
        self._lock = threading.Lock()
        self.traces = 0  # how many times fun was traced (a test and a user can read it)
        self._misses: dict[Any, int] = {}  # per signature: traces after failed guards
        self._warned = False

    # -- the signature -------------------------------------------------------------
    def _split(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, list, list]:
        """``(key, dynamic leaves, template)``: the template rebuilds the arguments.
        ``key`` is None when an argument is traced (see :meth:`__call__`)."""
        if not kwargs and not self.static_argnums:  # the common call: float64 arrays
            shapes = []
            for a in args:
                if type(a) is not np.ndarray or a.dtype != np.float64:
                    break
                shapes.append(a.shape)
            else:
                return ("arrays", tuple(shapes)), list(args), list(args)
        if any(isinstance(leaf, Tracer) for leaf in tree.flatten((args, kwargs))[0]):
            return None, [], []
        n = len(args)
        statics = tuple(
            (i, _static_key(args[i])) for i in sorted(self.static_argnums) if -n <= i < n
        )
        static_pos = {i % n for i, _ in statics} if n else set()
        dyn_args = [a for i, a in enumerate(args) if i not in static_pos]
        leaves, tdef = tree.flatten(dyn_args)
        dyn, sig = [], []
        for leaf in leaves:
            if _is_dynamic(leaf):
                a = check_input(leaf, "a jitted argument")
                dyn.append(a)
                sig.append(a.shape)
            else:
                sig.append(("static", _static_key(leaf)))
        kw = tuple(sorted((k, _static_key(v)) for k, v in kwargs.items()))
        return (tdef, tuple(sig), statics, kw), dyn, leaves

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key, dyn, leaves = self._split(args, kwargs)
        if key is None:  # under ad.grad, ad.jacfwd, ...: they record fun itself
            return self.fun(*args, **kwargs)
        for variant in self._cache.get(key, ()):
            if self.check_constants:
                _check_constants(variant)
            result = variant.replay(dyn)
            if result is not None:
                self._touch(key, variant)
                return result
        if key in self._cache:
            self._missed(key)
        spec = getattr(self.fun, "__ad_grad__", None)
        if spec is not None and spec[2] in (None, "compiled"):
            return self._trace_grad(spec, key, args, kwargs, dyn, leaves)
        spec = getattr(self.fun, "__ad_hessian__", None)
        if spec is not None and spec[2] in (None, "compiled") and _one_array(key, spec[1]):
            return self._trace_hessian(spec[0], key, dyn)
        return self._trace(key, args, kwargs, dyn, leaves)

    # -- tracing a new variant ----------------------------------------------------------
    def _trace(self, key: Any, args: tuple, kwargs: dict, dyn: list, leaves: list) -> Any:
        n = len(args)
        static_pos = {i % n for i in self.static_argnums if -n <= i < n} if n else set()
        dyn_args = [a for i, a in enumerate(args) if i not in static_pos]
        _, tdef = tree.flatten(dyn_args)
        out_def: list[tree.TreeDef] = []

        def flat_fun(*traced: Any) -> Any:
            it = iter(traced)
            new_leaves = [next(it) if _is_dynamic(leaf) else leaf for leaf in leaves]
            rebuilt = iter(tree.unflatten(tdef, new_leaves))
            full = [args[i] if i in static_pos else next(rebuilt) for i in range(n)]
            out = self.fun(*full, **kwargs)
            out_leaves, odef = tree.flatten(out)
            out_def.append(odef)
            return out_leaves[0] if odef.is_leaf else tuple(out_leaves)  # a bare array: a
            # Graph of one output (what ad.trace gives, and what ad.sparse reads)

        graph, trace, out = trace_with_values(flat_fun, dyn)
        self.traces += 1
        consts = trace.captured() if self.check_constants else []
        variant = _Variant(graph, out_def[0], consts)
        with self._lock:
            old = self._cache.get(key, ())
            self._cache[key] = (variant, *old)[: self.max_variants]
        values = [trace.values[v.id] for v in graph.outputs]
        return tree.unflatten(out_def[0], [np.asarray(v, dtype=np.float64) for v in values])

    def _trace_grad(
        self, spec: tuple, key: Any, args: tuple, kwargs: dict, dyn: list, leaves: list
    ) -> Any:
        """A :class:`_GradVariant`: trace f (the arguments not differentiated enter
        through stop_gradient), compile it; the first result is computed by it."""
        f, argnums, _, with_value = spec
        n = len(args)
        static_pos = {i % n for i in self.static_argnums if -n <= i < n} if n else set()
        nums, single = tree.normalize_argnums(argnums, n)
        if set(nums) & static_pos:
            raise ValueError("ad.jit: an argument in argnums cannot be static")
        # which dynamic leaf belongs to which argument (in flatten order)
        owner, defs = [], {}
        for i in range(n):
            if i in static_pos:
                continue
            arg_leaves, tdef = tree.flatten(args[i])
            defs[i] = (tdef, len(owner))
            owner.extend(i if _is_dynamic(leaf) else None for leaf in arg_leaves)
        dyn_index = np.cumsum([o is not None for o in owner]) - 1  # leaf -> dynamic leaf
        for i in nums:
            tdef, start = defs[i]
            if any(owner[k] is None for k in range(start, start + tdef.num_leaves)):
                raise InputTypeError(
                    f"ad.jit(ad.grad(f)): argument {i} has a leaf that is not a float "
                    "array; differentiable arguments must be floating point"
                )

        def flat_fun(*traced: Any) -> Any:
            it = iter(traced)
            new_leaves = [next(it) if _is_dynamic(leaf) else leaf for leaf in leaves]
            full = []
            for i in range(n):
                if i in static_pos:
                    full.append(args[i])
                    continue
                tdef, start = defs[i]
                mine = new_leaves[start : start + tdef.num_leaves]
                if i not in nums:
                    mine = [stop_gradient(x) if _is_dynamic(x) else x for x in mine]
                full.append(tree.unflatten(tdef, mine))
            return f(*full, **kwargs)

        def pick(bars: list) -> Any:
            per_arg = []
            for i in nums:
                tdef, start = defs[i]
                mine = [bars[dyn_index[start + j]] for j in range(tdef.num_leaves)]
                per_arg.append(tree.unflatten(tdef, mine))
            return per_arg[0] if single else tuple(per_arg)

        graph, trace, _ = trace_with_values(flat_fun, dyn)
        self.traces += 1
        if graph.out_tree is not None or graph.outputs[0].shape != ():
            raise NonScalarOutputError(
                f"grad requires a scalar output, got shape(s) {[v.shape for v in graph.outputs]}"
            )
        consts = trace.captured() if self.check_constants else []
        variant = _GradVariant(graph, pick, with_value, consts)
        with self._lock:
            old = self._cache.get(key, ())
            self._cache[key] = (variant, *old)[: self.max_variants]
        return _first(variant, dyn)

    def _trace_hessian(self, f: Callable[..., Any], key: Any, dyn: list) -> Any:
        """A :class:`_HessianVariant` for ``hessian(f)(x)`` at one float64 array."""
        graph, trace, _ = trace_with_values(f, dyn)
        self.traces += 1
        if graph.out_tree is not None or graph.outputs[0].shape != ():
            raise NonScalarOutputError(
                f"hessian requires a scalar output, got shape(s) {[v.shape for v in graph.outputs]}"
            )
        consts = trace.captured() if self.check_constants else []
        variant = _HessianVariant(graph, gradient_graph(graph, dyn), consts)
        with self._lock:
            old = self._cache.get(key, ())
            self._cache[key] = (variant, *old)[: self.max_variants]
        return _first(variant, dyn)

    def _missed(self, key: Any) -> None:
        """Count a re-trace at a known signature; warn once when they keep coming (more
        than ``max_variants``: the variants cannot cover the calls)."""
        misses = self._misses[key] = self._misses.get(key, 0) + 1
        if misses <= self.max_variants or self._warned:
            return
        self._warned = True
        labels = sorted({g.where for v in self._cache[key] for g in v.graph.guards})
        whole = [w for w in labels if w.startswith("value_of(")]
        shown = ", ".join((whole or labels)[:4]) or "(none recorded)"
        name = getattr(self.fun, "__name__", "the function")
        warnings.warn(
            f"ad.jit({name}) was traced {misses + 1} times at one input signature: a "
            f"guard fails at new argument values, so each call traces again. Guards: "
            f"{shown}. A value_of guard is a whole value the code made concrete "
            "(ad.trace's concrete(), or a NumPy function that needs the values); compute it "
            "with ad.numpy operations, or pass it as a static argument",
            RetraceWarning,
            stacklevel=3,
        )

    def _touch(self, key: Any, variant: _Variant) -> None:
        """Move ``variant`` to the front (the most recently used)."""
        got = self._cache.get(key, ())
        if got and got[0] is not variant:
            with self._lock:
                rest = tuple(v for v in self._cache.get(key, ()) if v is not variant)
                self._cache[key] = (variant, *rest)

    def trace_at(self, *args: Any) -> tuple[Graph, list[np.ndarray]] | None:
        """``fun``'s Graph at ``args`` and their float leaves, for the transformations
        that run a Graph's sweeps themselves (``ad.sparse_jacobian(ad.jit(f), x)``): a
        cached variant whose guards hold at ``args``, or a new trace, cached as a call
        would cache it. None when ``fun`` is ``ad.grad`` or ``ad.hessian`` of a
        function (those variants hold the graph of that function, not of ``fun``)."""
        key, dyn, leaves = self._split(args, {})
        if key is None:
            return None
        for variant in self._cache.get(key, ()):
            if type(variant) is not _Variant:
                return None
            if self.check_constants:
                _check_constants(variant)
            if engine.guards_hold(variant.graph, dyn):
                self._touch(key, variant)
                return variant.graph, dyn
        if hasattr(self.fun, "__ad_grad__") or hasattr(self.fun, "__ad_hessian__"):
            return None
        if key in self._cache:
            self._missed(key)
        self._trace(key, args, {}, dyn, leaves)
        return self._cache[key][0].graph, dyn

    def variants(self) -> int:
        """How many traced variants the cache holds, over every signature."""
        return sum(len(v) for v in self._cache.values())

    def clear(self) -> None:
        """Forget every variant (the next call traces again)."""
        with self._lock:
            self._cache.clear()


def _one_array(key: Any, argnums: Any) -> bool:
    """The call is ``h(x)``: one float64 array, no keywords or static arguments, and
    ``argnums`` names it (the case :class:`_HessianVariant` serves)."""
    return key[0] == "arrays" and len(key[1]) == 1 and argnums in (0, -1)


def _first(variant: _Variant, dyn: list) -> Any:
    """The first call's result: guards hold at the point traced (by construction)."""
    got = variant.replay(dyn)
    if got is None:  # pragma: no cover - a guard that fails where it was recorded
        raise ADError("ad.jit: a guard does not hold at the point it was traced")
    return got


def _check_constants(variant: _Variant) -> None:
    for original, snapshot in variant.consts:
        if not isinstance(original, np.ndarray) or not np.array_equal(
            original, snapshot, equal_nan=True
        ):
            raise StaleConstantError(
                "an array the jitted function read as a constant (a closure or a global, "
                f"shape {np.shape(snapshot)}) changed after it was traced; ad.jit bakes "
                "constants in (as jax.jit): pass it as an argument, or jit again"
            )


def jit(
    fun: Callable[..., Any],
    static_argnums: int | Sequence[int] = (),
    *,
    max_variants: int = MAX_VARIANTS,
    check_constants: bool = False,
) -> Jitted:
    """Trace ``fun`` once per input signature and replay its compiled Graph, with every
    concrete point of the trace checked as a guard (see the module docstring).

    ``static_argnums``: positions of arguments that are part of the signature (their
    values, which must be hashable) instead of traced. Non-float leaves (ints, bools,
    strings) are static too; float arrays and numbers are traced. Keyword arguments are
    static. Example::

        step = ad.jit(ad.grad(loss))
        for _ in range(1000):
            w = w - 0.1 * step(w, X, y)       # traced once, then compiled replays
    """
    return Jitted(fun, static_argnums, max_variants, check_constants)


__all__ = ["Jitted", "StaleConstantError", "jit"]
