"""Hot fused groups compiled one by one: a group's forward sweep as one generated loop.

The ``fused`` instruction (:mod:`ad.kernels.fusion`) interprets its members block by
block: each member is a pass over the block, its values and partials going through
scratch columns. For a group run many times at the same width p, this module writes
the group's forward rule as one loop over the entries instead, every member's value
and p partials in local variables (registers), the operands from outside read once
per entry from the value and dual buffers, the outputs written once. The same maths
(:data:`ad.kernels.elementwise.UNARY` and ``BINARY``, the same partial forms as the
interpreter's kernels), without the scratch traffic. Measured on the ``sparse`` bench
(n = 10^4, one core): see the README's "The compiled engine" section.

At p >= 2 a group's loop runs in blocks, the values (vectorised across entries)
before the partials (packed across the p directions): :func:`group_source`.

Two details decide the loop's speed (measured while writing it, banded residual at
n = 10^4, one core): the buffers are read through views indexed by the loop's own
counter, since an index ``slot + j`` of signed integers makes Numba check it for
wraparound at every access (25 % of the loop, and LLVM then never vectorises); and
the runs members (shifted slices, zero pads) are read through an entry map only in
the few segments where a run starts, ends or is zeros: elsewhere every member reads
one affine run (``_segments``), without a branch, and the single-direction loop
vectorises (13x the interpreted group at p = 1, 4x at p = 3).

Policy (:func:`forward_plan`): a program's forward sweep at width p is specialised on
its :data:`HOT_CALLS`-th call when one of its groups has at least :data:`MIN_SIZE`
entries and ``p <= MAX_P``: a first call stays an interpreted sweep (no compilation
for a one-off call); a reused program (``ad.jit``, a sparse plan, a solver's loop) pays
Numba's compilation once. The generated source depends on the group's instruction
pattern and p only, not on its slots or its size (passed as arguments), so one
compiled loop serves every program with the same group, and it is written to a file
under :data:`CACHE` where Numba's disk cache keeps the machine code across processes.
``AD_SPECIALISE=0`` turns specialisation off. The specialised sweep runs the unfused
stretches of the program with the ordinary forward sweep, each group with its loop.

The loops are compiled with LLVM's SLP (straight-line) vectoriser on, which Numba
leaves off by default (numba/numba#8852, after miscompilations it confirmed): within
one entry the p partials of a member are the same expression over consecutive
doubles, which SLP packs into vector instructions (the Laplacian's group at n = 10^4
and p = 5: 118 -> 88 us, measured; see the README). It is switched on only while
Numba compiles a generated loop (under Numba's compiler lock, restored after), not for
the project's other kernels (the helpers a loop calls are compiled long before, by the
interpreted sweeps of the first call); it does not reorder floating-point operations, and
the tests check every loop against the interpreter bit for bit. ``AD_SPECIALISE_SLP=0``
(read at import) compiles the loops without it, into other cache files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numba.core import config as numba_config
from numba.core.compiler_lock import global_compiler_lock

from ad.kernels import table
from ad.kernels.elementwise import BINARY, UNARY, constant
from ad.kernels.fusion import BROADCAST, FULL, MEMBER_WIDTH
from ad.kernels.jit import sources_digest
from ad.kernels.structural import RUNS, SUM
from ad.kernels.sweeps import forward_sweep
from ad.kernels.table import STATUS_STRIDE

#: Widths p with a specialised loop (p partials per value in registers).
MAX_P = 12
#: Entries a group needs before its program is worth specialising.
MIN_SIZE = 512
#: The call of a program's forward sweep (at one width) that specialises it.
HOT_CALLS = 2
#: Entries per block of a split loop (:func:`group_source`): its factors stay in L1.
BLOCK = 256
#: Where the generated modules go (Numba caches their machine code beside them).
CACHE = Path(os.environ.get("AD_KERNEL_CACHE", Path.home() / ".cache" / "admodes" / "groups"))

_LOCK = threading.Lock()


class UnsupportedGroupError(Exception):
    """A group this module does not write a loop for (it stays interpreted)."""


_LOOPS: dict[str, Any] = {}  # source digest -> compiled loop
#: The loop's one signature: values, duals, S, R, G, size.
SIGNATURE = "int64(float64[::1], float64[:, ::1], int64[::1], int64[:, ::1], int64[:, ::1], int64)"


#: Whether hot programs are specialised: ``AD_SPECIALISE=0`` in the environment at
#: import turns it off (read once: every forward call consults it).
ENABLED = os.environ.get("AD_SPECIALISE", "1") != "0"
#: Whether the loops are compiled with LLVM's SLP vectoriser (``AD_SPECIALISE_SLP=0``
#: at import: without; see the module docstring).
SLP = os.environ.get("AD_SPECIALISE_SLP", "1") != "0"


# ==================================================================================
# The source of one group's loop
# ==================================================================================


class _Writer:
    """Source lines of one group's loop at width p: names for values and partials,
    the slots read through the argument ``S`` (hoisted into locals). The lines of an
    entry are two lists: ``body`` computes the values and the members' derivative
    factors, ``tbody`` the partials from those factors (one loop runs both, or a
    split loop one after the other: :func:`group_source`)."""

    def __init__(self, p: int):
        self.p = p
        self.head: list[str] = []  # before the loop: slots, broadcast numbers
        self.body: list = []  # per entry j: values (lines; a runs member's read: a tuple)
        self.tbody: list = []  # per entry j: partials
        self.tail: list[str] = []  # after the loop: the sums
        self.slots: list[int] = []  # S[i] = slots[i]
        self.local: dict[tuple[int, int], str] = {}  # (mode, slot) -> value's name
        self.tangents: dict[str, list[str]] = {}  # value's name -> its partials' names
        self.outside: dict[str, tuple[int, int]] = {}  # names of values read from slots
        self.factors: list[str] = []  # the derivative factors tbody reads
        self.views: set[str] = set()
        self.count = 0

    def slot(self, slot: int) -> str:
        if slot not in self.slots:
            self.slots.append(slot)
            self.head.append(f"    s{len(self.slots) - 1} = S[{len(self.slots) - 1}]")
        return f"s{self.slots.index(slot)}"

    def view(self, slot: int, buffer: str) -> str:
        """The name of a view of ``buffer`` (values, duals) from ``slot`` over the
        group's entries: indexed by the loop's own counter, never by a signed offset
        (Numba would check it for wraparound at every access, which costs a quarter of
        the loop and keeps LLVM from vectorising)."""
        s = self.slot(slot)
        name = f"{buffer}{s[1:]}"
        if name not in self.views:
            self.views.add(name)
            self.head.append(f"    {name} = {buffer}[{s} : {s} + size]")
        return name

    def fresh(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def read(self, mode: int, slot: int, active: bool) -> tuple[str, list[str] | None]:
        """The value of operand (mode, slot) at entry j and, if active, its partials
        (an operand from outside is loaded at its first use, its partials at the
        first use that needs them)."""
        key = (mode, slot)
        name = self.local.get(key)
        if name is None:
            name = self.fresh()
            self.local[key] = name
            self.outside[name] = key
            self._load(self.body, name, "values", "", key)
        if active and name not in self.tangents:
            if name not in self.outside:  # a group value without partials: not expected
                raise UnsupportedGroupError(f"active operand {name} has no partials")
            self.tangents[name] = [f"{name}_{r}" for r in range(self.p)]
            for r in range(self.p):
                self._load(self.tbody, f"{name}_{r}", "duals", f", {r}", key)
        return name, (self.tangents[name] if active else None)

    def _load(self, lines: list, name: str, buffer: str, column: str, key: tuple) -> None:
        mode, slot = key
        if mode == BROADCAST:  # one number: read once, before the loop
            self.head.append(f"    {name} = {buffer}[{self.slot(slot)}{column}]")
        else:
            lines.append(f"        {name} = {self.view(slot, buffer)}[j{column}]")

    def define(self, mode: int, slot: int, active: bool) -> tuple[str, list[str] | None]:
        """A new name for a member's output (its slot now holds this value)."""
        name = self.fresh()
        self.local[(mode, slot)] = name
        parts = [f"{name}_{r}" for r in range(self.p)] if active else None
        if parts:
            self.tangents[name] = parts
        return name, parts

    def store(self, mode: int, slot: int, name: str, parts: list[str] | None) -> None:
        if mode != FULL:
            return
        self.body.append(f"        {self.view(slot, 'values')}[j] = {name}")
        if parts:
            d = self.view(slot, "duals")
            self.tbody += [f"        {d}[j, {r}] = {t}" for r, t in enumerate(parts)]


