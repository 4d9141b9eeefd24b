"""The one graph IR of ``ad``: a Wengert list.

A :class:`Graph` is an ordered list of equations ``out = prim(inputs..., **params)``
over variables of fixed shape. Inputs come first, then constants, then the
equations in the order they were recorded, which is a topological order by
construction: an equation may only read variables defined above it. Broadcasting
is explicit (a ``gather`` node), so every elementwise node sees equal shapes.

Everything reads this structure and nothing else: the tracer writes it
(:mod:`ad.trace`), the reference interpreters run it (:mod:`ad.reference`), the
Numba lowering flattens it (:mod:`ad.kernels`), the cost model counts it
(:mod:`ad.cost`) and the benchmark builds it directly with :class:`GraphBuilder`.

Example::

    b = GraphBuilder()
    x = b.input(())
    y = b.apply("sin", x)
    g = b.build(b.apply("mul", x, y))
    print(g)          # v1 = sin(v0) ; v2 = mul(v0, v1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ad.errors import GraphError, ShapeError

if TYPE_CHECKING:
    from ad.primitives.core import Primitive

Shape = tuple[int, ...]


class _VarFields(NamedTuple):
    id: int
    shape: Shape
    size: int


class Var(_VarFields):
    """A value of the Wengert list: an id (printed ``v<id>``) and a fixed shape.

    ``Var(id, shape)``; ``size`` (the number of scalars) is computed once here, since
    every pass over the graph reads it."""

    __slots__ = ()

    def __new__(cls, id: int, shape: Shape, size: int | None = None) -> Var:
        n = math.prod(shape)
        if size is not None and size != n:
            raise ShapeError(f"Var v{id}: size {size} is not the size of shape {shape}")
        return tuple.__new__(cls, (id, shape, n))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"v{self.id}"


class Eqn(NamedTuple):
    """One line of the Wengert list: ``outputs = prim(inputs..., **params)``."""

    prim: Primitive
    inputs: tuple[Var, ...]
    outputs: tuple[Var, ...]
    params: dict[str, Any] = {}

    def __str__(self) -> str:
        lhs = ", ".join(map(repr, self.outputs))
        args = [repr(v) for v in self.inputs]
        params = {k: v for k, v in self.params.items() if k not in _HIDDEN}
        args += [f"{k}={_short(v)}" for k, v in params.items()]
        shapes = ", ".join(str(v.shape) for v in self.outputs)
        label = self.params.get("label")
        name = f"{self.prim.name}[{label}]" if label else self.prim.name
        return f"{lhs} = {name}({', '.join(args)})".ljust(40) + f"  # shape {shapes}"


class Guard(NamedTuple):
    """A fact about values that tracing relied on: ``fn(*operands)`` gave ``expected``.

    Tracing runs the function on concrete values, so Python control flow, ``np.where``
    masks, comparisons and indices computed from traced values took the path these
    values chose. Each such point is a guard; ``operands`` are Vars of the graph (or
    constants). A replay of the graph is valid at new inputs exactly when every guard
    still holds there (:meth:`Graph.guards_hold`); ``ad.jit`` re-traces when one fails.
    ``where`` says what the guard stands for (``bool(v3)``, ``greater(v5, 0.5)``).
    """

    fn: Callable[..., Any]
    operands: tuple[Any, ...]
    expected: Any
    where: str = ""

    def holds(self, read: Callable[[Var], Any]) -> bool:
        """True if ``fn`` of the operands' values (``read(var)``) gives ``expected``
        (False if it raises: a re-trace then meets the error where the code raises it)."""
        vals = [read(v) if isinstance(v, Var) else v for v in self.operands]
        try:
            got = self.fn(*vals)
        except Exception:
            return False
        return same_value(got, self.expected)


def same_value(a: Any, b: Any) -> bool:
    """Exact equality of concrete results: arrays (shape and every entry, NaN equal to
    NaN), numbers, bools, and tuples or lists of them."""
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        if not isinstance(a, (tuple, list)) or not isinstance(b, (tuple, list)):
            return False
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


# structural bookkeeping that the printed Wengert list leaves out
_HIDDEN = ("label", "in_ndims")


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"<int{value.shape}>" if value.size > 6 else np.array2string(value, separator=",")
    return repr(value)


class Graph:
    """A Wengert list: inputs, constants, equations in topological order, outputs.

    ``out_tree`` is ``None`` when the traced function returned a single array and the
    number of outputs when it returned a tuple. A Graph is immutable once built (the
    compiled engine keeps its lowered program in its own cache, keyed by the Graph).
    Calling a Graph replays it with the engine registered in :data:`Graph.evaluator`
    (the compiled engine, set by :mod:`ad.engine`; this module imports no engine).
    """

    #: ``evaluator(graph, args)``: the replay of ``graph(*args)`` (set by ad.engine).
    evaluator: Callable[[Graph, tuple[Any, ...]], Any] | None = None

    def __init__(
        self,
        inputs: list[Var],
        consts: list[Var],
        const_values: dict[int, Any],
        eqns: list[Eqn],
        outputs: list[Var],
        out_tree: int | None = None,
        guards: Sequence[Guard] = (),
    ):
        self.inputs = list(inputs)
        self.consts = list(consts)
        self.const_values = dict(const_values)
        self.eqns = list(eqns)
        self.outputs = list(outputs)
        self.out_tree = out_tree
        #: what tracing relied on (see :class:`Guard`); empty for a graph built by hand
        self.guards = tuple(guards)
        self._activity: tuple[frozenset[int], frozenset[int]] | None = None
        #: True once :meth:`validate` passed (or the tracer built it: its builder checks
        #: every equation as it is added); the engines validate a graph only once.
        self.validated = False
        #: what an engine derived from this graph once, to reuse on every later call (the
        #: compiled engine's lowered program); the IR itself never reads it
        self.compiled: Any = None
        #: the equations' merge keys with their outputs, in order, when a merging
        #: builder made every equation (:class:`GraphBuilder`, ``cse=True``), else None:
        #: equal keys mean equal equations (parameter arrays by identity, so only while
        #: this graph lives); the compiled engine's cache uses them
        self.eqn_keys: tuple | None = None

    # -- sizes -------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        """Number of scalar inputs (n)."""
        return sum(v.size for v in self.inputs)

    @property
    def n_out(self) -> int:
        """Number of scalar outputs (m)."""
        return sum(v.size for v in self.outputs)

    def __len__(self) -> int:
        """Number of equations (nodes) in the Wengert list."""
        return len(self.eqns)

    def variables(self) -> list[Var]:
        """Every variable, in definition order: inputs, constants, equation outputs."""
        out = self.inputs + self.consts
        for e in self.eqns:
            out.extend(e.outputs)
        return out

    def activity(self) -> tuple[frozenset[int], frozenset[int]]:
        """``(active, useful)``: ids of the Vars that depend on an input, and of those
        some output depends on. Computed once; every engine reads it from here."""
        if self._activity is None:
            active = {v.id for v in self.inputs}
            for e in self.eqns:
                if e.prim.differentiable and any(v.id in active for v in e.inputs):
                    active.update(v.id for v in e.outputs)
            useful = {v.id for v in self.outputs}
            for e in reversed(self.eqns):
                if any(v.id in useful for v in e.outputs):
                    useful.update(v.id for v in e.inputs)
            self._activity = (frozenset(active), frozenset(useful))
        return self._activity

    def guards_hold(self, read: Callable[[Var], Any]) -> bool:
        """True if every guard holds for the values ``read(var)`` of a replay."""
        return all(g.holds(read) for g in self.guards)

    def guard_vars(self) -> set[int]:
        """Ids of the Vars the guards read (a replay must keep their values)."""
        return {v.id for g in self.guards for v in g.operands if isinstance(v, Var)}

    def needed(self, wanted: set[int]) -> tuple[list[bool], dict[int, int]]:
        """Which equations the Vars ``wanted`` (ids) depend on, and for every Var they
        read (and every wanted one) the index of its last reader among them
        (``len(eqns)`` for a wanted Var): one backward pass over the list."""
        eqns = self.eqns
        end = len(eqns)
        need = dict.fromkeys(wanted, end)
        keep = [False] * end
        for i in range(end - 1, -1, -1):
            e = eqns[i]
            for v in e.outputs:
                if v.id in need:
                    keep[i] = True
                    for u in e.inputs:
                        need.setdefault(u.id, i)
                    break
        return keep, need

    def live(self) -> Graph:
        """This graph without the equations no output and no guard reads (itself if
        there are none): what a traced computation drops, e.g. the value of f in its
        gradient graph."""
        keep, need = self.needed({v.id for v in self.outputs} | self.guard_vars())
        if all(keep):
            return self
        consts = [v for v in self.consts if v.id in need]
        g = Graph(
            self.inputs,
            consts,
            {v.id: self.const_values[v.id] for v in consts},
            [e for e, k in zip(self.eqns, keep) if k],
            self.outputs,
            self.out_tree,
            self.guards,
        )
        if self.eqn_keys is not None:
            g.eqn_keys = tuple(key for key, k in zip(self.eqn_keys, keep) if k)
        g.validated = self.validated
        return g

    # -- checking ----------------------------------------------------------------
    def validate(self) -> Graph:
        """Check ids, definition order, shapes and parameters; raise GraphError."""
        from ad.primitives.core import Primitive

        defined: dict[int, Shape] = {}  # id -> the shape it was defined with

        def define(v: Var, where: str) -> None:
            if not isinstance(v, Var):
                raise GraphError(f"{where}: {v!r} is not a Var")
            if v.id in defined:
                raise GraphError(f"{where}: variable v{v.id} is defined twice")
            if any((not isinstance(d, (int, np.integer))) or d < 0 for d in v.shape):
                raise GraphError(f"{where}: v{v.id} has an invalid shape {v.shape}")
            defined[v.id] = v.shape

        def use(v: Var, where: str) -> None:
            """A use must carry the shape of the definition (Vars are value + shape)."""
            if v.shape != defined[v.id]:
                raise GraphError(
                    f"{where}: reads v{v.id} with shape {v.shape}, but v{v.id} is defined "
                    f"with shape {defined[v.id]}"
                )

        for v in self.inputs:
            define(v, "input")
        for v in self.consts:
            define(v, "constant")
            if v.id not in self.const_values:
                raise GraphError(f"constant v{v.id} has no value")
            if np.shape(self.const_values[v.id]) != v.shape:
                raise GraphError(f"constant v{v.id}: value shape differs from {v.shape}")
        for i, e in enumerate(self.eqns):
            where = f"node {i} ({e.prim.name if isinstance(e.prim, Primitive) else e.prim!r})"
            if not isinstance(e.prim, Primitive):
                raise GraphError(f"{where}: not a registered primitive")
            for v in e.inputs:
                if not isinstance(v, Var) or v.id not in defined:
                    raise GraphError(
                        f"{where}: reads {v!r}, which is not defined above it "
                        "(unknown id, or a cycle / out-of-order node)"
                    )
                use(v, where)
            try:
                shapes = e.prim.out_shapes([v.shape for v in e.inputs], e.params)
            except (ShapeError, GraphError) as err:
                raise GraphError(f"{where}: {err}") from None
            if tuple(v.shape for v in e.outputs) != shapes:
                raise GraphError(
                    f"{where}: output shapes {[v.shape for v in e.outputs]} do not "
                    f"match the shape rule {list(shapes)}"
                )
            for v in e.outputs:
                define(v, where)
        for v in self.outputs:
            if not isinstance(v, Var) or v.id not in defined:
                raise GraphError(f"output {v!r} is not defined in the graph")
            use(v, "output")
        self.validated = True
        return self

    # -- replay --------------------------------------------------------------------
    def __call__(self, *args: Any) -> Any:
        """Evaluate the Wengert list on new inputs of the same shapes (no re-trace)."""
        if Graph.evaluator is None:
            raise GraphError("no engine is loaded to replay a Graph (import ad)")
        return Graph.evaluator(self, args)

    # -- printing ----------------------------------------------------------------
    def __str__(self) -> str:
        lines = [f"inputs: {', '.join(f'v{v.id} {v.shape}' for v in self.inputs)}"]
        for v in self.consts:
            lines.append(f"v{v.id} = const".ljust(40) + f"  # shape {v.shape}")
        lines += [str(e) for e in self.eqns]
        lines.append(f"outputs: {', '.join(repr(v) for v in self.outputs)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Graph n_in={self.n_in} n_out={self.n_out} nodes={len(self.eqns)}>"

    def to_dot(self) -> str:
        """The graph in Graphviz dot syntax (inputs as boxes, nodes labelled by primitive)."""
        out = ["digraph wengert {", "  rankdir=LR;"]
        for v in self.inputs:
            out.append(f'  v{v.id} [shape=box, label="v{v.id} {v.shape}"];')
        for v in self.consts:
            out.append(f'  v{v.id} [shape=box, style=dashed, label="const {v.shape}"];')
        for e in self.eqns:
            for o in e.outputs:
                out.append(f'  v{o.id} [label="v{o.id} = {e.prim.name}"];')
                out.extend(f"  v{i.id} -> v{o.id};" for i in e.inputs)
        for v in self.outputs:
            out.append(f"  v{v.id} [peripheries=2];")
        out.append("}")
        return "\n".join(out)


def _param_key(value: Any) -> Any:
    """A hashable stand-in for a parameter value: arrays by identity (an equation's
    index maps are shared, not rebuilt, where they are equal); TypeError if none."""
    t = type(value)
    if t is np.ndarray:
        return (np.ndarray, id(value))
    if t is int or t is str or t is bool or value is None:
        return (t, value)  # True is not 1
    if isinstance(value, np.ndarray):
        return (np.ndarray, id(value))
    if t is tuple or t is list:
        return (t, tuple([_param_key(v) for v in value]))
    if isinstance(value, float):  # -0.0 is not 0.0 here
        return (float, value.hex())
    hash(value)
    return (t, value)


def _cse_key(prim: Any, inputs: Sequence[Var], params: dict[str, Any]) -> tuple | None:
    """The key under which an equation is merged with an equal one (None: never)."""
    ids = []
    for v in inputs:
        if type(v) is not Var:
            return None
        ids.append(v.id)
    ps = ()
    if params:  # in the caller's order: the same call site gives the same key
        try:
            ps = tuple([(k, _param_key(v)) for k, v in params.items()])
        except TypeError:
            return None
    return (prim.name, tuple(ids), ps)


class GraphBuilder:
    """Public builder of Wengert lists, used by the tracer and by problem generators.

    ``apply`` runs the primitive's shape rule, so a builder never produces an
    ill-shaped graph; ``build`` validates the result. With ``cse=True`` (the tracer's
    builder) an equation equal to one already recorded (same primitive, operands and
    parameters) is not added again: ``apply`` returns the earlier output, so a traced
    graph (and a derivative graph, where rules repeat products such as ``g y`` and
    ``g x`` of ``x * x``) computes each value once.
    """

    def __init__(self, cse: bool = False) -> None:
        self._seen: dict[tuple, Any] | None = {} if cse else None
        self._next = 0
        self.inputs: list[Var] = []
        self.consts: list[Var] = []
        self.const_values: dict[int, Any] = {}
        self.eqns: list[Eqn] = []
        #: the equation that computed each single-output Var (for peephole rules)
        self.producer: dict[int, Eqn] = {}

    def _new(self, shape: Shape) -> Var:
        v = Var(self._next, shape if type(shape) is tuple else tuple(int(d) for d in shape))
        self._next += 1
        return v

    def input(self, shape: Shape = ()) -> Var:
        """Declare the next input variable, of the given shape."""
        v = self._new(shape)
        self.inputs.append(v)
        return v

    def const(self, value: Any) -> Var:
        """Add a constant (its derivative is zero).

        An array or number is snapshotted: stored as a read-only float64 copy, so that
        changing the caller's array in place afterwards changes neither the Graph nor
        any engine's answer (JAX's semantics; see ``ad.trace``). A tracer of an outer
        trace (a nested transformation) is kept as it is.
        """
        if isinstance(value, (np.ndarray, np.generic)) or not hasattr(value, "shape"):
            value = np.array(value, dtype=np.float64)  # always a copy
            value.flags.writeable = False
        v = self._new(value.shape)
        self.consts.append(v)
        self.const_values[v.id] = value
        return v

    def apply(self, prim: Primitive | str, *inputs: Var, **params: Any) -> Any:
        """Append ``out = prim(inputs..., **params)``; return the output Var (or tuple)."""
        if isinstance(prim, str):
            from ad.primitives.core import registry

            if prim not in registry:
                raise GraphError(f"unknown primitive '{prim}'")
            prim = registry[prim]
        key, hit = self.seen(prim, inputs, params)
        return hit if hit is not None else self.record(prim, inputs, params, key)

    def seen(self, prim: Primitive, inputs: Sequence[Var], params: dict[str, Any]) -> Any:
        """``(key, output)``: the output of an equal equation already recorded (None if
        there is none, or the builder does not merge), and the key to record it under."""
        if self._seen is None:
            return None, None
        key = _cse_key(prim, inputs, params)
        return key, (self._seen.get(key) if key is not None else None)

    def record(
        self, prim: Primitive, inputs: Sequence[Var], params: dict[str, Any], key: Any
    ) -> Any:
        """Append the equation (its shape rule checks the operands); remember its key."""
        shapes = prim.out_shapes([v.shape for v in inputs], params)
        if prim.n_out == 1:
            out = Var(self._next, shapes[0])
            self._next += 1
            self.eqns.append(Eqn(prim, inputs, (out,), params))
            self.producer[out.id] = self.eqns[-1]
        else:
            out = tuple(self._new(s) for s in shapes)
            self.eqns.append(Eqn(prim, inputs, out, params))
        if key is not None:
            self._seen[key] = out
        return out

    def build(self, outputs: Var | tuple[Var, ...] | list[Var], validate: bool = True) -> Graph:
        """Finish the graph with the given output(s)."""
        single = isinstance(outputs, Var)
        outs = [outputs] if single else list(outputs)
        g = Graph(
            self.inputs,
            self.consts,
            self.const_values,
            self.eqns,
            outs,
            None if single else len(outs),
        )
        if self._seen is not None and len(self._seen) == len(self.eqns):
            g.eqn_keys = tuple(self._seen.items())
        return g.validate() if validate else g
