"""The NumPy coverage table, generated from the dispatch tables and the registry.

``python -m ad.coverage > docs/numpy.md`` writes it; ``tests/test_coverage.py`` checks
that the committed file equals :func:`render`'s text. For every NumPy ufunc, every
function NumPy dispatches to ``__array_function__`` (``numpy.*``, ``numpy.linalg.*``) and
every public ``ndarray`` method it says whether ``ad`` traces it, and, from a probe (the
function traced at a sample argument), how: the primitives it records, whether both
modes have rules for them (the registry), and whether the compiled kernels run them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import ad
from ad import numpy as anp
from ad.primitives import registry
from ad.trace import Tracer


def _buffer(update: Callable[[Any], Any], x: Any) -> Any:
    """An in-place function's probe: update a traced copy of x, return it."""
    buf = x.copy()
    update(buf)
    return buf


V = np.array([0.31, 0.52, 0.73, 0.44])  # in (0, 1): log, arccos, arctanh, ... are defined
M = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, 0.2], [0.1, 0.2, 1.2]])  # symmetric positive definite
STRUCTURAL = {"gather", "scatter_add"}

#: How to call the functions (and methods) that need more than one array argument; the
#: others are probed as f(V), then f(M). Probes receive a traced argument.
PROBES: dict[str, Callable[[Any], Any]] = {
    "append": lambda x: np.append(x, x),
    "apply_along_axis": lambda x: np.apply_along_axis(np.sum, 0, x),
    "arctan2": lambda x: np.arctan2(x, x[::-1]),
    "argpartition": lambda x: np.argpartition(x, 1),
    "array_equal": lambda x: np.array_equal(x, x),
    "array_equiv": lambda x: np.array_equiv(x, x),
    "array_split": lambda x: np.array_split(x, 3),
    "astype": lambda x: np.astype(x, float),
    "average": lambda x: np.average(x, weights=x),
    "bincount": lambda x: np.bincount(np.array([0, 1, 1, 2]), weights=x),
    "block": lambda x: np.block([[x, x]]),
    "broadcast_arrays": lambda x: np.broadcast_arrays(x, np.ones((2, 4))),
    "choose": lambda x: np.choose(np.array([0, 1, 0, 1]), [x, 2 * x]),
    "column_stack": lambda x: np.column_stack([x, x]),
    "compress": lambda x: np.compress([True, False, True, True], x),
    "concat": lambda x: np.concat([x, x]),
    "concatenate": lambda x: np.concatenate([x, x]),
    "convolve": lambda x: np.convolve(x, x[:2]),
    "copysign": lambda x: np.copysign(x, -x),
    "copyto": lambda x: _buffer(lambda b: np.copyto(b, x), x),
    "correlate": lambda x: np.correlate(x, x[:2]),
    "cross": lambda x: np.cross(x[:3], x[1:]),
    "delete": lambda x: np.delete(x, 1),
    "digitize": lambda x: np.digitize(x, [0.5]),
    "dot": lambda x: np.dot(x, x),
    "dsplit": lambda x: np.dsplit(np.reshape(x, (1, 2, 2)), 2),
    "dstack": lambda x: np.dstack([x, x]),
    "einsum": lambda x: np.einsum("i,i->", x, x),
    "extract": lambda x: np.extract([True, False, True, True], x),
    "fill_diagonal": lambda x: _buffer(lambda b: np.fill_diagonal(b, x[0]), x),
    "full_like": lambda x: np.full_like(x, 2.0),
    "histogram": lambda x: np.histogram(np.arange(4.0), 2, weights=x),
    "hsplit": lambda x: np.hsplit(x, 2),
    "inner": lambda x: np.inner(x, x),
    "insert": lambda x: np.insert(x, 1, x[0]),
    "interp": lambda x: np.interp(x, [0.0, 0.5, 1.0], [1.0, 2.0, 0.0]),
    "isin": lambda x: np.isin(x, [0.31]),
    "kron": lambda x: np.kron(x, x),
    "lexsort": lambda x: np.lexsort((x,)),
    "allclose": lambda x: np.allclose(x, x),
    "isclose": lambda x: np.isclose(x, x),
    "arccosh": lambda x: np.arccosh(1.0 + x),
    "method.item": lambda x: x[1:2].item(),
    "method.compress": lambda x: x.compress([True, False, True, True]),
    "method.choose": lambda x: np.zeros_like(x).choose([x]),
    "method.resize": lambda x: _buffer(lambda b: b.resize(6), x),
    "method.view": lambda x: x.view(),
    "method.to_device": lambda x: x.to_device("cpu"),
    "linspace": lambda x: np.linspace(x[0], x[1], 3),
    "logspace": lambda x: np.logspace(x[0], x[1], 3),
    "matmul": lambda x: np.matmul(x, x),
    "may_share_memory": lambda x: np.may_share_memory(x, x),
    "meshgrid": lambda x: np.meshgrid(x, x),
    "outer": lambda x: np.outer(x, x),
    "pad": lambda x: np.pad(x, 1),
    "percentile": lambda x: np.percentile(x, 50),
    "piecewise": lambda x: np.piecewise(x, [x < 0.5], [np.sin, np.cos]),
    "polyadd": lambda x: np.polyadd(x, x[:2]),
    "polyfit": lambda x: np.polyfit(np.arange(4.0), x, 1),
    "polymul": lambda x: np.polymul(x, x[:2]),
    "polysub": lambda x: np.polysub(x, x[:2]),
    "polyval": lambda x: np.polyval(x, x),
    "put": lambda x: _buffer(lambda b: np.put(b, [0], x[1]), x),
    "quantile": lambda x: np.quantile(x, 0.3),
    "repeat": lambda x: np.repeat(x, 2),
    "reshape": lambda x: np.reshape(x, (2, 2)),
    "resize": lambda x: np.resize(x, 6),
    "result_type": lambda x: np.result_type(x),
    "roll": lambda x: np.roll(x, 1),
    "searchsorted": lambda x: np.searchsorted(x, 0.5),
    "select": lambda x: np.select([x < 0.5], [x], 1.0),
    "shares_memory": lambda x: np.shares_memory(x, x),
    "split": lambda x: np.split(x, 2),
    "stack": lambda x: np.stack([x, x]),
    "take": lambda x: np.take(x, [0, 2]),
    "take_along_axis": lambda x: np.take_along_axis(x, np.array([1, 0]), 0),
    "tensordot": lambda x: np.tensordot(x, x, 1),
    "tile": lambda x: np.tile(x, 2),
    "vdot": lambda x: np.vdot(x, x),
    "vsplit": lambda x: np.vsplit(np.reshape(x, (2, 2)), 2),
    "where": lambda x: np.where(x > 0.5, x, 0.0),
    "hstack": lambda x: np.hstack([x, x]),
    "vstack": lambda x: np.vstack([x, x]),
    "broadcast_to": lambda x: np.broadcast_to(x, (2, 4)),
    "ldexp": lambda x: np.ldexp(x, 2),
    "vecdot": lambda x: np.vecdot(x, x),
    "matvec": lambda x: np.matvec(np.ones((2, 4)), x),
    "vecmat": lambda x: np.vecmat(x, np.ones((4, 2))),
    "histogram_bin_edges": lambda x: np.histogram_bin_edges(x, 2),
    "expand_dims": lambda x: np.expand_dims(x, 0),
    "moveaxis": lambda x: np.moveaxis(np.reshape(x, (2, 2)), 0, 1),
    "swapaxes": lambda x: np.swapaxes(np.reshape(x, (2, 2)), 0, 1),
    "permute_dims": lambda x: np.permute_dims(np.reshape(x, (2, 2)), (1, 0)),
    "rollaxis": lambda x: np.rollaxis(np.reshape(x, (2, 2)), 1),
    "clip": lambda x: np.clip(x, 0.4, 0.6),
    "gradient": lambda x: np.gradient(x),
    "unwrap": lambda x: np.unwrap(x * 10),
    "nextafter": lambda x: np.nextafter(x, 1.0),
    "heaviside": lambda x: np.heaviside(x - 0.5, 0.5),
    "divmod": lambda x: np.divmod(x, 0.2),
    # numpy.linalg
    "linalg.solve": lambda x: np.linalg.solve(x, x[0]),
    "linalg.lstsq": lambda x: np.linalg.lstsq(x, x[0]),
    "linalg.cross": lambda x: np.linalg.cross(x[0], x[1]),
    "linalg.outer": lambda x: np.linalg.outer(x[0], x[1]),
    "linalg.tensordot": lambda x: np.linalg.tensordot(x, x),
    "linalg.vecdot": lambda x: np.linalg.vecdot(x, x),
    "linalg.matmul": lambda x: np.linalg.matmul(x, x),
    "linalg.matrix_power": lambda x: np.linalg.matrix_power(x, 3),
    "linalg.multi_dot": lambda x: np.linalg.multi_dot([x, x, x]),
    # ndarray methods
    "method.clip": lambda x: x.clip(0.4, 0.6),
    "method.dot": lambda x: x.dot(x),
    "method.fill": lambda x: _buffer(lambda b: b.fill(x[0]), x),
    "method.put": lambda x: _buffer(lambda b: b.put([0], x[1]), x),
    "method.repeat": lambda x: x.repeat(2),
    "method.reshape": lambda x: x.reshape(2, 2),
    "method.searchsorted": lambda x: x.searchsorted(0.5),
    "method.swapaxes": lambda x: x.reshape(2, 2).swapaxes(0, 1),
    "method.take": lambda x: x.take([0, 1]),
    "method.transpose": lambda x: x.reshape(2, 2).transpose(),
    "method.argpartition": lambda x: x.argpartition(1),
    "method.trace": lambda x: x.reshape(2, 2).trace(),
    "method.diagonal": lambda x: x.reshape(2, 2).diagonal(),
    "method.astype": lambda x: x.astype(float),
    "method.sort": lambda x: _buffer(lambda b: b.sort(), x * 1.0),
}