def group_source(fn: str, rows: np.ndarray, p: int) -> tuple[str, list[int], list]:
    """The loop of the group whose member descriptions are ``rows`` (count x 9, see
    :mod:`ad.kernels.fusion`) at width ``p``: ``(source, slots, runs)`` where the loop
    is ``fn(values, duals, S, R, G, size)`` with ``S`` = the slots in this order, and
    for the runs members ``runs`` (the pool offset of each one's runs, whether it
    needs partials) ``R`` their entry maps (:func:`_entry_maps`) and ``G`` the
    segments (:func:`_segments`).

    At p >= 2 the loop is split, in blocks of :data:`BLOCK` entries: a loop over the
    block computes the values and keeps the members' derivative factors in a scratch
    ``F``, then a loop over the block computes the partials. The first reads no dual
    row, so LLVM vectorises it across entries (``_exp`` and the other helpers too:
    they are inlined arithmetic), which it cannot do while each entry's p partials
    sit in the same loop; the second is arithmetic on consecutive doubles that SLP
    packs. The same expressions in the same order: the results of the single loop,
    bit for bit. Measured (n = 10^4, one core): the Laplacian's group at p = 5 85 ->
    47 us, banded (3) 28 -> 18 us; see the README."""
    w = _Writer(p)
    runs: list[tuple[int, bool]] = []
    for op, a, nn, om, os_, xm, xs, ym, ys in (tuple(int(v) for v in r) for r in rows):
        name = table.INSTRUCTIONS[op].name
        need = bool(a & 1)
        if op == SUM.opcode:
            v, parts = w.read(xm, xs, need)
            acc = w.fresh()
            w.head.append(f"    {acc} = 0.0")
            w.body.append(f"        {acc} += {v}")
            s = w.slot(os_)
            w.tail.append(f"    values[{s}] = {acc}")
            if need:
                w.head += [f"    {acc}_{r} = 0.0" for r in range(p)]
                w.tbody += [f"        {acc}_{r} += {t}" for r, t in enumerate(parts)]
                w.tail += [f"    duals[{s}, {r}] = {acc}_{r}" for r in range(p)]
            continue
        if op == RUNS.opcode:  # rendered per kind of segment (_render)
            out, parts = w.define(om, os_, need)
            w.body.append(("runs", len(runs), out, None))
            if parts:
                w.tbody.append(("runs", len(runs), None, parts))
            runs.append((nn, need))
            w.store(om, os_, out, parts)
            continue
        if name not in UNARY and name not in BINARY:
            raise UnsupportedGroupError(f"no scalar rule for {name}")
        x, tx = w.read(xm, xs, need and bool(a & 2))
        if name in UNARY:
            value, dx = UNARY[name]
            y, ty, dy = None, None, None
        else:
            value, dx, dy = BINARY[name]
            y, ty = w.read(ym, ys, need and bool(a & 4))
        out, parts = w.define(om, os_, need)
        w.body += [f"        x = {x}", f"        y = {y or x}"]  # one name each: no tuple
        if any(re.search(r"\bn\b", e) for e in (value, dx, dy) if e):
            w.body.append(f"        n = {nn}")
        w.body.append(f"        ans = {value}")
        w.body.append(f"        {out} = ans")
        if parts:
            terms = []
            for k, (d, t) in enumerate(((dx, tx), (dy, ty))):
                if t is None:
                    continue
                operand = {"x": x, "y": y}.get(d)  # d/dx (x * y) = y...
                if constant(d):
                    terms.append((f"({d})", t))
                elif w.outside.get(operand, (None,))[0] == BROADCAST:  # one number
                    terms.append((operand, t))
                else:
                    factor = f"{out}_d{k}"
                    w.body.append(f"        {factor} = {d}")
                    w.factors.append(factor)
                    terms.append((factor, t))
            for r, o in enumerate(parts):
                w.tbody.append(f"        {o} = " + " + ".join(f"{d} * {t[r]}" for d, t in terms))
        w.store(om, os_, out, parts)
    split = p >= 2
    head = [f"def {fn}(values, duals, S, R, G, size):", "    nd = duals.shape[0]", *w.head]
    if split:
        head.append(f"    F = np.empty(({len(w.factors)}, {BLOCK}))")
    if not runs:
        loop = _loop(w, split, False, "    ", "0", "size")
    else:  # segments: every runs member one run (fast: a source with partials each)
        bases = [f"b{k} = uint64(G[g, {3 + k}])" for k in range(len(runs))]
        loop = [
            "    for g in range(G.shape[0]):",
            "        lo, hi = G[g, 0], G[g, 1]",
            "        if G[g, 2]:",
            "            ulo = uint64(lo)",
            *(f"            {b}" for b in bases),
            *_loop(w, split, True, "            ", "lo", "hi"),
            "        else:",
            *_loop(w, split, False, "            ", "lo", "hi"),
        ]
    lines = [*head, *loop, *w.tail, "    return 0"]
    return "\n".join(lines) + "\n", w.slots, runs


