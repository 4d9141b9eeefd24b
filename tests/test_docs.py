"""The architecture page's import graph is the code's (docs/imports.py regenerates it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_listing_in_docs_architecture_is_current():
    out = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "imports.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert out in page, "docs/architecture.md is stale: paste `python docs/imports.py` into it"
    assert "ad.ir                     -> ad.errors\n" in out  # the IR imports no engine
