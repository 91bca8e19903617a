"""Unit tests see no service and no SPLITSTREAM_* variable of the caller's shell."""

import os
from collections.abc import Iterator

import pytest

from cli.settings import get_settings
from plumbing.settings import ENV_PREFIX


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    # An empty state folder, so a developer's own .splitstream/local.env is not read.
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(tmp_path_factory.mktemp("state")))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