#: Probes that take the matrix M as their sample argument.
MATRIX_FIRST = {"linalg", "trace", "diagonal", "tril", "triu", "rot90", "fliplr", "diagflat"}


def _kernel_covered() -> Callable[[str], bool]:
    """Whether the compiled kernels have an instruction for a primitive (by name)."""
    try:
        from ad.kernels.table import LOWERINGS
    except ImportError:  # no compiled engine
        return lambda name: False
    return lambda name: name in LOWERINGS


def probe(key: str, fn: Callable[[Any], Any]) -> tuple[str, list[str]] | None:
    """(kind, recorded primitives) of ``fn`` traced at a sample argument, or None if the
    probe fails. kind: concrete, structural, primitive (one), composite."""
    samples = [M, V] if key.startswith("linalg.") or key in MATRIX_FIRST else [V, M]
    custom = PROBES.get(key)
    for x in samples:
        found: list[bool] = []

        def run(t: Any, found: list[bool] = found) -> Any:
            result = custom(t) if custom is not None else fn(t)
            leaves = [v for v in ad.tree.flatten(result)[0] if isinstance(v, Tracer)]
            found.append(bool(leaves))
            return tuple(leaves) if leaves else t

        try:
            with np.errstate(all="ignore"):
                graph = ad.trace(run, x)
        except Exception:  # noqa: BLE001 - a probe that does not apply to this sample
            continue
        names = sorted({e.prim.name for e in graph.eqns})
        if not names:
            copies = found[0] and {v.id for v in graph.outputs} <= {v.id for v in graph.inputs}
            return ("identity" if copies else "concrete"), []
        core = [n for n in names if n not in STRUCTURAL]
        if not core:
            return "structural", names
        return ("primitive" if len(core) == 1 else "composite"), names
    return None


