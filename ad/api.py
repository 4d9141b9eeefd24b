"""Function transformations with JAX's names, signatures and result shapes.

Each call traces the function at the given arguments (so Python control flow on
values works), then runs an engine on the Graph: the compiled Numba kernels by
default, the NumPy reference interpreters with ``engine="reference"``. When an
argument is itself a tracer (a transformation inside another), the reference
interpreters run on the traced values, so the derivative is recorded by the outer
trace: ``grad(grad(f))``, ``jacfwd(grad(f))`` and ``grad`` of a ``jvp`` nest to any
depth, and each level is again a Graph that the kernels can run.

Arguments and results may be pytrees (tuples, lists, dicts of arrays; see
:mod:`ad.tree`, whose decorators wrap each transformation at entry and exit), and
keyword arguments of the function are passed through to it, not differentiated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ad import cost, tree
from ad import engine as eng
from ad.errors import NonScalarOutputError, ShapeError
from ad.ir import Graph
from ad.trace import check_input, trace_with_values

Argnums = int | Sequence[int]


def _linearize(
    f: Callable[..., Any], args: Sequence[Any], nums: tuple[int, ...]
) -> tuple[Graph, dict[int, Any], list[Any]]:
    """Trace f as a function of the arguments ``nums`` (the others are constants)."""
    xs = [check_input(args[i], f"argument {i}") for i in nums]

    def g(*diff: Any) -> Any:
        full = list(args)
        for i, d in zip(nums, diff):
            full[i] = d
        return f(*full)

    graph, t, _ = trace_with_values(g, xs)
    return graph, t.values, xs


def _pick(values: list[Any], single: bool) -> Any:
    return values[0] if single else tuple(values)


def _ref_or(
    engine: str | None, graph: Graph, xs: Sequence[Any], values: dict[int, Any]
) -> tuple[str, Any]:
    """The engine, and the tape to reuse when it is the reference interpreter.

    A traced argument or constant (a transformation nested in another) forces the
    reference interpreters, whose rules the outer trace then records.
    """
    which = eng.choose(engine, *xs, *graph.const_values.values())
    return which, (values if which == "reference" else None)


@tree.jvp_transform
def jvp(
    f: Callable[..., Any],
    primals: Sequence[Any],
    tangents: Sequence[Any],
    *,
    engine: str | None = None,
) -> tuple[Any, Any]:
    """``(f(*primals), J v)``: one forward sweep with the tangents ``v``.

    ``primals`` and ``tangents`` are tuples of equal structure. Cost: one forward
    sweep. Example::

        y, y_dot = ad.jvp(np.sin, (0.5,), (1.0,))      # (sin .5, cos .5)
    """
    if len(primals) != len(tangents):
        raise ShapeError(f"{len(primals)} primals but {len(tangents)} tangents")
    graph, values, xs = _linearize(f, primals, tuple(range(len(primals))))
    ts = []
    for i, (x, t) in enumerate(zip(xs, tangents)):
        t = check_input(t, f"tangent {i}")
        if np.shape(t) != np.shape(x):
            raise ShapeError(f"tangent {i} has shape {np.shape(t)}, its primal {np.shape(x)}")
        ts.append(t)
    which, vals = _ref_or(engine, graph, [*xs, *ts], values)
    outs, touts = eng.jvp_one(graph, xs, ts, which, vals)
    return eng.out_tree(graph, outs), eng.out_tree(graph, touts)


@tree.vjp_transform
def vjp(
    f: Callable[..., Any], *primals: Any, engine: str | None = None
) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``(f(*primals), pullback)`` with ``pullback(u) = (u^T J_1, u^T J_2, ...)``.

    The function is recorded once; each pullback call is one adjoint sweep. Example::

        y, pullback = ad.vjp(lambda x: A @ x, x)
        (x_bar,) = pullback(u)                         # A.T @ u
    """
    graph, values, xs = _linearize(f, primals, tuple(range(len(primals))))

    def pullback(cotangent: Any) -> tuple[Any, ...]:
        cts = [cotangent] if graph.out_tree is None else list(cotangent)
        if len(cts) != len(graph.outputs):
            raise ShapeError(f"pullback expects {len(graph.outputs)} cotangents, got {len(cts)}")
        seeds = []
        for v, c in zip(graph.outputs, cts):
            c = check_input(c, "cotangent")
            if np.shape(c) != v.shape:
                raise ShapeError(
                    f"cotangent of shape {np.shape(c)} for an output of shape {v.shape}"
                )
            seeds.append(c)
        which, vals = _ref_or(engine, graph, [*xs, *seeds], values)
        _, bars = eng.vjp_one(graph, xs, seeds, which, vals)
        return tuple(bars)

    outs = [values[v.id] for v in graph.outputs]
    return eng.out_tree(graph, outs), pullback


