"""The seminar's matrix-calculus problems, solved by ``ad`` and by hand.

The seminar this project answers ("Matrix Derivatives. Automatic Differentiation",
Optimization for ML, HSE) asks for the gradients below. Each problem here is

- a function in plain NumPy, as a user writes it (``ad`` traces it; nothing special);
- its closed-form derivative, as the seminar derives it on paper;
- a generator of random instances (non-symmetric A, rectangular where the problem
  allows, well-conditioned X),

collected in :data:`PROBLEMS`, so that the tests and ``docs/seminar.md`` check
``ad.grad(f)(x) == closed form`` in both modes and on both engines. :func:`rules`
returns the seminar's table of differentiation rules (d(AXB) = A dX B, d(X^-1) =
-X^-1 dX X^-1, ...) as functions with their differentials, for the same purpose.

Example::

    import numpy as np, ad
    from ad.examples import seminar
    X, A, B = ...
    ad.grad(seminar.trace_inverse)(X, A, B)        # == seminar.trace_inverse_grad(X, A, B)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------
# The problems: a plain-NumPy function and its closed form
# ----------------------------------------------------------------------------------


def quadratic(x: np.ndarray, A: np.ndarray, b: np.ndarray, c: float) -> Any:
    """Problem 1: f(x) = 1/2 x^T A x + b^T x + c (A need not be symmetric)."""
    return 0.5 * x @ A @ x + b @ x + c


def quadratic_grad(x: np.ndarray, A: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    """grad f = 1/2 (A + A^T) x + b."""
    return 0.5 * (A + A.T) @ x + b


def quadratic_hessian(A: np.ndarray) -> np.ndarray:
    """Hessian of problem 1: 1/2 (A + A^T)."""
    return 0.5 * (A + A.T)


def trace_inverse(X: np.ndarray, A: np.ndarray, B: np.ndarray) -> Any:
    """Problem 2: f(X) = tr(A X^-1 B), with A (p, n), X (n, n), B (n, p)."""
    return np.trace(A @ np.linalg.inv(X) @ B)


def trace_inverse_grad(X: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """grad f = -(X^-1 B A X^-1)^T  (Matrix Cookbook, sec. 2.2)."""
    Xi = np.linalg.inv(X)
    return -(Xi @ B @ A @ Xi).T


def cubic_norm(x: np.ndarray) -> Any:
    """Problem 3: f(x) = 1/3 ||x||_2^3."""
    return np.linalg.norm(x) ** 3 / 3


def cubic_norm_grad(x: np.ndarray) -> np.ndarray:
    """grad f = ||x|| x."""
    return np.linalg.norm(x) * x


def cubic_norm_hessian(x: np.ndarray) -> np.ndarray:
    """Hessian of problem 3: ||x|| I + x x^T / ||x|| (x != 0)."""
    r = np.linalg.norm(x)
    return r * np.eye(x.size) + np.outer(x, x) / r


def layer_loss(A: np.ndarray, b: np.ndarray, t: np.ndarray) -> Any:
    """Problem 4, the linear least-squares layer: x = A^-1 b (a solve), then a smooth loss
    L(x) = sum(log(cosh(x - t))). b may be a vector (n,) or a matrix (n, k)."""
    x = np.linalg.solve(A, b)
    return np.sum(np.log(np.cosh(x - t)))


def layer_loss_grads(A: np.ndarray, b: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """(dL/dA, dL/db) = (-A^-T g x^T, A^-T g) with x = A^-1 b and g = dL/dx = tanh(x - t)."""
    x = np.linalg.solve(A, b)
    g = np.tanh(x - t)
    db = np.linalg.solve(A.T, g)
    dA = -np.outer(db, x) if np.ndim(b) == 1 else -db @ x.T
    return dA, db


def singular_regularizer(W: np.ndarray) -> Any:
    """Problem 5: R(W) = tr(Sigma) for W = U Sigma V^T (W rectangular): the nuclear norm."""
    return np.trace(np.diag(np.linalg.svd(W, compute_uv=False)))


def singular_regularizer_grad(W: np.ndarray) -> np.ndarray:
    """dR/dW = U V^T (thin SVD; W of full rank). Also right with repeated singular values."""
    U, _, Vt = np.linalg.svd(W, full_matrices=False)
    return U @ Vt


def log_det(X: np.ndarray) -> Any:
    """f(X) = log det X (det X > 0)."""
    return np.log(np.linalg.det(X))


def log_det_grad(X: np.ndarray) -> np.ndarray:
    """grad f = X^-T  (Matrix Cookbook, sec. 2.1)."""
    return np.linalg.inv(X).T


def determinant(X: np.ndarray) -> Any:
    """f(X) = det X."""
    return np.linalg.det(X)


def determinant_grad(X: np.ndarray) -> np.ndarray:
    """grad f = det(X) X^-T (X invertible; the adjugate transposed in general)."""
    return np.linalg.det(X) * np.linalg.inv(X).T


# ----------------------------------------------------------------------------------
# Random instances
# ----------------------------------------------------------------------------------


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def well_conditioned(rng: np.random.Generator, n: int, positive_det: bool = False) -> np.ndarray:
    """A non-symmetric n x n matrix with singular values in [1, 3] (condition <= 3)."""
    q1, q2 = orthogonal(rng, n), orthogonal(rng, n)
    if positive_det and np.linalg.det(q1) * np.linalg.det(q2) < 0:
        q1[:, 0] *= -1.0
    return (q1 * rng.uniform(1.0, 3.0, n)) @ q2.T


@dataclass(frozen=True)
class Instance:
    """One random instance: ``f`` of the differentiated arguments ``args`` only (the data
    are closed over), and the closed-form gradient ``grad`` (one array per argument)."""

    f: Callable[..., Any]
    args: tuple[np.ndarray, ...]
    grad: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Problem:
    """A seminar problem: its statement, its answer, and random instances of each size."""

    name: str
    statement: str
    answer: str
    make: Callable[[np.random.Generator, Any], Instance]
    sizes: tuple[Any, ...]


def _quadratic(rng: np.random.Generator, n: int) -> Instance:
    A, b, c = rng.standard_normal((n, n)), rng.standard_normal(n), float(rng.standard_normal())
    x = rng.standard_normal(n)
    return Instance(lambda x: quadratic(x, A, b, c), (x,), (quadratic_grad(x, A, b, c),))


def _trace_inverse(rng: np.random.Generator, size: tuple[int, int]) -> Instance:
    n, p = size
    A, B, X = rng.standard_normal((p, n)), rng.standard_normal((n, p)), well_conditioned(rng, n)
    return Instance(lambda X: trace_inverse(X, A, B), (X,), (trace_inverse_grad(X, A, B),))


def _cubic_norm(rng: np.random.Generator, n: int) -> Instance:
    x = rng.standard_normal(n)
    return Instance(cubic_norm, (x,), (cubic_norm_grad(x),))


def _layer(rng: np.random.Generator, size: tuple[int, ...]) -> Instance:
    n, rhs = size[0], size[1:]
    A, b = well_conditioned(rng, n), rng.standard_normal((n, *rhs))
    t = rng.standard_normal((n, *rhs))
    return Instance(lambda A, b: layer_loss(A, b, t), (A, b), layer_loss_grads(A, b, t))


def _regularizer(rng: np.random.Generator, size: tuple[int, int]) -> Instance:
    W = rng.standard_normal(size)
    return Instance(singular_regularizer, (W,), (singular_regularizer_grad(W),))


def _log_det(rng: np.random.Generator, n: int) -> Instance:
    X = well_conditioned(rng, n, positive_det=True)
    return Instance(log_det, (X,), (log_det_grad(X),))


def _determinant(rng: np.random.Generator, n: int) -> Instance:
    X = well_conditioned(rng, n)
    return Instance(determinant, (X,), (determinant_grad(X),))


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "quadratic",
            "f(x) = 1/2 x^T A x + b^T x + c",
            "grad f = 1/2 (A + A^T) x + b",
            _quadratic,
            (1, 3, 8),
        ),
        Problem(
            "trace_inverse",
            "f(X) = tr(A X^-1 B)",
            "grad f = -(X^-1 B A X^-1)^T",
            _trace_inverse,
            ((3, 2), (4, 4), (6, 3)),
        ),
        Problem(
            "cubic_norm",
            "f(x) = 1/3 ||x||_2^3",
            "grad f = ||x|| x",
            _cubic_norm,
            (1, 4, 9),
        ),
        Problem(
            "least_squares_layer",
            "x = A^-1 b, L = L(x) smooth (here sum log cosh(x - t))",
            "dL/db = A^-T g, dL/dA = -A^-T g x^T, g = dL/dx",
            _layer,
            ((1,), (3,), (6,), (4, 2)),
        ),
        Problem(
            "singular_regularizer",
            "R(W) = tr(Sigma), W = U Sigma V^T",
            "dR/dW = U V^T",
            _regularizer,
            ((3, 5), (6, 2), (4, 4)),
        ),
        Problem("log_det", "f(X) = log det X", "grad f = X^-T", _log_det, (1, 3, 6)),
        Problem(
            "determinant",
            "f(X) = det X",
            "grad f = det(X) X^-T",
            _determinant,
            (1, 3, 6),
        ),
    ]
}


# ----------------------------------------------------------------------------------
# The seminar's table: differentiation rules and standard derivatives
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One line of the seminar's table: a function ``f(*args)`` and its differential
    ``df(*args, *dargs)`` as the table states it (linear in the ``dargs``)."""

    text: str
    f: Callable[..., Any]
    df: Callable[..., Any]
    args: tuple[np.ndarray, ...]


