"""What the forward and reverse engine APIs share: argument checking, seeding,
chunking, dispatch to the compiled kernels or the reference interpreters, and
assembling Jacobians in JAX's layout (output shape + input shape).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ad import reference
from ad.errors import ShapeError
from ad.ir import Graph, Var
from ad.trace import Tracer, check_input

#: Engine used when none is named: "compiled" (Numba kernels) or "reference" (NumPy).
ENGINES = ("compiled", "reference")
DEFAULT_ENGINE = "compiled"

#: ForwardDiff.jl's pickchunksize threshold: up to this many directions go in one sweep.
CHUNK_THRESHOLD = 12


def pick_chunk(n: int, threshold: int = CHUNK_THRESHOLD) -> int:
    """Directions per sweep for n seeds: n if n <= threshold, else n split evenly into
    ceil(n / threshold) chunks (ForwardDiff.jl's rule; measured in the benchmark)."""
    if n <= threshold:
        return max(n, 1)
    chunks = math.ceil(n / threshold)
    return math.ceil(n / chunks)


def as_args(graph: Graph, args: Any, what: str = "args") -> list[Any]:
    """``args`` as a list matching ``graph.inputs`` (a bare array for one input)."""
    if not isinstance(args, (tuple, list)):
        args = (args,)
    if len(args) != len(graph.inputs):
        raise ShapeError(f"the graph has {len(graph.inputs)} inputs, {what} has {len(args)}")
    out = []
    for i, (v, a) in enumerate(zip(graph.inputs, args)):
        if type(a) is np.ndarray and a.dtype == np.float64 and a.shape == v.shape:
            out.append(a)  # the common case, checked cheaply
            continue
        a = check_input(a, f"{what}[{i}]")
        if tuple(np.shape(a)) != v.shape:
            raise ShapeError(
                f"{what}[{i}] has shape {np.shape(a)}, the graph input v{v.id} {v.shape}"
            )
        out.append(a)
    return out


def choose(engine: str | None, *values: Any) -> str:
    """The engine to run: the reference interpreters whenever a value is traced."""
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if any(isinstance(v, Tracer) for v in values):
        return "reference"
    return engine or DEFAULT_ENGINE


def run_jvp(
    graph: Graph, args: Sequence[Any], tangents: Sequence[Any], engine: str, values: Any = None
) -> tuple[list[Any], list[Any]]:
    """Batched JVP: tangents are ``(p,) + shape`` (or None); zeros filled in."""
    if engine == "compiled":
        from ad import kernels

        outs, touts = kernels.jvp(graph, args, tangents)
    else:
        outs, touts = reference.jvp(graph, args, tangents, values=values)
    p = next(np.shape(t)[0] for t in tangents if t is not None)
    return outs, [_zeros((p,) + v.shape) if t is None else t for v, t in zip(graph.outputs, touts)]


def run_vjp(
    graph: Graph, args: Sequence[Any], cotangents: Sequence[Any], engine: str, values: Any = None
) -> tuple[list[Any], list[Any]]:
    """Batched VJP: cotangents are ``(q,) + shape`` (or None); zeros filled in."""
    if engine == "compiled":
        from ad import kernels

        outs, cts = kernels.vjp(graph, args, cotangents)
    else:
        outs, cts = reference.vjp(graph, args, cotangents, values=values)
    q = next(np.shape(c)[0] for c in cotangents if c is not None)
    return outs, [_zeros((q,) + v.shape) if c is None else c for v, c in zip(graph.inputs, cts)]


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape)


def unit_seeds(vars_: Sequence[Var], start: int, stop: int) -> list[np.ndarray | None]:
    """Rows start..stop-1 of the identity over the flattened ``vars_``, split per var
    as ``(stop - start,) + shape`` arrays (None for a var the rows do not touch)."""
    seeds, offset = [], 0
    for v in vars_:
        lo, hi = max(start, offset), min(stop, offset + v.size)
        if lo >= hi:
            seeds.append(None)
        else:
            s = np.zeros((stop - start, v.size))
            s[np.arange(lo - start, hi - start), np.arange(lo - offset, hi - offset)] = 1.0
            seeds.append(s.reshape((stop - start,) + v.shape))
        offset += v.size
    return seeds


def jacobian_blocks(
    graph: Graph, args: Sequence[Any], chunk: int | None, engine: str, mode: str, values: Any
) -> list[list[np.ndarray]]:
    """blocks[i][j] = d output_i / d input_j with shape out_i.shape + in_j.shape."""
    seeded, other = (
        (graph.inputs, graph.outputs) if mode == "forward" else (graph.outputs, graph.inputs)
    )
    total = sum(v.size for v in seeded)
    width = pick_chunk(total) if chunk is None else int(chunk)
    if width < 1:
        raise ValueError(f"chunk must be a positive integer, not {chunk}")
    rows: list[list[Any]] = [[] for _ in other]
    for start in range(0, total, width):
        seeds = unit_seeds(seeded, start, min(start + width, total))
        if mode == "forward":
            _, res = run_jvp(graph, args, seeds, engine, values)
        else:
            _, res = run_vjp(graph, args, seeds, engine, values)
        for k, r in enumerate(res):
            rows[k].append(np.reshape(r, (np.shape(r)[0], -1)))
    # stacked[k] has shape (total seeded, other_k.size)
    stacked = [
        np.concatenate(r, axis=0) if r else np.zeros((0, v.size)) for r, v in zip(rows, other)
    ]
    offsets = np.cumsum([0] + [v.size for v in seeded])
    blocks: list[list[np.ndarray]] = []
    outs = graph.outputs
    ins = graph.inputs
    for i, vo in enumerate(outs):
        row = []
        for j, vi in enumerate(ins):
            if mode == "forward":  # seeded = inputs: stacked[i][in rows j] is (in_j, out_i)
                blk = stacked[i][offsets[j] : offsets[j + 1]].T
            else:  # seeded = outputs: stacked[j][out rows i] is (out_i, in_j)
                blk = stacked[j][offsets[i] : offsets[i + 1]]
            row.append(np.reshape(blk, vo.shape + vi.shape))
        blocks.append(row)
    return blocks


def jacobian_tree(graph: Graph, blocks: list[list[np.ndarray]]) -> Any:
    """JAX's nesting: outputs outside, inputs inside; no tuple where there is one."""
    rows = [r[0] if len(graph.inputs) == 1 else tuple(r) for r in blocks]
    return rows[0] if graph.out_tree is None else tuple(rows)


def out_tree(graph: Graph, values: Sequence[Any]) -> Any:
    return values[0] if graph.out_tree is None else tuple(values)