def _loop(w: _Writer, split: bool, fast: bool, at: str, lo: str, hi: str) -> list[str]:
    """The loop over entries ``lo`` .. ``hi`` (its ``for`` indented by ``at``): one
    loop of the values and the partials, or blocks of two loops with the factors in
    ``F`` between them (``split``)."""
    entry = ["j = uint64(jj)", *(["e = j - ulo"] if fast else [])]
    if not split:
        inner = [f"{at}    {s}" for s in entry]
        return [
            f"{at}for jj in range({lo}, {hi}):",
            *inner,
            *_render(w.body + w.tbody, fast, at[4:]),
        ]
    inner = [f"{at}        {s}" for s in (*entry, "q = j - ublo")]
    keep = [f"{at}        F[{i}, q] = {f}" for i, f in enumerate(w.factors)]
    take = [f"{at}        {f} = F[{i}, q]" for i, f in enumerate(w.factors)]
    return [
        f"{at}for blo in range({lo}, {hi}, {BLOCK}):",
        f"{at}    bhi = min(blo + {BLOCK}, {hi})",
        f"{at}    ublo = uint64(blo)",
        f"{at}    for jj in range(blo, bhi):",
        *inner,
        *_render(w.body, fast, at),
        *keep,
        f"{at}    for jj in range(blo, bhi):",
        *inner,
        *take,
        *_render(w.tbody, fast, at),
    ]