def _universe() -> list[tuple[str, str, Any]]:
    """(section, name, object) for every NumPy ufunc, dispatched function, method; a
    ufunc reachable under several names (``mod``, ``remainder``) is listed once, by its
    own name, with the others as aliases in ``ALIASES``."""
    rows: list[tuple[str, str, Any]] = []
    names: dict[int, list[str]] = {}
    objs: dict[int, Any] = {}
    for name in sorted(dir(np)):
        obj = getattr(np, name)
        if isinstance(obj, np.ufunc):
            names.setdefault(id(obj), []).append(name)
            objs[id(obj)] = obj
    for key, obj in sorted(objs.items(), key=lambda kv: kv[1].__name__):
        own = obj.__name__ if obj.__name__ in names[key] else names[key][0]
        ALIASES[own] = [n for n in names[key] if n != own]
        rows.append(("ufunc", own, obj))
    seen = set(objs)
    for module, section in ((np, "function"), (np.linalg, "linalg")):
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if type(obj).__name__ == "_ArrayFunctionDispatcher" and id(obj) not in seen:
                seen.add(id(obj))
                rows.append((section, name, obj))
    for name in sorted(dir(np.ndarray)):
        if not name.startswith("_"):
            rows.append(("method", name, None))
    return rows


#: other names of a ufunc (filled by _universe)
ALIASES: dict[str, list[str]] = {}


def _supported(section: str, name: str, obj: Any) -> Callable[[Any], Any] | None:
    """The probe function for a supported entry, None when ad does not trace it."""
    if section == "ufunc":
        return (lambda x, u=obj: u(*([x] * u.nin))) if obj in anp.UFUNCS else None
    if section in ("function", "linalg"):
        return (lambda x, f=obj: f(x)) if obj in anp.FUNCTIONS else None
    attr = getattr(Tracer, name, None)
    if attr is None:
        return None
    if isinstance(attr, property):
        return lambda x, n=name: getattr(x, n)
    return lambda x, n=name: getattr(x, n)()


def rows() -> list[dict[str, Any]]:
    """One dict per NumPy entry: section, name, supported, kind, primitives, modes, engines."""
    covered = _kernel_covered()
    out = []
    for section, name, obj in _universe():
        fn = _supported(section, name, obj)
        row = {"section": section, "name": name, "supported": fn is not None}
        if fn is not None:
            key = {"linalg": f"linalg.{name}", "method": f"method.{name}"}.get(section, name)
            got = probe(key, fn)
            row["kind"], row["prims"] = got if got is not None else ("not probed", [])
            prims = row["prims"]
            both = all(
                registry[p].jvp_rules is not None and registry[p].vjp_rules is not None
                for p in prims
            )
            row["modes"] = "-" if row["kind"] == "concrete" else ("fwd, rev" if both else "?")
            if row["kind"] == "identity":
                row["modes"] = "fwd, rev"
            pending = [p for p in prims if not covered(p)]
            row["engines"] = (
                "both" if not pending else "reference (kernel pending: " + ", ".join(pending) + ")"
            )
        out.append(row)
    return out


