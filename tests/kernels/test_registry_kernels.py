"""Every primitive of the registry has a kernel instruction, a test case, and agrees
with the reference interpreters in all three sweeps (DESIGN invariants 2, 8)."""

import pytest
from kernel_checks import check_against_reference
from kernel_graphs import BUILDERS, build_graph, inputs

from ad.kernels.table import LOWERINGS
from ad.primitives import registry

NAMES = sorted(registry)


@pytest.mark.parametrize("name", NAMES)
def test_every_primitive_has_a_kernel_instruction(name):
    assert name in LOWERINGS, f"primitive '{name}' has no kernel lowering in ad/kernels/"


@pytest.mark.parametrize("name", NAMES)
def test_every_primitive_has_a_kernel_test_case(name):
    assert name in BUILDERS, f"primitive '{name}' has no builder in tests/kernels/kernel_graphs.py"


def test_the_lowering_table_names_only_registered_primitives():
    assert set(LOWERINGS) <= set(registry)


@pytest.mark.parametrize("name", NAMES)
def test_kernels_match_reference_on_each_primitive(name):
    if name not in LOWERINGS or name not in BUILDERS:
        pytest.fail(f"primitive '{name}' has no kernel instruction or no test case")
    for seed in range(2):
        graph = build_graph([name, name], [(0, 1), (3, 2)], seed)
        check_against_reference(graph, inputs(seed), seed)
