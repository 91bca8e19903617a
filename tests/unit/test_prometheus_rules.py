"""The alerting rules load, and `promtool test rules` fires each alert in its own case.

promtool comes with Debian's `prometheus` package (`make prometheus`, run by `make test`).
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from plumbing.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy" / "prometheus"
RULES = DEPLOY / "rules.yml"
RULE_TESTS = DEPLOY / "rules_test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], cwd=DEPLOY, capture_output=True, text=True, check=False
    )


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _alerts() -> list[str]:
    groups = _load(RULES)["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules_passes() -> None:
    checked = _promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in _load(RULES)['groups'])} rules found" in (
        checked.stdout
    )


def test_promtool_test_rules_passes() -> None:
    tested = _promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize("config", ["prometheus.yml"])
def test_promtool_check_config_passes_for_compose(config: str) -> None:
    checked = _promtool("check", "config", config)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_issue_s_alerts_exist() -> None:
    assert set(_alerts()) >= {
        "SplitstreamSampleRatioMismatch",
        "SplitstreamCandidateErrorRateRegression",
        "SplitstreamCandidateLatencyRegression",
        "SplitstreamFeatureDrift",
        "SplitstreamPromoterNotEvaluating",
        "SplitstreamReloadNotAcknowledged",
        "SplitstreamSinkFallingBehind",
    }


def test_every_alert_has_a_case_where_it_fires_and_a_moment_where_it_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in _load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert sorted(set(_alerts()) - fires) == []
    assert sorted(set(_alerts()) - quiet) == []


def test_every_alert_says_how_bad_and_what_happened() -> None:
    for group in _load(RULES)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]
