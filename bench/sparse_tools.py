"""The ``sparse`` tool: every column of the ``sparse`` family, behind one Tool.

For a ``sparse:<variant>`` problem (:mod:`bench.problems.sparse`) it prepares, per
engine (the ``engine`` column) and mode:

- ``compiled`` (ours): ``primal`` (the compiled f), ``detect`` (sparsity detection on
  the Jacobian graph), ``detect_color`` (detection and the colourings
  ``mode="auto"`` needs, or the star colouring for the Hessian: the issue's first-call
  figure), ``plan`` (what a first call pays before its sweeps: those, the choice of
  mode with the cost model's counts, and the entry arrays and prototype the results
  share),
  ``jac_fwd`` / ``jac_rev`` (dense Jacobian by ``ad.forward.jacobian`` /
  ``ad.reverse.jacobian``, up to ``DENSE_MAX_N``), ``jac_cfwd`` / ``jac_crev``
  (coloured forward / reverse through a cached plan), ``jac_auto`` (the mode the cost
  model picks; ``choice`` column), ``sweep_cfwd`` (the compressed forward sweep alone,
  without seeding, decompression and the CSR: the breakdown), and for the Hessian
  problem ``hess_star`` (``ad.sparse_hessian``'s star colouring); ``public`` and
  ``public_jit``: what a user's call pays, ``ad.sparse_jacobian(f, x)`` (or
  ``ad.sparse_hessian``; it traces f and compares the trace with the cached one) and
  the same with ``ad.jit(f)`` (the jit's trace, guards checked), at alternating x.
- ``jax``: ``primal`` (``jax.jit(f)``) and ``jac_fwd`` (``jax.jit(jax.jacfwd(f))``, dense;
  ``jax.hessian`` for the Hessian problem), up to ``JAX_MAX_N``.
- ``asdex`` and ``sparsejac`` (when installed): ``primal`` and ``jac_sparse``, their
  sparse Jacobian (Hessian) under ``jax.jit``; asdex detects and colours itself,
  sparsejac is given our pattern and colours it with networkx (both outside the
  timed rounds; the set-up time is ``compile_s``).
- ``scipy``: ``primal`` (the NumPy residual) and ``jac_fd``: scipy's
  ``approx_derivative(..., sparsity=(pattern, groups))`` (grouped forward differences,
  groups precomputed, i.e. c + 1 evaluations).

Errors are ADBench's max |x - y| / max(1, |x| + |y|) against the closed-form sparse
Jacobian; colour counts, their lower bound, nnz and the auto choice go to the
``colors``, ``colors_bound``, ``nnz`` and ``choice`` columns.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

import ad
from ad import cost
from ad.engine import pick_chunk
from ad.sparse import api as sparse_api
from ad.sparse import compress
from ad.sparse.pattern import jacobian_pattern, symmetrize
from bench.problems.base import Problem
from bench.tools import SLOW_CALL, Case, Tool, _first_call, _traced_peak, alternating

#: Largest n at which the dense Jacobians run (ours; 10^4 x 10^4 is 0.8 GB).
DENSE_MAX_N = 10_000
#: Largest n at which JAX's dense jacfwd runs (its vmapped intermediates are n x n each).
JAX_MAX_N = 3_200
#: Largest n at which the peers run (set-up cost grows faster than ours).
PEER_MAX_N = 100_000
#: The arrowhead needs n colours in any unidirectional mode: its coloured modes run up to
#: this n (above it every mode is n sweeps, minutes each), the JAX peers (one vmapped
#: batch of n directions, n x n intermediates) up to ``ARROWHEAD_PEER_MAX_N``.
ARROWHEAD_MAX_N = 10_000
ARROWHEAD_PEER_MAX_N = 1_000


def sparse_error(got: Any, ref: sp.sparray) -> float:
    """ADBench's error max |x - y| / max(1, |x| + |y|) between two sparse matrices."""
    a = sp.csr_array(got) if not isinstance(got, np.ndarray) else sp.csr_array(got)
    b = sp.csr_array(ref)
    if a.shape != b.shape:
        a = sp.csr_array(np.reshape(a.toarray(), b.shape))
    diff = abs(a - b).tocsr()
    den = (abs(a) + abs(b)).tocsr()
    if diff.nnz == 0:
        return 0.0
    den.data = 1.0 / np.maximum(1.0, den.data)
    return float(abs(diff.multiply(den)).max())