_TITLES = {
    "ufunc": "Ufuncs (`np.sin(x)`, `x + y`, ...)",
    "function": "Functions (`numpy.*`)",
    "linalg": "Linear algebra (`numpy.linalg.*`)",
    "method": "Array methods and attributes (`x.sum()`, `x.T`, ...)",
}


def render() -> str:
    """The Markdown text of docs/numpy.md."""
    table = rows()
    lines = [
        "# NumPy coverage",
        "",
        "Generated by `python -m ad.coverage > docs/numpy.md` from the dispatch tables of",
        "`ad/numpy.py` (`UFUNCS`, `FUNCTIONS`; composites in `ad/numpy_ext.py`), the",
        "`Tracer` methods and the primitive registry; `tests/test_coverage.py` checks that",
        f"this file is up to date. NumPy {np.__version__}.",
        "",
        "Every supported function and ufunc takes NumPy's signature and gives NumPy's values",
        "and errors, and its derivatives match finite differences of NumPy's function",
        "(`tests/test_numpy_conformance.py`). Each supported entry was traced at a sample",
        "argument (a probe). Columns:",
        "",
        "- **how**: `primitive` (records one primitive, plus structural gathers),",
        "  `identity` (a copy: derivative 1),",
        "  `composite` (several primitives), `structural` (only `gather` / `scatter_add`,",
        "  index maps fixed at trace time), `concrete` (evaluated on the values: a",
        "  piecewise-constant result such as `round`, `argmax`, comparisons; its derivative",
        "  is zero where it exists, as in JAX);",
        "- **records**: the primitives the probe recorded (`ad/primitives/`);",
        "- **modes**: `fwd, rev` when every recorded primitive has a JVP and a VJP rule (then",
        "  nested derivatives work too: the rules are traced);",
        "- **engines**: `both` (compiled kernels and reference interpreters), or `reference`",
        "  when a recorded primitive has no kernel yet (`KERNEL_PENDING`); with no `engine=`",
        "  given, `ad` then runs the reference interpreters.",
        "",
        "Keywords: `out=` may be a traced array (it is updated in place) but not a NumPy",
        "array; `where=` is supported by the reductions and, with `out=`, by ufuncs;",
        "`dtype=` may only be float64. Ufunc methods: `reduce` (add, multiply, maximum,",
        "minimum, logaddexp), `accumulate` (add, multiply, maximum, minimum), `outer` (every",
        "binary ufunc), `at` (add, subtract, on a traced array). Anything else raises",
        "`ad.errors.UnsupportedOperationError` (or its subclass `UnsupportedArgumentError`",
        "for a keyword), naming the function and `ad/numpy.py`; a function listed as one",
        "that cannot be supported (`ad.numpy.UNSUPPORTED`) raises saying why.",
        "",
    ]
    cannot = {getattr(f, "__name__", ""): why for f, why in anp.UNSUPPORTED.items()}
    n_sup = sum(r["supported"] for r in table)
    lines += [f"**{n_sup} of {len(table)} entries supported.**", ""]
    for section in ("ufunc", "function", "linalg", "method"):
        sec = [r for r in table if r["section"] == section]
        sup = [r for r in sec if r["supported"]]
        lines += [f"## {_TITLES[section]}", "", f"{len(sup)} of {len(sec)} supported.", ""]
        lines += ["| name | how | records | modes | engines |", "|---|---|---|---|---|"]
        for r in sup:
            prims = ", ".join(f"`{p}`" for p in r["prims"]) or "-"
            name = f"`{r['name']}`"
            if section == "ufunc" and ALIASES.get(r["name"]):
                name += " (" + ", ".join(f"`{a}`" for a in ALIASES[r["name"]]) + ")"
            lines.append(f"| {name} | {r['kind']} | {prims} | {r['modes']} | {r['engines']} |")
        missing = [r["name"] for r in sec if not r["supported"] and r["name"] not in cannot]
        if missing:
            lines += ["", "Not supported: " + ", ".join(f"`{m}`" for m in missing) + "."]
        never = [(r["name"], cannot[r["name"]]) for r in sec if r["name"] in cannot]
        if never:
            lines += ["", "Not supported, as they cannot be supported correctly:", ""]
            lines += [f"- `{name}`: {why}." for name, why in never]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Print the table (``python -m ad.coverage > docs/numpy.md``)."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