@tree.grad_transform
def value_and_grad(
    f: Callable[..., Any], argnums: Argnums = 0, *, engine: str | None = None
) -> Callable[..., tuple[Any, Any]]:
    """``f`` and its gradient by reverse mode (one recording + one adjoint sweep).

    ``f`` must return a scalar. ``argnums`` as in JAX (an int, or a tuple giving a
    tuple of gradients). Example::

        value, g = ad.value_and_grad(lambda x: np.sum(x**2))(x)     # g = 2 x
    """

    def wrapped(*args: Any) -> tuple[Any, Any]:
        nums, single = tree.normalize_argnums(argnums, len(args))
        graph, values, xs = _linearize(f, args, nums)
        out = graph.outputs
        if graph.out_tree is not None or out[0].shape != ():
            raise NonScalarOutputError(
                f"grad requires a scalar output, got shape(s) {[v.shape for v in out]}; "
                "use jacrev/jacfwd for vector outputs, or reduce the output first"
            )
        which, vals = _ref_or(engine, graph, xs, values)
        _, bars = eng.gradient(graph, xs, which, vals)
        return values[out[0].id], _pick(bars, single)

    return wrapped


_value_and_grad = value_and_grad


@functools.wraps(_value_and_grad)
def value_and_grad(  # noqa: F811  (the tagged public version)
    f: Callable[..., Any], argnums: Argnums = 0, *, engine: str | None = None
) -> Callable[..., tuple[Any, Any]]:
    vg = _value_and_grad(f, argnums, engine=engine)
    vg.__ad_grad__ = (f, argnums, engine, True)  # what ad.jit specialises
    return vg


def grad(
    f: Callable[..., Any], argnums: Argnums = 0, *, engine: str | None = None
) -> Callable[..., Any]:
    """Gradient of a scalar function by reverse mode. Example::

    ad.grad(np.tanh)(2.0)                  # 1 - tanh(2)^2
    ad.grad(f, argnums=(0, 1))(x, y)       # (df/dx, df/dy)
    """
    vg = value_and_grad(f, argnums, engine=engine)

    def gradient(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    gradient.__ad_grad__ = (f, argnums, engine, False)  # what ad.jit specialises
    return gradient


@tree.jacobian_transform
def _jac(f: Callable[..., Any], argnums: Argnums, mode: str, chunk: Any, engine: Any):
    def wrapped(*args: Any) -> Any:
        nums, single = tree.normalize_argnums(argnums, len(args))
        graph, values, xs = _linearize(f, args, nums)
        which, vals = _ref_or(engine, graph, xs, values)
        how = mode
        if how == "auto":
            how = cost.choose_mode(graph, chunk)
        blocks = eng.jacobian_blocks(graph, xs, chunk, which, how, vals)
        rows = [r[0] if single else tuple(r) for r in blocks]
        return rows[0] if graph.out_tree is None else tuple(rows)

    return wrapped


def jacfwd(
    f: Callable[..., Any],
    argnums: Argnums = 0,
    *,
    chunk: int | None = None,
    engine: str | None = None,
) -> Callable[..., Any]:
    """Jacobian by forward mode: ceil(n / chunk) sweeps, n = number of inputs.

    Shape out.shape + in.shape. Example::

        ad.jacfwd(lambda x: A @ x)(x)          # A
    """
    return _jac(f, argnums, "forward", chunk, engine)


def jacrev(
    f: Callable[..., Any],
    argnums: Argnums = 0,
    *,
    chunk: int | None = None,
    engine: str | None = None,
) -> Callable[..., Any]:
    """Jacobian by reverse mode: ceil(m / chunk) adjoint sweeps, m = number of outputs.

    Example::

        ad.jacrev(lambda x: A @ x)(x)          # A
    """
    return _jac(f, argnums, "reverse", chunk, engine)


def jacobian(
    f: Callable[..., Any],
    argnums: Argnums = 0,
    *,
    mode: str = "auto",
    chunk: int | None = None,
    engine: str | None = None,
) -> Callable[..., Any]:
    """Jacobian by ``mode`` = "forward", "reverse" or "auto" (the cost model chooses).

    Example::

        ad.jacobian(g, mode="auto")(x)
    """
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"mode must be 'auto', 'forward' or 'reverse', not {mode!r}")
    return _jac(f, argnums, mode, chunk, engine)


def hessian(
    f: Callable[..., Any], argnums: Argnums = 0, *, engine: str | None = None
) -> Callable[..., Any]:
    """Hessian by forward-over-reverse: the forward Jacobian of the traced gradient.

    The gradient computation is recorded as a Graph (reverse rules traced), then
    ceil(n / chunk) forward sweeps run over it. Shape x.shape + x.shape. Example::

        ad.hessian(lambda x: np.sum(x**3) / 3)(x)          # diag(2 x)
    """
    h = jacfwd(jacrev(f, argnums, engine="reference"), argnums, engine=engine)
    h.__ad_hessian__ = (f, argnums, engine)  # what ad.jit specialises
    return h


def hvp(f: Callable[..., Any], *, engine: str | None = None) -> Callable[[Any, Any], Any]:
    """Hessian-vector product ``H(x) v`` by forward-over-reverse: one forward sweep
    through the recorded gradient, O(T). Example::

        ad.hvp(f)(x, v)
    """

    def wrapped(x: Any, v: Any, **kwargs: Any) -> Any:
        g = grad(f, engine="reference")
        return jvp(lambda y: g(y, **kwargs), (x,), (v,), engine=engine)[1]

    return wrapped
