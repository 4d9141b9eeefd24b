"""Running a lowered program: primal, forward and reverse calls, and the tape.

- :func:`compile` ``(graph) -> Program``: lowered and validated once per Graph;
- :func:`primal` ``(prog, xs)``: one primal sweep, the outputs;
- :func:`jvp` ``(prog, xs, tangents)``: one forward sweep of p directions;
- :func:`record` ``(prog, xs) -> Tape``: the recording sweep; ``tape.vjp(cotangents)``
  runs one adjoint sweep of q cotangents over it, as often as asked (a Jacobian's
  ceil(m / q) sweeps, a pullback's calls). Reuse of a tape is explicit: the caller
  holds the Tape. Nothing is kept in the Graph or the Program between calls;
- :func:`jvp_take` / :func:`vjp_take` ``(prog, xs, seed_rows, index)``: one forward
  (recording and adjoint) sweep whose seeds are written straight into the dual rows
  and whose wanted entries are gathered straight out of the dual buffer by a flat
  index (:func:`take_index`): the compressed sparse Jacobians' sweeps, with nothing
  else copied.

Inputs are trusted here (float64 arrays of the graph's input shapes): arguments are
checked once, by :mod:`ad.engine`. Non-finite results follow :mod:`ad.policy`: in mode
``"raise"`` a NaN or infinite output value, tangent or input cotangent raises
:class:`ad.errors.NonFiniteError`. The report (which node produced it, and why) is the
reference interpreters': the call is run again there, on the same arguments, only in
that case, so both engines name the same node in the same words (:mod:`ad.finite`).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import uint64

from ad import policy, reference
from ad.errors import NonFiniteError
from ad.ir import Graph, Guard
from ad.kernels import specialise
from ad.kernels.jit import kjit
from ad.kernels.lower import lower_graph
from ad.kernels.program import Program, Workspace, status_error, validate
from ad.kernels.sweeps import forward_sweep, primal_sweep, reverse_sweep

#: Programs by graph structure (least recently used last): a function traced again at
#: the same shapes and along the same branches gives an equal structure, whose program
#: is reused instead of lowered again (``ad.grad(f)(x)`` in a loop).
_BY_STRUCTURE: OrderedDict[tuple, Program] = OrderedDict()
#: The same by :func:`identity` (a cheaper key for traced graphs), with the graph
#: whose arrays the key names by id.
_BY_IDENTITY: OrderedDict[tuple, tuple[Graph, Program]] = OrderedDict()
MAX_STRUCTURES = 64


def _param_key(value: Any) -> Any:
    t = type(value)
    if t is str or t is int:
        return value
    if t is np.ndarray:
        return (value.shape, value.dtype.str, value.tobytes())
    if t is tuple or t is list:
        return (t, tuple([_param_key(v) for v in value]))
    return (t, value)


def structure(graph: Graph) -> tuple:
    """Everything the lowering reads of ``graph`` but the constants' values: shapes,
    equations (primitive, operands, outputs, parameters with their index maps), outputs.

    One flat tuple, four entries per equation (hashed and compared on every un-jitted
    call: nesting would cost a tuple per field)."""
    parts = _frame(graph)
    add = parts.append
    for e in graph.eqns:
        add(e.prim.name)
        add(tuple([v.id for v in e.inputs]))
        add(tuple([(v.id, v.shape) for v in e.outputs]))
        params = e.params
        add(tuple([(k, _param_key(p)) for k, p in params.items()]) if params else ())
    return tuple(parts)


def _frame(graph: Graph) -> list[Any]:
    """What a structure key holds besides the equations: inputs, constants (ids and
    shapes), outputs, and the Vars the guards read (the lowering keeps their values)."""
    return [
        tuple([(v.id, v.shape) for v in graph.inputs]),
        tuple([(v.id, v.shape) for v in graph.consts]),
        tuple([v.id for v in graph.outputs]),
        graph.out_tree,
        tuple(sorted(graph.guard_vars())) if graph.guards else (),
    ]


def identity(graph: Graph) -> tuple | None:
    """A cheaper structure key of a traced graph: its equations' merge keys
    (:attr:`ad.ir.Graph.eqn_keys`, index maps by identity), or None. Valid only while
    ``graph`` lives (its arrays keep their ids): the cache holds the graph with it."""
    if graph.eqn_keys is None:
        return None
    return (*_frame(graph), graph.eqn_keys)


def compile(graph: Graph) -> Program:  # noqa: A001  (the engine's verb)
    """The validated flat program of ``graph``: lowered once per Graph, and once per
    graph structure (a graph equal to one lowered before, constants apart, takes that
    program with its own constants).

    Example::

        prog = ad.kernels.run.compile(graph); prog.ops, prog.code
    """
    prog = graph.compiled
    if prog is not None:
        return prog
    fast = identity(graph)
    hit = _BY_IDENTITY.get(fast) if fast is not None else None
    if hit is not None:  # the same equations, index maps shared: no key to build
        _BY_IDENTITY.move_to_end(fast)
        prog = hit[1]
    else:
        prog = _by_structure(graph)
        if fast is not None:
            _BY_IDENTITY[fast] = (graph, prog)  # the graph keeps the key's arrays alive
            while len(_BY_IDENTITY) > MAX_STRUCTURES:
                _BY_IDENTITY.popitem(last=False)
    prog = graph.compiled = prog.with_constants(graph)
    return prog


def _by_structure(graph: Graph) -> Program:
    """The program of a graph of ``graph``'s structure (lowered now if none is cached)."""
    key = structure(graph)
    prog = _BY_STRUCTURE.get(key)
    if prog is not None:
        _BY_STRUCTURE.move_to_end(key)
        return prog
    if not graph.validated:
        graph.validate()
    prog = Program(graph, lower_graph(graph))
    validate(prog)
    _BY_STRUCTURE[key] = prog
    while len(_BY_STRUCTURE) > MAX_STRUCTURES:
        _BY_STRUCTURE.popitem(last=False)
    return prog


