"""Cost model: which mode would you choose for this graph?

The seminar's question, answered from the Graph in predicted *seconds*, so that tiny
graphs (where the fixed cost of a call dominates) are predicted as well as large ones.

Counts (:func:`counts`). Every instruction of the compiled program declares, in the
instruction table (:mod:`ad.kernels.table`), a *kind* (scalar, elementwise,
structural, matmul, linalg) and a *work* (entries touched, flops of a matrix product,
n^3 of a factorisation). Per kind k the graph has work W_k, of which Wd_k belongs to
*active* instructions (output depends on an input and reaches an output: the only ones
whose derivative the engines compute); A (Ad) counts the array (non-scalar)
instructions (active ones); S is the number of adjoint rows (zeroed per adjoint sweep).

Model (all constants in seconds; ``c_k`` is seconds per unit of work of the primal):

    P          = sum_k c_k W_k + i_primal A                   primal sweep (= the recording)
    F(p)       = sum_k c_k [(W_k - Wd_k) + Wd_k (f0_k + f1_k p)] + i_forward A
    R(q)       = sum_k c_k Wd_k (r0_k - 1 + r1_k q) + i_reverse Ad + fill S q
    primal     = call_primal + P
    JVP, p     = call_forward + F(p) + seed (n + m) p
    VJP, q     = call_reverse + P + R(q) + seed (n + m) q     (record + adjoint sweep)
    Jac fwd    = call_jacobian + ceil(n/p) (call_forward + F(p) + seed (n + m) p) + entry n m
    Jac rev    = call_jacobian + P + ceil(m/q) (call_reverse + R(q) + seed (n + m) q)
                 + entry n m

So a forward sweep with p directions costs ``w c (f0 + f1 p)`` per active equation and
a VJP with q cotangents ``w c (r0 + r1 q)`` (r0 includes the recording sweep, which a
Jacobian pays once: its ceil(m/q) adjoint sweeps replay one tape). The ``call_*``
constants are the Python + kernel-call cost of a call or a sweep (they dominate tiny
graphs); ``i_*`` the dispatch cost of an array instruction (a scalar instruction's is
inside its c); ``fill`` the zeroing of the (S, q) adjoint buffer before every adjoint
sweep; ``seed`` the seeding and reading of one entry per direction; ``entry`` the
assembly of one Jacobian entry. Default chunks follow :func:`ad.engine.pick_chunk`.

Calibration. The library ships *textbook* constants: Griewank and Walther's ratios
(one tangent ~ 2.5 x f, p tangents 1 + 1.5 p, one adjoint ~ 4 x f, q adjoints
1.5 + 2.5 q; Evaluating Derivatives, 2nd ed., ch. 4) on an absolute scale of the order
the kernels run at (about 15 ns per scalar instruction, about 1 ns per array entry, a
few microseconds per call). ``python -m bench calibrate`` times small graphs of every
kind on the user's machine and fits the constants by least squares (the model is
linear in them: :func:`terms`); it writes the file :func:`calibration_path` names,
which :func:`load_calibration` reads from then on.
"""

from __future__ import annotations

import functools
import json
import math
import os
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ad.engine import pick_chunk
from ad.ir import Graph
from ad.kernels import run, table

#: Where a calibration made on this machine is read from (written by ``python -m bench
#: calibrate``): ``$AD_COST_CALIBRATION`` if set, else the user's config directory.
CALIBRATION_ENV = "AD_COST_CALIBRATION"


def calibration_path() -> Path:
    """The calibration file the library reads when none is named (it may not exist)."""
    return Path(_calibration_file())


def _calibration_file() -> str:
    # strings, not pathlib: every sparse plan looks the file up (pathlib: 20 us)
    env = os.environ.get(CALIBRATION_ENV)
    if env:
        return env
    return _default_file(os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _default_file(xdg: str | None, home: str | None) -> str:
    """The default file under these environment values (``expanduser`` is most of the
    look-up's time, so the path is built once per value)."""
    base = xdg or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "admodes", "cost_calibration.json")


