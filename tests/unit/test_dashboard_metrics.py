"""Every PromQL expression of the Grafana dashboard and of the alerting rules reads metrics
that the services' registries define (the live check: tests/integration/test_prometheus.py)."""

import json

import pytest

from consumers.metrics import SinkMetrics
from gateway.metrics import GatewayMetrics
from predictors.metrics import PredictorMetrics
from promoter.agent_metrics import AgentMetrics
from promoter.metrics import PromoterMetrics
from promoter.window_tables import PaneTable
from promoter.windows import HoppingWindows
from tests.metric_names import (
    DASHBOARD,
    PROMETHEUS_OWN,
    dashboard_exprs,
    exposed_names,
    promql_names,
    recorded_names,
    rule_exprs,
)


def _defined() -> set[str]:
    registries = [
        GatewayMetrics().registry,
        SinkMetrics().registry,
        PredictorMetrics("prod").registry,
        AgentMetrics(PaneTable({}, HoppingWindows(3600, 600)), ["predict.request"]).registry,
        PromoterMetrics(evaluate_every_s=30).registry,
    ]
    return {name for registry in registries for name in exposed_names(registry.collect())}


KNOWN = _defined() | recorded_names() | PROMETHEUS_OWN


@pytest.mark.parametrize("expr", dashboard_exprs(), ids=lambda e: e[:60])
def test_dashboard_expression_reads_defined_metrics(expr: str) -> None:
    names = promql_names(expr)
    assert names, expr
    assert sorted(names - KNOWN) == []


@pytest.mark.parametrize("expr", rule_exprs(), ids=lambda e: e[:60])
def test_rule_expression_reads_defined_metrics(expr: str) -> None:
    assert sorted(promql_names(expr) - KNOWN) == []


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    titles = " / ".join(p["title"] for p in panels).lower()
    for topic in ("requests", "latency", "error", "mae", "sample-ratio", "drift", "decisions"):
        assert topic in titles, topic
    drift = next(p for p in panels if p["type"] != "row" and "drift" in p["title"].lower())
    assert "per hour" in drift["title"]
    assert all(t["datasource"]["uid"] == "prometheus" for p in panels for t in p.get("targets", []))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (variant) (rate(a_total{x="y", z=~"1|2"}[5m]))', {"a_total"}),
        ("histogram_quantile(0.95, sum by (le) (rate(b_bucket[1h])))", {"b_bucket"}),
        ("c > on() group_left() max(d) * 1.25 and on() e", {"c", "d", "e"}),
        ('absent(up{service="promoter"} == 1) or vector(0)', {"up"}),
        ("rate(f:g:rate5m[1m] offset 5m) / 1e3", {"f:g:rate5m"}),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert promql_names(expr) == names
