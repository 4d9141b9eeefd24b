"""Sparse Jacobians and Hessians: sparsity detection on the IR, colouring, compressed
sweeps, and the cost model's choice among forward, reverse, coloured forward and
coloured reverse.

- :mod:`ad.sparse.pattern`: index sets propagated through the Wengert list, each
  primitive's rule declared in its block (``defsparsity``); Hessian patterns from the
  gradient graph.
- :mod:`ad.sparse.coloring`: partial distance-2 column / row colourings and star
  colourings (Gebremedhin, Manne, Pothen, SIAM Review 47(4), 2005), with lower bounds.
- :mod:`ad.sparse.compress`: seed matrices through the batched engines, direct recovery.
- :mod:`ad.sparse.choice`: predicted cost of the four modes, ``explain``.
- :mod:`ad.sparse.api`: plans cached per Graph and per function.

The functions here are thin: the modules above (which import Numba and scipy) are
loaded on first use, so ``import ad`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def jacobian_sparsity(f: Callable[..., Any], x: Any) -> Any:
    """Boolean ``scipy.sparse`` CSR pattern (f(x).size x x.size) of the Jacobian of f at
    x; see :func:`ad.sparse.api.jacobian_sparsity`."""
    from ad.sparse import api

    return api.jacobian_sparsity(f, x)


def hessian_sparsity(f: Callable[..., Any], x: Any) -> Any:
    """Symmetric boolean CSR pattern of the Hessian of a scalar f at x; see
    :func:`ad.sparse.api.hessian_sparsity`."""
    from ad.sparse import api

    return api.hessian_sparsity(f, x)


def sparse_jacobian(
    f: Callable[..., Any], x: Any, mode: str = "auto", *, engine: str = "compiled"
) -> Any:
    """The Jacobian of f at x as a ``scipy.sparse.csr_array`` from compressed sweeps;
    ``mode`` is "auto", "colored_forward", "colored_reverse", "forward" or "reverse".
    See :func:`ad.sparse.api.sparse_jacobian`. Example::

        J = ad.sparse_jacobian(lambda x: x[1:] * x[:-1], np.arange(5.0))
    """
    from ad.sparse import api

    return api.sparse_jacobian(f, x, mode, engine=engine)


def sparse_hessian(
    f: Callable[..., Any], x: Any, *, method: str = "star", engine: str = "compiled"
) -> Any:
    """The Hessian of a scalar f at x as a symmetric ``scipy.sparse.csr_array`` (star
    colouring, forward over reverse). See :func:`ad.sparse.api.sparse_hessian`."""
    from ad.sparse import api

    return api.sparse_hessian(f, x, method=method, engine=engine)


def jacobian_plan(graph: Any, ordering: str = "best") -> Any:
    """The cached sparse-Jacobian plan of a Graph: ``plan(x, mode="auto")`` gives the
    Jacobian; ``plan.pattern``, ``plan.coloring("column")``, ``plan.mode()``."""
    from ad.sparse import api

    return api.jacobian_plan(graph, ordering)


def hessian_plan(graph: Any, args: Any, ordering: str = "best") -> Any:
    """The cached sparse-Hessian plan of a scalar Graph (gradient graph recorded at
    ``args``): ``plan(x)`` gives the Hessian; ``plan.pattern``, ``plan.star``."""
    from ad.sparse import api

    return api.hessian_plan(graph, args, ordering)


def jacobian(graph: Any, args: Any, mode: str = "auto", *, engine: str = "compiled") -> Any:
    """The sparse Jacobian of a Graph at ``args`` (plan cached on the graph)."""
    return jacobian_plan(graph)(args, mode, engine)


def explain(f_or_graph: Any, *args: Any) -> str:
    """Why ``mode="auto"`` picks its mode: the colour counts and four predicted costs."""
    from ad.sparse import api

    return api.explain(f_or_graph, *args)


__all__ = [
    "explain",
    "hessian_plan",
    "hessian_sparsity",
    "jacobian",
    "jacobian_plan",
    "jacobian_sparsity",
    "sparse_hessian",
    "sparse_jacobian",
]
