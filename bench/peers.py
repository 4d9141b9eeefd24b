"""JAX, the reference peer, behind the same tool interface as our engines.

Every function is ``jax.jit``-compiled ahead of the timed rounds (float64 via
``jax_enable_x64``); the compile time (lower + compile) and XLA's own memory
analysis (argument + output + temporary buffers) are recorded per case. JAX pushes
all n (or m) directions through one vmapped sweep, so its Jacobian chunk is n (m).
JAX is an optional import: :func:`available` says whether it is installed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.problems.logistic import descend, steps
from bench.tools import Tool, directions, expected, rel_error


def available() -> bool:
    """True if JAX can be imported."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


class Jax(Tool):
    """``jax.jit`` of f, jvp, vjp, jacfwd and jacrev on the problem's ``jax_f``."""

    name = "jax"

    def cases(self, problem, modes, chunks, ref):
        """See :class:`bench.tools.Tool`. Skips the problem if it has no ``jax_f``."""
        import jax

        jax.config.update("jax_enable_x64", True)
        if problem.jax_f is None:
            return []
        f = problem.jax_f
        x = jax.numpy.asarray(problem.args[0])
        v_np, u_np = directions(problem)
        v, u = jax.numpy.asarray(v_np), jax.numpy.asarray(u_np)
        table = {
            "primal": (lambda x: f(x), (x,), 1, None),
            "jvp": (
                lambda x, v: jax.jvp(f, (x,), (v,))[1],
                (x, v),
                1,
                None if ref is None else ref @ np.ravel(v_np),
            ),
            "vjp": (
                lambda x, u: jax.vjp(f, x)[1](u)[0],
                (x, u),
                1,
                None if ref is None else np.ravel(u_np) @ ref,
            ),
            "jac_fwd": (jax.jacfwd(f), (x,), problem.n, ref),
            "jac_rev": (jax.jacrev(f), (x,), problem.m, ref),
        }
        if problem.m == 1 and "grad" in modes:
            table["grad"] = (jax.grad(f), (x,), 1, expected(problem, "grad", v_np, ref))
        if problem.m == 1 and "hessian" in modes:  # expected values only where timed:
            hess = expected(problem, "hessian", v_np, ref)  # the hand Hessian is n x n
            table["hessian"] = (jax.hessian(f), (x,), problem.n, hess)
        if problem.m == 1 and "hvp" in modes:
            hvp = expected(problem, "hvp", v_np, ref)
            table["hvp"] = (lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1], (x, v), 1, hvp)
        out = []
        for mode in modes:
            if mode == "gd" and problem.family == "logistic":
                out.append(self._gd(problem, v_np, ref))
                continue
            if mode not in table:
                continue
            fun, args, chunk, expect = table[mode]
            jitted = jax.jit(fun)
            t0 = time.perf_counter()
            compiled = jitted.lower(*args).compile()
            compile_s = time.perf_counter() - t0
            stats = compiled.memory_analysis()
            peak = None
            if stats is not None:
                peak = int(
                    stats.argument_size_in_bytes
                    + stats.output_size_in_bytes
                    + stats.temp_size_in_bytes
                )

            def fn(jitted: Any = jitted, args: tuple = args) -> Any:
                return jax.block_until_ready(jitted(*args))

            res = fn()  # fills jit's dispatch cache from the compiled executable
            info = {
                "compile_s": compile_s,
                "error": rel_error(np.asarray(res), expect)
                if mode != "primal"
                else rel_error(np.asarray(res), np.asarray(problem.f(*problem.args))),
                "peak_bytes": peak,
                "peak_method": "xla memory_analysis",
            }
            out.append(self._case(problem, mode, chunk, fn, info))
        return out

    def _gd(self, problem, v_np, ref):
        """The descent loop with ``jax.jit(jax.grad(f))``; the update is done in NumPy,
        as in every tool's loop (:func:`bench.problems.logistic.descend`)."""
        import jax

        g = jax.jit(jax.grad(problem.jax_f))
        t0 = time.perf_counter()
        g.lower(jax.numpy.asarray(problem.args[0])).compile()
        compile_s = time.perf_counter() - t0

        def grad(w: Any) -> np.ndarray:
            return np.asarray(g(w))

        fn = lambda: descend(grad, problem.args[0], steps(problem))
        res = fn()
        info = {"compile_s": compile_s, "error": rel_error(res, expected(problem, "gd", v_np, ref))}
        return self._case(problem, "gd", 1, fn, info, calls=steps(problem))
