"""The three sweeps over a lowered program: primal, forward (dual numbers), adjoint.

Each is one Numba loop over the instructions that dispatches on the dense integer
opcode with an if/elif chain (LLVM turns it into a jump table); the branch bodies
call the family blocks of :mod:`ad.kernels.elementwise`, :mod:`.structural` and
:mod:`.linalg` with a constant opcode, which LLVM inlines and specialises (the forward
elementwise blocks are too large for LLVM's inliner and are inlined by Numba,
``kjit(inline=True)``, see :mod:`ad.kernels.elementwise`). No Python
runs per instruction and nothing is allocated per instruction (the matrix functions
of np.linalg allocate their LAPACK workspace: O(n^2) against O(n^3) work).

Arguments (all built once by :mod:`ad.kernels.lower`): ``ops[i]`` opcode,
``code[ptr[i]:ptr[i + 1]]`` payload, ``pool`` int pool (index maps, masks), ``act[i]``
activity word, ``values[slot]`` the values (the tape), ``partials[slot, p]`` /
``adjoints[slot, q]`` the dual parts, ``work`` scratch. Each sweep returns -1, or
``16 * i + status`` when instruction i could not be evaluated (see STATUS_*). A sweep
works on :func:`ad.kernels.jit.borrowed` views of the buffers it hands to its blocks
(no reference counting per instruction).
"""

from __future__ import annotations

from ad.kernels.elementwise import (
    binary_forward,
    binary_primal,
    binary_reverse,
    scalar_forward,
    scalar_reverse,
    scalar_value,
    select_forward,
    select_primal,
    select_reverse,
    unary_forward,
    unary_primal,
    unary_reverse,
)
from ad.kernels.jit import borrowed, kjit
from ad.kernels.linalg import (
    adjugate_forward,
    adjugate_primal,
    adjugate_reverse,
    cholesky_forward,
    cholesky_primal,
    cholesky_reverse,
    det_forward,
    det_primal,
    det_reverse,
    eigh_forward,
    eigh_primal,
    eigh_reverse,
    inv_forward,
    inv_primal,
    inv_reverse,
    matmul_forward,
    matmul_primal,
    matmul_reverse,
    slogdet_forward,
    slogdet_primal,
    slogdet_reverse,
    solve_forward,
    solve_primal,
    solve_reverse,
    svd_forward,
    svd_primal,
    svd_reverse,
)
from ad.kernels.opcodes import (
    ABS,
    ADD,
    ADD_S,
    ADJUGATE,
    ARCCOS,
    ARCSIN,
    ARCTAN,
    CHOLESKY,
    COS,
    COS_S,
    COSH,
    DET,
    DIV,
    EIGH,
    EIGVALSH,
    EXP,
    EXPM1,
    GATHER,
    GATHER_S,
    INTEGER_POW,
    INV,
    LOG,
    LOG1P,
    MATMUL,
    MAXIMUM,
    MINIMUM,
    MUL,
    MUL_S,
    NEG,
    POW,
    REDUCE_MAX,
    REDUCE_MIN,
    SCATTER_ADD,
    SELECT,
    SIN,
    SIN_S,
    SINH,
    SLOGDET,
    SOLVE,
    SQRT,
    SQUARE_S,
    SUB,
    SUB_S,
    SVD,
    SVDVALS,
    TAN,
    TANH,
    TANH_S,
)
from ad.kernels.structural import (
    gather_forward,
    gather_primal,
    gather_reverse,
    gather_s_forward,
    gather_s_reverse,
    reduce_forward,
    reduce_primal,
    reduce_reverse,
    scatter_forward,
    scatter_primal,
    scatter_reverse,
)

#: Sweep results: OK, or 16 * instruction + one of these codes.
STATUS_OK = -1
STATUS_SINGULAR = 1
STATUS_DEGENERATE = 2
STATUS_COMPLETION = 3
STATUS_ZERO_SINGULAR = 4
STATUS_UNKNOWN_OPCODE = 15


