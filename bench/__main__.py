"""``python -m bench sweep | plot | report | check | calibrate [options]``: the benchmark CLI.

The process is pinned to one core *before* any numerical library is imported (see
:mod:`bench.machine`), so every engine, NumPy and JAX included, runs single-threaded.
Bad arguments (including an ``--out`` directory that cannot be created or written)
print the usage and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.families import DEFAULT_FAMILIES, FAMILIES
from bench.machine import REPO, pin_cpu

#: What ``calibrate --out DIR`` writes (``make bench`` then points the cost model at it).
CALIBRATION_FILE = "cost_calibration.json"

ENGINES = ("forward", "reverse", "reference", "jax", "fd", "numpy", "api", "autograd", "sparse")
DEFAULT_ENGINES = {
    "sweep": "forward,reverse,jax,fd,numpy,api,autograd,sparse",
    "check": "forward,reverse,jax",
}


def _list_of(allowed: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.replace(" ", ",").split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"invalid choice(s) {bad or text!r}: pick from {', '.join(allowed)} "
                "(comma-separated)"
            )
        return items

    return parse


def parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands sweep, plot, report, check)."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Forward vs reverse mode: sweep, plot, report, regression check.",
    )
    p.add_argument("command", choices=("sweep", "plot", "report", "check", "calibrate"))
    p.add_argument(
        "--problems",
        type=_list_of(FAMILIES),
        default=list(DEFAULT_FAMILIES),
        help=f"comma-separated families from {','.join(FAMILIES)} "
        f"(default {','.join(DEFAULT_FAMILIES)}; sparse: make bench-sparse)",
    )
    p.add_argument("--quick", action="store_true", help="the small grid (under 2 minutes)")
    p.add_argument("--tiny", action="store_true", help="the test grid (seconds; no findings)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default reports/; check: .benchmarks/check)",
    )
    p.add_argument(
        "--engines",
        type=_list_of(ENGINES),
        default=None,
        help=f"comma-separated, from {','.join(ENGINES)} "
        f"(sweep default {DEFAULT_ENGINES['sweep']}; check default {DEFAULT_ENGINES['check']})",
    )
    p.add_argument("--resume", action="store_true", help="sweep: keep finished families")
    p.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    p.add_argument("--seed", type=int, default=0, help="seed of every problem (default 0)")
    p.add_argument("--baseline", type=Path, default=None, help="check: baseline JSON")
    p.add_argument("--update-baseline", action="store_true", help="check: write the baseline")
    p.add_argument(
        "--figures", type=Path, default=None, help="check: compare these measured figures"
    )
    return p


def writable_dir(path: Path) -> str | None:
    """Why ``path`` cannot be the output directory (None if it can): created if missing
    (with its parents), then a probe file is written in it and removed."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{path} exists and is not a directory"
    except OSError as err:
        return f"cannot create the directory {path}: {err.strerror or err}"
    if not path.is_dir():
        return f"{path} is not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as err:
        return f"cannot write in {path}: {err.strerror or err}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status (0 ok, 1 regression, 2 usage)."""
    p = parser()
    args = p.parse_args(argv)
    if args.command != "check" and (args.update_baseline or args.figures or args.baseline):
        p.error("--baseline, --update-baseline and --figures go with 'check' only")
    if args.command == "check" and args.resume:
        p.error("--resume goes with 'sweep' only")
    if args.quick and args.tiny:
        p.error("--quick and --tiny exclude each other")
    out = args.out if args.out is not None else REPO / "reports"
    if args.command in ("sweep", "check", "calibrate") and args.out is not None:
        why = writable_dir(args.out)  # before any measuring: nothing is half-written
        if why is not None:
            p.error(f"argument --out: {why}")
    engines = args.engines or _list_of(ENGINES)(DEFAULT_ENGINES.get(args.command, "forward"))
    try:
        cpu = pin_cpu(args.cpu)
    except ValueError as err:
        p.error(str(err))
    # numerical libraries are imported only now, after pinning
    if args.command == "calibrate":  # the cost model's constants (ad.cost.calibration_path)
        from bench import calibrate

        where = [] if args.out is None else ["--out", str(Path(args.out) / CALIBRATION_FILE)]
        return calibrate.main(["--cpu", str(cpu), *where])
    if args.command == "sweep":
        from bench import sweep, timing

        kind = "tiny" if args.tiny else "quick" if args.quick else "full"
        settings = {"tiny": timing.TINY, "quick": timing.QUICK, "full": timing.FULL}[kind]
        sweep.sweep(out, args.problems, engines, kind, settings, cpu, args.resume, args.seed)
        print(f"wrote {out / 'results.csv'}")
        return 0
    if args.command in ("plot", "report"):
        csv = out / "results.csv"
        if not csv.exists():
            print(
                f"error: {csv} does not exist; run 'python -m bench sweep' first", file=sys.stderr
            )
            return 2
        if args.command == "plot":
            from bench import plots

            for path in plots.plot_all(csv, out):
                print(f"wrote {path}")
            return 0
        from bench import report

        print(f"wrote {report.write_report(csv, out)}")
        return 0
    from bench import check

    return check.main(args, engines, cpu, out)


if __name__ == "__main__":
    sys.exit(main())
