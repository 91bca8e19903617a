"""Where Prometheus finds the services `splitstream up` started: file-based service discovery.

Most local services listen on a port picked at start (a free one; the gateway and the sink
have fixed ones), recorded in their pid files. After every ``up`` and ``down``,
``write_scrape_folder`` writes ``<state dir>/prometheus/``:

- ``targets.json``: one target per service with a pid file, at the address its /metrics
  answers on, labelled ``service`` (the name ``splitstream stack status`` shows);
- ``prometheus.yml`` and ``rules.yml``: copies of ``deploy/prometheus/local.yml`` (which reads
  ``targets.json`` beside it) and of the alerting rules.

Prometheus re-reads ``targets.json`` when it changes, so a restart on a new port is followed.
``prometheus --config.file=<state dir>/prometheus/prometheus.yml`` scrapes them all.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

from plumbing.settings import PROJECT_ROOT
from plumbing.settings_stack import StackSettings
from stack import state_dirs, supervisor

DEPLOY_DIR = PROJECT_ROOT / "deploy" / "prometheus"
#: The backing services: they serve no Prometheus metrics of their own.
BACKING = frozenset({"kafka", "s3", "mlflow"})
#: What a listener bound to every address is reached on from this machine.
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (a comparison, not a bind)


def scrape_folder(settings: StackSettings) -> Path:
    return Path(settings.state_dir) / "prometheus"


def metrics_host(settings: StackSettings, service: str) -> str:
    """The address a local service's /metrics answers on."""
    if service.startswith("gateway"):
        host = settings.gateway_host
    elif service == "sink":
        host = settings.sink_host
    else:  # predictors, scorer, promoter, windows: the stack's own address
        host = settings.stack_host
    return "127.0.0.1" if host in ANY_ADDRESS else host


def scrape_targets(settings: StackSettings, ports: dict[str, list[int]]) -> list[dict[str, Any]]:
    """File-SD entries for each service of ``ports`` (name -> its recorded ports), sorted.

    Gateway workers with a metrics port of their own (``gateway_metrics_port``) are one
    target each, labelled ``worker``: the shared port would answer from any one of them.
    """
    entries: list[dict[str, Any]] = []
    for name in sorted(ports):
        if not ports[name] or name in BACKING or name.startswith("kafka-"):  # cluster nodes
            continue
        host = metrics_host(settings, name)
        if name.startswith("gateway") and _worker_ports(settings):
            entries.extend(
                {"targets": [f"{host}:{port}"], "labels": {"service": name, "worker": str(i)}}
                for i, port in enumerate(_worker_ports(settings))
            )
        else:
            entries.append({"targets": [f"{host}:{ports[name][0]}"], "labels": {"service": name}})
    return entries


def _worker_ports(settings: StackSettings) -> list[int]:
    base = settings.gateway_metrics_port
    if not base or settings.gateway_workers < 2:
        return []
    return [base + i for i in range(settings.gateway_workers)]


def started_services(settings: StackSettings) -> dict[str, list[int]]:
    """Every service with a pid file in the state folder, and the ports it was started on."""
    run_dir = Path(settings.state_dir) / "run"
    return {
        pid_file.stem: supervisor.ports_in_pid_file(pid_file)
        for pid_file in sorted(run_dir.glob("*.json"))
    }


def write_scrape_folder(settings: StackSettings) -> Path:
    """Write the targets of the started services, the scrape config and the rules.

    Returns:
        The folder's ``prometheus.yml``.
    """
    folder = scrape_folder(settings)
    state_dirs.make_private(folder)
    shutil.copyfile(DEPLOY_DIR / "rules.yml", folder / "rules.yml")
    shutil.copyfile(DEPLOY_DIR / "local.yml", folder / "prometheus.yml")
    targets = scrape_targets(settings, started_services(settings))
    # Written whole and renamed: Prometheus may read the file at any moment.
    partial = folder / "targets.json.partial"
    partial.write_text(json.dumps(targets, indent=2) + "\n")
    os.replace(partial, folder / "targets.json")
    return folder / "prometheus.yml"
