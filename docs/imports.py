"""The import graph of the ``ad`` package, read from the code: ``python docs/imports.py``.

Parses every ``ad/**/*.py`` with :mod:`ast` and prints, per module, the ``ad`` modules
it imports at module level (``import ad.x``, ``from ad.x import y``, ``from ad import
x`` where ``x`` is a module: an edge to ``ad.x``, not to ``ad``; relative imports),
then the cycles among those edges. Only direct edges: importing ``ad.kernels.run`` also
runs ``ad/__init__.py`` and ``ad/kernels/__init__.py`` first, which is not drawn.
Imports inside functions and classes are left out: they run at call time, after every
module is loaded, and are how the package breaks its would-be cycles. Imports under
``if TYPE_CHECKING:`` are left out too (they never run). ``--mermaid`` prints a mermaid
``graph`` instead of the text listing. Output of the text form is in
``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ad"


def module_name(path: Path) -> str:
    """``ad/kernels/run.py`` -> ``ad.kernels.run``; ``ad/sparse/__init__.py`` -> ``ad.sparse``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (generated ``__pycache__`` excluded)."""
    found = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    return dict(sorted(found.items()))


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is loaded: at module level, also
    inside module-level ``if``/``try`` blocks, not inside functions or classes."""
    out: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, ast.If):
            if not _type_checking(node):
                stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)
    return out


def edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the ``ad`` modules it imports at load time (itself excluded)."""
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _top_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
                names: list[str] = []
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                bases = [base]
                names = [alias.name for alias in node.names]
            if isinstance(node, ast.Import):
                targets.update(b for b in bases if b in mods)
                continue
            base = bases[0]
            for sub in names:  # ``from ad import numpy``: an edge to the module ad.numpy
                if f"{base}.{sub}" in mods:
                    targets.add(f"{base}.{sub}")
                elif base in mods:  # a name defined in the module (or package) ``base``
                    targets.add(base)
        targets.discard(name)
        graph[name] = targets
    return graph


def deferred(mods: dict[str, Path], graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """module -> the ``ad`` modules it imports only inside a function or under
    ``TYPE_CHECKING`` (not edges of ``graph``: they run at call time)."""
    out: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        top = set(map(id, _top_level_imports(tree)))
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in top:
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in mods:
                subs = {f"{node.module}.{a.name}" for a in node.names}
                found.update(subs & set(mods) or {node.module})
        found -= graph[name] | {name}
        if found:
            out[name] = found
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _cycles_text(graph: dict[str, set[str]]) -> list[str]:
    found = cycles(graph)
    if not found:
        return ["cycles (module-level imports only): none"]
    return ["cycles (module-level imports only):", *(f"  {' <-> '.join(c)}" for c in found)]


def text(graph: dict[str, set[str]], later: dict[str, set[str]]) -> str:
    """One line per module, ``module -> imported, ...``; the cycles; then the deferred
    imports (``later``, from :func:`deferred`)."""
    width = max(map(len, graph))
    lines = [
        f"{name:<{width}} -> {', '.join(sorted(graph[name])) or '(no ad module)'}" for name in graph
    ]
    lines += ["", *_cycles_text(graph), "", "deferred (inside functions, or TYPE_CHECKING):"]
    lines += [f"  {name:<{width}} -> {', '.join(sorted(later[name]))}" for name in later]
    return "\n".join(lines)


def mermaid(graph: dict[str, set[str]]) -> str:
    """A mermaid ``graph BT`` (bottom to top: an arrow points at what is imported)."""
    lines = ["graph BT"]
    for name in graph:
        for target in sorted(graph[name]):
            lines.append(f"  {name} --> {target}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    mods = modules()
    graph = edges(mods)
    print(mermaid(graph) if "--mermaid" in argv else text(graph, deferred(mods, graph)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
