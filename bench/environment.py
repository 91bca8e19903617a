"""The bench's own stack and services, started the way the integration tests start theirs.

Everything started here is stopped in a ``finally``; SIGTERM is turned into the same
unwinding as Ctrl-C, so ``kill`` of the bench leaves nothing behind either.
"""

import json
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cli.settings import Settings
from stack import services, supervisor
from stack.services import http_answers
from stack.supervisor import ServiceProcess

#: How long a bench-only process (direct server, echo worker) may take to answer.
START_TIMEOUT_S = 90.0
SERVING_READY_TIMEOUT_S = 60.0


def gateway_url(settings: Settings) -> str:
    return f"http://{settings.gateway_host}:{settings.gateway_port}"


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
