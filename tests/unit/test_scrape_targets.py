"""`splitstream up` tells Prometheus where each service's /metrics is (file-based discovery)."""

import json
import subprocess
from pathlib import Path

from cli.settings import load_settings
from stack import scrape_targets


def _pid_file(state_dir: Path, name: str, port: int) -> None:
    run_dir = state_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / f"{name}.json").write_text(json.dumps({"pid": 1, "ports": [port]}))


def test_every_started_service_but_the_backing_ones_is_a_target(tmp_path: Path) -> None:
    # Given the pid files `splitstream up` leaves (a three-node cluster among them)
    every_address = "0.0.0.0"  # noqa: S104 (no socket is bound)
    settings = load_settings(state_dir=tmp_path, gateway_host=every_address, stack_host="127.0.0.2")
    backing = [("kafka", 9092), ("kafka-2", 9102), ("kafka-3", 9112), ("s3", 9000)]
    for name, port in [*backing, ("gateway", 7000), ("sink", 7020)]:
        _pid_file(tmp_path, name, port)
    _pid_file(tmp_path, "predictor-prod", 41234)
    _pid_file(tmp_path, "windows", 41235)

    # When the scrape folder is written
    config = scrape_targets.write_scrape_folder(settings)

    # Then each service is a target at the address its /metrics answers on
    targets = json.loads((config.parent / "targets.json").read_text())
    assert targets == [
        {"targets": ["127.0.0.1:7000"], "labels": {"service": "gateway"}},
        {"targets": ["127.0.0.2:41234"], "labels": {"service": "predictor-prod"}},
        {"targets": ["127.0.0.1:7020"], "labels": {"service": "sink"}},
        {"targets": ["127.0.0.2:41235"], "labels": {"service": "windows"}},
    ]
    assert (config.parent / "rules.yml").read_text() == (
        scrape_targets.DEPLOY_DIR / "rules.yml"
    ).read_text()
    assert not list(config.parent.glob("*.partial"))


def test_the_written_folder_is_a_valid_prometheus_configuration(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    _pid_file(tmp_path, "gateway", 7000)

    config = scrape_targets.write_scrape_folder(settings)

    checked = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_gateway_workers_with_metrics_ports_are_one_target_each(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, gateway_workers=3, gateway_metrics_port=7100)
    _pid_file(tmp_path, "gateway", 7000)

    config = scrape_targets.write_scrape_folder(settings)

    targets = json.loads((config.parent / "targets.json").read_text())
    assert targets == [
        {"targets": [f"127.0.0.1:{7100 + i}"], "labels": {"service": "gateway", "worker": str(i)}}
        for i in range(3)
    ]
