"""admodes: forward- and reverse-mode automatic differentiation of NumPy code.

One IR (a Wengert list, :class:`ad.ir.Graph`) built by tracing plain NumPy code; two
engines over it (:mod:`ad.forward`, :mod:`ad.reverse`), each compiled with Numba and
mirrored by plain-NumPy reference interpreters (:mod:`ad.reference`).
"""

import ad.primitives  # noqa: F401  (registers every primitive)
from ad import cost, errors, forward, reverse, sparse, tree
from ad import numpy as numpy
from ad.api import grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp
from ad.ir import Graph, GraphBuilder
from ad.jit import jit
from ad.policy import get_nonfinite, nonfinite, set_nonfinite
from ad.primitives.shape import stop_gradient
from ad.sparse import hessian_sparsity, jacobian_sparsity, sparse_hessian, sparse_jacobian
from ad.testing import check_grads
from ad.trace import trace

__all__ = [
    "Graph",
    "GraphBuilder",
    "check_grads",
    "cost",
    "errors",
    "forward",
    "get_nonfinite",
    "grad",
    "hessian",
    "hessian_sparsity",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacobian_sparsity",
    "jacrev",
    "jit",
    "jvp",
    "nonfinite",
    "numpy",
    "reverse",
    "set_nonfinite",
    "sparse",
    "sparse_hessian",
    "sparse_jacobian",
    "stop_gradient",
    "trace",
    "tree",
    "value_and_grad",
    "vjp",
]

__version__ = "0.1.0"
