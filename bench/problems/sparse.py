"""``sparse``: residuals with sparse Jacobians and a function with a sparse Hessian.

Variants (``sparse:<variant>``; n is the input dimension, m = n outputs except for
the Hessian problem):

- ``banded3``: Broyden's tridiagonal function (Moré, Garbow, Hillstrom 1981, no. 30),
  r_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1 with x_0 = x_{n+1} = 0: bandwidth 3.
- ``banded11``: a banded Broyden residual with half-bandwidth 5 (MGH no. 31, made
  symmetric), r_i = x_i (2 + 5 x_i^2) + 1 - sum_{0 < |j - i| <= 5} x_j (1 + x_j):
  bandwidth 11.
- ``arrowhead``: r_0 = sum_j x_j^2 - 1, r_i = x_0 x_i + sin(x_i) - 1 (i > 0): one dense
  row and one dense column, so a unidirectional colouring needs n colours either way
  (the counterexample: colouring buys nothing, the cost model must notice).
- ``laplace2d``: the Bratu residual on a k x k grid (n = k^2), r = 4 u - (sum of the
  four neighbours, zero outside) - h^2 lambda exp(u), lambda = 1, h = 1 / (k + 1):
  the 5-point Laplacian with a nonlinearity; 5 colours suffice in either mode.
- ``rosenbrock_hessian``: the chained Rosenbrock function f(x) = sum_i 100 (x_{i+1} -
  x_i^2)^2 + (1 - x_i)^2, R^n -> R, whose Hessian is tridiagonal. Its "Jacobian" in
  this family is the Hessian, the Jacobian of the gradient graph
  (``notes["jacobian_graph"]``); the primal is f itself.

Every variant carries its closed-form Jacobian (Hessian) as a scipy CSR array
(``notes["sparse_jacobian"](x)``), a NumPy residual (``notes["residual"]``: the
gradient for the Hessian problem, for scipy's grouped finite differences), a JAX
version (each residual is written once, over the array module ``xp``) and
``notes["tools"] = ("sparse",)`` (only the ``sparse`` tool of :mod:`bench.sparse_tools`
runs it: dense Jacobians of 10^5 x 10^5 do not fit).
``problem.jacobian`` is None so that nothing densifies them by accident.

Example::

    p = make(10_000, 10_000, 0, seed=0, variant="banded3")
    p.notes["sparse_jacobian"](p.args[0])          # 10^4 x 10^4 tridiagonal CSR
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

import ad
from bench.problems.base import Problem, seeded

VARIANTS = ("banded3", "banded11", "arrowhead", "laplace2d", "rosenbrock_hessian")
HALF = 5  # banded11: half-bandwidth


# -- banded3: Broyden tridiagonal ------------------------------------------------------
def banded3(x: Any, xp: Any = np) -> Any:
    left = xp.concatenate([xp.zeros(1), x[:-1]])
    right = xp.concatenate([x[1:], xp.zeros(1)])
    return (3.0 - 2.0 * x) * x - left - 2.0 * right + 1.0


def banded3_jac(x: np.ndarray) -> sp.csr_array:
    n = x.size
    return sp.diags_array(
        [-np.ones(n - 1), 3.0 - 4.0 * x, -2.0 * np.ones(n - 1)], offsets=[-1, 0, 1]
    ).tocsr()


# -- banded11: Broyden banded, half-bandwidth 5 -----------------------------------------
def banded11(x: Any, xp: Any = np) -> Any:
    n = x.size
    t = xp.concatenate([xp.zeros(HALF), x * (1.0 + x), xp.zeros(HALF)])
    s = t[0:n]
    for k in range(1, 2 * HALF + 1):
        if k != HALF:
            s = s + t[k : k + n]
    return x * (2.0 + 5.0 * x * x) + 1.0 - s


def banded11_jac(x: np.ndarray) -> sp.csr_array:
    n = x.size
    off = -(1.0 + 2.0 * x)
    diags = [off[k:] if k > 0 else off[: n + k] for k in range(-HALF, HALF + 1)]
    diags[HALF] = 2.0 + 15.0 * x * x
    return sp.diags_array(diags, offsets=list(range(-HALF, HALF + 1)), shape=(n, n)).tocsr()


# -- arrowhead -----------------------------------------------------------------------------
def arrowhead(x: Any, xp: Any = np) -> Any:
    head = xp.sum(x * x) - 1.0
    rest = x[0] * x[1:] + xp.sin(x[1:]) - 1.0
    return xp.concatenate([xp.reshape(head, (1,)), rest])


def arrowhead_jac(x: np.ndarray) -> sp.csr_array:
    n = x.size
    rows = np.concatenate([np.zeros(n, int), np.arange(1, n), np.arange(1, n)])
    cols = np.concatenate([np.arange(n), np.zeros(n - 1, int), np.arange(1, n)])
    vals = np.concatenate([2.0 * x, x[1:], x[0] + np.cos(x[1:])])
    return sp.csr_array((vals, (rows, cols)), shape=(n, n))


# -- laplace2d: Bratu on a k x k grid ----------------------------------------------------
def _side(n: int) -> int:
    k = math.isqrt(n)
    if k * k != n:
        raise ValueError(f"laplace2d needs n = k^2, got n = {n}")
    return k


def laplace2d(x: Any, xp: Any = np) -> Any:
    k = _side(x.size)
    h2 = 1.0 / (k + 1) ** 2
    p = xp.pad(xp.reshape(x, (k, k)), 1)
    u = p[1:-1, 1:-1]
    lap = 4.0 * u - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
    return xp.reshape(lap - h2 * xp.exp(u), (-1,))


def laplace2d_jac(x: np.ndarray) -> sp.csr_array:
    k = _side(x.size)
    h2 = 1.0 / (k + 1) ** 2
    eye = sp.eye_array(k)
    second = sp.diags_array(
        [-np.ones(k - 1), 2.0 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1]
    )
    lap = sp.kron(eye, second) + sp.kron(second, eye)
    return (lap - sp.diags_array(h2 * np.exp(x))).tocsr()


# -- rosenbrock_hessian: chained Rosenbrock ----------------------------------------------
def rosenbrock(x: Any, xp: Any = np) -> Any:
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    d = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * d - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * d
    return g


def rosenbrock_hess(x: np.ndarray) -> sp.csr_array:
    n = x.size
    diag = np.zeros(n)
    diag[:-1] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    off = -400.0 * x[:-1]
    return sp.diags_array([off, diag, off], offsets=[-1, 0, 1]).tocsr()


def _with_jax(residual: Callable[..., Any]) -> Callable[..., Any]:
    """``residual`` computed with ``jax.numpy`` (imported at the first call)."""

    def jax_f(x):
        import jax.numpy as jnp

        return residual(x, jnp)

    return jax_f


#: variant -> (residual, closed-form Jacobian, JAX residual, input range)
TABLE: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any], float]] = {
    "banded3": (banded3, banded3_jac, _with_jax(banded3), 1.0),
    "banded11": (banded11, banded11_jac, _with_jax(banded11), 1.0),
    "arrowhead": (arrowhead, arrowhead_jac, _with_jax(arrowhead), 1.0),
    "laplace2d": (laplace2d, laplace2d_jac, _with_jax(laplace2d), 1.0),
    "rosenbrock_hessian": (rosenbrock, rosenbrock_hess, _with_jax(rosenbrock), 1.5),
}


def sizes(variant: str, ns: list[int]) -> list[int]:
    """The grid's n for a variant: laplace2d rounds each n to the square k^2 nearest it."""
    if variant == "laplace2d":
        return [round(math.sqrt(n)) ** 2 for n in ns]
    return list(ns)


