"""The module import graph of a package and its import cycles (issue 15: the simulator in rooms).

    .venv/bin/python tools/import_cycles.py                    # cycles touching swallowtail.sim
    .venv/bin/python tools/import_cycles.py swallowtail.sim -v # ... and every function-level import

Each module of `src/swallowtail` is parsed (not imported); an edge A -> B is an `import B` / `from B import
x` in A (`from P import m` with `m` a submodule of package P is an edge to `P.m`). Module-level and
function-level imports are told apart: a function-level import does not run at import time, so it cannot
make Python's import fail, but a cycle closed by one is still a cycle in the design. Imports under `if
TYPE_CHECKING:` never run and are left out. A package's implicit import of its parent `__init__` is not an
edge (as in pydeps and import-linter). Exit status 1 when a cycle touches the prefix.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT_PACKAGE = "swallowtail"
DEFAULT_PREFIX = "swallowtail.sim"


def modules(src: Path = SRC, root: str = ROOT_PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module under `src/root`."""
    out: dict[str, Path] = {}
    for f in sorted((src / root).rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that `name` is or lies in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def edges(known: dict[str, Path]) -> dict[str, dict[str, bool]]:
    """module -> {imported module: True if some import of it is at module level}."""
    graph: dict[str, dict[str, bool]] = {m: {} for m in known}
    for mod, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        typing_only = {
            id(n)
            for s in tree.body
            if isinstance(s, ast.If) and _is_type_checking(s.test)
            for n in ast.walk(s)
        }
        top = {id(n) for n in tree.body} | {
            id(n) for s in tree.body if isinstance(s, ast.If | ast.Try) for n in ast.walk(s)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod if is_pkg else mod.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}" if base else pkg
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for t in targets:
                r = _resolve(t, known)
                if r is None or r == mod:
                    continue
                graph[mod][r] = graph[mod].get(r, False) or id(node) in top
    return graph


def cycles(graph: dict[str, dict[str, bool]], module_level_only: bool = False) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def succ(v: str) -> list[str]:
        return [w for w, top in graph[v].items() if top or not module_level_only]

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ(v):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    prefix = args[0] if args else DEFAULT_PREFIX
    graph = edges(modules())
    bad = 0
    for label, only_top in (("all imports", False), ("module-level imports", True)):
        found = [c for c in cycles(graph, only_top) if any(m.startswith(prefix) for m in c)]
        print(f"cycles touching {prefix} ({label}): {len(found)}")
        for c in found:
            deferred = [f"{a} -> {b}" for a in c for b, top in graph[a].items() if b in c and not top]
            print(f"  {len(c)} modules: {', '.join(c)}")
            if deferred:
                print(f"    closed by function-level imports: {', '.join(deferred)}")
        bad += len(found)
    if verbose:
        for a in sorted(graph):
            for b, top in sorted(graph[a].items()):
                if a.startswith(prefix) and not top:
                    print(f"function-level: {a} -> {b}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
