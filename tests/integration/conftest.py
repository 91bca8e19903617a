"""The integration suite's stack: real Kafka, S3 and MLflow on free ports, chDB embedded.

The session starts one stack in a fresh state folder and stops it at the end,
whatever happened. A service that does not start fails the session; nothing skips.
``demo`` runs `splitstream demo` on that stack once per session, shared by the loop's
tests and the browser tests.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.settings import Settings, get_settings, load_settings
from plumbing.settings import DEFAULT_STATE_DIR
from stack.local import ensure_local_credentials
from stack.ports import free_port, port_is_free
from stack.private import exported, isolated_env, kafka_passwords_env, running_stack
from tests.conftest import DEMO_MODULES
from tests.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """The environment of the test stack, also exported to this process."""
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-test-"))
    env = isolated_env(state_dir)
    try:
        with exported(env, changed=get_settings.cache_clear):
            yield env
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(stack_env: dict[str, str]) -> Iterator[Settings]:
    """A running local stack; its settings carry the generated credentials."""
    with running_stack(Settings, changed=get_settings.cache_clear) as settings:
        yield settings


@pytest.fixture
def unique() -> str:
    """A fresh suffix, so each test has its own topics, groups and keys."""
    return uuid.uuid4().hex[:12]


# --------------------------------------------------------------------------- the demo

READY_LINE = "running; Ctrl-C stops everything"
DEMO_TIMEOUT_S = 900
#: What stops the session's demo; closed after its last test, or at the session's end.
_DEMO_STOPS = ExitStack()


@dataclass
class DemoRun:
    settings: Settings
    env: dict[str, str]
    process: subprocess.Popen[str]
    lines: list[str]
    webhook: Receiver  # SPLITSTREAM_NOTIFY_WEBHOOK_URL of the demo's promoter

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def _demo_env(stack: Settings, state_dir: Path, webhook_url: str) -> dict[str, str]:
    assert stack.s3_access_key is not None and stack.s3_secret_key is not None
    assert stack.admin_token is not None
    suffix = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITSTREAM_")}
    return {
        **env,
        "SPLITSTREAM_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "SPLITSTREAM_S3_ENDPOINT_URL": stack.s3_endpoint,
        "SPLITSTREAM_S3_ACCESS_KEY": stack.s3_access_key.get_secret_value(),
        "SPLITSTREAM_S3_SECRET_KEY": stack.s3_secret_key.get_secret_value(),
        "SPLITSTREAM_ADMIN_TOKEN": stack.admin_token.get_secret_value(),
        **kafka_passwords_env(stack),  # the stack's broker knows these principals
        "SPLITSTREAM_MLFLOW_TRACKING_URI": stack.mlflow_uri,
        "SPLITSTREAM_S3_BUCKET": f"demo-{suffix}",
        "SPLITSTREAM_TOPIC_PREFIX": f"demo-{suffix}.",
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
        "SPLITSTREAM_SINK_PORT": str(free_port()),
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_LIB_DIR": str(DEFAULT_STATE_DIR / "lib"),
        "SPLITSTREAM_NOTIFY_WEBHOOK_URL": webhook_url,
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


def _settings_of(env: dict[str, str]) -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            if key.startswith("SPLITSTREAM_"):
                patch.setenv(key, value)
        return load_settings()


def _read_lines(process: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if READY_LINE in line:
            ready.set()
    ready.set()  # the demo ended: whoever waits should look


def _uses_demo(item: pytest.Item | None) -> bool:
    return item is not None and "demo" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the shared running demo run together, the loop's first.

    The demo's services then never run beside this session's other tests (nor through
    the stack restart of test_stack_lifecycle): the demo stops right after the last of
    them (``pytest_runtest_teardown``). Under xdist they are one unit of one worker
    (tests/conftest.py), which only knows them by their modules: checked here.
    """

    def rank(item: pytest.Item) -> int:
        if not _uses_demo(item):
            return 0
        return 1 if item.module is not None and item.module.__name__.endswith("test_loop") else 2

    items.sort(key=rank)
    strays = [
        i.nodeid for i in items if _uses_demo(i) and i.nodeid.split("::")[0] not in DEMO_MODULES
    ]
    if strays:
        raise pytest.UsageError(f"add their modules to tests/conftest.py:DEMO_MODULES: {strays}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Stop the demo once the last test that uses it is done, not at the session's end."""
    try:
        return (yield)
    finally:
        if _uses_demo(item) and not _uses_demo(nextitem):
            _DEMO_STOPS.close()


@pytest.fixture(scope="session")
def demo(stack: Settings) -> Iterator[DemoRun]:
    """`splitstream demo` on the session's stack, once it has played the whole loop.

    Shared by every test of the session (it takes minutes to start); at the end it is
    stopped with SIGTERM and nothing may be left: ports free, no pid files. Its promoter
    posts every decision and alert to a webhook receiver of this fixture's
    (``DemoRun.webhook``).
    """
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-demo-"))
    with _DEMO_STOPS:
        webhook = _DEMO_STOPS.enter_context(webhook_receiver())
        yield _DEMO_STOPS.enter_context(contextmanager(_run_demo)(stack, state_dir, webhook))


def _run_demo(stack: Settings, state_dir: Path, webhook: Receiver) -> Iterator[DemoRun]:
    env = _demo_env(stack, state_dir, webhook.url)
    # The demo's local secrets (query token, request-id key, model keys), made before it starts
    # so that this process's settings hold them too; the demo's `stack up` keeps them.
    ensure_local_credentials(_settings_of(env))
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_lines, args=(process, lines, ready), daemon=True)
    reader.start()
    run = DemoRun(_settings_of(env), env, process, lines, webhook)
    try:
        ready.wait(DEMO_TIMEOUT_S)
        print("\n".join(lines[-80:]))
        assert process.poll() is None, "the demo exited:\n" + run.output[-15000:]
        assert any(READY_LINE in line for line in lines), run.output[-15000:]
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=180)
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
        _assert_nothing_left(run)
        shutil.rmtree(state_dir, ignore_errors=True)


def _assert_nothing_left(run: DemoRun) -> None:
    assert port_is_free(run.settings.gateway_port)
    assert port_is_free(run.settings.sink_port)
    assert not list((run.settings.state_dir / "run").glob("*.json"))