def make(n: int, m: int, T: int, seed: int, variant: str = "banded3") -> Problem:
    """The ``sparse:<variant>`` cell with n inputs (m is n, or 1 for the Hessian
    problem, and is ignored otherwise; so is T)."""
    if variant not in TABLE:
        raise ValueError(f"unknown sparse variant {variant!r}; one of {VARIANTS}")
    if n < 4:
        raise ValueError(f"sparse problems need n >= 4, got {n}")
    f, jac, jax_f, scale = TABLE[variant]
    x = seeded(seed, n, VARIANTS.index(variant)).uniform(-scale, scale, size=n)
    if variant == "laplace2d":
        _side(n)
    graph = ad.trace(f, x)
    notes: dict[str, Any] = {
        "variant": variant,
        "sparse_jacobian": jac,
        "tools": ("sparse",),
        "kind": "hessian" if variant == "rosenbrock_hessian" else "jacobian",
    }
    if variant == "rosenbrock_hessian":
        notes["residual"] = rosenbrock_grad
        notes["jacobian_graph"] = ad.reverse.gradient_graph(graph, x)
        m_out = 1
    else:
        notes["residual"] = f
        notes["jacobian_graph"] = graph
        m_out = n
    return Problem(
        family=f"sparse:{variant}",
        n=n,
        m=m_out,
        T=len(graph),
        seed=seed,
        graph=graph,
        f=f,
        args=(x,),
        jacobian=None,
        jacobian_kind="closed form (sparse, notes['sparse_jacobian'])",
        jax_f=jax_f,
        notes=notes,
    )