@kjit
def primal_sweep(ops, ptr, code, pool, act, values, work):
    """values[out] = prim(values[in]) for every instruction, in order (the tape).

    Residuals are recorded for the instructions whose derivative is needed (act bit 0).
    """
    code, pool, values, work = borrowed(code), borrowed(pool), borrowed(values), borrowed(work)
    for i in range(ops.shape[0]):
        op, j, a = ops[i], ptr[i], act[i]
        st = 0
        # -- scalar fast paths (one value, no loop) ------------------------------
        if op == ADD_S:
            values[code[j]] = values[code[j + 1]] + values[code[j + 2]]
        elif op == SUB_S:
            values[code[j]] = values[code[j + 1]] - values[code[j + 2]]
        elif op == MUL_S:
            values[code[j]] = values[code[j + 1]] * values[code[j + 2]]
        elif op == SIN_S:
            values[code[j]] = scalar_value(SIN_S, values[code[j + 1]], 0.0)
        elif op == COS_S:
            values[code[j]] = scalar_value(COS_S, values[code[j + 1]], 0.0)
        elif op == TANH_S:
            values[code[j]] = scalar_value(TANH_S, values[code[j + 1]], 0.0)
        elif op == SQUARE_S:
            x = values[code[j + 1]]
            values[code[j]] = x * x
        elif op == GATHER_S:
            values[code[j]] = values[code[j + 1]]
        # -- elementwise ---------------------------------------------------------
        elif op == NEG:
            unary_primal(NEG, code, j, values)
        elif op == SIN:
            unary_primal(SIN, code, j, values)
        elif op == COS:
            unary_primal(COS, code, j, values)
        elif op == TAN:
            unary_primal(TAN, code, j, values)
        elif op == EXP:
            unary_primal(EXP, code, j, values)
        elif op == LOG:
            unary_primal(LOG, code, j, values)
        elif op == LOG1P:
            unary_primal(LOG1P, code, j, values)
        elif op == EXPM1:
            unary_primal(EXPM1, code, j, values)
        elif op == SQRT:
            unary_primal(SQRT, code, j, values)
        elif op == TANH:
            unary_primal(TANH, code, j, values)
        elif op == SINH:
            unary_primal(SINH, code, j, values)
        elif op == COSH:
            unary_primal(COSH, code, j, values)
        elif op == ARCTAN:
            unary_primal(ARCTAN, code, j, values)
        elif op == ARCSIN:
            unary_primal(ARCSIN, code, j, values)
        elif op == ARCCOS:
            unary_primal(ARCCOS, code, j, values)
        elif op == ABS:
            unary_primal(ABS, code, j, values)
        elif op == INTEGER_POW:
            unary_primal(INTEGER_POW, code, j, values)
        elif op == ADD:
            binary_primal(ADD, code, j, values)
        elif op == SUB:
            binary_primal(SUB, code, j, values)
        elif op == MUL:
            binary_primal(MUL, code, j, values)
        elif op == DIV:
            binary_primal(DIV, code, j, values)
        elif op == POW:
            binary_primal(POW, code, j, values)
        elif op == MAXIMUM:
            binary_primal(MAXIMUM, code, j, values)
        elif op == MINIMUM:
            binary_primal(MINIMUM, code, j, values)
        elif op == SELECT:
            select_primal(code, j, pool, values)
        # -- structural, reductions, matrices ------------------------------------
        elif op == GATHER:
            gather_primal(code, j, pool, values)
        elif op == SCATTER_ADD:
            scatter_primal(code, j, pool, values)
        elif op == REDUCE_MAX:
            reduce_primal(True, code, j, pool, values)
        elif op == REDUCE_MIN:
            reduce_primal(False, code, j, pool, values)
        elif op == MATMUL:
            matmul_primal(code, j, values)
        # -- matrix functions (np.linalg; a status instead of an exception) -------
        elif op == INV:
            st = inv_primal(code, j, a, values)
        elif op == SOLVE:
            st = solve_primal(code, j, a, values)
        elif op == DET:
            st = det_primal(code, j, a, values)
        elif op == ADJUGATE:
            st = adjugate_primal(code, j, a, values)
        elif op == SLOGDET:
            st = slogdet_primal(code, j, a, values)
        elif op == CHOLESKY:
            st = cholesky_primal(code, j, a, values)
        elif op == EIGH or op == EIGVALSH:
            st = eigh_primal(code, j, a, values)
        elif op == SVD or op == SVDVALS:
            st = svd_primal(code, j, a, values)
        else:
            return 16 * i + STATUS_UNKNOWN_OPCODE
        if st != 0:
            return 16 * i + st
    return STATUS_OK


