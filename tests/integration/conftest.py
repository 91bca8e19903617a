"""The integration suite's stack: real Kafka, S3 and MLflow on free ports, chDB embedded.

The session starts one stack in a fresh state folder and stops it at the end,
whatever happened. A service that does not start fails the session; nothing skips.
"""

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plumbing.settings import DEFAULT_STATE_DIR, Settings, get_settings, load_settings
from stack import local
from stack.supervisor import free_port


def _stack_env(state_dir: Path) -> dict[str, str]:
    return {
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_LIB_DIR": str(DEFAULT_STATE_DIR / "lib"),
        "SPLITSTREAM_KAFKA_PORT": str(free_port()),
        "SPLITSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "SPLITSTREAM_S3_PORT": str(free_port()),
        "SPLITSTREAM_MLFLOW_PORT": str(free_port()),
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
    }


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """The environment of the test stack, also exported to this process."""
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-test-"))
    env = _stack_env(state_dir)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(stack_env: dict[str, str]) -> Iterator[Settings]:
    """A running local stack; its settings carry the generated credentials."""
    settings = load_settings()
    try:
        settings = local.up(settings)
        get_settings.cache_clear()
        yield settings
    finally:
        local.down(settings)


@pytest.fixture
def unique() -> str:
    """A fresh suffix, so each test has its own topics, groups and keys."""
    return uuid.uuid4().hex[:12]