KINDS = table.KINDS

#: Textbook ratios (Griewank & Walther, ch. 4): forward 1 + 1.5 p, VJP 1.5 + 2.5 q.
TEXTBOOK = {"f0": 1.0, "f1": 1.5, "r0": 1.5, "r1": 2.5}

#: Seconds per unit of primal work without calibration (docs/architecture.md, Cost model: ~20 ns
#: per scalar op through the dispatch chain; loops over arrays ~1 ns per entry or flop).
TEXTBOOK_SECONDS = {
    "scalar": 20e-9,
    "elementwise": 2e-9,
    "structural": 2e-9,
    "matmul": 1e-9,
    "linalg": 2e-9,
}

#: Overheads in seconds, uncalibrated (docs/architecture.md, Cost model: a kernel call 1-2 us; the
#: Python around a sweep a few us).
TEXTBOOK_OVERHEADS = {
    "call_primal": 3e-6,
    "call_forward": 8e-6,
    "call_reverse": 10e-6,
    "call_jacobian": 10e-6,
    "i_primal": 30e-9,
    "i_forward": 60e-9,
    "i_reverse": 60e-9,
    "fill": 0.5e-9,
    "seed": 2e-9,
    "entry": 2e-9,
}

# ----------------------------------------------------------------------------------
# Calibration: the constants, from the shipped file or the textbook
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """The model's constants: per kind ``{c, f0, f1, r0, r1}``, the overheads, and where
    they came from (``source``: a file path or ``"textbook"``; ``meta``: the file's
    machine, revision and fit statistics)."""

    kinds: dict[str, dict[str, float]]
    overheads: dict[str, float]
    source: str = "textbook"
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON layout of ``cost_calibration.json`` (without the metadata)."""
        return {"kinds": self.kinds, "overheads": self.overheads}


def textbook() -> Calibration:
    """The constants used when no calibration file exists (see the module docstring)."""
    kinds = {k: {"c": TEXTBOOK_SECONDS[k], **TEXTBOOK} for k in KINDS}
    return Calibration(kinds, dict(TEXTBOOK_OVERHEADS), "textbook")


def from_dict(data: Mapping[str, Any], source: str = "dict") -> Calibration:
    """A Calibration from the JSON layout; missing entries take the textbook values."""
    base = textbook()
    given = data.get("kinds", {})
    kinds = {
        k: {**base.kinds[k], **{a: float(v) for a, v in given.get(k, {}).items()}} for k in KINDS
    }
    over = {**base.overheads, **{a: float(v) for a, v in data.get("overheads", {}).items()}}
    meta = {k: v for k, v in data.items() if k not in ("kinds", "overheads")}
    return Calibration(kinds, over, source, meta)


_LOADED: dict[tuple[str, float], Calibration] = {}
#: What :func:`load_calibration` returns without a file (built once: every sparse plan
#: reads the model; nothing mutates a Calibration's dicts).
_TEXTBOOK = textbook()


def load_calibration(path: Path | str | None = None) -> Calibration:
    """The calibration in ``path`` (default: :func:`calibration_path`, a file the user
    made with ``python -m bench calibrate``), or the textbook constants when the file
    does not exist. Cached per file version.

    Example::

        ad.cost.load_calibration().source        # "textbook", or the file's path
    """
    name = os.fspath(path) if path is not None else _calibration_file()
    try:
        key = (name, os.stat(name).st_mtime)
    except (FileNotFoundError, NotADirectoryError):
        return _TEXTBOOK
    cal = _LOADED.get(key)
    if cal is None:
        cal = from_dict(json.loads(Path(name).read_text()), name)
        _LOADED.clear()
        _LOADED[key] = cal
    return cal


def _calibration(calibration: Any) -> Calibration:
    if isinstance(calibration, Calibration):
        return calibration
    if isinstance(calibration, Mapping):
        return from_dict(calibration)
    return load_calibration(calibration)


# ----------------------------------------------------------------------------------
# Counts: one pass over the graph, cached on it
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """What the model reads from a graph (see the module docstring)."""

    n: int
    m: int
    nodes: int
    slots: int
    tape_bytes: int
    work: dict[str, float]
    active_work: dict[str, float]
    array_instructions: int
    active_array_instructions: int


_COUNTS: weakref.WeakKeyDictionary[Graph, Counts] = weakref.WeakKeyDictionary()


def counts(graph: Graph) -> Counts:
    """Work per kind (all and active), instructions, slots, tape bytes of ``graph``.

    Read from the compiled program (the one the engine runs, compiled once per Graph)
    through the instruction table: each instruction declares its cost kind and its
    work as an expression of its payload fields (entries of an elementwise loop, flops
    of a matrix product, n^3 of a factorisation; an alias or a broadcast, which the
    lowering turns into no instruction, costs nothing). The program's validation
    evaluates those expressions per instruction kind (``Program.tally``), since it
    holds every kind's payload rows then; this sums them. Example::

        ad.cost.counts(ad.trace(np.sin, np.ones(3))).work["elementwise"]     # 3.0
    """
    got = _COUNTS.get(graph)
    if got is not None:
        return got
    prog = run.compile(graph)
    w = dict.fromkeys(KINDS, 0.0)
    wd = dict.fromkeys(KINDS, 0.0)
    arrays = active_arrays = 0
    for name, (work, active, rows, active_rows) in prog.tally.items():
        ins = table.BY_NAME[name]
        w[ins.cost] += work
        wd[ins.cost] += active
        if ins.cost != "scalar" and ins.work != "0":
            arrays += rows
            active_arrays += active_rows
    got = Counts(
        n=graph.n_in,
        m=graph.n_out,
        nodes=len(graph.eqns),
        slots=int(prog.n_reverse),
        tape_bytes=int(prog.tape_bytes()),
        work=w,
        active_work=wd,
        array_instructions=arrays,
        active_array_instructions=active_arrays,
    )
    _COUNTS[graph] = got
    return got


def forget_counts(graph: Graph) -> None:
    """Drop the counts cached on ``graph``: the next :func:`counts` reads the program
    again, as the first cost query on a new graph does (the benchmark's first-call
    figure of a sparse plan measures it this way)."""
    _COUNTS.pop(graph, None)


# ----------------------------------------------------------------------------------
# The model: predicted seconds are linear in the constants
# ----------------------------------------------------------------------------------

#: Names of the model's linear parameters: per kind ``c.k`` (= c_k), ``cf0.k`` (c_k f0_k),
#: ``cf1.k`` (c_k f1_k), ``ca0.k`` (c_k (r0_k - 1): the adjoint sweep's base), ``cr1.k``
#: (c_k r1_k); then the overheads. :mod:`bench.calibrate` fits these by least squares.
LINEAR = tuple(f"{a}.{k}" for a in ("c", "cf0", "cf1", "ca0", "cr1") for k in KINDS) + tuple(
    TEXTBOOK_OVERHEADS
)

#: What :func:`terms` can predict.
TARGETS = ("primal", "jvp", "vjp", "jacobian_forward", "jacobian_reverse")


def _add(out: dict[str, float], part: dict[str, float], times: float = 1.0) -> None:
    for k, v in part.items():
        out[k] = out.get(k, 0.0) + times * v


def _record(cnt: Counts) -> dict[str, float]:
    """P: the primal sweep (also reverse mode's recording sweep)."""
    t = {f"c.{k}": cnt.work[k] for k in KINDS}
    t["i_primal"] = float(cnt.array_instructions)
    return t


def _forward(cnt: Counts) -> tuple[dict[str, float], dict[str, float]]:
    """call + F(p) + seeding: one forward sweep, as (its terms at p = 0, its terms per
    direction): the model is affine in the width."""
    fixed = {"call_forward": 1.0, "i_forward": float(cnt.array_instructions)}
    per = {"seed": float(cnt.n + cnt.m)}
    for k in KINDS:
        wd = cnt.active_work[k]
        fixed[f"c.{k}"] = cnt.work[k] - wd
        fixed[f"cf0.{k}"] = wd
        per[f"cf1.{k}"] = wd
    return fixed, per


def _adjoint(cnt: Counts) -> tuple[dict[str, float], dict[str, float]]:
    """call + R(q) + seeding: one adjoint sweep over a recorded tape, as (its terms at
    q = 0, its terms per cotangent)."""
    fixed = {"call_reverse": 1.0, "i_reverse": float(cnt.active_array_instructions)}
    per = {"fill": float(cnt.slots), "seed": float(cnt.n + cnt.m)}
    for k in KINDS:
        fixed[f"ca0.{k}"] = cnt.active_work[k]
        per[f"cr1.{k}"] = cnt.active_work[k]
    return fixed, per


def _sweep(out: dict[str, float], parts: tuple[dict, dict], width: int, times: float = 1.0) -> None:
    fixed, per = parts
    _add(out, fixed, times)
    _add(out, per, times * width)


def terms(cnt: Counts, target: str, width: int = 1) -> dict[str, float]:
    """Coefficients of the linear parameters (:data:`LINEAR`) in the predicted seconds
    of ``target`` (one of :data:`TARGETS`) with ``width`` directions per sweep.

    ``sum(theta[k] * v for k, v in terms(...).items())`` is the prediction; this is
    the model of the module docstring written as a linear form (what the calibration
    fits). Example::

        terms(counts(g), "jacobian_reverse", 8)["fill"]     # slots * 8 * ceil(m / 8)
    """
    out: dict[str, float] = {}
    if target == "primal":
        _add(out, _record(cnt))
        out["call_primal"] = 1.0
    elif target == "jvp":
        _sweep(out, _forward(cnt), width)
    elif target == "vjp":
        _add(out, _record(cnt))
        _sweep(out, _adjoint(cnt), width)
    elif target in ("jacobian_forward", "jacobian_reverse"):
        out["call_jacobian"] = 1.0
        out["entry"] = float(cnt.n * cnt.m)
        if target == "jacobian_forward":
            _sweep(out, _forward(cnt), width, math.ceil(cnt.n / width))
        else:
            _add(out, _record(cnt))
            _sweep(out, _adjoint(cnt), width, math.ceil(cnt.m / width))
    else:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    return out


def sweep_line(cnt: Counts, target: str, theta: Mapping[str, float]) -> tuple[float, float]:
    """(a, b) with ``predict(cnt, target, width) = a + b * width`` for ``target`` "jvp"
    or "vjp" (``theta``: ``linear(cal)``): one reading of the model per target instead
    of two predictions (what a sparse plan's choice reads)."""
    dot = lambda t: sum(theta[k] * v for k, v in t.items())
    if target == "jvp":
        fixed, per = _forward(cnt)
        return dot(fixed), dot(per)
    if target == "vjp":
        fixed, per = _adjoint(cnt)
        return dot(_record(cnt)) + dot(fixed), dot(per)
    raise ValueError(f"target must be 'jvp' or 'vjp', not {target!r}")


#: (calibration, its linear parameters): the last one read, as one tuple (replaced
#: whole, so a concurrent reader never pairs one calibration with another's values)
_THETA: tuple[Any, dict[str, float]] = (None, {})


def linear(cal: Calibration) -> dict[str, float]:
    """The calibration as values of the linear parameters (:data:`LINEAR`); the last
    calibration's are kept (a sparse plan reads them at every first call; a
    Calibration is never mutated). The dict returned is the caller's to change."""
    global _THETA
    last, values = _THETA
    if last is cal:
        return dict(values)
    theta = dict(cal.overheads)
    for k in KINDS:
        c = cal.kinds[k]
        theta[f"c.{k}"] = c["c"]
        theta[f"cf0.{k}"] = c["c"] * c["f0"]
        theta[f"cf1.{k}"] = c["c"] * c["f1"]
        theta[f"ca0.{k}"] = c["c"] * (c["r0"] - 1.0)
        theta[f"cr1.{k}"] = c["c"] * c["r1"]
    _THETA = (cal, theta)
    return dict(theta)


def from_linear(
    theta: Mapping[str, float], source: str = "fit", meta: dict[str, Any] | None = None
) -> Calibration:
    """A Calibration from fitted linear parameters (c floored at 1e-15 s so that the
    ratios f0 = cf0 / c, ... exist; the products c f0, ... are kept exactly)."""
    kinds = {}
    for k in KINDS:
        c = max(float(theta[f"c.{k}"]), 1e-15)
        kinds[k] = {
            "c": c,
            "f0": float(theta[f"cf0.{k}"]) / c,
            "f1": float(theta[f"cf1.{k}"]) / c,
            "r0": 1.0 + float(theta[f"ca0.{k}"]) / c,
            "r1": float(theta[f"cr1.{k}"]) / c,
        }
    over = {k: float(theta[k]) for k in TEXTBOOK_OVERHEADS}
    return Calibration(kinds, over, source, dict(meta or {}))


def predict(
    cnt: Counts,
    target: str,
    width: int,
    cal: Calibration,
    theta: Mapping[str, float] | None = None,
) -> float:
    """Predicted seconds of ``target`` (see :func:`terms`); ``theta``: ``linear(cal)``,
    if the caller has it already."""
    theta = linear(cal) if theta is None else theta
    return sum(theta[k] * v for k, v in terms(cnt, target, width).items())


@dataclass(frozen=True)
class CostEstimate:
    """Predicted costs of one graph: seconds (``*_s``) and the same in primal units.

    ``jvp``/``vjp``/``jacobian_*`` are ratios to one primal call (``primal_s``);
    ``chunk_forward`` / ``chunk_reverse`` are p and q; ``sweeps_*`` ceil(n/p), ceil(m/q);
    ``tape_bytes`` the reverse mode's memory; ``mode`` the cheaper Jacobian mode.
    """

    n: int
    m: int
    nodes: int
    work: float
    chunk_forward: int
    chunk_reverse: int
    sweeps_forward: int
    sweeps_reverse: int
    primal_s: float
    jvp_s: float
    vjp_s: float
    jacobian_forward_s: float
    jacobian_reverse_s: float
    jvp: float
    vjp: float
    jacobian_forward: float
    jacobian_reverse: float
    tape_bytes: int
    mode: str
    calibration: str

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def _width(chunk: int | None, total: int, rows: int) -> int:
    """The chunk ``jacobian_blocks`` runs: the default rule, or ``chunk`` capped at total."""
    if chunk is None:
        return pick_chunk(total, rows)
    return max(1, min(int(chunk), max(total, 1)))


def estimate(graph: Graph, chunk: int | None = None, calibration: Any = None) -> CostEstimate:
    """Predicted seconds of one primal, one JVP, one VJP and the full Jacobian by each
    mode (chunk p = q = ``chunk``, or the engines' default rule), and the tape bytes.

    ``calibration``: a :class:`Calibration`, its JSON dict, a path, or None (the shipped
    file, else the textbook constants). Costs one pass over the graph (cached on it).
    Example::

        est = ad.cost.estimate(ad.trace(f, x))
        est.mode, est.jacobian_forward_s, est.jacobian_reverse_s
    """
    cal = _calibration(calibration)
    cnt = counts(graph)
    n, m = cnt.n, cnt.m
    prog = run.compile(graph)
    p, q = _width(chunk, n, prog.n_active), _width(chunk, m, prog.n_reverse)
    primal_s = predict(cnt, "primal", 1, cal)
    jvp_s = predict(cnt, "jvp", 1, cal)
    vjp_s = predict(cnt, "vjp", 1, cal)
    jf = predict(cnt, "jacobian_forward", p, cal)
    jr = predict(cnt, "jacobian_reverse", q, cal)
    unit = primal_s if primal_s > 0 else 1.0
    return CostEstimate(
        n=n,
        m=m,
        nodes=cnt.nodes,
        work=sum(cnt.work.values()),
        chunk_forward=p,
        chunk_reverse=q,
        sweeps_forward=math.ceil(n / p),
        sweeps_reverse=math.ceil(m / q),
        primal_s=primal_s,
        jvp_s=jvp_s,
        vjp_s=vjp_s,
        jacobian_forward_s=jf,
        jacobian_reverse_s=jr,
        jvp=jvp_s / unit,
        vjp=vjp_s / unit,
        jacobian_forward=jf / unit,
        jacobian_reverse=jr / unit,
        tape_bytes=cnt.tape_bytes,
        mode="forward" if jf <= jr else "reverse",
        calibration=cal.source,
    )


def choose_mode(graph: Graph, chunk: int | None = None) -> str:
    """ "forward" or "reverse": the mode the model predicts is faster for the Jacobian.

    Used by ``ad.jacobian(f, mode="auto")``. Example::

        ad.cost.choose_mode(ad.trace(lambda x: A @ x, x))
    """
    return estimate(graph, chunk).mode


def _seconds(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def explain(f_or_graph: Any, *args: Any, chunk: int | None = None, sparse: bool = False) -> str:
    """A short answer to "which mode would you choose?" for a function or a Graph:
    n, m, T, the predicted time and memory of each mode, the choice and why.
    ``sparse=True`` adds the sparsity pattern, the colour counts and the choice among
    forward, reverse, coloured forward and coloured reverse (:mod:`ad.sparse.choice`).

    Example::

        print(ad.cost.explain(lambda x: A @ x, np.ones(100)))
    """
    from ad.trace import trace

    graph = f_or_graph if isinstance(f_or_graph, Graph) else trace(f_or_graph, *args)
    est = estimate(graph, chunk)
    other = "reverse" if est.mode == "forward" else "forward"
    best, worst = sorted([est.jacobian_forward_s, est.jacobian_reverse_s])
    ratio = worst / best if best > 0 else float("inf")

    def plural(k: int, word: str) -> str:
        return f"{k} {word}" + ("" if k == 1 else "s")

    why = (
        f"forward needs ceil(n/p) = {plural(est.sweeps_forward, 'sweep')} of "
        f"{plural(est.chunk_forward, 'direction')}; reverse one recording and ceil(m/q) = "
        f"{plural(est.sweeps_reverse, 'adjoint sweep')} of "
        f"{plural(est.chunk_reverse, 'cotangent')}"
    )
    vjp = "one VJP (the gradient)" if est.m == 1 else "one VJP"
    extra = []
    if sparse:  # the sparse modes: see ad.sparse.choice
        from ad.sparse import jacobian_plan

        extra = jacobian_plan(graph).explain().splitlines()
    return "\n".join(
        [
            f"n = {est.n} inputs, m = {est.m} outputs, T = {est.nodes} nodes "
            f"(work {est.work:.3g}); constants: {Path(est.calibration).name}",
            f"f: {_seconds(est.primal_s)}; one JVP {_seconds(est.jvp_s)} ({est.jvp:.3g} x f), "
            f"{vjp} {_seconds(est.vjp_s)} ({est.vjp:.3g} x f)",
            f"full Jacobian: forward {_seconds(est.jacobian_forward_s)} "
            f"({est.jacobian_forward:.3g} x f, no tape), reverse "
            f"{_seconds(est.jacobian_reverse_s)} ({est.jacobian_reverse:.3g} x f, "
            f"tape {est.tape_bytes:,} bytes)",
            f"choose {est.mode} mode: {ratio:.3g}x faster than {other} ({why})",
        ]
        + extra
    )
