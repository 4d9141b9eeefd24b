"""What a sweep does with NaN and infinity: one policy for every engine.

Two modes, read by the reference interpreters and by the compiled kernels alike:

- ``"raise"`` (the default): when an output value, an output tangent or an input
  cotangent is NaN or infinite, raise :class:`ad.errors.NonFiniteError` naming the FIRST
  node of the Wengert list where the value (or the derivative) became non-finite, and
  why (a value outside a function's domain, an infinite partial derivative, ``0 * inf``).
  Non-finite numbers that do not reach a result (a branch ``np.where`` drops) are not
  errors;
- ``"propagate"``: return the NaN or infinity, as NumPy (and JAX) do.

Set it for the process with ``ad.set_nonfinite("propagate")`` or for a block with
``with ad.nonfinite("propagate"): ...``. The mode is process-wide (not per thread).

This module is the bottom layer: it imports nothing from ``ad`` but ``ad.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

MODES = ("raise", "propagate")

_mode = "raise"


def get_nonfinite() -> str:
    """The current mode, ``"raise"`` or ``"propagate"``."""
    return _mode


def raising() -> bool:
    """True when a non-finite result must raise NonFiniteError (mode ``"raise"``)."""
    return _mode == "raise"


def set_nonfinite(mode: str) -> str:
    """Set the non-finite policy for the process; return the previous mode.

    ``"raise"``: NonFiniteError naming the node; ``"propagate"``: NaN/inf as NumPy.
    Example::

        ad.set_nonfinite("propagate")
        ad.grad(np.log)(-1.0)        # -1.0 (the value log(-1) is nan)
    """
    global _mode
    if mode not in MODES:
        raise ValueError(f"the non-finite policy must be one of {MODES}, not {mode!r}")
    previous, _mode = _mode, mode
    return previous


@contextmanager
def nonfinite(mode: str) -> Iterator[None]:
    """Use the non-finite policy ``mode`` inside a ``with`` block (restored on exit).

    Example::

        with ad.nonfinite("propagate"):
            y = graph(x)             # nan where NumPy gives nan, no NonFiniteError
    """
    previous = set_nonfinite(mode)
    try:
        yield
    finally:
        set_nonfinite(previous)
