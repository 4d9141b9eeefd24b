"""The primitives of the IR, one module per family; importing this registers them all.

``registry`` maps each primitive's name to its object (shape rule, eval, JVP and VJP
rules, kernel lowering). See ``core`` for the contract a primitive follows.
"""

from ad.primitives import (  # noqa: F401  (registers)
    cumulative,
    elementwise,
    linalg,
    reductions,
    shape,
    sorting,
)
from ad.primitives.core import Primitive, registry

__all__ = ["Primitive", "registry"]
