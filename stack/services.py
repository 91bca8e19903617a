"""Splitstream's own services as local processes: sink, predictors, scorer, gateway, promoter.

They run under the same supervisor as the backing services, so ``splitstream
stack status`` and ``stack down`` see them too.
"""

import sys
import urllib.error
import urllib.request
from collections.abc import Collection
from pathlib import Path

from plumbing.settings import KafkaRole
from plumbing.settings_stack import StackSettings
from stack import scrape_targets, supervisor
from stack.ports import free_port
from stack.supervisor import ServiceProcess

# name, CLI arguments; predictors run one worker per slot here, more can be added by hand.
APP_SERVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sink", ("sink",)),  # stopped last (down runs in reverse): it stores what others produce
    ("predictor-prod", ("predictor", "--slot", "prod")),
    ("predictor-candidate", ("predictor", "--slot", "candidate")),
    ("scorer", ("predictor", "--slot", "score")),
    ("gateway", ("gateway",)),
    ("promoter", ("promoter",)),
    ("windows", ("promoter", "--windows")),  # the Faust agent: window counts -> triggers
)
APP_START_TIMEOUT_S = 90.0


def http_answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when ``url`` answers 2xx."""
    if not url.startswith("http://"):
        raise ValueError(f"not an http URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def kafka_role(name: str) -> KafkaRole:
    """The Kafka principal a service of this name runs as (README: Kafka principals)."""
    if name.startswith("gateway"):
        return "gateway"
    if name.startswith("predictor") or name == "scorer":
        return "predictor"
    roles: dict[str, KafkaRole] = {"sink": "sink", "promoter": "promoter", "windows": "agent"}
    return roles[name]


def _process(
    settings: StackSettings,
    name: str,
    args: tuple[str, ...],
    port: int,
    extra_env: dict[str, str] | None = None,
) -> ServiceProcess:
    env = {
        "SPLITSTREAM_STATE_DIR": str(settings.state_dir),
        "SPLITSTREAM_KAFKA_ROLE": kafka_role(name),
        **(extra_env or {}),
    }
    if name.startswith("gateway"):
        env["SPLITSTREAM_GATEWAY_PORT"] = str(port)
        url = f"http://{settings.gateway_host}:{port}/healthz"
    elif name == "sink":
        env["SPLITSTREAM_SINK_PORT"] = str(port)
        url = f"http://{settings.sink_host}:{port}/healthz"  # 200 once its tables exist
    elif name == "promoter":
        env["SPLITSTREAM_PROMOTER_METRICS_PORT"] = str(port)
        url = f"http://127.0.0.1:{port}/metrics"
    elif name == "windows":
        env["SPLITSTREAM_PROMOTER_AGENT_WEB_PORT"] = str(port)
        url = f"http://{settings.stack_host}:{port}/counts/"
    else:
        env["SPLITSTREAM_PREDICTOR_METRICS_PORT"] = str(port)
        url = f"http://127.0.0.1:{port}/metrics"
    log_dir = Path(settings.state_dir) / "logs"
    return ServiceProcess(
        name=name,
        command=[sys.executable, "-m", "cli", *args],
        ports=[port],
        log_file=log_dir / f"{name}.log",
        run_dir=Path(settings.state_dir) / "run",
        is_ready=lambda: http_answers(url),
        start_timeout_s=APP_START_TIMEOUT_S,
        env=env,
    )


def gateway_process(
    settings: StackSettings, *, name: str, port: int, reply_partition: int, workers: int = 1
) -> ServiceProcess:
    """A gateway on its own port and reply partitions (``workers`` processes from there)."""
    env = {
        "SPLITSTREAM_GATEWAY_REPLY_PARTITION": str(reply_partition),
        "SPLITSTREAM_GATEWAY_WORKERS": str(workers),
    }
    return _process(settings, name, ("gateway",), port, env)


def predictor_process(settings: StackSettings, *, name: str, slot: str) -> ServiceProcess:
    """One more predictor worker of ``slot``; it joins the slot's consumer group."""
    return _process(settings, name, ("predictor", "--slot", slot), _metrics_port(settings, name))


def promoter_process(
    settings: StackSettings, extra_env: dict[str, str] | None = None
) -> ServiceProcess:
    """The promoter, with ``extra_env`` on top (e.g. ``SPLITSTREAM_FAILPOINTS`` for chaos).

    It is the service ``up`` and ``down`` know as ``promoter``, so ``down`` stops it too.
    """
    return _process(
        settings, "promoter", ("promoter",), _metrics_port(settings, "promoter"), extra_env
    )


def _metrics_port(settings: StackSettings, name: str) -> int:
    """The port a running predictor was started with, else a free one for a new start."""
    recorded = supervisor.ports_in_pid_file(Path(settings.state_dir) / "run" / f"{name}.json")
    return recorded[0] if recorded else free_port()


def _fixed_ports(settings: StackSettings) -> dict[str, int]:
    """Services other processes find by a configured port (the rest pick a free one)."""
    return {"gateway": settings.gateway_port, "sink": settings.sink_port}


def app_processes(settings: StackSettings) -> list[ServiceProcess]:
    """The services, each with the port it runs (or would run) on."""
    return [
        _process(
            settings,
            name,
            args,
            _fixed_ports(settings).get(name) or _metrics_port(settings, name),
        )
        for name, args in APP_SERVICES
    ]


#: The request path alone: what serving needs, without the sink and the promoter.
SERVING = ("predictor-prod", "predictor-candidate", "scorer", "gateway")


def up(settings: StackSettings, only: Collection[str] | None = None) -> None:
    """Start every service (or those named in ``only``) that is not running, together;
    returns once all answer. Prometheus's targets are written then (stack/scrape_targets.py)."""
    chosen = [p for p in app_processes(settings) if only is None or p.name in only]
    try:
        supervisor.start_all(chosen)
    finally:
        scrape_targets.write_scrape_folder(settings)


def down(settings: StackSettings) -> list[str]:
    """Stop the services, gateway first so no request is left without a predictor."""
    stopped = [p.name for p in reversed(app_processes(settings)) if supervisor.stop(p)]
    if scrape_targets.scrape_folder(settings).exists():  # what is left (none, usually)
        scrape_targets.write_scrape_folder(settings)
    return stopped
