"""The bench's own stack and services, started the way the integration tests start theirs.

Everything started here is stopped in a ``finally``; SIGTERM is turned into the same
unwinding as Ctrl-C, so ``kill`` of the bench leaves nothing behind either.
"""

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from plumbing.s3 import s3_client
from plumbing.settings import DEFAULT_STATE_DIR, Settings, get_settings, load_settings
from stack import kafka_node, local, services, supervisor
from stack.services import http_answers
from stack.supervisor import ServiceProcess, free_port
from trainer.main import train_and_publish

#: How long a bench-only process (direct server, echo worker) may take to answer.
START_TIMEOUT_S = 90.0
SERVING_READY_TIMEOUT_S = 60.0


def _stack_env(state_dir: Path) -> dict[str, str]:
    """As tests/integration/conftest.py: a fresh state folder, every port free."""
    return {
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_LIB_DIR": str(DEFAULT_STATE_DIR / "lib"),
        "SPLITSTREAM_KAFKA_PORT": str(free_port()),
        "SPLITSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "SPLITSTREAM_S3_PORT": str(free_port()),
        "SPLITSTREAM_MLFLOW_PORT": str(free_port()),
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
        "SPLITSTREAM_SINK_PORT": str(free_port()),
    }


def _serving_env() -> dict[str, str]:
    """As the ``serving`` fixture: a bucket and topic prefix of this run's own."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "SPLITSTREAM_S3_BUCKET": f"bench-{suffix}",
        "SPLITSTREAM_TOPIC_PREFIX": f"bench-{suffix}.",
    }


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def exported(env: dict[str, str]) -> Iterator[None]:
    """``env`` in this process's environment (the services inherit it), restored after."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextmanager
def private_stack() -> Iterator[Settings]:
    """Kafka, S3 and MLflow on free ports in a temp folder; stopped and deleted at the end."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-bench-"))
    try:
        with exported({**_stack_env(state_dir), **_serving_env()}):
            settings = load_settings()
            try:
                settings = local.up(settings)
                get_settings.cache_clear()
                yield settings
            finally:
                local.down(settings)
                supervisor.reap_children()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def train_models(settings: Settings) -> None:
    """Best and candidate in the run's bucket, as the ``serving`` fixture trains them."""
    s3 = s3_client(settings)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):  # local.up made it
        s3.create_bucket(Bucket=settings.s3_bucket)
    kafka_node.ensure_topics(
        settings.kafka_bootstrap, {t.name: t.partitions for t in settings.topics()}
    )
    train_and_publish(settings, target_slot="best", algorithms=("lasso",))
    train_and_publish(settings, target_slot="candidate", algorithms=("ridge",))


def start_serving(settings: Settings) -> None:
    """The request path (gateway, predictors, scorer) as ``splitstream`` subprocesses.

    Returns once the gateway is ready and routes to a candidate, as the ``serving``
    fixture waits, so the first measured request does not meet a half-started path.
    """
    services.up(settings, only=services.SERVING)
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    deadline = time.monotonic() + SERVING_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if http_answers(f"{base}/readyz") and _routes_to_candidate(f"{base}/v1/experiment"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the gateway at {base} was not ready within {SERVING_READY_TIMEOUT_S} s")


def _routes_to_candidate(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (our own http URL)
            return bool(json.loads(answer.read())["slots"]["candidate"])
    except (OSError, ValueError, KeyError):
        return False


def restart_serving(settings: Settings) -> None:
    """Fresh serving processes: memory is then measured from zero requests."""
    services.down(settings)
    start_serving(settings)


def service_pid(settings: Settings, name: str) -> int:
    """The pid of a running Splitstream service, from the supervisor's pid file."""
    status = supervisor.status(next(p for p in services.app_processes(settings) if p.name == name))
    if status.pid is None or status.state != "running":
        raise RuntimeError(f"{name} is not running ({status.state})")
    return status.pid


def bench_process(
    settings: Settings,
    *,
    name: str,
    module: str,
    args: list[str],
    ports: list[int],
    is_ready: Callable[[], bool],
) -> ServiceProcess:
    """A bench-only process under the same supervisor (pid file, log, process-group stop)."""
    state_dir = Path(settings.state_dir)
    return ServiceProcess(
        name=name,
        command=[sys.executable, "-m", module, *args],
        ports=ports,
        log_file=state_dir / "logs" / f"{name}.log",
        run_dir=state_dir / "run",
        is_ready=is_ready,
        start_timeout_s=START_TIMEOUT_S,
    )


@contextmanager
def running(process: ServiceProcess) -> Iterator[int]:
    """``process`` started and ready; stopped whatever happens."""
    try:
        yield supervisor.start(process)
    finally:
        supervisor.stop(process)
