"""Start-up failures name the service and its log file, and leave nothing running."""

import dataclasses
import socket
import sys
import threading
from pathlib import Path

import pytest

from stack import supervisor
from stack.errors import ServiceStartError
from stack.ports import EPHEMERAL_PORT_RANGE, LISTEN_PORT_MIN, free_port, listen_ports, port_is_free
from stack.supervisor import ServiceProcess


def _process(tmp_path: Path, command: list[str], port: int) -> ServiceProcess:
    return ServiceProcess(
        name="sleepy",
        command=command,
        ports=[port],
        log_file=tmp_path / "logs" / "sleepy.log",
        run_dir=tmp_path / "run",
        is_ready=lambda: False,
        start_timeout_s=1.0,
    )


def test_service_that_never_answers_fails_naming_it_and_its_log(tmp_path: Path) -> None:
    process = _process(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"], free_port())
    with pytest.raises(ServiceStartError) as failed:
        supervisor.start(process)
    assert "sleepy did not answer within 1 s" in str(failed.value)
    assert str(process.log_file) in str(failed.value)
    assert supervisor.status(process).state == "stopped"


def test_service_that_exits_at_once_fails_naming_it_and_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('boom'); raise SystemExit(3)"]
    process = _process(tmp_path, command, free_port())
    with pytest.raises(ServiceStartError) as failed:
        supervisor.start(process)
    assert "sleepy exited during start-up" in str(failed.value)
    assert str(process.log_file) in str(failed.value)
    assert "boom" in process.log_file.read_text()


def test_a_taken_port_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "PORT_RELEASE_WAIT_S", 0.5)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _process(tmp_path, [sys.executable, "-c", "pass"], port)
        with pytest.raises(ServiceStartError, match=f"port\\(s\\) \\[{port}\\] already in use"):
            supervisor.start(process)
    assert not process.pid_file.exists()


def test_a_port_released_within_the_wait_is_taken(tmp_path: Path) -> None:
    # Given a port held (as by a process still exiting) and released half a second later
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    threading.Timer(0.5, taken.close).start()
    process = _process(tmp_path, [sys.executable, "-c", "import time; time.sleep(30)"], port)
    process = dataclasses.replace(process, is_ready=lambda: True)
    # Then the start waits for it instead of refusing
    try:
        assert supervisor.start(process) > 0
    finally:
        supervisor.stop(process)


def test_services_listen_below_the_ephemeral_range_with_room_for_a_ladder() -> None:
    ports = listen_ports(32768, headroom=20)
    assert ports.start == LISTEN_PORT_MIN and ports.stop == 32748
    assert listen_ports(32768).stop == 32768


def test_a_free_port_is_below_the_kernels_ephemeral_range() -> None:
    low = int(EPHEMERAL_PORT_RANGE.read_text().split()[0])
    port = free_port(headroom=20)
    assert LISTEN_PORT_MIN <= port < low - 20
    assert port_is_free(port)
