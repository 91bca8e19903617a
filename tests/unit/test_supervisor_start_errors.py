"""A service that dies while starting: the error carries how its log ends."""

import sys
from pathlib import Path

import pytest

from stack import supervisor
from stack.errors import ServiceStartError


def test_a_service_that_exits_during_start_up_reports_the_end_of_its_log(tmp_path: Path) -> None:
    service = supervisor.ServiceProcess(
        name="predictor-candidate",
        command=[sys.executable, "-c", "print('model signature mismatch'); raise SystemExit(3)"],
        ports=[],
        log_file=tmp_path / "predictor-candidate.log",
        run_dir=tmp_path,
        is_ready=lambda: False,
        start_timeout_s=20,
    )

    with pytest.raises(ServiceStartError) as raised:
        supervisor.start(service)

    message = str(raised.value)
    assert "predictor-candidate exited during start-up" in message
    assert "model signature mismatch" in message  # readable after the log's folder is gone
