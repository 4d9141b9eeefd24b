"""The instruction table: every kernel instruction declared once, beside its kernel code.

An :class:`Instruction` names its payload fields (:class:`Field`: slot ranges of the
``values`` buffer with their sizes and roles, plain integers, ranges of the int pool),
the kernels of the three sweeps, and its cost kind. Everything else is derived from
the table, never kept by hand:

- the dense opcodes (the order of declaration);
- the three sweeps (:mod:`ad.kernels.generate` writes :mod:`ad.kernels.sweeps` from the
  table; a test checks that the committed module is what the table generates);
- payload validation (:func:`ad.kernels.program.validate` reads the fields' sizes and
  roles), and the cost model's work counts (:mod:`ad.cost` reads ``cost`` and ``work``);
- the one status enum (:class:`Status`).

A kernel is one of:

- a function (a block written by hand in the family's module), called by the sweep as
  ``status = fn(act, pool, values, work, *fields)`` in the primal sweep and
  ``fn(act, pool, values, duals, work, unit, *fields)`` in the forward (``duals`` =
  partials) and reverse (``duals`` = adjoints) sweeps, fields in declaration order;
- :class:`Generated`: the source of such a function, written into the generated module
  (the elementwise families generate theirs from one expression per derivative);
- :class:`Inline`: statements pasted into the sweep's branch (the scalar fast paths,
  where a call would cost more than the work); ``{field}`` stands for the field's value.

Activity word ``act`` (one per instruction, computed once at lowering): bit 0 = the
instruction's derivative is needed (an output depends on an input and reaches a graph
output); bit ``1 + k`` = operand ``k`` depends on an input. Dual buffers have rows for
the active slots only (they come first in ``values``), so a kernel reads the partials
(adjoints) of operand ``k`` only when bit ``1 + k`` is set.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from ad.errors import GraphError


class Status(IntEnum):
    """What a kernel returns (a sweep returns ``STATUS_STRIDE * i + status`` when
    instruction ``i`` could not be evaluated, else ``OK``)."""

    OK = 0
    SINGULAR = 1  # no inverse / not positive definite
    DEGENERATE = 2  # repeated eigen/singular values: the vectors have no derivative
    COMPLETION = 3  # full_matrices columns of a rectangular svd: no derivative
    ZERO_SINGULAR = 4  # rectangular svd with a zero singular value
    RANK_DEFICIENT = 5  # qr of a matrix without full column rank: Q has no derivative
    UNKNOWN_OPCODE = 15


#: A sweep's result for a failure at instruction i: ``STATUS_STRIDE * i + status``.
STATUS_STRIDE = 16


def decode_status(result: int) -> tuple[int, Status]:
    """``(instruction, status)`` of a sweep result other than OK."""
    i, code = divmod(int(result), STATUS_STRIDE)
    return i, Status(code)


KINDS = ("scalar", "elementwise", "structural", "matmul", "linalg")

#: Activity bits above the operand bits (see the module docstring).
#: MEMBER: the instruction belongs to a fused group; the primal sweep (fused) and the
#: reverse sweep skip it, the group runs it. GROUP: a fused group; the forward sweep
#: and the unfused primal sweep skip it, and run its members one by one.
MEMBER = 1 << 62
GROUP = 1 << 61
#: Operands with an activity bit of their own (bit 1 + k); later ones count as active.
MAX_OPERAND_BITS = 56


@dataclass(frozen=True)
class Field:
    """One payload field.

    ``kind``: ``"slot"`` (an offset into ``values``: ``size`` slots from there),
    ``"int"`` (a plain integer) or ``"pool"`` (an offset into the int pool, ``size``
    entries). ``size`` is an expression over the instruction's int fields. A slot's
    ``role``: ``"out"`` (written), ``"in"`` (read; ``operand`` is its activity bit
    ``1 + operand``), ``"res"`` (a residual kept on the tape). ``strided`` slots are
    validated by the instruction's own ``check`` (their extent is not ``size``).
    """

    name: str
    kind: str
    size: str = "1"
    role: str = ""
    operand: int = -1
    strided: bool = False


def out(name: str, size: str, strided: bool = False) -> Field:
    """An output slot range."""
    return Field(name, "slot", size, "out", strided=strided)


def arg(name: str, size: str, operand: int, strided: bool = False) -> Field:
    """An operand slot range (activity bit ``1 + operand``)."""
    return Field(name, "slot", size, "in", operand, strided)


def res(name: str, size: str) -> Field:
    """A residual slot range (kept on the tape for the reverse sweep)."""
    return Field(name, "slot", size, "res")


def num(name: str) -> Field:
    """A plain integer field."""
    return Field(name, "int")


def pool(name: str, size: str) -> Field:
    """An offset into the int pool, ``size`` entries."""
    return Field(name, "pool", size)


@dataclass(frozen=True)
class Generated:
    """A kernel whose function source is generated (see the module docstring);
    ``uses``: the functions it calls (imported by the generated module)."""

    name: str
    source: str
    uses: tuple[Callable[..., Any], ...] = ()


@dataclass(frozen=True)
class Inline:
    """Statements pasted into the sweep's branch; ``{field}`` is the field's value."""

    source: str


Kernel = Callable[..., Any] | Generated | Inline


@dataclass
class Instruction:
    """One instruction of the compiled engine (see the module docstring)."""

    name: str
    fields: tuple[Field, ...]
    primal: Kernel
    forward: Kernel
    reverse: Kernel
    cost: str
    work: str = "1"
    check: Callable[..., None] | None = None
    doc: str = ""
    #: runs inside a fused elementwise group (:mod:`ad.kernels.fusion`): its kernels
    #: take the fields out, x(, y), size(, sx, sy)(, n) by those names
    fusable: bool = False
    #: a fusable instruction's tangent-major forward kernel (the fused groups' forward
    #: sweep at p >= 2, :mod:`ad.kernels.fusion`)
    tangents: Kernel | None = None
    opcode: int = -1
    index: dict[str, int] = field(default_factory=dict)
    #: the field names in payload order (derived from ``fields``)
    names: tuple[str, ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cost not in KINDS:
            raise GraphError(f"instruction {self.name}: unknown cost kind {self.cost!r}")
        self.index = {f.name: k for k, f in enumerate(self.fields)}
        self.names = tuple(f.name for f in self.fields)
        take = operator.itemgetter(*self.names) if self.names else (lambda _: ())
        #: ``take(values)``: the payload tuple from a dict of field values
        self.take = take if len(self.names) != 1 else (lambda v: (take(v),))

    def payload(self, values: dict[str, int]) -> tuple[int, ...]:
        """The payload in field order from a dict of field values (the one emitter's format).

        Values are kept as given (the program checks once that the whole code array
        is integer, :class:`ad.kernels.program.Program`)."""
        try:
            return self.take(values)
        except KeyError as err:
            raise GraphError(f"instruction {self.name}: payload lacks field {err}") from None

    def sizes(self, F: np.ndarray, expr: str) -> np.ndarray:
        """Evaluate a size expression over the int fields of payload rows ``F``."""
        env = {f.name: F[:, k] for k, f in enumerate(self.fields) if f.kind == "int"}
        out = np.asarray(eval(_expression(expr), _SIZE_FUNCTIONS, env), dtype=np.int64)  # noqa: S307
        return out if out.ndim else np.full(F.shape[0], out)

    def get(self, row: Any, name: str) -> int:
        """Field ``name`` of one payload row."""
        return int(row[self.index[name]])


_SIZE_FUNCTIONS = {"min": np.minimum, "max": np.maximum}


@functools.cache
def _expression(expr: str) -> Any:
    """A size expression of the table, compiled once (``eval`` of the text compiled it
    at every call: 5-10 us each, most of ``ad.cost.counts`` on a small program)."""
    return compile(expr, "<size expression>", "eval")


#: Every instruction, in opcode order (filled by the family modules at import).
INSTRUCTIONS: list[Instruction] = []
#: Instruction by name.
BY_NAME: dict[str, Instruction] = {}


def declare(ins: Instruction) -> Instruction:
    """Add ``ins`` to the table (its opcode is its position); return it."""
    if ins.name in BY_NAME:
        raise GraphError(f"instruction {ins.name!r} is declared twice")
    ins.opcode = len(INSTRUCTIONS)
    INSTRUCTIONS.append(ins)
    BY_NAME[ins.name] = ins
    return ins


# ----------------------------------------------------------------------------------
# Lowerings: which instructions a primitive becomes (declared beside the instructions)
# ----------------------------------------------------------------------------------

#: primitive name -> ``lower(lw, eqn)``, which emits its instruction(s) through the
#: lowering context ``lw`` (:class:`ad.kernels.lower.Lowering`).
LOWERINGS: dict[str, Callable[..., None]] = {}
#: primitive name -> ``view(lw, eqn)``: a storage decision for its output that needs no
#: instruction (an alias of its operand's slots, or one number broadcast), or None.
VIEWS: dict[str, Callable[..., Any]] = {}
#: primitives whose operands may be a broadcast number (read with element stride 0).
BROADCAST_OK: set[str] = set()


def lowering(
    *prims: str, broadcast: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: ``fn`` lowers the primitives ``prims`` (see :data:`LOWERINGS`)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        for p in prims:
            if p in LOWERINGS:
                raise GraphError(f"primitive {p!r} has two lowerings")
            LOWERINGS[p] = fn
            if broadcast:
                BROADCAST_OK.add(p)
        return fn

    return register
