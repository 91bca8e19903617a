"""Every top-level package ships in the wheel the Dockerfile installs (pyproject's list)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Run from a checkout only (`make test`, `make bench`, `make chaos`), never from the image.
CHECKOUT_ONLY = frozenset({"tests", "bench", "chaos"})


def test_every_top_level_package_is_in_the_wheel_and_nothing_else() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    found = {path.parent.name for path in ROOT.glob("*/__init__.py")} - CHECKOUT_ONLY
    assert len(listed) == len(set(listed))
    assert set(listed) == found
