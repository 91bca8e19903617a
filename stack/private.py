"""A stack of one's own: fresh state folder, free ports, a bucket and topic prefix per run.

The integration suite, ``make bench`` and ``make chaos`` all start their stacks this
way, so a run never meets another's data, ports or topics.
"""

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

from plumbing.settings import DEFAULT_STATE_DIR, ENV_PREFIX, KAFKA_ROLES
from plumbing.settings_kafka import KafkaSettings
from plumbing.settings_stack import StackSettings
from stack import local, supervisor
from stack.ports import free_port, port_is_free


def isolated_env(state_dir: Path, *, kafka_nodes: int = 1) -> dict[str, str]:
    """A fresh state folder and a free port for every listener; the jars stay shared.

    ``kafka_nodes`` above 1: a local cluster, each node's ports ``KAFKA_NODE_PORT_STEP``
    above the previous node's, all free now.
    """
    return {
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_LIB_DIR": str(DEFAULT_STATE_DIR / "lib"),
        **_kafka_ports_env(kafka_nodes),
        "SPLITSTREAM_S3_PORT": str(free_port()),
        "SPLITSTREAM_MLFLOW_PORT": str(free_port()),
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
        "SPLITSTREAM_SINK_PORT": str(free_port()),
    }


#: Port distance between a private cluster's nodes.
PRIVATE_NODE_PORT_STEP = 7


def _kafka_ports_env(nodes: int) -> dict[str, str]:
    names = ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_INTERNAL_PORT")
    if nodes == 1:
        return {f"{ENV_PREFIX}{name}": str(free_port()) for name in names}
    taken: set[int] = set()
    env = {
        f"{ENV_PREFIX}KAFKA_NODES": str(nodes),
        f"{ENV_PREFIX}KAFKA_NODE_PORT_STEP": str(PRIVATE_NODE_PORT_STEP),
    }
    for name in names:
        base = free_port_ladder(nodes, PRIVATE_NODE_PORT_STEP, avoid=taken)
        taken |= {base + i * PRIVATE_NODE_PORT_STEP for i in range(nodes)}
        env[f"{ENV_PREFIX}{name}"] = str(base)
    return env


def free_port_ladder(count: int, step: int, *, avoid: set[int], attempts: int = 200) -> int:
    """A port ``p`` such that ``p, p + step, ... p + (count - 1) * step`` are all free now."""
    for _ in range(attempts):
        base = free_port(headroom=(count - 1) * step)
        ladder = [base + i * step for i in range(count)]
        if not avoid & set(ladder) and all(map(port_is_free, ladder)):
            return base
    raise RuntimeError(f"no {count} free ports {step} apart after {attempts} tries")


def kafka_passwords_env(settings: KafkaSettings) -> dict[str, str]:
    """``SPLITSTREAM_KAFKA_PASSWORD_<ROLE>`` of every principal ``settings`` hold: for a
    process with a state folder (and so a local.env) of its own on the same broker."""
    return {
        f"{ENV_PREFIX}KAFKA_PASSWORD_{role.upper()}": password.get_secret_value()
        for role in KAFKA_ROLES
        if (password := settings.kafka_password(role)) is not None
    }


def namespace_env(name: str) -> dict[str, str]:
    """A bucket and topic prefix of this run's own, ``name`` plus a random suffix."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "SPLITSTREAM_S3_BUCKET": f"{name}-{suffix}",
        "SPLITSTREAM_TOPIC_PREFIX": f"{name}-{suffix}.",
    }


def _nothing() -> None:
    pass


@contextmanager
def exported(env: dict[str, str], *, changed: Callable[[], None] = _nothing) -> Iterator[None]:
    """``env`` in this process's environment (the services inherit it), restored after.

    ``changed`` runs after each change: a caller's cached settings (``get_settings``) go.
    """
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    changed()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        changed()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


#: The settings class a caller reads the stack with: the stack's own, or every setting.
S = TypeVar("S", bound=StackSettings)


@contextmanager
def running_stack(
    settings_class: type[S], *, changed: Callable[[], None] = _nothing
) -> Iterator[S]:
    """The local stack of this process's environment, started; stopped whatever happens.

    Yields the settings (of ``settings_class``) reloaded with the credentials the stack
    generated; ``changed`` runs once they are.
    """
    settings = settings_class.load()
    try:
        settings = local.up(settings)
        changed()
        yield settings
    finally:
        local.down(settings)
        supervisor.reap_children()


@contextmanager
def private_stack(
    name: str,
    settings_class: type[S],
    *,
    kafka_nodes: int = 1,
    changed: Callable[[], None] = _nothing,
) -> Iterator[S]:
    """Kafka, S3 and MLflow on free ports in a temp folder; stopped and deleted at the end.

    ``kafka_nodes``: 3 runs a local Kafka cluster. SIGTERM unwinds like Ctrl-C, so
    ``kill`` of the caller leaves nothing running either.
    """
    previous = signal.signal(signal.SIGTERM, _terminate)
    state_dir = Path(tempfile.mkdtemp(prefix=f"splitstream-{name}-"))
    env = {**isolated_env(state_dir, kafka_nodes=kafka_nodes), **namespace_env(name)}
    try:
        with (
            exported(env, changed=changed),
            running_stack(settings_class, changed=changed) as up,
        ):
            yield up
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