#: The exponent bits of a float64: all set for inf and NaN only.
_EXPONENT = np.int64(0x7FF0000000000000)


@kjit
def _all_finite(x):
    """True if every entry of the contiguous array x is finite: no exponent field is
    all ones (integer operations, which vectorise: a pass at memory speed)."""
    bits = x.reshape(x.size).view(np.int64)
    top = 0
    for k in range(bits.size):
        top = max(top, bits[k] & _EXPONENT)
    return top != _EXPONENT


def _finite(xs: Sequence[np.ndarray | None]) -> bool:
    """True if every array is finite."""
    for x in xs:
        if x is not None and x.size and not _all_finite(np.ascontiguousarray(x)):
            return False
    return True


def _report(prog: Program, rerun: Any, what: str) -> NonFiniteError:
    """The NonFiniteError of the same call on the reference interpreters."""
    try:
        with policy.nonfinite("raise"):
            rerun(prog.graph)
    except NonFiniteError as err:
        return err
    return NonFiniteError(f"a non-finite {what} (the reference interpreters found none)")


def _run_primal(prog: Program, ws: Workspace, xs: Sequence[np.ndarray], fused: bool = True) -> None:
    prog.load(ws, xs)
    st = primal_sweep(prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, ws.work, fused)
    if st != 0:
        raise status_error(prog, ws.values, st)


