"""The package's shape, checked on every run: its layers, no import cycle (imports inside
functions included), modules under 400 lines, functions under 60, a docstring opening every
module, and docs/architecture.md naming every module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.factory import REPO

PACKAGE = REPO / "osbundle"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# Lowest first. A module imports modules of its own unit (a top-level module, or a sub-package)
# and of units in lower layers, never of a higher one: `cli` is the only importer of `cli`.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "errors diagnostics kinds model names resources observer interrupts gcpause",
        "yaml tarstream destinations",
        "macros",
        "profile",
        "stages bundle",
        "pipeline plan",
        "jobs",
        "service",
        "cli",
        "__main__",
    )
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def unit(module: str) -> str:
    """`osbundle.profile.load` -> `profile`; `osbundle.pipeline` -> `pipeline`."""
    return module.split(".")[1] if module != "osbundle" else "__init__"


def layer_of(module: str) -> int:
    name = unit(module)
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def imports(path: Path) -> Iterator[str]:
    """Every osbundle module `path` imports, at the top or inside a function."""
    known = modules()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("osbundle"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("osbundle"):
            base = node.module or ""
            for alias in node.names:
                child = f"{base}.{alias.name}"
                yield child if child in known else base


@cache
def graph() -> dict[str, frozenset[str]]:
    return {
        name: frozenset(i for i in imports(path) if i != name) for name, path in modules().items()
    }


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit(m) for m in modules()} - {"__init__"}
    placed = set().union(*LAYERS)
    assert units == placed


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    ring = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert cycles(ring) == [["a", "b", "c"]]


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if unit(a) != unit(b) and b != "osbundle" and layer_of(b) > layer_of(a)
    ]
    assert upward == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size_and_docstring(name: str) -> None:
    path = modules()[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path} is over {MAX_MODULE_LINES} lines"
    tree = ast.parse(text)
    if name != "osbundle.__main__":
        assert ast.get_docstring(tree), f"{path} has no docstring saying what it is for"
    if path.name == "__init__.py" and name != "osbundle":
        docstring = text.split("\n", 1)[0]
        assert docstring.startswith('"""'), f"{path} opens with its docstring"
        assert docstring.endswith('"""'), f"{path}: one line says what the package is for"
        assert len(tree.body) == 1, f"{path}: a package's face holds its docstring only"
    long = [
        f"{n.name} ({n.end_lineno - n.lineno + 1} lines)"  # type: ignore[operator]
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES  # type: ignore[operator]
    ]
    assert long == [], f"{path}: functions over {MAX_FUNCTION_LINES} lines"


def test_about_a_dozen_modules_at_the_top() -> None:
    top = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= 13, sorted(top)


def test_the_architecture_document_names_every_module() -> None:
    document = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(PACKAGE))
        for path in modules().values()
        if path.name != "__init__.py" and str(path.relative_to(PACKAGE)) not in document
    ]
    assert missing == []