@kjit
def forward_sweep(ops, ptr, code, pool, act, values, partials, work):
    """Dual numbers: values and p partials of every instruction, in order.

    Invariant: after instruction i, partials[s, :] = d values[s] / d seeds for every
    slot s it wrote whose derivative is needed; rows of slots that do not depend on
    an input are never written and stay zero.
    """
    code, pool, values, work = borrowed(code), borrowed(pool), borrowed(values), borrowed(work)
    partials = borrowed(partials)
    for i in range(ops.shape[0]):
        op, j, a = ops[i], ptr[i], act[i]
        st = 0
        if op == ADD_S:
            scalar_forward(ADD_S, code, j, a, values, partials)
        elif op == SUB_S:
            scalar_forward(SUB_S, code, j, a, values, partials)
        elif op == MUL_S:
            scalar_forward(MUL_S, code, j, a, values, partials)
        elif op == SIN_S:
            scalar_forward(SIN_S, code, j, a, values, partials)
        elif op == COS_S:
            scalar_forward(COS_S, code, j, a, values, partials)
        elif op == TANH_S:
            scalar_forward(TANH_S, code, j, a, values, partials)
        elif op == SQUARE_S:
            scalar_forward(SQUARE_S, code, j, a, values, partials)
        elif op == GATHER_S:
            gather_s_forward(code, j, a, values, partials)
        elif op == NEG:
            unary_forward(NEG, code, j, a, values, partials)
        elif op == SIN:
            unary_forward(SIN, code, j, a, values, partials)
        elif op == COS:
            unary_forward(COS, code, j, a, values, partials)
        elif op == TAN:
            unary_forward(TAN, code, j, a, values, partials)
        elif op == EXP:
            unary_forward(EXP, code, j, a, values, partials)
        elif op == LOG:
            unary_forward(LOG, code, j, a, values, partials)
        elif op == LOG1P:
            unary_forward(LOG1P, code, j, a, values, partials)
        elif op == EXPM1:
            unary_forward(EXPM1, code, j, a, values, partials)
        elif op == SQRT:
            unary_forward(SQRT, code, j, a, values, partials)
        elif op == TANH:
            unary_forward(TANH, code, j, a, values, partials)
        elif op == SINH:
            unary_forward(SINH, code, j, a, values, partials)
        elif op == COSH:
            unary_forward(COSH, code, j, a, values, partials)
        elif op == ARCTAN:
            unary_forward(ARCTAN, code, j, a, values, partials)
        elif op == ARCSIN:
            unary_forward(ARCSIN, code, j, a, values, partials)
        elif op == ARCCOS:
            unary_forward(ARCCOS, code, j, a, values, partials)
        elif op == ABS:
            unary_forward(ABS, code, j, a, values, partials)
        elif op == INTEGER_POW:
            unary_forward(INTEGER_POW, code, j, a, values, partials)
        elif op == ADD:
            binary_forward(ADD, code, j, a, values, partials)
        elif op == SUB:
            binary_forward(SUB, code, j, a, values, partials)
        elif op == MUL:
            binary_forward(MUL, code, j, a, values, partials)
        elif op == DIV:
            binary_forward(DIV, code, j, a, values, partials)
        elif op == POW:
            binary_forward(POW, code, j, a, values, partials)
        elif op == MAXIMUM:
            binary_forward(MAXIMUM, code, j, a, values, partials)
        elif op == MINIMUM:
            binary_forward(MINIMUM, code, j, a, values, partials)
        elif op == SELECT:
            select_forward(code, j, pool, a, values, partials)
        elif op == GATHER:
            gather_forward(code, j, pool, a, values, partials)
        elif op == SCATTER_ADD:
            scatter_forward(code, j, pool, a, values, partials)
        elif op == REDUCE_MAX:
            reduce_forward(True, code, j, pool, a, values, partials, work)
        elif op == REDUCE_MIN:
            reduce_forward(False, code, j, pool, a, values, partials, work)
        elif op == MATMUL:
            matmul_forward(code, j, a, values, partials)
        elif op == INV:
            st = inv_forward(code, j, a, values, partials)
        elif op == SOLVE:
            st = solve_forward(code, j, a, values, partials)
        elif op == DET:
            st = det_forward(code, j, a, values, partials)
        elif op == ADJUGATE:
            st = adjugate_forward(code, j, a, values, partials)
        elif op == SLOGDET:
            st = slogdet_forward(code, j, a, values, partials)
        elif op == CHOLESKY:
            st = cholesky_forward(code, j, a, values, partials)
        elif op == EIGH:
            st = eigh_forward(True, code, j, a, values, partials)
        elif op == EIGVALSH:
            st = eigh_forward(False, code, j, a, values, partials)
        elif op == SVD:
            st = svd_forward(True, code, j, a, values, partials)
        elif op == SVDVALS:
            st = svd_forward(False, code, j, a, values, partials)
        else:
            return 16 * i + STATUS_UNKNOWN_OPCODE
        if st != 0:
            return 16 * i + st
    return STATUS_OK


