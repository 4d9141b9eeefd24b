"""Every primitive of the registry has a kernel instruction, a test case, and agrees
with the reference interpreters in all three sweeps (docs/architecture.md, invariants 2, 3).

``KERNEL_PENDING`` names the primitives whose kernel instruction is not written yet
(their rules and reference evaluation exist; the compiled engine rejects them, and
``ad.api`` falls back to the reference interpreters when no engine is named). Their
kernel tests are strict xfails: once an instruction exists they fail as XPASS, and the
name must be removed from the list. Other tests read this list (tests/conftest.py) to
run such graphs on the reference engine only.
"""

import pytest
from kernel_checks import check_against_reference
from kernel_graphs import BUILDERS, build_graph, inputs

from ad.kernels.table import LOWERINGS
from ad.primitives import registry

NAMES = sorted(registry)

#: primitives without a kernel instruction yet (no Numba code: the kernels are being
#: redesigned); keep sorted, one name a line
KERNEL_PENDING = []  # every primitive has its kernel


def _pending(name):
    return pytest.param(
        name,
        marks=pytest.mark.xfail(
            name in KERNEL_PENDING, reason=f"needs kernel: {name}", strict=True
        ),
    )


def test_pending_names_are_registered_primitives():
    assert set(KERNEL_PENDING) <= set(registry)
    assert KERNEL_PENDING == sorted(KERNEL_PENDING)


@pytest.mark.parametrize("name", [_pending(n) for n in NAMES])
def test_every_primitive_has_a_kernel_instruction(name):
    assert name in LOWERINGS, f"primitive '{name}' has no kernel lowering in ad/kernels/"


@pytest.mark.parametrize("name", NAMES)
def test_every_primitive_has_a_kernel_test_case(name):
    assert name in BUILDERS, f"primitive '{name}' has no builder in tests/kernels/kernel_graphs.py"


def test_the_lowering_table_names_only_registered_primitives():
    assert set(LOWERINGS) <= set(registry)


@pytest.mark.parametrize("name", [_pending(n) for n in NAMES])
def test_kernels_match_reference_on_each_primitive(name):
    if name not in LOWERINGS or name not in BUILDERS:
        pytest.fail(f"primitive '{name}' has no kernel instruction or no test case")
    for seed in range(2):
        graph = build_graph([name, name], [(0, 1), (3, 2)], seed)
        check_against_reference(graph, inputs(seed), seed)
