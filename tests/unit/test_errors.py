"""One error tree: each package's errors in its errors.py, all under SplitstreamError, each
name defined once.

The source is read (not only imported), so an error class defined in any other module, or
a package with errors but no errors.py, is found too.
"""

import ast
import builtins
import importlib
import inspect
from pathlib import Path

import pytest

from schemas.errors import SplitstreamError

ROOT = Path(__file__).resolve().parents[2]
#: Every package of the project (a folder with an __init__.py), tests aside.
PACKAGES = sorted(
    path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests"
)
ERRORS_MODULES = [
    f"{package}.errors" for package in PACKAGES if (ROOT / package / "errors.py").exists()
]
BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _errors_of(module_name: str) -> list[type[BaseException]]:
    """The exception classes ``module_name`` defines (not those it imports)."""
    module = importlib.import_module(module_name)
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module_name
    ]


def _project_error_names() -> set[str]:
    return {error.__name__ for module in ERRORS_MODULES for error in _errors_of(module)}


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


def _is_error_base(name: str, project_errors: set[str]) -> bool:
    return (
        name in BUILTIN_ERRORS
        or name in project_errors
        or name.endswith(("Error", "Exception", "Warning"))
    )


def _error_classes_in_source() -> list[tuple[Path, str]]:
    """(file, class name) of every class in the project's source that derives from an error."""
    project_errors = _project_error_names()
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    _is_error_base(_base_name(base), project_errors) for base in node.bases
                ):
                    found.append((path.relative_to(ROOT), node.name))
    return found


def test_the_project_has_packages_and_errors_modules_to_check() -> None:
    assert {"gateway", "plumbing", "promoter", "trainer"} <= set(PACKAGES)
    assert "plumbing.errors" in ERRORS_MODULES and "promoter.errors" in ERRORS_MODULES


@pytest.mark.parametrize("module_name", ERRORS_MODULES)
def test_every_error_of_a_package_derives_from_the_project_root(module_name: str) -> None:
    errors = _errors_of(module_name)
    assert errors, f"{module_name} defines no error"
    outside = [error.__qualname__ for error in errors if not issubclass(error, SplitstreamError)]
    assert outside == [], f"{module_name}: not under SplitstreamError: {outside}"


def test_every_error_class_is_defined_in_its_package_errors_module() -> None:
    misplaced = [
        f"{path}: {name}"
        for path, name in _error_classes_in_source()
        if path.name != "errors.py" or len(path.parts) != 2
    ]
    assert misplaced == [], "error classes outside <package>/errors.py:\n" + "\n".join(misplaced)


def test_no_error_class_name_is_defined_twice() -> None:
    places: dict[str, list[str]] = {}
    for path, name in _error_classes_in_source():
        places.setdefault(name, []).append(str(path))
    twice = {name: where for name, where in places.items() if len(where) > 1}
    assert twice == {}, f"error classes defined more than once: {twice}"
