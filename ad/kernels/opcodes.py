"""Dense integer opcodes of the kernel instruction set.

The sweeps dispatch with an if/elif chain on these numbers; keeping them dense
(0, 1, 2, ...) lets LLVM turn the chain into a jump table. Numba reads module-level
integers as compile-time constants, so every kernel module imports them from here.

Families (payload layouts are documented in :mod:`ad.kernels.lower`):

- unary elementwise ``NEG .. INTEGER_POW``: one opcode per function;
- binary elementwise ``ADD .. MINIMUM``;
- ``SELECT``, ``GATHER``, ``SCATTER_ADD``, ``REDUCE_MAX``, ``REDUCE_MIN``, ``MATMUL``;
- the matrix functions ``INV`` and after (np.linalg inside the kernel);
- ``*_S``: scalar fast paths of the hottest elementwise ops (size-1 operands).
"""

from __future__ import annotations

NAMES: tuple[str, ...] = (
    # unary elementwise
    "NEG", "SIN", "COS", "TAN", "EXP", "LOG", "LOG1P", "EXPM1", "SQRT", "TANH",
    "SINH", "COSH", "ARCTAN", "ARCSIN", "ARCCOS", "ABS", "INTEGER_POW",
    # binary elementwise
    "ADD", "SUB", "MUL", "DIV", "POW", "MAXIMUM", "MINIMUM",
    # structural, reductions, matrix product
    "SELECT", "GATHER", "SCATTER_ADD", "REDUCE_MAX", "REDUCE_MIN", "MATMUL",
    # matrix functions
    "INV", "SOLVE", "DET", "ADJUGATE", "SLOGDET", "CHOLESKY", "EIGH", "EIGVALSH", "SVD",
    "SVDVALS",
    # scalar fast paths (size-1 operands, payload [out, a(, b)])
    "ADD_S", "SUB_S", "MUL_S", "SIN_S", "COS_S", "TANH_S", "SQUARE_S", "GATHER_S",
)  # fmt: skip

(
    NEG, SIN, COS, TAN, EXP, LOG, LOG1P, EXPM1, SQRT, TANH,
    SINH, COSH, ARCTAN, ARCSIN, ARCCOS, ABS, INTEGER_POW,
    ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM,
    SELECT, GATHER, SCATTER_ADD, REDUCE_MAX, REDUCE_MIN, MATMUL,
    INV, SOLVE, DET, ADJUGATE, SLOGDET, CHOLESKY, EIGH, EIGVALSH, SVD,
    SVDVALS,
    ADD_S, SUB_S, MUL_S, SIN_S, COS_S, TANH_S, SQUARE_S, GATHER_S,
) = range(len(NAMES))  # fmt: skip

N_OPCODES = len(NAMES)
#: Last opcode of the unary elementwise family (they are 0..LAST_UNARY).
LAST_UNARY = INTEGER_POW
