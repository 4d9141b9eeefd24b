"""The compiled engine: a Graph lowered once to a flat program, swept by Numba kernels.

Modules, bottom up: :mod:`.jit` (the one njit wrapper), :mod:`.table` (the instruction
table), the instruction families, each instruction declared beside its kernels and
its lowering (:mod:`.elementwise`, :mod:`.structural`, :mod:`.linalg`, with
:mod:`.blas`), :mod:`.lower` (Graph -> flat program), :mod:`.program` (the program,
workspaces, validation, error reports), :mod:`.sweeps` (GENERATED from the table by
:mod:`.generate`) and :mod:`.run` (calls and the tape). See ``docs/architecture.md``.
"""

# the instruction families declare the table, in this (opcode) order
from ad.kernels import elementwise, structural, linalg, fusion  # noqa: F401, I001
