"""The project's one Numba wrapper: every kernel is compiled with the same defaults.

``kjit`` is ``numba.njit`` with ``cache=True`` (compiled code is kept on disk next to
the source, so only the first import on a machine pays for compilation),
``fastmath=False`` (IEEE semantics: the kernels must agree with the NumPy reference
to round-off and must propagate NaN/inf so that the non-finite check can find them),
``error_model="numpy"`` (x / 0 is inf or NaN, not ZeroDivisionError),
``boundscheck=False`` (the lowering validates every index in Python before a kernel
runs, see :func:`ad.kernels.program.validate`) and ``nogil=True``.

Set ``NUMBA_DISABLE_JIT=1`` to run the same kernels as plain Python (slow, but every
line is then visible to coverage and to a debugger).

Numba keys a cached function on its own source file only, but the sweeps inline the
blocks of the other kernel modules: after an edit of ``elementwise.py`` the cached
``sweeps`` would be stale. :func:`invalidate_stale_cache` therefore drops the cached
kernels (in the default cache location, ``ad/kernels/__pycache__``) whenever the
digest of the package's sources changes; it runs once, at import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

DEFAULTS: dict[str, Any] = {
    "cache": True,
    "fastmath": False,
    "boundscheck": False,
    "nogil": True,
    "error_model": "numpy",
}


def kjit(fn: Callable[..., Any] | None = None, *, inline: bool = False) -> Any:
    """Compile ``fn`` in nopython mode with the project's defaults (see the module doc).

    ``@kjit(inline=True)`` inlines the function into its callers at the Numba IR level:
    used for the scalar fast paths, whose body is a few instructions, so that a call
    (which passes every array as a struct and is not inlined by LLVM) does not cost
    more than the work. The arrays a sweep hands to such a block must be
    :func:`borrowed` (see there).
    """
    opts = dict(DEFAULTS, inline="always") if inline else DEFAULTS
    if fn is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(fn)


@intrinsic
def _borrow(typingctx: Any, arr: Any) -> Any:
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        src = context.make_array(arr)(context, builder, value=args[0])
        view = context.make_array(arr)(context, builder)
        for field in ("parent", "nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, field, getattr(src, field))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)  # owns nothing
        return view._getvalue()

    return arr(arr), codegen


def _borrow_in_python(arr: Any) -> Any:
    return arr


#: ``borrowed(arr)`` (inside a kernel): the same array (data, shape, strides, layout)
#: without its meminfo, i.e. without reference counting. Each sweep borrows the buffers
#: it hands to its blocks once, at entry; the caller's own reference keeps the memory
#: alive for the whole call, and a borrowed array is never returned or stored.
#:
#: Why: Numba gives a ``kjit(inline=True)`` block an incref/decref pair (atomic
#: operations, the decref a call) on each array argument, per instruction executed.
#: Its reference-count pruning cannot remove them here, because LLVM first merges the
#: decrefs of the sweep's branches into one block. With a NULL meminfo (as Numba's own
#: ``carray`` arrays have) both are no-ops. Measured on issue 3's T = 100,000 program:
#: forward sweep (p = 1) 1.28 -> 1.13 x primal, record + adjoint 1.75 -> 1.5 x primal.
#: Under ``NUMBA_DISABLE_JIT=1`` it returns ``arr`` itself.
borrowed = _borrow_in_python if numba.config.DISABLE_JIT else _borrow


@intrinsic
def _bits_as_float(typingctx: Any, bits: Any) -> Any:
    if not isinstance(bits, types.Integer) or bits.bitwidth != 64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


def _bits_as_float_in_python(bits: int) -> float:
    return float(np.int64(bits).view(np.float64))


#: ``bits_as_float(i)`` (inside a kernel): the float64 whose IEEE bit pattern is the
#: int64 ``i`` (a bit cast, one instruction that LLVM vectorises; ``_exp`` builds its
#: power of two with it). Under ``NUMBA_DISABLE_JIT=1``, NumPy's ``view``.
bits_as_float = _bits_as_float_in_python if numba.config.DISABLE_JIT else _bits_as_float


def sources_digest(folder: Path = Path(__file__).parent) -> str:
    """The digest of the kernel package's sources (what its compiled code depends on)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def invalidate_stale_cache(folder: Path = Path(__file__).parent) -> bool:
    """Delete the cached kernels of ``folder`` if its sources changed; True if it did."""
    digest = sources_digest(folder)
    cache = folder / "__pycache__"
    stamp = cache / "kernel-sources.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return False
        for old in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            old.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: Numba falls back to its own cache dir
        return False
    return True


invalidate_stale_cache()
