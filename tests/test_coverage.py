"""docs/numpy.md is generated from the tables (not typed), is up to date, and every
supported entry is probed; the functions the issue lists are supported."""

from pathlib import Path

import numpy as np
import pytest

from ad import coverage

DOC = Path(__file__).resolve().parents[1] / "docs" / "numpy.md"


@pytest.fixture(scope="module")
def rows():
    return coverage.rows()


def test_docs_numpy_md_equals_the_generated_table():
    text = DOC.read_text()
    if f"NumPy {np.__version__}." not in text:
        pytest.skip(f"docs/numpy.md was generated with another NumPy than {np.__version__}")
    assert text == coverage.render(), (
        "docs/numpy.md is out of date: run `python -m ad.coverage > docs/numpy.md`"
    )


def test_every_supported_entry_is_probed(rows):
    unprobed = [r["name"] for r in rows if r["supported"] and r["kind"] == "not probed"]
    assert not unprobed, f"add a probe to ad.coverage.PROBES for {unprobed}"
    assert all(r["modes"] in ("fwd, rev", "-") for r in rows if r["supported"])


ISSUE_FUNCTIONS = {
    "function": ["sort", "cumsum", "cumprod", "var", "std", "einsum", "tensordot", "kron",
                 "roll", "split", "array_split", "diff", "round", "vdot", "cross", "average",
                 "clip", "pad", "zeros_like", "copy"],
    "ufunc": ["arctan2", "hypot", "log2", "exp2", "reciprocal", "logaddexp", "remainder"],
    "linalg": ["qr", "lstsq", "pinv", "matrix_power", "vector_norm", "norm"],
    "method": ["clip", "std", "var", "argmax", "tolist", "cumsum", "sort", "round", "copy"],
}  # fmt: skip


@pytest.mark.parametrize("section", sorted(ISSUE_FUNCTIONS))
def test_the_functions_the_issue_lists_are_supported(rows, section):
    have = {r["name"] for r in rows if r["section"] == section and r["supported"]}
    missing = sorted(set(ISSUE_FUNCTIONS[section]) - have)
    assert not missing, missing


def test_pending_kernels_are_named_in_the_engines_column(rows):
    (sort_row,) = [r for r in rows if r["section"] == "function" and r["name"] == "sort"]
    assert sort_row["kind"] == "primitive" and "sort" in sort_row["prims"]
    from tests.pending import KERNEL_PENDING

    if "sort" in KERNEL_PENDING:
        assert "kernel pending: sort" in sort_row["engines"]