def _render(body: list, fast: bool, indent: str) -> list[str]:
    """The loop body's lines, a runs member's read (value or partials) rendered for a
    fast segment (its source run from ``b<k>``, entry ``e`` of the segment) or
    through the entry map ``R`` (-1: a zero; partials only from sources with dual
    rows)."""
    out: list[str] = []
    for line in body:
        if isinstance(line, str):
            out.append(indent + line)
            continue
        _, k, name, parts = line
        if fast:
            if name:
                out.append(f"{indent}        {name} = values[b{k} + e]")
            out += [
                f"{indent}        {t} = duals[b{k} + e, {r}]" for r, t in enumerate(parts or ())
            ]
            continue
        out.append(f"{indent}        i = R[{k}, j]")
        if name:
            out.append(f"{indent}        {name} = values[i] if i >= 0 else 0.0")
        if parts:
            out.append(f"{indent}        if 0 <= i < nd:")
            out += [f"{indent}            {t} = duals[i, {r}]" for r, t in enumerate(parts)]
            out.append(f"{indent}        else:")
            out += [f"{indent}            {t} = 0.0" for t in parts]
    return out


#: The scalar helpers the maths calls (``_div``, ``_log``, ...).
HELPERS = sorted(
    {
        h
        for rule in (*UNARY.values(), *BINARY.values())
        for e in rule
        for h in re.findall(r"\b_\w+", e)
    }
)
HEADER = f'''\
"""GENERATED by ad.kernels.specialise: the forward loop of one fused group."""

import math

import numpy as np

from ad.kernels.elementwise import {", ".join(HELPERS)}
from ad.kernels.jit import kjit
from numba import uint64

'''


