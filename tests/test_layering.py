"""The packages' import graph: no cycles, and the layers import downwards only.

Read from the source with ``ast`` rather than from ``sys.modules`` after importing, so every
import counts: those inside functions and those under ``TYPE_CHECKING`` too, which hide a
cycle at run time without removing it from the design. The layers, bottom up: ``geo``,
``schemas`` (which may use ``geo``), ``zones`` (which may use both), ``pipelines``.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _package_folders() -> dict[str, Path]:
    """Installed package name -> its folder in the repository (``pilotzone.zones`` -> ``zones/``)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {package: REPO / folder for package, folder in mapping.items()}


def _modules() -> dict[str, Path]:
    """Every module of every package, by its dotted name."""
    modules: dict[str, Path] = {}
    for package, folder in _package_folders().items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The modules ``name`` imports, anywhere in its source, as dotted names.

    ``from package import name`` counts as importing the submodule when ``name`` is one, and
    the package otherwise.
    """
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


IMPORTS: dict[str, set[str]] = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph is a few hundred modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _in(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def test_the_graph_covers_every_package() -> None:
    assert {"pilotzone.geo", "pilotzone.schemas", "pilotzone.zones", "pilotzone.pipelines"} <= set(MODULES)
    assert "pilotzone.zones.zone" in IMPORTS["pilotzone.zones.index"]


def test_no_import_cycles() -> None:
    assert _cycles(IMPORTS) == []


def test_cycle_detection_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("pilotzone.geo", ("pilotzone.schemas", "pilotzone.zones", "pilotzone.pipelines", "apache_beam")),
        ("pilotzone.schemas", ("pilotzone.zones", "pilotzone.pipelines", "apache_beam")),
        ("pilotzone.zones", ("pilotzone.pipelines", "apache_beam")),
    ],
)
def test_layers_import_downwards_only(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = {
        module: sorted(target for target in targets if _in(target, *forbidden))
        for module, targets in IMPORTS.items()
        if _in(module, layer)
    }
    assert {module: targets for module, targets in wrong.items() if targets} == {}
