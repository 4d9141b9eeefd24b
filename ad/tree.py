"""Pytrees: nested tuples, lists and dicts of arrays, as arguments and results.

A pytree is a leaf (an array, a number, a tracer: anything that is not a container)
or a container of pytrees: a tuple, a list, a dict (its keys in sorted order, as
JAX orders them), a namedtuple, or ``None`` (an empty container, as in JAX).
:func:`flatten` gives the leaves in order and a :class:`TreeDef` that
:func:`unflatten` rebuilds the structure from.

The transformations of :mod:`ad.api` work on flat lists of arrays; the decorators at
the bottom of this module (``grad_transform``, ``jacobian_transform``,
``jvp_transform``, ``vjp_transform``) wrap them at entry and exit so that they take
pytrees and keyword arguments and return results with JAX's structure:

- ``grad(f)(params)`` has the structure of ``params``; with ``argnums=(0, 1)`` a tuple
  of such trees;
- ``jacfwd(f)(x)`` / ``jacrev`` / ``jacobian``: the output's structure, each output
  leaf replaced by the structure of the argument(s), with blocks of shape
  ``out_leaf.shape + in_leaf.shape``; ``hessian`` (a jacfwd of a jacrev) nests twice;
- ``jvp(f, primals, tangents)``: output and tangent with the output's structure;
- ``vjp(f, *primals)``: the pullback takes a cotangent with the output's structure and
  returns a tuple with the structure of ``primals``.

Keyword arguments of the differentiated function are passed through to it and are not
differentiated (as JAX's ``grad(f)(x, scale=2)``). This module does not depend on the
engines; it only uses ``ad.trace`` to validate (and name) input leaves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "TreeDef",
    "FlatCall",
    "flatten",
    "unflatten",
    "leaf_paths",
    "tree_map",
    "grad_transform",
    "jacobian_transform",
    "jvp_transform",
    "vjp_transform",
]


class TreeDef:
    """The structure of a pytree without its leaves.

    ``kind`` is ``"leaf"``, ``"tuple"``, ``"list"``, ``"dict"``, ``"namedtuple"`` or
    ``"none"``; ``meta`` holds the dict keys (sorted) or the namedtuple type;
    ``children`` the sub-structures.
    """

    __slots__ = ("kind", "meta", "children", "num_leaves")

    def __init__(self, kind: str, meta: Any = None, children: tuple[TreeDef, ...] = ()):
        self.kind = kind
        self.meta = meta
        self.children = children
        self.num_leaves = 1 if kind == "leaf" else sum(c.num_leaves for c in children)

    @property
    def is_leaf(self) -> bool:
        return self.kind == "leaf"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TreeDef)
            and self.kind == other.kind
            and self.meta == other.meta
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.children))

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children))
            return "{" + inner + "}"
        if self.kind == "list":
            return "[" + inner + "]"
        if self.kind == "namedtuple":
            return f"{self.meta.__name__}({inner})"
        return "(" + inner + ("," if len(self.children) == 1 else "") + ")"


LEAF = TreeDef("leaf")
#: what :func:`flatten` walks into (anything else but None is a leaf)
_CONTAINER = (tuple, list, dict)


def _sorted_keys(d: dict) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:  # keys of mixed types: keep insertion order
        return list(d)


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` in order (dict entries by sorted key) and its structure.

    Example::

        leaves, tdef = flatten({"b": x, "a": (y, z)})     # [y, z, x]
    """
    if tree is not None and not isinstance(tree, _CONTAINER):
        return [tree], LEAF  # the common call: one array
    leaves: list[Any] = []

    def walk(t: Any) -> TreeDef:
        if t is None:
            return TreeDef("none")
        if isinstance(t, tuple):
            children = tuple(walk(c) for c in t)
            if hasattr(t, "_fields"):
                return TreeDef("namedtuple", type(t), children)
            return TreeDef("tuple", None, children)
        if isinstance(t, list):
            return TreeDef("list", None, tuple(walk(c) for c in t))
        if isinstance(t, dict):
            keys = _sorted_keys(t)
            return TreeDef("dict", tuple(keys), tuple(walk(t[k]) for k in keys))
        leaves.append(t)
        return LEAF

    tdef = walk(tree)
    return leaves, tdef


def unflatten(tdef: TreeDef, leaves: Sequence[Any]) -> Any:
    """Rebuild a pytree of structure ``tdef`` from ``leaves`` (in flatten's order)."""
    if len(leaves) != tdef.num_leaves:
        raise ValueError(f"structure {tdef!r} has {tdef.num_leaves} leaves, got {len(leaves)}")
    if tdef is LEAF:
        return leaves[0]
    leaves = list(leaves)
    pos = 0

    def build(d: TreeDef) -> Any:
        nonlocal pos
        if d.kind == "leaf":
            pos += 1
            return leaves[pos - 1]
        if d.kind == "none":
            return None
        children = [build(c) for c in d.children]
        if d.kind == "tuple":
            return tuple(children)
        if d.kind == "list":
            return children
        if d.kind == "namedtuple":
            return d.meta(*children)
        return dict(zip(d.meta, children))

    return build(tdef)


