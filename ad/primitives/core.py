"""The primitive object and the registry.

A primitive is the unit of the IR. Everything about one primitive sits in one block
of one module of this package (docs/architecture.md, invariant 3):

- ``shape_rule(*shapes, **params)``: output shape(s) from input shapes;
- ``impl(*arrays, **params)``: evaluation with NumPy;
- JVP rules, one per argument, ``rule(x_dot, ans, *primals, **params) -> ans_dot``;
- VJP rules, one per argument, ``rule(ans_bar, ans, *primals, **params) -> x_bar``;
- ``lower``: how the Numba kernels run it (set in the same block, see ``ad.kernels``);
- ``sparsity``: which operand entries each output entry depends on (``defsparsity``,
  read by :mod:`ad.sparse`); elementwise primitives get it from their factory.

Rules are batch-polymorphic: a tangent ``x_dot`` has shape ``batch + x.shape`` and a
cotangent ``ans_bar`` has ``batch + ans.shape``, where ``batch`` is empty for one
direction and ``(p,)`` for p directions at once (vector mode). Rules therefore use
negative axes and right-aligned broadcasting. They are array code written with the
functions of this package (which accept NumPy arrays and tracers alike), so when the
operands are tracers a rule is itself recorded: that is how derivatives of
derivatives are built (docs/architecture.md, invariant 4). ``None`` in a rule list means the
primitive is not differentiable in that argument (its derivative is zero).

For multi-output primitives ``ans`` is a tuple, a JVP rule returns a tuple and a VJP
rule receives a tuple of cotangents in which zero ones are ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ad.errors import GraphError
from ad.trace import bind as trace_bind

Shape = tuple[int, ...]

registry: dict[str, Primitive] = {}


class Primitive:
    """A primitive operation of the IR (see the module docstring for the contract)."""

    def __init__(
        self,
        name: str,
        shape_rule: Callable[..., Any],
        impl: Callable[..., Any],
        *,
        n_out: int = 1,
        n_in: int | None = None,
        differentiable: bool = True,
    ):
        if name in registry:
            raise GraphError(f"primitive '{name}' is registered twice")
        self.name = name
        self.shape_rule = shape_rule
        self.impl = impl
        self.n_out = n_out
        self.n_in = n_in  # None: variadic
        #: False: its outputs have no derivative at all (stop_gradient); the activity
        #: analysis (Graph.activity) treats them as constants
        self.differentiable = differentiable
        self.jvp_rules: Sequence[Callable[..., Any] | None] | None = None
        self.vjp_rules: Sequence[Callable[..., Any] | None] | None = None
        self.lower: Callable[..., Any] | None = None
        self.sparsity: str | Callable[..., Any] | None = None  # see defsparsity
        registry[name] = self

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def out_shapes(self, in_shapes: list[Shape], params: dict[str, Any]) -> tuple[Shape, ...]:
        """Output shapes as a tuple (one per output), checking the arity."""
        if self.n_in is not None and len(in_shapes) != self.n_in:
            raise GraphError(f"{self.name} takes {self.n_in} inputs, got {len(in_shapes)}")
        out = self.shape_rule(*in_shapes, **params)
        if self.n_out == 1:
            return (out if type(out) is tuple else tuple(out),)
        return tuple(tuple(s) for s in out)

    def bind(self, *args: Any, **params: Any) -> Any:
        """Apply the primitive: evaluate on arrays, or record when an argument is traced."""
        return trace_bind(self, args, params)


def defjvp(
    prim: Primitive, *rules: Callable[..., Any] | None, variadic: Callable[..., Any] | None = None
) -> None:
    """Set the per-argument JVP rules of ``prim`` (``None``: not differentiable there).

    A variadic primitive gives one ``variadic(i, x_dot, ans, *primals, **params)``.
    """
    prim.jvp_rules = variadic if variadic is not None else rules


def defvjp(
    prim: Primitive, *rules: Callable[..., Any] | None, variadic: Callable[..., Any] | None = None
) -> None:
    """Set the per-argument VJP rules of ``prim`` (``None``: not differentiable there)."""
    prim.vjp_rules = variadic if variadic is not None else rules


#: Sparsity rules shared by a family of primitives (see :func:`defsparsity`).
ELEMENTWISE = "elementwise"
DENSE = "dense"


def defsparsity(prim: Primitive, rule: str | Callable[..., Any]) -> None:
    """Declare the sparsity rule of ``prim``: how the dependency sets of its output
    entries follow from those of its operands' entries (used by :mod:`ad.sparse` to
    find Jacobian and Hessian patterns; a rule must never miss a dependency).

    ``rule`` is :data:`ELEMENTWISE` (output entry k depends on entry k of every
    operand), :data:`DENSE` (every output entry on every operand entry: the default of
    a primitive that declares nothing, right for matrix functions), or a function
    ``rule(S, *xs, **params)`` of the operands' patterns (objects with a ``shape``)
    returning the output pattern (a tuple for several outputs), written with the
    index-map operations of ``S`` (:class:`ad.sparse.pattern.Ops`): ``S.take`` (a
    gather), ``S.add_into`` (a scatter-add), ``S.union``, ``S.pairs`` (a linear map),
    which know an entry is zero where it reads only known zeros (``S.union`` never:
    f(0) need not be 0), and the elementwise kinds that track them, ``S.linear`` (add),
    ``S.product`` (mul: a zero factor removes the other's dependencies) and
    ``S.quotient``; ``S.nonzero`` says where an operand may be nonzero. Example::

        defsparsity(select_p, lambda S, a, b, *, mask: S.take((a, b), ...))
    """
    if not (callable(rule) or rule in (ELEMENTWISE, DENSE)):
        raise GraphError(
            f"sparsity rule of '{prim.name}' must be callable, 'elementwise' or 'dense'"
        )
    prim.sparsity = rule


def rule(rules: Any, i: int) -> Callable[..., Any] | None:
    """Rule for argument i from a per-argument tuple or a variadic rule."""
    if callable(rules):
        return partial(rules, i)
    return rules[i] if i < len(rules) else None
