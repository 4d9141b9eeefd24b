"""Exception types raised by ``ad``.

Every error names what was wrong and where (the primitive, the node ``vN`` of the
Wengert list, the argument), so that a message alone tells the user what to fix.
"""

from __future__ import annotations


class ADError(Exception):
    """Base class of every error raised by ``ad``."""


class UnsupportedOperationError(ADError, TypeError):
    """A NumPy function or ufunc met while tracing has no primitive.

    The message names the function and says how to add a primitive, or, for a function
    ad cannot support correctly (``ad.numpy.UNSUPPORTED``), why not and what to use.
    """

    def __init__(self, name: str, reason: str | None = None):
        if reason is not None:
            super().__init__(f"ad cannot trace NumPy function '{name}': {reason}.")
        else:
            super().__init__(
                f"ad cannot trace NumPy function '{name}': it has no primitive. "
                "Write the function with supported operations, or add a primitive "
                "(a shape rule, eval, JVP and VJP in one block of ad/primitives/, "
                "see README 'Adding a primitive') and map it in ad/numpy.py (UFUNCS or "
                "FUNCTIONS; composites of existing primitives go in ad/numpy_ext.py)."
            )
        self.name = name


class InputTypeError(ADError, TypeError):
    """An input is not a real floating-point array (integer, complex, bool, object)."""


class ShapeError(ADError, ValueError):
    """Operand shapes do not fit a primitive, or a tangent/cotangent has the wrong shape."""


class NonScalarOutputError(ADError, TypeError):
    """``grad`` was asked for the gradient of a function whose output is not a scalar."""


class GraphError(ADError, ValueError):
    """A Graph is malformed: unknown or reused ids, cycles, wrong shapes, bad parameters."""


class TracerError(ADError, TypeError):
    """A traced value was used where a concrete number is needed (``float(x)``,
    ``np.asarray(x)``), or a tracer escaped the function being traced."""


class SingularMatrixError(ADError, ValueError):
    """A matrix operation (inv, solve, det gradient) met an exactly singular matrix."""


class GuardError(ADError, ValueError):
    """A Graph was replayed at inputs where the control flow it recorded does not hold
    (a branch, mask, tie or index differs): its answer there would be another path's."""


class NonFiniteError(ADError, FloatingPointError):
    """A sweep produced a NaN or an infinity; the message names the first such node."""


class DegenerateDerivativeError(ADError, ValueError):
    """The derivative does not exist: eigen- or singular vectors of a repeated value."""


class UnsupportedArgumentError(UnsupportedOperationError, TypeError):
    """A supported NumPy function got an argument or keyword it cannot trace (``out=`` a
    NumPy array, ``dtype=float32``, ``where=`` without ``out=``, an unsupported
    ``mode=``); the message names the function, the argument and what to do instead.

    ``UnsupportedArgumentError(function, argument, reason)`` or ``(message)``.
    """

    def __init__(self, *args: str):
        if len(args) == 3:
            function, argument, reason = args
            message = f"{function}: argument {argument} is not supported by ad ({reason})"
        else:
            (message,) = args
            function, argument = message.split("(", 1)[0], ""
        ADError.__init__(self, message)
        self.function = self.name = function
        self.argument = argument


class PrecisionWarning(UserWarning):
    """An input of another floating-point type (float32, float16, longdouble) is converted
    to float64: ``ad`` computes in float64 only."""


class RetraceWarning(UserWarning):
    """``ad.jit`` keeps tracing one function at one input signature: a guard (a value
    the traced code made concrete, an ``if`` on an array, a whole array read as a
    Python value) fails at every new argument, so every call pays a trace."""
