"""The committed sweeps are what the instruction table generates, and the table is whole."""

import numpy as np

from ad.kernels import generate, table
from ad.primitives import registry


def test_the_committed_sweeps_are_what_the_table_generates():
    assert generate.TARGET.read_text() == generate.source(), (
        "ad/kernels/sweeps.py is stale: run `make generate` (python -m ad.kernels.generate)"
    )


def test_opcodes_are_dense_and_names_unique():
    assert [ins.opcode for ins in table.INSTRUCTIONS] == list(range(len(table.INSTRUCTIONS)))
    assert len(table.BY_NAME) == len(table.INSTRUCTIONS)


def test_every_lowering_names_a_registered_primitive_and_emits_declared_instructions():
    assert set(table.LOWERINGS) <= set(registry)


def test_a_payload_is_written_by_field_name_only():
    ins = table.BY_NAME["matmul"]
    assert ins.payload(dict(out=1, a=2, b=3, batch=4, m=5, k=6, n=7)) == (1, 2, 3, 4, 5, 6, 7)
    F = np.array([ins.payload(dict(out=1, a=2, b=3, batch=2, m=3, k=4, n=5))])
    assert ins.sizes(F, ins.fields[0].size).tolist() == [2 * 3 * 5]


def test_the_status_codes_fit_the_sweep_encoding():
    assert max(table.Status) < table.STATUS_STRIDE
    assert table.decode_status(table.STATUS_STRIDE * 7 + 2) == (7, table.Status.DEGENERATE)