def leaf_paths(tdef: TreeDef) -> list[str]:
    """The path of every leaf, as an indexing suffix: ``"[0]['w']"`` (``""`` at the root)."""
    out: list[str] = []

    def walk(d: TreeDef, path: str) -> None:
        if d.kind == "leaf":
            out.append(path)
        elif d.kind == "dict":
            for k, c in zip(d.meta, d.children):
                walk(c, f"{path}[{k!r}]")
        else:
            for i, c in enumerate(d.children):
                walk(c, f"{path}[{i}]")

    walk(tdef, "")
    return out


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` to the leaves of ``tree`` (and the matching leaves of ``rest``)."""
    leaves, tdef = flatten(tree)
    others = []
    for r in rest:
        lr, dr = flatten(r)
        if dr != tdef:
            raise ValueError(f"tree_map: structures differ: {tdef!r} and {dr!r}")
        others.append(lr)
    return unflatten(tdef, [fn(*xs) for xs in zip(leaves, *others)])


# ----------------------------------------------------------------------------------
# A call f(*args, **kwargs) seen as a function of the leaves of some arguments
# ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _positions(nargs: int) -> tuple[int, ...]:
    return tuple(range(nargs))


def normalize_argnums(argnums: Any, nargs: int) -> tuple[tuple[int, ...], bool]:
    """``argnums`` as a tuple of non-negative positions, and whether it was one int.

    As JAX: a position out of range, or one named twice (``(0, 0)``, ``(1, -1)``),
    raises ValueError (a repeated argument would get a silently zero gradient)."""
    if type(argnums) is int and 0 <= argnums < nargs:  # the common calls
        return (argnums,), True
    if type(argnums) is tuple and argnums == _positions(nargs):
        return _positions(nargs), False
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"argnums {a} out of range for {nargs} positional arguments")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"argnums {argnums!r} names an argument twice (JAX raises too)")
    return nums, single


def _checked(x: Any) -> bool:
    """Already a valid input (a float64 ndarray or a tracer): no copy needed here."""
    from ad.trace import Tracer

    return (isinstance(x, np.ndarray) and x.dtype == np.float64) or isinstance(x, Tracer)


class FlatCall:
    """``f(*args, **kwargs)`` as a function :meth:`fun` of the flat leaves of the
    arguments at positions ``argnums`` (the other arguments and the keyword arguments
    are held fixed and passed through).

    ``leaves`` are the input leaves, validated as differentiable inputs and named by
    their path (``argument 0['w']``); ``out_def`` is the output structure, known once
    :meth:`fun` has run.
    """

    def __init__(
        self,
        f: Callable[..., Any],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        argnums: Any,
        *,
        check: bool = True,
    ):
        self.f = f
        self.args = list(args)
        self.kwargs = kwargs
        self.nums, self.single = normalize_argnums(argnums, len(args)) if args else ((), False)
        self.in_defs: list[TreeDef] = []
        self.leaves: list[Any] = []
        if check:
            from ad.trace import check_input
        for i in self.nums:
            leaves, tdef = flatten(self.args[i])
            if check and not all(_checked(x) for x in leaves):
                leaves = [
                    check_input(x, f"argument {i}{p}") for x, p in zip(leaves, leaf_paths(tdef))
                ]
            self.in_defs.append(tdef)
            self.leaves.extend(leaves)
        self.out_def: TreeDef | None = None
        #: one argument that is one array (the common call): no trees to rebuild
        self._one_leaf = len(self.in_defs) == 1 and self.in_defs[0] is LEAF

    @property
    def leaf_argnums(self) -> tuple[int, ...]:
        """Every leaf position: what the flat transformation differentiates."""
        return tuple(range(len(self.leaves)))

    def fun(self, *leaves: Any) -> Any:
        """``f`` of the leaves; returns its output leaves (one bare, else a tuple)."""
        full = list(self.args)
        if self._one_leaf:
            full[self.nums[0]] = leaves[0]
        else:
            self._place(full, leaves)
        out = self.f(*full, **self.kwargs)
        outs, self.out_def = flatten(out)
        if not outs:
            raise ValueError(f"the function returned no array (output structure {self.out_def!r})")
        return outs[0] if self.out_def.is_leaf else tuple(outs)

    def _place(self, full: list[Any], leaves: Sequence[Any]) -> None:
        """Put the arguments rebuilt from ``leaves`` at their positions in ``full``."""
        pos = 0
        for i, tdef in zip(self.nums, self.in_defs):
            full[i] = unflatten(tdef, leaves[pos : pos + tdef.num_leaves])
            pos += tdef.num_leaves

    # -- results back into trees -------------------------------------------------------
    def _out_list(self, flat: Any) -> list[Any]:
        return [flat] if self.out_def.is_leaf else list(flat)

    def output(self, flat: Any) -> Any:
        """A flat output (bare or tuple, as :meth:`fun` returns it) as a tree."""
        if self.out_def is LEAF:
            return flat
        return unflatten(self.out_def, self._out_list(flat))

    def per_argument(self, per_leaf: Sequence[Any]) -> Any:
        """One value per input leaf -> the arguments' trees (a tuple unless one argnum)."""
        if self._one_leaf and self.single:
            return per_leaf[0]
        trees, pos = [], 0
        for tdef in self.in_defs:
            trees.append(unflatten(tdef, per_leaf[pos : pos + tdef.num_leaves]))
            pos += tdef.num_leaves
        return trees[0] if self.single else tuple(trees)

    def jacobian(self, rows: Any) -> Any:
        """Jacobian blocks (rows per output leaf, each a tuple over input leaves) in
        JAX's layout: the output's structure around the arguments' structure."""
        return unflatten(self.out_def, [self.per_argument(r) for r in self._out_list(rows)])

    def flat_cotangent(self, cotangent: Any) -> Any:
        """A cotangent with the output's structure, flat (bare or tuple) for the core."""
        leaves, tdef = flatten(cotangent)
        if tdef != self.out_def:
            raise ValueError(
                f"the cotangent has structure {tdef!r}, the output {self.out_def!r}; "
                "pass one array per output leaf, in the output's structure"
            )
        return leaves[0] if tdef.is_leaf else tuple(leaves)


# ----------------------------------------------------------------------------------
# Hooks: wrap a flat transformation of ad.api at entry and exit
# ----------------------------------------------------------------------------------


def grad_transform(transform: Callable[..., Any]) -> Callable[..., Any]:
    """``value_and_grad(f, argnums, **opts)`` over flat arrays -> over pytrees + kwargs."""

    @functools.wraps(transform)
    def public(f: Callable[..., Any], argnums: Any = 0, **opts: Any) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
            fc = FlatCall(f, args, kwargs, argnums)
            value, bars = transform(fc.fun, fc.leaf_argnums, **opts)(*fc.leaves)
            return fc.output(value), fc.per_argument(bars)

        return wrapped

    return public


def jacobian_transform(transform: Callable[..., Any]) -> Callable[..., Any]:
    """``jac(f, argnums, *rest)`` over flat arrays -> over pytrees + kwargs."""

    @functools.wraps(transform)
    def public(f: Callable[..., Any], argnums: Any = 0, *rest: Any, **opts: Any):
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            fc = FlatCall(f, args, kwargs, argnums)
            rows = transform(fc.fun, fc.leaf_argnums, *rest, **opts)(*fc.leaves)
            return fc.jacobian(rows)

        return wrapped

    return public


def jvp_transform(transform: Callable[..., Any]) -> Callable[..., Any]:
    """``jvp(f, primals, tangents)`` over flat arrays -> primals/tangents as pytrees."""

    @functools.wraps(transform)
    def public(f: Callable[..., Any], primals: Any, tangents: Any, **opts: Any):
        if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
            raise TypeError(
                "jvp(f, primals, tangents): primals and tangents must be tuples (one entry "
                "per argument of f), e.g. ad.jvp(f, (x,), (v,))"
            )
        if len(primals) != len(tangents):
            from ad.errors import ShapeError

            raise ShapeError(f"{len(primals)} primals but {len(tangents)} tangents")
        fc = FlatCall(f, primals, {}, tuple(range(len(primals))))
        t_leaves, t_def = flatten(tuple(tangents))
        p_def = TreeDef("tuple", None, tuple(fc.in_defs))
        if t_def != p_def:
            raise ValueError(f"tangents have structure {t_def!r}, the primals {p_def!r}")
        y, y_dot = transform(fc.fun, fc.leaves, t_leaves, **opts)
        return fc.output(y), fc.output(y_dot)

    return public


def vjp_transform(transform: Callable[..., Any]) -> Callable[..., Any]:
    """``vjp(f, *primals)`` over flat arrays -> primals and cotangents as pytrees."""

    @functools.wraps(transform)
    def public(f: Callable[..., Any], *primals: Any, **opts: Any):
        fc = FlatCall(f, primals, {}, tuple(range(len(primals))))
        y, pullback_flat = transform(fc.fun, *fc.leaves, **opts)

        def pullback(cotangent: Any) -> tuple[Any, ...]:
            bars = pullback_flat(fc.flat_cotangent(cotangent))
            out = fc.per_argument(bars)
            return (out,) if fc.single else out

        return fc.output(y), pullback

    return public
