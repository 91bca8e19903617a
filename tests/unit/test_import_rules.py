"""The folders' import rules (docs/architecture.md), checked on the real import graph.

Every import in every ``.py`` of the project's packages, inside functions too, is read
with ``ast``; a rule that breaks names the module and the import that breaks it.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = frozenset({"gateway", "predictors", "consumers", "promoter", "trainer"})
#: The top of the graph: they may import anything, and nothing imports them but each other.
TOPS = frozenset({"cli", "bench", "chaos", "demo"})
#: Who may import a top besides itself: the demo's pieces are reused by the other tops, and
#: they take the composite of every setting from ``cli.settings`` (and nothing else of cli).
TOP_IMPORTERS = {
    "demo": frozenset({"cli", "bench", "chaos"}),
    "cli": frozenset({"bench", "chaos", "demo"}),
}
#: The one module of cli other packages may import.
CLI_SHARED = "cli.settings"
#: The bottom layers, with everything of the project each may import.
LAYERS = {
    "schemas": frozenset(),
    "plumbing": frozenset({"schemas"}),
    "stack": frozenset({"plumbing", "schemas"}),
}


def _packages() -> frozenset[str]:
    return frozenset(
        path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests"
    )


PACKAGES = _packages()


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level project package) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top in PACKAGES:
                yield node.lineno, top


def _edges() -> list[tuple[str, str, str]]:
    """(importing package, imported package, where) for every import across packages."""
    edges = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, top in _imports(path):
                if top != package:
                    edges.append((package, top, f"{path.relative_to(ROOT)}:{line}"))
    return edges


EDGES = _edges()


def test_the_graph_is_read_from_every_package() -> None:
    # The rules below would pass on an empty graph: the services and the layers must be seen.
    assert SERVICES | set(LAYERS) | {"cli"} <= PACKAGES
    importers = {source for source, _, _ in EDGES}
    assert importers >= SERVICES
    assert ("gateway", "plumbing") in {(source, target) for source, target, _ in EDGES}


def test_no_service_imports_another_service() -> None:
    broken = [
        f"{where}: {source} imports {target}"
        for source, target, where in EDGES
        if source in SERVICES and target in SERVICES
    ]
    assert broken == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_the_bottom_layers_import_only_what_lies_below_them(layer: str) -> None:
    broken = [
        f"{where}: {source} imports {target}"
        for source, target, where in EDGES
        if source == layer and target not in LAYERS[layer]
    ]
    assert broken == []


def test_shared_packages_import_no_service_and_no_top() -> None:
    shared = PACKAGES - SERVICES - TOPS
    assert {"plumbing", "stack", "clients", "pricing"} <= shared
    broken = [
        f"{where}: {source} imports {target}"
        for source, target, where in EDGES
        if source in shared and (target in SERVICES or target in TOPS)
    ]
    assert broken == []


def test_nothing_but_a_top_imports_a_top() -> None:
    broken = [
        f"{where}: {source} imports {target}"
        for source, target, where in EDGES
        if target in TOPS and source not in TOP_IMPORTERS.get(target, frozenset())
    ]
    assert broken == []


def test_other_packages_take_only_the_settings_from_cli() -> None:
    broken = []
    for package in sorted(PACKAGES - {"cli"}):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                broken += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {module}"
                    for module in modules
                    if module.split(".")[0] == "cli" and module != CLI_SHARED
                ]
    assert broken == []
