"""Kernel blocks of the structural instructions: gather, scatter_add, reduce_max/min.

Index maps are translated to ABSOLUTE slot numbers at lowering (batch axes expanded),
so a kernel never needs an operand's offset or shape: it reads ``pool[m + k]``.

- gather ``[out, size, m]``: ``out[k] = values[pool[m + k]]`` (0 where the map is -1).
  Its transpose, used by the reverse sweep, is a scatter of the same map.
- scatter_add ``[out, out_size, g, g_size, m]``: ``out[...] = 0`` then
  ``out_slot(pool[m + k]) += g[k]`` (-1: dropped). Its transpose is a gather.
- reduce_max / reduce_min ``[out, out_size, x, x_size, m]``: ``pool[m + k]`` is the
  output cell (relative) of input entry k. The derivative goes to the entries equal
  to the extreme, split equally among ties; the tie counts are recounted from the
  tape (x and ans are both kept) into the work buffer, so no residual is stored.
- the scalar gather ``GATHER_S`` ``[out, src]`` copies one slot.
"""

from __future__ import annotations

import math

from ad.kernels.jit import kjit

# ==================================================================================
# gather: out[k] = values[src[k]]  ->  out_dot[k] = src_dot ;  src_bar += out_bar[k]
# ==================================================================================


@kjit
def gather_primal(code, j, pool, values):
    o, size, m = code[j], code[j + 1], code[j + 2]
    for k in range(size):
        s = pool[m + k]
        values[o + k] = values[s] if s >= 0 else 0.0


@kjit
def gather_forward(code, j, pool, act, values, partials):
    gather_primal(code, j, pool, values)
    if not act & 1:
        return
    o, size, m = code[j], code[j + 1], code[j + 2]
    p = partials.shape[1]
    if p == 1:  # one direction (a Hessian-vector product): no inner loop
        for k in range(size):
            s = pool[m + k]
            partials[o + k, 0] = partials[s, 0] if s >= 0 else 0.0
        return
    for k in range(size):
        s = pool[m + k]
        # rows of slots that do not depend on an input stay zero, so any s is safe
        if s >= 0:
            for r in range(p):
                partials[o + k, r] = partials[s, r]
        else:
            for r in range(p):
                partials[o + k, r] = 0.0


@kjit
def gather_reverse(code, j, pool, adjoints):
    o, size, m = code[j], code[j + 1], code[j + 2]
    q = adjoints.shape[1]
    for k in range(size):
        s = pool[m + k]
        if s >= 0:  # the transpose of a copy is an accumulation
            for r in range(q):
                adjoints[s, r] += adjoints[o + k, r]


@kjit(inline=True)
def gather_s_forward(code, j, act, values, partials):
    o, s = code[j], code[j + 1]
    values[o] = values[s]
    if act & 1:
        for r in range(partials.shape[1]):
            partials[o, r] = partials[s, r]


@kjit(inline=True)
def gather_s_reverse(code, j, adjoints):
    o, s = code[j], code[j + 1]
    for r in range(adjoints.shape[1]):
        adjoints[s, r] += adjoints[o, r]


# ==================================================================================
# scatter_add: out[t[k]] += g[k]  ->  out_dot likewise ;  g_bar[k] = out_bar[t[k]]
# ==================================================================================


@kjit
def scatter_primal(code, j, pool, values):
    o, out_size, g, g_size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    for i in range(out_size):
        values[o + i] = 0.0
    for k in range(g_size):
        t = pool[m + k]
        if t >= 0:
            values[t] += values[g + k]


@kjit
def scatter_forward(code, j, pool, act, values, partials):
    scatter_primal(code, j, pool, values)
    if not act & 1:
        return
    o, out_size, g, g_size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    p = partials.shape[1]
    if p == 1:  # one direction (a Hessian-vector product): no inner loop
        for i in range(out_size):
            partials[o + i, 0] = 0.0
        for k in range(g_size):
            t = pool[m + k]
            if t >= 0:
                partials[t, 0] += partials[g + k, 0]
        return
    for i in range(out_size):
        for r in range(p):
            partials[o + i, r] = 0.0
    for k in range(g_size):
        t = pool[m + k]
        if t >= 0:
            for r in range(p):
                partials[t, r] += partials[g + k, r]


@kjit
def scatter_reverse(code, j, pool, adjoints):
    g, g_size, m = code[j + 2], code[j + 3], code[j + 4]
    q = adjoints.shape[1]
    for k in range(g_size):
        t = pool[m + k]
        if t >= 0:  # the transpose of a sum is a copy (a gather)
            for r in range(q):
                adjoints[g + k, r] += adjoints[t, r]


# ==================================================================================
# reduce_max / reduce_min: ans[c] = extreme of x over cell c; derivative split among ties
# ==================================================================================


@kjit
def reduce_primal(is_max, code, j, pool, values):
    o, out_size, x, x_size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    for i in range(out_size):
        values[o + i] = -math.inf if is_max else math.inf
    for k in range(x_size):
        c = o + pool[m + k]
        v, cur = values[x + k], values[c]
        if cur != cur:  # NaN propagates, as in np.max
            continue
        if v != v or (v > cur if is_max else v < cur):
            values[c] = v


@kjit
def _tie_counts(code, j, pool, values, work):
    """work[c] = number of entries of cell c equal to its extreme (the tie count)."""
    o, out_size, x, x_size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    for i in range(out_size):
        work[i] = 0.0
    for k in range(x_size):
        c = pool[m + k]
        if values[x + k] == values[o + c]:
            work[c] += 1.0


@kjit
def reduce_forward(is_max, code, j, pool, act, values, partials, work):
    reduce_primal(is_max, code, j, pool, values)
    if not act & 1:
        return
    o, out_size, x, x_size, m = code[j], code[j + 1], code[j + 2], code[j + 3], code[j + 4]
    p = partials.shape[1]
    _tie_counts(code, j, pool, values, work)
    for i in range(out_size):
        for r in range(p):
            partials[o + i, r] = 0.0
    for k in range(x_size):
        c = pool[m + k]
        if values[x + k] == values[o + c]:  # ans_dot[c] = mean of x_dot over the ties
            w = 1.0 / work[c]
            for r in range(p):
                partials[o + c, r] += w * partials[x + k, r]


@kjit
def reduce_reverse(code, j, pool, values, adjoints, work):
    o, x, x_size, m = code[j], code[j + 2], code[j + 3], code[j + 4]
    q = adjoints.shape[1]
    _tie_counts(code, j, pool, values, work)
    for k in range(x_size):
        c = pool[m + k]
        if values[x + k] == values[o + c]:  # each tie gets an equal share of ans_bar[c]
            w = 1.0 / work[c]
            for r in range(q):
                adjoints[x + k, r] += w * adjoints[o + c, r]
