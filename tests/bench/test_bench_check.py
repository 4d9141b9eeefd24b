"""The regression check: tolerances, and that a 2x slowdown of either engine fails."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.check import compare

REPO = Path(__file__).resolve().parents[2]

FIGS = {
    "omega_fwd:random": {"value": 2.2, "engine": "forward", "kind": "ratio"},
    "omega_rev:random": {"value": 1.5, "engine": "reverse", "kind": "ratio"},
    "vector_fwd:random": {"value": 0.4, "engine": "forward", "kind": "ratio"},
    "slope_fwd_n:random": {"value": 1.0, "engine": "forward", "kind": "slope"},
    "slope_rev_m:random": {"value": 1.0, "engine": "reverse", "kind": "slope"},
    "jax:mlp:primal": {"value": 3.0, "engine": "both", "kind": "ratio"},
}


def halved(figs, engine):
    out = json.loads(json.dumps(figs))
    for f in out.values():
        if f["engine"] == engine:
            f["value"] /= 2
    return out


def flagged(rows):
    return {r[0] for r in rows if r[-1] == "REGRESSION"}


def test_unchanged_figures_pass_and_small_noise_passes():
    rows, bad = compare(FIGS, {"figures": FIGS})
    assert not bad and not flagged(rows)
    noisy = {
        k: dict(
            v,
            value=v["value"] * (1.3 if v["kind"] == "ratio" else 1.0)
            + 0.1 * (v["kind"] == "slope"),
        )
        for k, v in FIGS.items()
    }
    assert not compare(noisy, {"figures": FIGS})[1]


@pytest.mark.parametrize("engine", ["forward", "reverse"])
def test_halved_baseline_flags_exactly_that_engine(engine):
    rows, bad = compare(FIGS, {"figures": halved(FIGS, engine)})
    assert bad
    assert flagged(rows) == {k for k, v in FIGS.items() if v["engine"] == engine}


def test_faster_is_not_a_regression():
    faster = {
        k: dict(v, value=v["value"] / 3) if v["kind"] == "ratio" else v for k, v in FIGS.items()
    }
    rows, bad = compare(faster, {"figures": FIGS})
    assert not bad and all(r[-1] in ("ok", "improved") for r in rows)


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_cli_catches_halved_forward_then_reverse(tmp_path):
    base = tmp_path / "base.json"
    r = _run(
        "check",
        "--quick",
        "--engines",
        "reference",
        "--out",
        str(tmp_path),
        "--baseline",
        str(base),
        "--update-baseline",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    figs = tmp_path / "check-figures.json"
    ok = _run("check", "--quick", "--figures", str(figs), "--baseline", str(base))
    assert ok.returncode == 0, ok.stdout
    assert "check: ok" in ok.stdout
    baseline = json.loads(base.read_text())
    for engine in ("forward", "reverse"):
        slow = dict(baseline, figures=halved(baseline["figures"], engine))
        path = tmp_path / f"halved-{engine}.json"
        path.write_text(json.dumps(slow))
        r = _run("check", "--quick", "--figures", str(figs), "--baseline", str(path))
        assert r.returncode == 1, r.stdout
        bad = {
            line.split()[0]
            for line in r.stdout.splitlines()
            if line.endswith("REGRESSION") and not line.startswith("check:")
        }
        want = {k for k, v in baseline["figures"].items() if v["engine"] == engine}
        assert bad == want and want


def test_confirmation_keeps_a_real_slowdown_and_drops_a_burst():
    from bench.check import best_of

    slow = halved(FIGS, "forward")  # now = baseline / 2 means the baseline is 2x better
    burst = dict(FIGS, **{"omega_rev:random": dict(FIGS["omega_rev:random"], value=3.0)})
    assert compare(best_of(burst, FIGS, {"figures": FIGS}), {"figures": FIGS})[1] is False
    doubled = {
        k: dict(v, value=v["value"] * 2) if v["engine"] == "forward" and v["kind"] == "ratio" else v
        for k, v in FIGS.items()
    }
    rows, bad = compare(best_of(doubled, doubled, {"figures": FIGS}), {"figures": FIGS})
    assert bad and flagged(rows) == {"omega_fwd:random", "vector_fwd:random"}
    assert slow  # the halved-baseline helper is the same one the CLI test uses