@functools.cache
def _header() -> str:
    """The generated modules' header: the kernel sources' digest (a loop compiled
    against other helpers is another file, never a stale cache entry), the imports."""
    return f"# kernel sources {sources_digest()}, slp {int(SLP)}\n" + HEADER


def _compile(source: str) -> Any:
    """The compiled loop of ``source``: a module under :data:`CACHE` named by its
    digest (Numba keeps the machine code beside it), imported once per process.
    Raises :class:`UnsupportedGroupError` when the folder cannot be written."""
    text = _header() + "@kjit\n" + source
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    loop = _LOOPS.get(digest)
    if loop is not None:
        return loop
    path = CACHE / f"group_{digest}.py"
    try:
        if not path.exists() or path.read_text() != text:
            CACHE.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)  # atomic: a concurrent process reads all or nothing
    except OSError as e:  # a read-only home: the group stays interpreted
        raise UnsupportedGroupError(f"cannot write {path}: {e}") from e
    name = f"ad_group_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's disk cache finds the module's globals by name
    spec.loader.exec_module(module)
    loop = module.loop
    if hasattr(loop, "compile"):  # Numba (not NUMBA_DISABLE_JIT): compile it now
        try:
            _compile_signature(loop)
        except Exception as e:  # noqa: BLE001  (any compiler error: stay interpreted)
            raise UnsupportedGroupError(f"Numba could not compile {path}: {e}") from e
    _LOOPS[digest] = loop
    return loop


def _compile_signature(loop: Any) -> None:
    """Compile ``loop`` at :data:`SIGNATURE`, with the SLP vectoriser as :data:`SLP`
    says: Numba reads the setting whenever it builds an optimisation pipeline, so it is
    changed only while this compilation holds Numba's compiler lock (no other thread
    compiles meanwhile) and restored after, also on an error."""
    with global_compiler_lock:
        saved = numba_config.SLP_VECTORIZE
        numba_config.SLP_VECTORIZE = int(SLP)
        try:
            loop.compile(SIGNATURE)
        finally:
            numba_config.SLP_VECTORIZE = saved


# ==================================================================================
# The specialised forward sweep of a program
# ==================================================================================


class ForwardPlan:
    """A program's forward sweep at width p as steps: a stretch of instructions run by
    the ordinary sweep (``(ops, ptr, act, first)``, slices of the program) or a fused
    group run by its loop (``(loop, S, R, size)``)."""

    def __init__(self, prog: Any, p: int):
        self.p = p
        self.steps: list[tuple] = []
        self.groups = 0
        start = 0
        for i, size, rows in fused_groups(prog):
            if size < MIN_SIZE:
                continue
            try:
                source, slots, runs = group_source("loop", rows, p)
                loop = _compile(source)
            except UnsupportedGroupError:
                continue
            self._stretch(prog, start, i)
            S = np.array(slots, dtype=np.int64)
            R, G = _maps(prog, i, runs, size)
            self.steps.append(("group", loop, (S, R, G, size)))
            self.groups += 1
            start = i + 1
        self._stretch(prog, start, len(prog.ops))

    def _stretch(self, prog: Any, i0: int, i1: int) -> None:
        if i0 < i1:
            sl = slice(i0, i1)
            self.steps.append(
                ("sweep", forward_sweep, (prog.ops[sl], prog.ptr[sl], prog.act[sl], i0))
            )

    def run(
        self, prog: Any, values: np.ndarray, duals: np.ndarray, work: np.ndarray, unit: Any
    ) -> int:
        """The forward sweep: the same results as ``forward_sweep`` (bit for bit: the
        same expressions in the same order; a sum adds its terms in entry order, not
        in the interpreter's blocks of four accumulators), the same status convention."""
        for kind, fn, args in self.steps:
            if kind == "group":
                fn(values, duals, *args)
                continue
            ops, ptr, act, first = args
            st = fn(ops, ptr, prog.code, prog.pool, act, values, duals, work, unit)
            if st != 0:
                return st + STATUS_STRIDE * first
        return 0


