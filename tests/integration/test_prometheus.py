"""Debian's Prometheus scrapes every service of the running demo (`splitstream up`'s set).

The demo wrote ``<state dir>/prometheus/`` when it started its services
(stack/scrape_targets.py): the local scrape config, the alerting rules and the targets it
discovered. Prometheus runs here with exactly that folder, on a free port, and every
target must be up and every rule loaded. Then every expression of the Grafana dashboard
and of the rules must read metrics the live services expose (their /metrics, scraped
directly, families without samples included) and must run on Prometheus.
"""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stack.ports import free_port
from stack.services import APP_SERVICES
from tests.integration.conftest import DemoRun
from tests.metric_names import (
    PROMETHEUS_OWN,
    dashboard_exprs,
    exposed_names,
    promql_names,
    recorded_names,
    rule_exprs,
)

PROMETHEUS = "/usr/bin/prometheus"
#: Scrapes run every 10 s (deploy/prometheus/local.yml); the first within one interval.
ALL_UP_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def prometheus(demo: DemoRun) -> Iterator[str]:
    """Prometheus on the demo's scrape folder; its base URL. Stopped and deleted after."""
    assert Path(PROMETHEUS).exists(), "no prometheus: run `make prometheus`"
    config = demo.settings.state_dir / "prometheus" / "prometheus.yml"
    assert config.is_file(), "splitstream up wrote no scrape folder"
    data = Path(tempfile.mkdtemp(prefix="splitstream-prometheus-"))
    port = free_port()
    log = (data / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={data / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def _api(base: str, path: str, **params: str) -> Any:
    answer = httpx.get(f"{base}/api/v1/{path}", params=params, timeout=10)
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]


def _targets_when_all_up(base: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + ALL_UP_TIMEOUT_S
    targets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            targets = _api(base, "targets")["activeTargets"]
        except httpx.HTTPError:
            targets = []
        if targets and all(t["health"] == "up" for t in targets):
            return targets
        time.sleep(1.0)
    raise AssertionError(f"not every target is up after {ALL_UP_TIMEOUT_S} s: {targets}")


def test_prometheus_scrapes_every_service_of_splitstream_up_all_up(prometheus: str) -> None:
    # When Prometheus runs on the folder `splitstream up` wrote
    targets = _targets_when_all_up(prometheus)

    # Then each of `splitstream up`'s services is one target, and each is up
    services = sorted(t["labels"]["service"] for t in targets)
    assert services == sorted(name for name, _ in APP_SERVICES)
    assert {t["labels"]["job"] for t in targets} == {"splitstream"}
    up = _api(prometheus, "query", query='up{job="splitstream"}')["result"]
    assert sorted((r["metric"]["service"], r["value"][1]) for r in up) == [
        (name, "1") for name in services
    ]

    # And every rule of rules.yml is loaded and evaluates without error
    groups = _api(prometheus, "rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {r["name"] for r in rules} >= {
        "SplitstreamSampleRatioMismatch",
        "SplitstreamSinkFallingBehind",
        "variant:splitstream_gateway_error_ratio:rate10m",
    }
    assert [r["name"] for r in rules if r["health"] == "err"] == []


def test_every_dashboard_and_rule_expression_reads_metrics_the_services_expose(
    prometheus: str,
) -> None:
    # Given the names every live service exposes, read from its own /metrics
    targets = _targets_when_all_up(prometheus)
    exposed: set[str] = set()
    for target in targets:
        text = httpx.get(target["scrapeUrl"], timeout=10).text
        exposed |= exposed_names(text_string_to_metric_families(text))
    known = exposed | recorded_names() | PROMETHEUS_OWN

    # Then every name an expression reads is one of them, and every expression runs
    for expr in [*dashboard_exprs(), *rule_exprs()]:
        assert sorted(promql_names(expr) - known) == [], expr
        _api(prometheus, "query", query=expr)
