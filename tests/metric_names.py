"""Metric names: those a PromQL expression reads, and those a registry or /metrics exposes.

Shared by the unit test (names from the services' registries) and the Prometheus
integration test (names from the live services' /metrics), which both check that every
expression of the Grafana dashboard and of the alerting rules reads metrics that exist.
"""

import json
import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from prometheus_client.metrics_core import Metric

from plumbing.settings import PROJECT_ROOT

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "dashboards" / "splitstream.json"
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "rules.yml"
#: Series Prometheus makes itself: per target, and for the alerting rules.
PROMETHEUS_OWN = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"})

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan", "Inf", "NaN"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![A-Za-z0-9_:])(?!\s*\()")
_NUMBER_SUFFIX = re.compile(r"^\d")

#: The sample names each family type exposes, besides the family's name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def promql_names(expr: str) -> set[str]:
    """The metric names an expression reads (not functions, keywords or label names)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {
        name
        for name in _IDENTIFIER.findall(text)
        if name not in _KEYWORDS and not _NUMBER_SUFFIX.match(name)
    }


def dashboard_exprs(path: Path = DASHBOARD) -> list[str]:
    """Every target expression of every panel (rows' nested panels included)."""
    exprs: list[str] = []

    def walk(panels: Iterable[dict[str, object]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []) or []:  # type: ignore[union-attr]
                exprs.append(str(target["expr"]))  # type: ignore[index]
            walk(panel.get("panels", []) or [])  # type: ignore[arg-type]

    walk(json.loads(path.read_text())["panels"])
    return exprs


def rule_exprs(path: Path = RULES) -> list[str]:
    return [rule["expr"] for group in _groups(path) for rule in group["rules"]]


def recorded_names(path: Path = RULES) -> set[str]:
    """The series the recording rules make."""
    return {
        rule["record"] for group in _groups(path) for rule in group["rules"] if "record" in rule
    }


def exposed_names(families: Iterable[Metric]) -> set[str]:
    """Every sample name the families can expose, each family's type deciding its suffixes.

    A labelled family with no child yet still counts: its HELP and TYPE are exposed.
    """
    names: set[str] = set()
    for family in families:
        base = family.name
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(base + suffix)
        names.update(sample.name for sample in family.samples)
    return names


def _groups(path: Path) -> list[dict[str, list[dict[str, str]]]]:
    groups: list[dict[str, list[dict[str, str]]]] = yaml.safe_load(path.read_text())["groups"]
    return groups
