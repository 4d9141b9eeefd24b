"""Which primitives have no compiled kernel yet, for tests that run both engines."""

import pytest


def _read_kernel_pending():
    """KERNEL_PENDING of tests/kernels/test_registry_kernels.py, read without importing
    that module (it needs the kernel test helpers on sys.path)."""
    import ast
    from pathlib import Path

    path = Path(__file__).parent / "kernels" / "test_registry_kernels.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "KERNEL_PENDING" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


KERNEL_PENDING = _read_kernel_pending()


def pending_kernels(graph):
    """The KERNEL_PENDING primitives that ``graph`` records (sorted names)."""
    return sorted({e.prim.name for e in graph.eqns} & KERNEL_PENDING)


def skip_if_kernel_pending(engine, fn, *args):
    """Skip a compiled-engine run of ``fn`` when its traced graph records a primitive
    whose kernel is pending (found from the graph, not listed by hand)."""
    if engine != "compiled":
        return
    import ad

    names = pending_kernels(ad.trace(fn, *args))
    if names:
        pytest.skip(f"needs kernel: {', '.join(names)}")