@kjit
def adjoint_sweep(ops, ptr, code, pool, act, values, adjoints, work):
    """Reverse sweep over the recorded values: q adjoints pulled back at once.

    Invariant: when instruction i is reached (going backwards), adjoints[s, :] of its
    outputs is complete, since every reader of s comes later in the list; it then adds
    its contribution to the adjoints of its operands that depend on an input.
    Instructions whose derivative is not needed (act bit 0) are skipped.
    """
    code, pool, values, work = borrowed(code), borrowed(pool), borrowed(values), borrowed(work)
    adjoints = borrowed(adjoints)
    for i in range(ops.shape[0] - 1, -1, -1):
        a = act[i]
        if not a & 1:
            continue
        op, j = ops[i], ptr[i]
        st = 0
        if op == ADD_S:
            scalar_reverse(ADD_S, code, j, a, values, adjoints)
        elif op == SUB_S:
            scalar_reverse(SUB_S, code, j, a, values, adjoints)
        elif op == MUL_S:
            scalar_reverse(MUL_S, code, j, a, values, adjoints)
        elif op == SIN_S:
            scalar_reverse(SIN_S, code, j, a, values, adjoints)
        elif op == COS_S:
            scalar_reverse(COS_S, code, j, a, values, adjoints)
        elif op == TANH_S:
            scalar_reverse(TANH_S, code, j, a, values, adjoints)
        elif op == SQUARE_S:
            scalar_reverse(SQUARE_S, code, j, a, values, adjoints)
        elif op == GATHER_S:
            gather_s_reverse(code, j, adjoints)
        elif op == NEG:
            unary_reverse(NEG, code, j, values, adjoints)
        elif op == SIN:
            unary_reverse(SIN, code, j, values, adjoints)
        elif op == COS:
            unary_reverse(COS, code, j, values, adjoints)
        elif op == TAN:
            unary_reverse(TAN, code, j, values, adjoints)
        elif op == EXP:
            unary_reverse(EXP, code, j, values, adjoints)
        elif op == LOG:
            unary_reverse(LOG, code, j, values, adjoints)
        elif op == LOG1P:
            unary_reverse(LOG1P, code, j, values, adjoints)
        elif op == EXPM1:
            unary_reverse(EXPM1, code, j, values, adjoints)
        elif op == SQRT:
            unary_reverse(SQRT, code, j, values, adjoints)
        elif op == TANH:
            unary_reverse(TANH, code, j, values, adjoints)
        elif op == SINH:
            unary_reverse(SINH, code, j, values, adjoints)
        elif op == COSH:
            unary_reverse(COSH, code, j, values, adjoints)
        elif op == ARCTAN:
            unary_reverse(ARCTAN, code, j, values, adjoints)
        elif op == ARCSIN:
            unary_reverse(ARCSIN, code, j, values, adjoints)
        elif op == ARCCOS:
            unary_reverse(ARCCOS, code, j, values, adjoints)
        elif op == ABS:
            unary_reverse(ABS, code, j, values, adjoints)
        elif op == INTEGER_POW:
            unary_reverse(INTEGER_POW, code, j, values, adjoints)
        elif op == ADD:
            binary_reverse(ADD, code, j, a, values, adjoints)
        elif op == SUB:
            binary_reverse(SUB, code, j, a, values, adjoints)
        elif op == MUL:
            binary_reverse(MUL, code, j, a, values, adjoints)
        elif op == DIV:
            binary_reverse(DIV, code, j, a, values, adjoints)
        elif op == POW:
            binary_reverse(POW, code, j, a, values, adjoints)
        elif op == MAXIMUM:
            binary_reverse(MAXIMUM, code, j, a, values, adjoints)
        elif op == MINIMUM:
            binary_reverse(MINIMUM, code, j, a, values, adjoints)
        elif op == SELECT:
            select_reverse(code, j, pool, a, adjoints)
        elif op == GATHER:
            gather_reverse(code, j, pool, adjoints)
        elif op == SCATTER_ADD:
            scatter_reverse(code, j, pool, adjoints)
        elif op == REDUCE_MAX or op == REDUCE_MIN:
            reduce_reverse(code, j, pool, values, adjoints, work)
        elif op == MATMUL:
            matmul_reverse(code, j, a, values, adjoints)
        elif op == INV:
            st = inv_reverse(code, j, a, values, adjoints)
        elif op == SOLVE:
            st = solve_reverse(code, j, a, values, adjoints)
        elif op == DET:
            st = det_reverse(code, j, a, values, adjoints)
        elif op == ADJUGATE:
            st = adjugate_reverse(code, j, a, values, adjoints)
        elif op == SLOGDET:
            st = slogdet_reverse(code, j, a, values, adjoints)
        elif op == CHOLESKY:
            st = cholesky_reverse(code, j, a, values, adjoints)
        elif op == EIGH:
            st = eigh_reverse(True, code, j, a, values, adjoints)
        elif op == EIGVALSH:
            st = eigh_reverse(False, code, j, a, values, adjoints)
        elif op == SVD:
            st = svd_reverse(True, code, j, a, values, adjoints)
        elif op == SVDVALS:
            st = svd_reverse(False, code, j, a, values, adjoints)
        else:
            return 16 * i + STATUS_UNKNOWN_OPCODE
        if st != 0:
            return 16 * i + st
    return STATUS_OK
