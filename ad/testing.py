"""``check_grads``: the one checker every derivative rule is tested through.

For a function f and a point x it draws a random direction v (and cotangent u) and
checks, in float64:

- forward mode: ``J v`` from :func:`ad.jvp` against the central difference
  ``(f(x + eps v) - f(x - eps v)) / (2 eps)``;
- reverse mode: the dot-product test ``<u, J v> = <J^T u, v>`` with ``J^T u`` from
  :func:`ad.vjp` (and ``J v`` from forward mode, or the difference if forward mode
  is not among the modes checked);
- ``order=2``: the same checks applied to the derivative functions
  ``x -> J(x) v`` and ``x -> J(x)^T u``, i.e. second derivatives through nesting.

Tolerances (documented defaults): ``eps = 1e-5``; finite differences must agree to
``atol = rtol = 1e-5`` (truncation error ~ eps^2 |f'''| ~ 1e-10, rounding ~ 1e-16 /
eps ~ 1e-11, so a failure means a wrong rule, not noise); the dot-product identity,
which has no truncation error, to ``1e-10`` relative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ad import api
from ad.tree import flatten, tree_map

EPS = 1e-5
FD_TOL = 1e-5
DOT_TOL = 1e-10


def _flat(tree: Any) -> np.ndarray:
    """Every leaf of a pytree (a tuple, a named tuple such as slogdet's, ...), raveled."""
    leaves = [np.ravel(np.asarray(x, dtype=np.float64)) for x in flatten(tree)[0]]
    return np.concatenate(leaves) if leaves else np.zeros(0)


def _like(tree: Any, rng: np.random.Generator) -> Any:
    """A random array for each leaf of ``tree``, in its structure."""
    return tree_map(lambda x: rng.standard_normal(np.shape(x)), tree)


def _close(a: np.ndarray, b: np.ndarray, atol: float, rtol: float, what: str) -> None:
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    err = float(np.max(np.abs(a - b), initial=0.0))
    if not err <= atol + rtol * scale:
        tol = atol + rtol * scale
        raise AssertionError(
            f"{what}: max abs error {err:.3e} (tolerance {tol:.1e})\n"
            f"  got      {a[:8]}\n  expected {b[:8]}"
        )


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int = 1,
    modes: Sequence[str] = ("fwd", "rev"),
    *,
    eps: float = EPS,
    atol: float = FD_TOL,
    rtol: float = FD_TOL,
    engine: str | None = None,
    seed: int = 0,
) -> None:
    """Check the derivatives of ``f`` at ``args`` up to ``order`` in the given modes.

    Raises AssertionError naming the mode, order and error. Example::

        ad.check_grads(np.sin, (0.3,), order=2)
    """
    if order not in (1, 2):
        raise ValueError("order must be 1 or 2")
    modes = tuple(modes)
    if not set(modes) <= {"fwd", "rev"} or not modes:
        raise ValueError(f"modes must be a subset of ('fwd', 'rev'), not {modes}")
    rng = np.random.default_rng(seed)
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    v = tuple(rng.standard_normal(np.shape(a)) for a in args)

    def fd() -> np.ndarray:
        plus = f(*[a + eps * d for a, d in zip(args, v)])
        minus = f(*[a - eps * d for a, d in zip(args, v)])
        return (_flat(plus) - _flat(minus)) / (2 * eps)

    y, jv = api.jvp(f, args, v, engine=engine) if "fwd" in modes else (f(*args), None)
    jv_fd = fd()
    if jv is not None:
        _close(_flat(jv), jv_fd, atol, rtol, "order-1 forward mode (JVP vs central differences)")
    if "rev" in modes:
        u = _like(y, rng)
        _, pullback = api.vjp(f, *args, engine=engine)
        jtu = pullback(u)
        lhs = float(_flat(u) @ (_flat(jv) if jv is not None else jv_fd))
        rhs = float(_flat(jtu) @ _flat(v))
        tol = DOT_TOL if jv is not None else atol
        _close(np.array([rhs]), np.array([lhs]), tol, tol if jv is not None else rtol,
               "order-1 reverse mode (dot-product test <u, Jv> = <J^T u, v>)")  # fmt: skip
    if order == 2:
        if "fwd" in modes:

            def jvp_fn(*xs: Any) -> Any:
                return api.jvp(f, xs, v, engine=engine)[1]

            check_grads(jvp_fn, args, 1, modes, eps=eps, atol=atol, rtol=rtol, engine=engine,
                        seed=seed + 1)  # fmt: skip
        if "rev" in modes:
            u = _like(y, rng)

            def vjp_fn(*xs: Any) -> Any:
                return api.vjp(f, *xs, engine=engine)[1](u)

            check_grads(vjp_fn, args, 1, modes, eps=eps, atol=atol, rtol=rtol, engine=engine,
                        seed=seed + 2)  # fmt: skip