def _maps(prog: Any, i: int, runs: list[tuple[int, bool]], size: int) -> tuple[Any, Any]:
    """The entry maps and segments of the group at instruction ``i``: built once per
    program structure (they do not depend on the width), kept in ``prog.specialised``."""
    key = ("maps", i)
    found = prog.specialised.get(key)
    if found is None:
        R = _entry_maps(prog.pool, [at for at, _ in runs], size)
        found = prog.specialised[key] = R, _segments(R, [need for _, need in runs], prog.n_active)
    return found


def _entry_maps(pool: np.ndarray, runs: list[int], size: int) -> np.ndarray:
    """Per runs member (its runs at pool offsets ``runs``) the source slot of each
    entry, -1 for a zero (at least one row: Numba needs a 2-D array)."""
    R = np.full((max(len(runs), 1), size), -1, dtype=np.int64)
    for k, at in enumerate(runs):
        for o, s, ln in pool[at + 1 : at + 1 + 3 * pool[at]].reshape(-1, 3):
            if s >= 0:
                R[k, o : o + ln] = np.arange(s, s + ln)
    return R


def _segments(R: np.ndarray, need: list[bool], n_active: int) -> np.ndarray:
    """The entries cut where any runs member's run starts or ends: per segment ``(lo,
    hi, fast, first source of each member)``; fast: every member reads a source (no
    zeros), with dual rows where it needs partials, so its entries are one affine run
    (-1 where a member has no source at lo)."""
    size = R.shape[1]
    if not need:
        return np.zeros((1, 3), dtype=np.int64)
    step = np.zeros(size, dtype=bool)
    step[0] = True
    for row in R:
        step[1:] |= row[1:] != row[:-1] + 1
        step[1:] |= (row[1:] < 0) != (row[:-1] < 0)
        step[1:] |= (row[1:] < n_active) != (row[:-1] < n_active)
    lo = np.flatnonzero(step)
    hi = np.append(lo[1:], size)
    first = R[: len(need), lo].T  # (segments, members)
    ok = first >= 0
    for k, needs in enumerate(need):
        if needs:
            ok[:, k] &= first[:, k] < n_active
    return np.column_stack([lo, hi, ok.all(axis=1), first]).astype(np.int64)


def forward_plan(prog: Any, p: int) -> ForwardPlan | None:
    """The specialised forward sweep of ``prog`` at width ``p``, or None for the
    interpreted one (see the module docstring for when)."""
    if not ENABLED or p > MAX_P:
        return None
    state = prog.specialised  # shared by the programs of one structure
    plan = state.get(p)
    if plan is not None:
        return plan or None
    hot = state.get("hot")
    if hot is None:
        hot = state["hot"] = _has_large_group(prog)
    if not hot:  # the common case of a small program: two dictionary reads
        return None
    calls = state.get(("calls", p), 0) + 1
    state[("calls", p)] = calls
    if calls < HOT_CALLS:
        return None
    with _LOCK:
        if p not in state:
            built = ForwardPlan(prog, p)
            state[p] = built if built.groups else False
    return state[p] or None


def fused_groups(prog: Any) -> Iterator[tuple[int, int, np.ndarray]]:
    """Per ``fused`` instruction of ``prog``: its index, its entries and its member
    descriptions (count x 9, see :mod:`ad.kernels.fusion`)."""
    fused = table.BY_NAME["fused"]
    for i in (int(i) for i in np.flatnonzero(prog.ops == fused.opcode)):
        row = prog.code[prog.ptr[i] : prog.ptr[i] + len(fused.fields)]
        size, count, m = (int(fused.get(row, f)) for f in ("size", "count", "m"))
        yield i, size, prog.pool[m : m + count * MEMBER_WIDTH].reshape(count, MEMBER_WIDTH)


def _has_large_group(prog: Any) -> bool:
    return any(size >= MIN_SIZE for _, size, _ in fused_groups(prog))