def _inner(X: np.ndarray, Y: np.ndarray) -> Any:
    """<X, Y> = tr(X^T Y)."""
    return np.trace(X.T @ Y)


def rules(rng: np.random.Generator) -> list[Rule]:
    """The seminar's "Differentiation Rules / Standard Derivatives" table, instantiated
    with random (rectangular, non-symmetric, well-conditioned) data."""
    n, p, q = 3, 2, 4
    A, B = rng.standard_normal((p, n)), rng.standard_normal((q, p))
    C = rng.standard_normal((n, n))  # a square constant
    alpha = float(rng.standard_normal())

    def gauss(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape)

    return [
        Rule("dA = 0", lambda X: C, lambda X, dX: np.zeros_like(C), (gauss(n, q),)),
        Rule(
            "d(alpha X) = alpha dX",
            lambda X: alpha * X,
            lambda X, dX: alpha * dX,
            (gauss(n, q),),
        ),
        Rule("d(AXB) = A (dX) B", lambda X: A @ X @ B, lambda X, dX: A @ dX @ B, (gauss(n, q),)),
        Rule(
            "d(X + Y) = dX + dY",
            lambda X, Y: X + Y,
            lambda X, Y, dX, dY: dX + dY,
            (gauss(n, q), gauss(n, q)),
        ),
        Rule("d(X^T) = (dX)^T", lambda X: X.T, lambda X, dX: dX.T, (gauss(n, q),)),
        Rule(
            "d(XY) = (dX) Y + X (dY)",
            lambda X, Y: X @ Y,
            lambda X, Y, dX, dY: dX @ Y + X @ dY,
            (gauss(p, n), gauss(n, q)),
        ),
        Rule(
            "d<X, Y> = <dX, Y> + <X, dY>",
            _inner,
            lambda X, Y, dX, dY: _inner(dX, Y) + _inner(X, dY),
            (gauss(n, q), gauss(n, q)),
        ),
        Rule(
            "d(X / phi) = (phi dX - (dphi) X) / phi^2",
            lambda X, phi: X / phi,
            lambda X, phi, dX, dphi: (phi * dX - dphi * X) / phi**2,
            (gauss(n, q), np.asarray(1.5 + rng.uniform())),
        ),
        Rule(
            "d<A, X> = <A, dX>",
            lambda X: _inner(C, X),
            lambda X, dX: _inner(C, dX),
            (gauss(n, n),),
        ),
        Rule(
            "d<Ax, x> = <(A + A^T) x, dx>",
            lambda x: (C @ x) @ x,
            lambda x, dx: ((C + C.T) @ x) @ dx,
            (gauss(n),),
        ),
        Rule(
            "d det(X) = det(X) <X^-T, dX>",
            np.linalg.det,
            lambda X, dX: np.linalg.det(X) * _inner(np.linalg.inv(X).T, dX),
            (well_conditioned(rng, n),),
        ),
        Rule(
            "d(X^-1) = -X^-1 (dX) X^-1",
            np.linalg.inv,
            lambda X, dX: -np.linalg.inv(X) @ dX @ np.linalg.inv(X),
            (well_conditioned(rng, n),),
        ),
    ]
