"""The CLI end to end on the tiny grid, bad arguments, atomic writes and resuming."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench import sweep
from bench.plots import FIGURES

REPO = Path(__file__).resolve().parents[2]


def _run(*args, timeout=900):  # on a noisy host the re-measurements take minutes
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    for cmd in ("sweep", "plot", "report"):
        extra = ["--tiny", "--engines", "reference,jax,fd,sparse"] if cmd == "sweep" else []
        if cmd == "sweep":
            extra += ["--problems", "linear,random,mlp,rosenbrock,seminar,small,logistic,sparse"]
        r = _run(cmd, "--out", str(out), *extra)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_sweep_writes_the_tidy_csv(tiny_run):
    df = pd.read_csv(tiny_run / "results.csv")
    assert list(df.columns) == sweep.COLUMNS
    assert set(df["problem"].str.split(":").str[0]) == {
        "linear",
        "random",
        "mlp",
        "rosenbrock",
        "seminar",
        "small",
        "logistic",
        "sparse",
    }
    assert {"reference", "fd"} <= set(df["engine"])
    assert {"primal", "jvp", "vjp", "jac_fwd", "jac_rev", "jac_fd"} <= set(df["mode"])
    key = ["problem", "engine", "mode", "n", "m", "T", "chunk"]
    assert not df.duplicated(key).any()
    assert (df["median_s"] > 0).all() and (df["rounds"] >= 3).all()
    assert (df.loc[df["mode"] == "primal", "ratio_to_f"] == 1.0).all()
    jac = df[df["mode"].str.startswith("jac") & ~df["engine"].isin(["fd", "scipy"])]
    assert (jac["error"].fillna(0) < 1e-8).all()
    assert (df.loc[df["engine"].isin(["fd", "scipy"]), "error"].dropna() < 1e-4).all()
    assert df["revision"].notna().all() and df["numpy_cpu_wall"].notna().all()
    status = json.loads((tiny_run / "sweep.json").read_text())
    assert status["complete"] and status["families_done"]


def test_plot_and_report_are_written(tiny_run):
    for name, _fn, _caption in FIGURES:
        assert (tiny_run / name).stat().st_size > 1000, name
    text = (tiny_run / "README.md").read_text()
    for name, _fn, caption in FIGURES:
        assert f"![{name}]({name})" in text and caption[:40] in text
    assert "crossover" in text and "Spread" in text and "single" in text.lower()


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["sweep", "--engines", "bogus"],
        ["sweep", "--problems", "nope"],
        ["sweep", "--quick", "--tiny"],
        ["plot", "--update-baseline"],
        [],
    ],
)
def test_bad_arguments_exit_2_with_usage(args):
    r = _run(*args, timeout=60)
    assert r.returncode == 2
    assert "usage:" in r.stderr


def test_write_atomic_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    sweep.write_atomic(path, "a,b\n1,2\n")

    class Boom(Exception):
        pass

    def broken_fsync(fd):
        raise Boom

    monkeypatch.setattr(sweep.os, "fsync", broken_fsync)
    with pytest.raises(Boom):
        sweep.write_atomic(path, "a,b\n" + "3,4\n" * 1000)
    assert path.read_text() == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_interrupted_sweep_keeps_whole_families_and_resumes(tmp_path, monkeypatch):
    from bench import timing

    calls = []
    real = sweep.prepare

    def interrupt_on_second_family(cell, tools, seed, skipped=None):
        if cell.family != "linear":
            raise KeyboardInterrupt
        calls.append(cell)
        return real(cell, tools, seed, skipped)

    monkeypatch.setattr(sweep, "prepare", interrupt_on_second_family)
    with pytest.raises(KeyboardInterrupt):
        sweep.sweep(tmp_path, ["linear", "rosenbrock"], ["reference"], "tiny", timing.TINY, 0)
    df = pd.read_csv(tmp_path / "results.csv")
    assert set(df["problem"]) == {"linear"} and len(df) > 0
    status = json.loads((tmp_path / "sweep.json").read_text())
    assert not status["complete"] and status["families_done"] == ["linear"]

    monkeypatch.setattr(sweep, "prepare", real)
    n_linear = len(calls)
    calls.clear()
    df2 = sweep.sweep(
        tmp_path, ["linear", "rosenbrock"], ["reference"], "tiny", timing.TINY, 0, resume=True
    )
    assert not calls and n_linear > 0  # linear was kept, not re-measured
    assert set(df2["problem"]) == {"linear", "rosenbrock"}
    assert len(df2[df2["problem"] == "linear"]) == len(df)
    assert json.loads((tmp_path / "sweep.json").read_text())["complete"]


def test_one_family_alone_plots_and_reports(tmp_path):
    r = _run(
        "sweep",
        "--tiny",
        "--problems",
        "rosenbrock",
        "--engines",
        "reference",
        "--out",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for cmd in ("plot", "report"):
        r = _run(cmd, "--out", str(tmp_path))
        assert r.returncode == 0, r.stderr[-2000:]
    assert "cheap-gradient" in (tmp_path / "README.md").read_text()


def _under_a_file(tmp_path):
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file" / "out"


@pytest.mark.parametrize(
    "make_out",
    [
        _under_a_file,
        lambda tmp_path: tmp_path / "a-file",  # an existing file, not a directory
        lambda tmp_path: Path("/proc/admodes-bench-out"),  # /proc: cannot create
        lambda tmp_path: Path("/proc"),  # exists, cannot write in it
    ],
    ids=["under-a-file", "a-file", "in-proc", "proc"],
)
@pytest.mark.parametrize("command", ["sweep", "check"])
def test_an_unusable_out_directory_exits_2_with_usage(make_out, command, tmp_path):
    (tmp_path / "a-file").write_text("x")
    out = make_out(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = _run(command, "--tiny" if command == "sweep" else "--quick", "--out", str(out), timeout=60)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "usage:" in r.stderr and "--out" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert (tmp_path / "a-file").read_text() == "x"