class SparseTool(Tool):
    """See the module docstring. ``cases`` returns nothing for other families."""

    name = "sparse"

    def cases(self, problem, modes, chunks, ref):
        """Every case of one ``sparse`` cell (see the module docstring)."""
        if not problem.family.startswith("sparse"):
            return []
        out: list[Case] = []
        out += self._ours(problem)
        out += self._jax(problem)
        out += self._asdex(problem)
        out += self._sparsejac(problem)
        out += self._scipy(problem)
        return out

    # -- helpers ---------------------------------------------------------------------
    def _key(self, problem: Problem, mode: str, chunk: int, engine: str = "compiled") -> dict:
        key = super()._key(problem, mode, chunk)
        key["engine"] = engine
        return key

    def _add(
        self,
        out: list[Case],
        problem: Problem,
        engine: str,
        mode: str,
        fn: Callable[[], Any],
        chunk: int = 1,
        expect: Any = None,
        info: dict[str, Any] | None = None,
        setup_s: float = 0.0,
    ) -> Any:
        res, first = _first_call(fn)
        meta = {"compile_s": setup_s + first}
        if expect is not None:
            meta["error"] = sparse_error(_as_scipy(res), expect)
        if first < SLOW_CALL:
            meta["peak_bytes"] = _traced_peak(fn)
            meta["peak_method"] = "tracemalloc"
        else:
            meta["peak_method"] = f"not measured (call > {SLOW_CALL:g} s)"
        meta.update(info or {})
        out.append(Case(self._key(problem, mode, chunk, engine), fn, meta))
        return res

    # -- ours ------------------------------------------------------------------------------
    def _ours(self, p: Problem) -> list[Case]:
        out: list[Case] = []
        x = p.args
        G = p.notes["jacobian_graph"]
        expect = p.notes["sparse_jacobian"](*x)
        hess = p.notes["kind"] == "hessian"
        g = p.graph
        self._add(out, p, "compiled", "primal", alternating(lambda xs: g(*xs), x))
        # detect_color: the "detection plus colouring" (the colourings auto
        # needs: the columns, and the rows where coloured reverse could win; the star
        # colouring of the Hessian). plan: what a first call pays before its sweeps:
        # those, the choice (with the cost model's counts of the program, which a first
        # call reads: not kept from the round before), the entry arrays and the
        # results' prototype. Not in either: compiling the program (f's own first call)
        # and, for the Hessian, recording the gradient graph (what any Hessian pays)
        plan = sparse_api.jacobian_plan(G)
        plan.mode()
        kinds = list(plan._colorings)  # the colourings auto computed
        if hess:
            detect = lambda: symmetrize(jacobian_pattern(G))
            detect_color = lambda: sparse_api.HessianPlan(G)
            plan_fn = lambda: sparse_api.HessianPlan(G).prepare()
        else:
            detect = lambda: jacobian_pattern(G)

            def detect_color() -> Any:
                fresh = sparse_api.JacobianPlan(G)
                return [fresh.coloring(k) for k in kinds]

            def plan_fn() -> Any:
                cost.forget_counts(G)
                fresh = sparse_api.JacobianPlan(G)
                fresh.mode()
                return fresh.prepare()

        self._add(out, p, "compiled", "detect", detect)
        self._add(out, p, "compiled", "detect_color", detect_color)
        self._add(out, p, "compiled", "plan", plan_fn)
        col, row = plan.coloring("column"), plan.coloring("row")
        nnz = {"nnz": plan.nnz}
        dense_ok = p.n <= DENSE_MAX_N
        colored_ok = p.notes["variant"] != "arrowhead" or p.n <= ARROWHEAD_MAX_N
        if dense_ok:
            self._add(
                out,
                p,
                "compiled",
                "jac_fwd",
                alternating(lambda xs: ad.forward.jacobian(G, xs), x),
                pick_chunk(p.n),
                expect,
                nnz,
            )
            self._add(
                out,
                p,
                "compiled",
                "jac_rev",
                alternating(lambda xs: ad.reverse.jacobian(G, xs), x),
                pick_chunk(plan.m),
                expect,
                nnz,
            )
        if not colored_ok:
            return out
        for mode, kind, c in (
            ("jac_cfwd", "colored_forward", col),
            ("jac_crev", "colored_reverse", row),
        ):
            comp = plan.compression(kind)
            info = {"colors": c.n_colors, "colors_bound": c.lower_bound, **nnz}
            fn = alternating(lambda xs, kind=kind: plan(xs, kind), x)
            self._add(out, p, "compiled", mode, fn, comp.width, expect, info)
        choice = plan.mode()
        info = {"choice": choice, **nnz}
        fn = alternating(lambda xs: plan(xs, "auto"), x)
        self._add(out, p, "compiled", "jac_auto", fn, plan.compression(choice).width, expect, info)
        comp = plan.compression("colored_forward")
        if comp.sweeps == 1:  # the compressed sweep alone (seeds prepared): the breakdown
            seeds = comp.chunks[0].seeds or comp._seeds(0, comp.n_colors)
            fn = alternating(lambda xs: compress.sweep(G, xs, seeds, "forward"), x)
            self._add(out, p, "compiled", "sweep_cfwd", fn, comp.width, None, nnz)
        width = plan.compression(choice).width
        if hess:
            hp = sparse_api.hessian_plan(g, x)
            info = {"colors": hp.star.n_colors, "colors_bound": hp.star.lower_bound, **nnz}
            fn = alternating(lambda xs: hp(xs), x)
            width = hp.compression().width
            self._add(out, p, "compiled", "hess_star", fn, width, expect, info)
        # the public functions, as a user calls them in a loop
        public = ad.sparse_hessian if hess else ad.sparse_jacobian
        for mode, fun in (("public", p.f), ("public_jit", ad.jit(p.f))):
            fn = alternating(lambda xs, fun=fun: public(fun, xs[0]), x)
            self._add(out, p, "compiled", mode, fn, width, expect, nnz)
        return out

    # -- peers -------------------------------------------------------------------------------
    def _jax_fn(self, p: Problem) -> tuple[Any, Any] | None:
        try:
            import jax
        except ImportError:
            return None
        jax.config.update("jax_enable_x64", True)
        return jax, jax.numpy.asarray(p.args[0])

    def _jax_case(
        self,
        out: list[Case],
        p: Problem,
        engine: str,
        mode: str,
        fun: Any,
        xj: Any,
        chunk: int = 1,
        expect: Any = None,
        info: dict | None = None,
        setup_s: float = 0.0,
    ) -> None:
        import jax

        t0 = time.perf_counter()
        compiled = jax.jit(fun).lower(xj).compile()
        compile_s = setup_s + time.perf_counter() - t0

        def fn(compiled: Any = compiled) -> Any:
            return jax.block_until_ready(compiled(xj))

        self._add(out, p, engine, mode, fn, chunk, expect, info, compile_s)

    def _jax(self, p: Problem) -> list[Case]:
        got = self._jax_fn(p)
        if got is None or p.jax_f is None:
            return []
        jax, xj = got
        out: list[Case] = []
        self._jax_case(out, p, "jax", "primal", p.jax_f, xj)
        if p.n <= JAX_MAX_N:
            fun = jax.hessian(p.jax_f) if p.notes["kind"] == "hessian" else jax.jacfwd(p.jax_f)
            expect = p.notes["sparse_jacobian"](*p.args)
            self._jax_case(out, p, "jax", "jac_fwd", fun, xj, p.n, expect)
        return out

    def _peer_start(
        self, p: Problem, engine: str, *modules: str
    ) -> tuple[Any, Any, list[Any], list[Case]] | None:
        """The start of a JAX-based sparse peer's rows: (jax, x as a JAX array, the peer's
        ``modules`` imported, the rows so far: its primal), or None (no rows at all) when
        JAX or one of the modules is missing or the peer does not run on ``p``."""
        got = self._jax_fn(p)
        if got is None or not self._peer_ok(p):
            return None
        try:
            libs = [importlib.import_module(name) for name in modules]
        except ImportError:
            return None
        jax, xj = got
        out: list[Case] = []
        self._jax_case(out, p, engine, "primal", p.jax_f, xj)
        return jax, xj, libs, out

    def _asdex(self, p: Problem) -> list[Case]:
        start = self._peer_start(p, "asdex", "asdex")
        if start is None:
            return []
        _, xj, (asdex,), out = start
        t0 = time.perf_counter()
        if p.notes["kind"] == "hessian":
            coloring = asdex.hessian_coloring(p.jax_f, xj)
            fun = asdex.hessian_from_coloring(p.jax_f, coloring)
        else:
            coloring = asdex.jacobian_coloring(p.jax_f, xj)
            fun = asdex.jacobian_from_coloring(p.jax_f, coloring)
        setup = time.perf_counter() - t0
        info = {"colors": int(coloring.num_colors), "choice": str(coloring.mode)}
        expect = p.notes["sparse_jacobian"](*p.args)
        self._jax_case(out, p, "asdex", "jac_sparse", fun, xj, 1, expect, info, setup)
        return out

    def _sparsejac(self, p: Problem) -> list[Case]:
        start = self._peer_start(p, "sparsejac", "sparsejac", "jax.experimental.sparse")
        if start is None:
            return []
        jax, xj, (sparsejac, jsparse), out = start
        pattern = sparse_api.jacobian_plan(p.notes["jacobian_graph"]).pattern
        t0 = time.perf_counter()
        bcoo = jsparse.BCOO.from_scipy_sparse(sp.coo_matrix(pattern.astype(np.float64)))
        target = jax.grad(p.jax_f) if p.notes["kind"] == "hessian" else p.jax_f
        fun = sparsejac.jacfwd(target, sparsity=bcoo)
        setup = time.perf_counter() - t0
        expect = p.notes["sparse_jacobian"](*p.args)
        self._jax_case(out, p, "sparsejac", "jac_sparse", fun, xj, 1, expect, None, setup)
        return out

    def _scipy(self, p: Problem) -> list[Case]:
        from scipy.optimize._numdiff import approx_derivative, group_columns

        if not self._colored_ok(p):
            return []
        out: list[Case] = []
        r = p.notes["residual"]
        x = p.args[0]
        self._add(out, p, "scipy", "primal", lambda: r(x))
        pattern = sparse_api.jacobian_plan(p.notes["jacobian_graph"]).pattern
        t0 = time.perf_counter()
        structure = sp.csr_matrix(pattern.astype(np.float64))
        groups = group_columns(structure)
        setup = time.perf_counter() - t0
        info = {"colors": int(groups.max()) + 1}
        expect = p.notes["sparse_jacobian"](*p.args)
        fn = lambda: approx_derivative(r, x, sparsity=(structure, groups))
        self._add(out, p, "scipy", "jac_fd", fn, 1, expect, info, setup)
        return out

    @staticmethod
    def _colored_ok(p: Problem) -> bool:
        return p.notes["variant"] != "arrowhead" or p.n <= ARROWHEAD_MAX_N

    @staticmethod
    def _peer_ok(p: Problem) -> bool:
        if p.notes["variant"] == "arrowhead":
            return p.n <= ARROWHEAD_PEER_MAX_N
        return p.n <= PEER_MAX_N


def _as_scipy(res: Any) -> Any:
    """A result as something scipy.sparse accepts (BCOO, JAX arrays, ndarrays)."""
    if hasattr(res, "todense") and not isinstance(res, (sp.sparray, sp.spmatrix)):
        try:
            from jax.experimental import sparse as jsparse

            if isinstance(res, jsparse.BCOO):
                idx = np.asarray(res.indices)
                return sp.coo_array(
                    (np.asarray(res.data), (idx[:, 0], idx[:, 1])), shape=res.shape
                ).tocsr()
        except ImportError:
            pass
    if isinstance(res, (sp.sparray, sp.spmatrix)):
        return res
    return np.asarray(res)


def variants() -> Sequence[str]:
    from bench.problems.sparse import VARIANTS

    return VARIANTS