def _outputs(prog: Program, ws: Workspace, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    outs = prog.read_outputs(ws.values)
    if policy.raising() and not _finite(outs):
        raise _report(prog, lambda g: reference.evaluate(g, xs), "value")
    return outs


def primal(prog: Program, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The outputs of the graph at ``xs``: one primal sweep."""
    ws = prog.acquire()
    _run_primal(prog, ws, xs)
    outs = _outputs(prog, ws, xs)
    prog.release(ws)
    return outs


def _guards_hold(prog: Program, ws: Workspace, guards: Sequence[Guard]) -> bool:
    values = ws.values

    def read(v: Any) -> np.ndarray:
        return prog.var_values(values, v).reshape(v.shape)

    return all(g.holds(read) for g in guards)


def replay(
    prog: Program, xs: Sequence[np.ndarray], guards: Sequence[Guard]
) -> list[np.ndarray] | None:
    """The outputs at ``xs`` if every guard holds on the values of this sweep, else None.

    With guards, nothing this sweep met is raised unless the guards hold: an error or a
    non-finite number on a path the inputs would not take is no answer and no error
    (None: the caller traces the real path). A guard reads values the sweep completed,
    so a sweep that stopped early is treated as a failed guard."""
    ws = _guarded_primal(prog, xs, guards)
    if ws is None:
        return None
    outs = _outputs(prog, ws, xs)
    prog.release(ws)
    return outs


def guards_hold(prog: Program, xs: Sequence[np.ndarray], guards: Sequence[Guard]) -> bool:
    """Whether every guard holds on the primal sweep at ``xs`` (no outputs read)."""
    ws = _guarded_primal(prog, xs, guards)
    if ws is None:
        return False
    prog.release(ws)
    return True


def _guarded_primal(
    prog: Program, xs: Sequence[np.ndarray], guards: Sequence[Guard]
) -> Workspace | None:
    """A workspace holding the primal sweep at ``xs``, or None (workspace given back)
    when a guard fails or, with guards, the sweep stopped; without guards a sweep that
    stopped raises its error."""
    ws = prog.acquire()
    prog.load(ws, xs)
    st = primal_sweep(prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, ws.work, True)
    if st != 0:
        if guards:
            prog.release(ws)
            return None
        raise status_error(prog, ws.values, st)
    if guards and not _guards_hold(prog, ws, guards):
        prog.release(ws)
        return None
    return ws


#: No unit seeds (the ``unit`` argument of the forward and reverse sweeps).
NO_UNIT = np.zeros(3, dtype=np.int64)


def _forward(prog: Program, ws: Workspace, P: np.ndarray, unit: np.ndarray = NO_UNIT) -> None:
    """The forward sweep over the loaded inputs with the partials buffer ``P``."""
    plan = specialise.forward_plan(prog, P.shape[1])
    if plan is not None:
        st = plan.run(prog, ws.values, P, ws.work, unit)
    else:
        st = forward_sweep(
            prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, P, ws.work, unit
        )
    if st != 0:
        raise status_error(prog, ws.values, st)


def _reverse(prog: Program, ws: Workspace, A: np.ndarray, unit: np.ndarray = NO_UNIT) -> None:
    """The adjoint sweep over the recorded values with the seeded adjoints ``A``."""
    st = reverse_sweep(
        prog.ops, prog.ptr, prog.code, prog.pool, prog.act, ws.values, A, ws.work, unit
    )
    if st != 0:
        raise status_error(prog, ws.values, st)


def jvp(
    prog: Program, xs: Sequence[np.ndarray], tangents: Sequence[np.ndarray | None]
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Values and p directional derivatives in one dual-number sweep.

    ``tangents[i]`` is ``(p,) + inputs[i].shape`` or None (zero). Returns the outputs
    and, per output, a ``(p,) + shape`` tangent (None for an output that does not
    depend on the inputs).
    """
    p = next(int(t.shape[0]) for t in tangents if t is not None)
    ws = prog.acquire()
    P = ws.duals("forward", p)
    for (off, size, _), t in zip(prog.inputs, tangents):
        if t is None:
            P[off : off + size] = 0.0
        else:
            P[off : off + size] = t.reshape(p, size).T
    prog.load(ws, xs)
    _forward(prog, ws, P)
    outs = _outputs(prog, ws, xs)
    touts: list[np.ndarray | None] = []
    for (off, size, shape), live in zip(prog.outputs, prog.out_active):
        touts.append(P[off : off + size].T.reshape((p,) + shape).copy() if live else None)
    if policy.raising() and not _finite(touts):
        raise _report(prog, lambda g: reference.jvp(g, xs, tangents), "tangent")
    prog.release(ws)
    return outs, touts


class Tape:
    """The recorded values of one primal sweep (the reverse mode's tape) and the
    workspace holding them; :meth:`vjp` pulls cotangents back over it.

    A tape is used from one thread at a time (its own lock serialises concurrent
    pullbacks); :meth:`close` (or leaving a ``with`` block) gives its workspace back
    to the program. Example::

        with ad.kernels.record(prog, xs) as tape:
            bars = tape.vjp([np.ones((1,))])
    """

    def __init__(self, prog: Program, ws: Workspace, xs: Sequence[np.ndarray]):
        self.prog = prog
        self._ws: Workspace | None = ws
        self._lock = threading.Lock()
        self.outputs = _outputs(prog, ws, xs)

    def vjp(self, cotangents: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """Per input a ``(q,) + shape`` cotangent, from ``cotangents[i]`` of shape
        ``(q,) + outputs[i].shape`` (or None): one adjoint sweep."""
        ws = self._ws
        if ws is None:
            raise RuntimeError("this tape was closed")
        with self._lock:
            return _pullback(self.prog, ws, cotangents)

    def close(self) -> None:
        """Give the workspace back to the program (the tape cannot be used after)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            self.prog.release(ws)

    def __enter__(self) -> Tape:
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:  # an interrupted call: drop the workspace rather than reuse it
            self._ws = None


def _pullback(
    prog: Program, ws: Workspace, cotangents: Sequence[np.ndarray | None]
) -> list[np.ndarray]:
    """One adjoint sweep over the values recorded in ``ws``: per input a ``(q,) +
    shape`` cotangent."""
    for c in cotangents:
        if c is not None:
            q = int(c.shape[0])
            break
    A = ws.duals("reverse", q)
    blocks = [
        None if c is None else c.reshape(q, size).T
        for c, (_, size, _) in zip(cotangents, prog.outputs)
    ]
    _seed_adjoints(prog, A, blocks)
    _reverse(prog, ws, A)
    bars = [  # one copy each (never a view of the workspace, which the next call reuses)
        np.array(A[off : off + size].T, order="C").reshape((q,) + shape)
        for off, size, shape in prog.inputs
    ]
    if policy.raising() and not _finite(bars):
        xs = prog.read(ws.values, prog.inputs)  # the recorded inputs
        raise _report(prog, lambda g: reference.vjp(g, xs, cotangents), "cotangent")
    return bars


def _seed_adjoints(prog: Program, A: np.ndarray, blocks: Sequence[np.ndarray | None]) -> None:
    """Zero the adjoints ``A`` and add each output's ``(size, q)`` block (None: zero)
    to its rows (added: two outputs may share slots)."""
    A.fill(0.0)
    for (off, size, _), live, b in zip(prog.outputs, prog.out_active, blocks):
        if b is not None and live:  # an inactive output has no adjoint rows
            A[off : off + size] += b


def record(prog: Program, xs: Sequence[np.ndarray]) -> Tape:
    """The recording sweep at ``xs``: a :class:`Tape` to pull cotangents back over."""
    ws = prog.acquire()
    _run_primal(prog, ws, xs)
    return Tape(prog, ws, xs)


def vjp(
    prog: Program, xs: Sequence[np.ndarray], cotangents: Sequence[np.ndarray | None]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Record at ``xs``, then one adjoint sweep: the outputs and the input cotangents
    (:func:`record` and :meth:`Tape.vjp` in one call, without a Tape)."""
    ws = prog.acquire()
    _run_primal(prog, ws, xs)
    outs = _outputs(prog, ws, xs)
    bars = _pullback(prog, ws, cotangents)
    prog.release(ws)  # not on an error: an interrupted call drops its workspace
    return outs, bars


# ----------------------------------------------------------------------------------
# Compressed sweeps: seeds in, wanted entries out, nothing else copied
# ----------------------------------------------------------------------------------


def take_index(
    prog: Program, mode: str, pos: np.ndarray, lane: np.ndarray, width: int
) -> np.ndarray | None:
    """Where :func:`jvp_take` (``mode="forward"``) or :func:`vjp_take` (``"reverse"``)
    finds the entries it is asked for: the flat index into the ``(rows, width)`` dual
    buffer of entry ``pos[t]`` in direction ``lane[t]``.

    ``pos`` counts over the flattened outputs, concatenated (forward: the entry's row
    is its output's slot plus its offset there) or over the flattened inputs (reverse:
    the inputs are rows 0 .. n_in - 1, in order). None when the fast path does not
    apply: an entry of an inactive output (it has no dual rows; :func:`jvp` gives it a
    zero tangent) or of a broadcast one, or out of range.

    Example::

        index = take_index(prog, "forward", rows_of_nonzeros, colour_of_column, 3)
        data = jvp_take(prog, xs, seed_rows, index)       # seed_rows: (prog.n_in, 3)
    """
    pos = np.asarray(pos, dtype=np.int64)
    lane = np.asarray(lane, dtype=np.int64)
    if pos.size and (lane.min() < 0 or lane.max() >= width or pos.min() < 0):
        return None
    if mode == "forward":
        sizes = np.array([size for _, size, _ in prog.outputs], dtype=np.int64)
        ends = np.cumsum(sizes)
        if pos.size and pos.max() >= (ends[-1] if ends.size else 0):
            return None
        which = np.searchsorted(ends, pos, side="right")
        usable = np.array(
            [
                live and v.id not in prog.broadcast
                for v, live in zip(prog.graph.outputs, prog.out_active)
            ],
            dtype=bool,
        )
        if not usable[which].all():
            return None
        slots = np.array([off for off, _, _ in prog.outputs], dtype=np.int64)
        rows, n_rows = slots[which] + pos - (ends - sizes)[which], prog.n_active
    else:
        rows, n_rows = pos, min(prog.n_in, prog.n_reverse)
    if rows.size and rows.max() >= n_rows:
        return None
    return rows * width + lane


@kjit
def _gather(src, index):
    """``src[index]`` for a flat ``src`` and an int64 ``index`` (bounds checked: an
    index past the end is an IndexError, never a read outside the buffer)."""
    out = np.empty(index.size)
    n = uint64(src.size)
    for k in range(index.size):
        i = uint64(index[k])  # a negative index wraps past the end: one comparison
        if i >= n:
            raise IndexError("take index out of range of the dual buffer")
        out[k] = src[i]
    return out


def _directions(rows: np.ndarray, which: list[tuple[int, int, tuple[int, ...]]]) -> list:
    """Per array of ``which`` its ``(p,) + shape`` directions from consecutive blocks of
    the ``(total, p)`` seed rows (None when all zero: what the sparse seeds give)."""
    out, start, p = [], 0, rows.shape[1]
    for _, size, shape in which:
        block = rows[start : start + size]
        start += size
        out.append(np.ascontiguousarray(block.T).reshape((p,) + shape) if block.any() else None)
    return out


def _check_outputs(prog: Program, ws: Workspace, xs: Sequence[np.ndarray]) -> None:
    """Raise the NonFiniteError of a non-finite output value (as :func:`_outputs`
    does, without copying the outputs when they are finite)."""
    values = ws.values
    if not _finite([values[off : off + size] for off, size, _ in prog.outputs]):
        _outputs(prog, ws, xs)


def jvp_take(
    prog: Program, xs: Sequence[np.ndarray], seed_rows: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """The entries ``index`` (from :func:`take_index`) of the output tangents of one
    forward sweep at ``xs``: the fast path of a compressed Jacobian's sweep.

    ``seed_rows``: the p tangent directions as a C-contiguous ``(prog.n_in, p)`` array
    (row i: the seeds of flattened input i), copied into the inputs' dual rows with one
    assignment (not again while the workspace holds it, if it is frozen:
    :meth:`~ad.kernels.program.Workspace.seeded`); the result is gathered straight out
    of the dual buffer. Equal to
    :func:`jvp`'s tangents read at those entries, and under ``policy.raising()`` a
    non-finite output value or tangent raises the same NonFiniteError."""
    ws = prog.acquire()
    P = ws.seeded(seed_rows)
    prog.load(ws, xs)
    _forward(prog, ws, P)
    if policy.raising():
        _check_outputs(prog, ws, xs)
        live = [
            P[off : off + size] for (off, size, _), a in zip(prog.outputs, prog.out_active) if a
        ]
        if not _finite(live):
            tangents = _directions(seed_rows, prog.inputs)
            raise _report(prog, lambda g: reference.jvp(g, xs, tangents), "tangent")
    data = _gather(P.reshape(-1), index)
    prog.release(ws)  # not on an error: an interrupted call drops its workspace
    return data


def vjp_take(
    prog: Program, xs: Sequence[np.ndarray], seed_rows: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """The entries ``index`` (from :func:`take_index`) of the input cotangents of one
    recording and one adjoint sweep at ``xs``: the fast path of a compressed
    Jacobian's reverse sweep.

    ``seed_rows``: the q cotangents as a ``(m, q)`` array over the flattened outputs,
    concatenated; the result is gathered straight out of the adjoint buffer. Equal to
    :func:`vjp`'s cotangents read at those entries, with the same NonFiniteError."""
    q = seed_rows.shape[1]
    ws = prog.acquire()
    _run_primal(prog, ws, xs)
    raising = policy.raising()
    if raising:
        _check_outputs(prog, ws, xs)
    A = ws.duals("reverse", q)
    ends = np.cumsum([size for _, size, _ in prog.outputs])
    _seed_adjoints(
        prog, A, [seed_rows[e - size : e] for e, (_, size, _) in zip(ends, prog.outputs)]
    )
    _reverse(prog, ws, A)
    if raising and not _finite([A[: prog.n_in]]):
        cotangents = _directions(seed_rows, prog.outputs)
        raise _report(prog, lambda g: reference.vjp(g, xs, cotangents), "cotangent")
    data = _gather(A.reshape(-1), index)
    prog.release(ws)
    return data


def gradient(
    prog: Program, xs: Sequence[np.ndarray], guards: Sequence[Guard] = ()
) -> tuple[float, list[np.ndarray]] | None:
    """``(f(x), gradient per input)`` of a graph with one scalar output: one recording
    and one adjoint sweep (the common call, kept short). With ``guards``, None when one
    does not hold on the recorded values (see :func:`replay`)."""
    ws = _guarded_primal(prog, xs, guards)
    if ws is None:
        return None
    (off_y, _, _), live = prog.outputs[0], prog.out_active[0]
    y = float(ws.values[off_y])
    A = ws.duals("reverse", 1)
    A.fill(0.0)
    if live:
        A[off_y, 0] = 1.0
    _reverse(prog, ws, A)
    n = prog.n_in
    if policy.raising() and not (math.isfinite(y) and _all_finite(A[:n])):
        _outputs(prog, ws, xs)  # names a non-finite value first
        one = [np.ones((1,))]
        raise _report(prog, lambda g: reference.vjp(g, xs, one), "cotangent")
    bars = [A[off : off + size, 0].reshape(shape) for off, size, shape in prog.inputs]
    bars = [b.copy() for b in bars]
    prog.release(ws)
    return y, bars


def _widths(total: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(chunk, total - start)) for start in range(0, total, chunk)]


def jacobian_forward(
    prog: Program, xs: Sequence[np.ndarray], chunk: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """The outputs and the full Jacobian ``(m, n)`` (outputs and inputs flattened and
    concatenated) by ceil(n / chunk) forward sweeps seeded with unit vectors.

    The seeds are written into the dual rows of the inputs (which come first in the
    slots, in order) and described to the sweep as unit seeds, so a matrix product
    with an input is a copy of columns; sweep k fills columns k chunk ... of J.
    """
    n = sum(size for _, size, _ in prog.inputs)
    m = sum(size for _, size, _ in prog.outputs)
    J = np.empty((m, n)) if all(prog.out_active) else np.zeros((m, n))  # rows all written?
    check = policy.raising()
    ws = prog.acquire()
    prog.load(ws, xs)
    outs: list[np.ndarray] = []
    for start, w in _widths(n, chunk):
        P = ws.duals("forward", w)
        P[:n] = 0.0  # the input rows (slots 0 .. n - 1), then P[start + r, r] = 1:
        P.reshape(-1)[start * w : (start + w) * w : w + 1] = 1.0  # a strided diagonal
        _forward(prog, ws, P, np.array([0, n, start], dtype=np.int64))
        if not outs:
            outs = _outputs(prog, ws, xs)
        row, rows = 0, []
        for (off, size, _), live in zip(prog.outputs, prog.out_active):
            if live:
                J[row : row + size, start : start + w] = P[off : off + size]
                rows.append(P[off : off + size])  # contiguous, unlike J's columns
            row += size
        if check and not _finite(rows):
            seeds = _unit_tangents(prog.inputs, start, w)
            raise _report(prog, lambda g: reference.jvp(g, xs, seeds), "tangent")
    if not outs:  # no inputs
        _run_primal(prog, ws, xs)
        outs = _outputs(prog, ws, xs)
    prog.release(ws)
    return outs, J


def jacobian_reverse(
    prog: Program, xs: Sequence[np.ndarray], chunk: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """The outputs and the full Jacobian ``(m, n)`` by one recording sweep and
    ceil(m / chunk) adjoint sweeps seeded with unit vectors (described to the sweep as
    unit seeds when the outputs are one unread run of slots, see ``Program.out_run``)."""
    n = sum(size for _, size, _ in prog.inputs)
    m = sum(size for _, size, _ in prog.outputs)
    J = np.empty((m, n)) if prog.inputs else np.zeros((m, n))  # every row is written
    ws = prog.acquire()
    _run_primal(prog, ws, xs)
    outs = _outputs(prog, ws, xs)
    for start, w in _widths(m, chunk):
        A = ws.duals("reverse", w)
        A.fill(0.0)
        row = 0
        for (off, size, _), live in zip(prog.outputs, prog.out_active):
            lo, hi = max(start, row), min(start + w, row + size)
            if live and lo < hi:  # A[off + lo - row + i, lo - start + i] = 1
                base = (off + lo - row) * w + lo - start
                A.reshape(-1)[base : base + (hi - lo) * (w + 1) : w + 1] = 1.0
            row += size
        unit = NO_UNIT
        if prog.out_run is not None:
            unit = np.array([prog.out_run[0], prog.out_run[1], start], dtype=np.int64)
        _reverse(prog, ws, A, unit)
        col = 0
        for off, size, _ in prog.inputs:
            J[start : start + w, col : col + size] = A[off : off + size].T
            col += size
        if policy.raising() and not _finite([J[start : start + w]]):
            seeds = _unit_tangents(prog.outputs, start, w)
            raise _report(prog, lambda g: reference.vjp(g, xs, seeds), "cotangent")
    prog.release(ws)  # not on an error: an interrupted call drops its workspace
    return outs, J


def _unit_tangents(which: list[tuple[int, int, tuple[int, ...]]], start: int, w: int) -> list:
    """Unit vectors start .. start + w - 1 over the flattened ``which``, per array
    ``(w,) + shape`` (for a report on the reference interpreters)."""
    out, base = [], 0
    for _, size, shape in which:
        t = np.zeros((w, size))
        for r in range(w):
            if base <= start + r < base + size:
                t[r, start + r - base] = 1.0
        out.append(t.reshape((w,) + shape))
        base += size
    return out


def tape_bytes(prog: Program) -> int:
    """Bytes the reverse mode keeps between its recording and adjoint sweeps.

    Formula: ``8 * (slots of every Var with storage of its own + residual slots)``: one
    float64 per scalar of every input, constant and computed Var (aliases and broadcasts
    of another Var's slots take none; the values internal to a fused group are
    recomputed by the reverse sweep, which keeps one block of them in scratch instead)
    plus the residuals a rule records for its adjoint. The program itself and the
    adjoint buffer are not counted.
    """
    return prog.tape_bytes()
