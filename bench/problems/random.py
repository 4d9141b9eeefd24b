"""``random``: a random Wengert list of exactly T scalar operations (n inputs, m outputs).

The cleanest test of n x O(T) versus m x O(T): T does not change when n and m do.

What counts. T is the number of *arithmetic* nodes, each one scalar operation drawn
from {add, sub, mul, sin, cos, tanh, square} (square is ``integer_pow`` with n=2).
The graph has one input of shape (n,); n ``gather`` nodes unpack its entries into
scalars, and for m > 1 one ``gather`` packs the last m values into the output vector
of shape (m,) (for m == 1 the output is that scalar). So ``len(graph) == T + n +
(m > 1)``; the bookkeeping nodes are data movement and are not counted in T.

Construction (seeded, deterministic):

1. Every input is read: the n inputs are folded by a balanced tree, each pair
   combined by ``add``/``sub`` then squashed by ``tanh``/``sin`` (2 (n - 1) ops). The
   root depends on every input through only log2(n) levels, so no derivative decays
   through a long chain.
2. The remaining T - 2 (n - 1) ops: the first operand is one of the 32 most recent
   *full* values (depending on every input: the root and everything after it), so
   every value of this phase, and hence every output, depends on every input. The
   second operand of a binary op is another recent value (80 %), an input read
   directly (10 %) or any earlier value (10 %).
3. Bounded values: inputs lie in [-1, 1]; sin, cos, tanh, mul and square of values in
   [-1, 1] stay in [-1, 1]; add and sub leave it (up to [-2, 2]), so add, sub, mul and
   square only read values known to lie in [-1, 1], and anything may feed sin, cos
   and tanh. Every value is in [-2, 2] for any T, and the Jacobian stays finite.

Requires T >= 2 (n - 1) + m. The independent Jacobian is the complex-step derivative
of the NumPy interpreter (every op is analytic): exact to round-off, not an AD result.

Example::

    g = random_graph(n=8, m=4, T=1000, seed=0)     # 1000 arithmetic nodes, 8 + 1 gathers
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import ad
from bench.problems.base import Problem, seeded

#: Opcodes of the program (their primitive, and whether the result is in [-1, 1]).
ADD, SUB, MUL, SQUARE, SIN, COS, TANH = range(7)
OP_NAMES = ("add", "sub", "mul", "square", "sin", "cos", "tanh")
BOUNDED_RESULT = (False, False, True, True, True, True, True)
#: Draw probabilities of the ops in phase 2 (add, sub, mul, square, sin, cos, tanh).
#: Measured: with uniform draws mul/square shrink values towards 0 and half the
#: Jacobian entries fall below 1e-6 at T = 1e4; weighting add/sub (which sum path
#: derivatives) keeps >= 90 % of the entries above 1e-6 up to T = 1e5.
OP_PROBS = np.array([0.25, 0.25, 0.08, 0.02, 0.15, 0.05, 0.20])
#: Operands come mostly from this many most recent (eligible) values.
WINDOW = 32


@dataclass(frozen=True)
class RandomProgram:
    """The op list behind a random graph: value k < n is input k, value n + t is op t.

    ``op[t]`` is an opcode, ``a[t]`` and ``b[t]`` the operand value ids (``b = -1``
    for unary ops); the outputs are the last ``m`` values.
    """

    n: int
    m: int
    op: np.ndarray
    a: np.ndarray
    b: np.ndarray

    @property
    def T(self) -> int:
        """The number of arithmetic operations."""
        return int(self.op.size)


def random_program(n: int, m: int, T: int, seed: int) -> RandomProgram:
    """Draw the op list of ``random_graph`` (see the module docstring for the rules)."""
    n, m, T = int(n), int(m), int(T)
    if n < 1 or m < 1:
        raise ValueError(f"random: n and m must be >= 1, got n={n}, m={m}")
    if T < 2 * (n - 1) + m:
        raise ValueError(
            f"random: T={T} is too small; it needs T >= 2 (n - 1) + m = {2 * (n - 1) + m}"
        )
    rng = seeded(seed, n, m, T)
    op = np.empty(T, dtype=np.int64)
    a = np.empty(T, dtype=np.int64)
    b = np.full(T, -1, dtype=np.int64)
    bounded = [True] * n  # per value id: known to lie in [-1, 1]
    t = 0

    def emit(code: int, x: int, y: int = -1) -> int:
        nonlocal t
        op[t], a[t], b[t] = code, x, y
        bounded.append(BOUNDED_RESULT[code])
        t += 1
        return n + t - 1

    # phase 1: a balanced tree over the inputs reads every input once
    level = list(range(n))
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            s = emit(ADD if rng.random() < 0.5 else SUB, level[i], level[i + 1])
            nxt.append(emit(TANH if rng.random() < 0.5 else SIN, s))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    full = [level[0]]  # values that depend on every input, oldest first
    full_bounded = [level[0]]
    all_bounded = [k for k in range(len(bounded)) if bounded[k]]

    # phase 2: random ops over recent full values
    codes = rng.choice(7, size=T - t, p=OP_PROBS)
    for code in codes:
        code = int(code)
        if code in (SIN, COS, TANH):
            x = full[-1 - int(rng.integers(min(WINDOW, len(full))))]
            y = -1
        else:
            x = full_bounded[-1 - int(rng.integers(min(WINDOW, len(full_bounded))))]
            y = -1
            if code != SQUARE:
                u = rng.random()
                if u < 0.1:
                    y = int(rng.integers(n))
                elif u < 0.2:
                    y = all_bounded[int(rng.integers(len(all_bounded)))]
                else:
                    y = full_bounded[-1 - int(rng.integers(min(WINDOW, len(full_bounded))))]
                if code == SUB and y == x:  # x - x is identically zero: keep it alive
                    code = ADD
        v = emit(code, x, y)
        full.append(v)
        if bounded[v]:
            full_bounded.append(v)
            all_bounded.append(v)
    return RandomProgram(n, m, op, a, b)


def graph_of(prog: RandomProgram) -> ad.Graph:
    """Build the Wengert list of a program with :class:`ad.GraphBuilder`."""
    bld = ad.GraphBuilder()
    x = bld.input((prog.n,))
    vals: list[Any] = [
        bld.apply("gather", x, idx=np.array(k), in_ndims=(1,)) for k in range(prog.n)
    ]
    for code, i, j in zip(prog.op.tolist(), prog.a.tolist(), prog.b.tolist()):
        if code == SQUARE:
            vals.append(bld.apply("integer_pow", vals[i], n=2))
        elif j < 0:
            vals.append(bld.apply(OP_NAMES[code], vals[i]))
        else:
            vals.append(bld.apply(OP_NAMES[code], vals[i], vals[j]))
    outs = vals[-prog.m :]
    if prog.m == 1:
        return bld.build(outs[0])
    packed = bld.apply("gather", *outs, idx=np.arange(prog.m), in_ndims=(0,) * prog.m)
    return bld.build(packed)


def random_graph(n: int, m: int, T: int, seed: int) -> ad.Graph:
    """A random Wengert list: exactly T scalar arithmetic ops, n inputs, m outputs.

    One input of shape (n,); output of shape (m,) (a scalar for m == 1). Every input
    is read and every output depends on every input; values stay in [-2, 2] for any T.
    Example::

        g = random_graph(100, 10, 10_000, seed=0)
        J = ad.reverse.jacobian(g, np.zeros(100), engine="reference")
    """
    return graph_of(random_program(n, m, T, seed))


def interpret(prog: RandomProgram, x: Any, xp: Any = np) -> Any:
    """Run the program with array module ``xp`` (NumPy or jax.numpy) on ``x[..., :n]``.

    Batch-polymorphic and complex-safe: leading axes of ``x`` are carried along.
    """
    fns = (
        lambda u, v: u + v,
        lambda u, v: u - v,
        lambda u, v: u * v,
        lambda u, v: u * u,
        lambda u, v: xp.sin(u),
        lambda u, v: xp.cos(u),
        lambda u, v: xp.tanh(u),
    )
    vals = [x[..., k] for k in range(prog.n)]
    for code, i, j in zip(prog.op.tolist(), prog.a.tolist(), prog.b.tolist()):
        vals.append(fns[code](vals[i], vals[j] if j >= 0 else None))
    outs = vals[-prog.m :]
    if prog.m == 1:
        return outs[0]
    return xp.stack(outs, axis=-1)


def complex_step_jacobian(prog: RandomProgram, x: np.ndarray, h: float = 1e-30) -> np.ndarray:
    """d out / d x of shape (m, n) by the complex step Im f(x + i h e_j) / h (round-off exact)."""
    z = np.tile(np.asarray(x, dtype=np.complex128), (prog.n, 1)) + 1j * h * np.eye(prog.n)
    jt = np.imag(interpret(prog, z)) / h  # (n,) or (n, m): row j is d out / d x_j
    return np.reshape(jt, (prog.n, prog.m)).T.copy()


def make(n: int, m: int, T: int, seed: int) -> Problem:
    """The ``random`` cell (n, m, T): graph, NumPy interpreter, inputs in [-1, 1]."""
    prog = random_program(n, m, T, seed)
    x = seeded(seed, n, m, T, 1).uniform(-1.0, 1.0, size=n)

    def f(x: np.ndarray) -> Any:
        return interpret(prog, x)

    def jax_f(x: Any) -> Any:
        import jax.numpy as jnp

        return interpret(prog, x, jnp)

    return Problem(
        family="random",
        n=n,
        m=m,
        T=prog.T,
        seed=seed,
        graph=graph_of(prog),
        f=f,
        args=(x,),
        jacobian=lambda x: complex_step_jacobian(prog, x),
        jacobian_kind="complex step",
        jax_f=jax_f,
        notes={"program": prog},
    )
