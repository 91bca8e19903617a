"""Start, stop and inspect detached service processes, one pid file each.

Each process runs in its own session so that stopping it stops its children
too (MLflow forks workers). A start returns only once the service answers.
"""

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack import state_dirs
from stack.errors import ServiceStartError
from stack.log_tail import log_tail
from stack.ports import port_is_free, wait_ports_free
from stack.process_groups import group_alive, pid_alive, signal_group

# Children started by this process, kept so that they can be reaped and are not
# garbage-collected while still running (Popen warns then).
_CHILDREN: dict[int, "subprocess.Popen[bytes]"] = {}


@dataclass(frozen=True)
class ServiceProcess:
    """How to run one service of the local stack and how to tell it answers."""

    name: str
    command: list[str]
    ports: list[int]
    log_file: Path
    run_dir: Path
    is_ready: Callable[[], bool]
    start_timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.json"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # running, stopped, or dead (pid file left by a crashed process)
    pid: int | None
    ports: list[int]
    log_file: Path


def _read_record(service: ServiceProcess) -> dict[str, Any]:
    return _read_pid_file(service.pid_file)


def _read_pid_file(pid_file: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return {}
    return record


def ports_in_pid_file(pid_file: Path) -> list[int]:
    """The ports recorded for a started process; empty when none was started."""
    return [int(p) for p in _read_pid_file(pid_file).get("ports", [])]


def _read_pid(service: ServiceProcess) -> int | None:
    try:
        return int(_read_record(service)["pid"])
    except (KeyError, TypeError, ValueError):
        return None


def recorded_ports(service: ServiceProcess) -> list[int]:
    """The ports the running process was started with (they may differ from settings)."""
    return [int(p) for p in _read_record(service).get("ports", service.ports)]


def status(service: ServiceProcess) -> ServiceStatus:
    reap_children()
    pid = _read_pid(service)
    if pid is None:
        state = "stopped"
    elif pid_alive(pid):
        state = "running" if service.is_ready() else "starting"
    else:
        state = "dead"
    ports = recorded_ports(service) if pid is not None else service.ports
    return ServiceStatus(service.name, state, pid, ports, service.log_file)


def start(service: ServiceProcess) -> int:
    """Start ``service`` unless it runs already, and wait until it answers.

    Returns:
        The pid of the service's process.

    Raises:
        ServiceStartError: a port is taken, the process exited, or it did not
            answer within ``start_timeout_s``; the message names the log file.
    """
    pid = _read_pid(service)
    if pid is not None and pid_alive(pid):
        _wait_ready(service, pid)
        return pid
    _check_ports_free(service)
    pid = _spawn(service)
    _wait_ready(service, pid)
    return pid


def start_all(services: list[ServiceProcess]) -> list[int]:
    """Start every service that is not running, all at once, then wait for each to answer.

    Starting them together overlaps their imports and group joins; the wait is in order,
    so the first that fails is the one named.
    """
    pids = []
    for service in services:
        pid = _read_pid(service)
        if pid is None or not pid_alive(pid):
            _check_ports_free(service)
            pid = _spawn(service)
        pids.append(pid)
    for service, pid in zip(services, pids, strict=True):
        _wait_ready(service, pid)
    return pids


#: A process just killed can still hold its ports for a moment: its leader is a zombie
#: while its other threads finish exiting, and they own the sockets.
PORT_RELEASE_WAIT_S = 10.0


def _check_ports_free(service: ServiceProcess) -> None:
    deadline = time.monotonic() + PORT_RELEASE_WAIT_S
    taken = [port for port in service.ports if not port_is_free(port)]
    while taken and time.monotonic() < deadline:
        time.sleep(0.2)
        taken = [port for port in taken if not port_is_free(port)]
    if taken:
        raise ServiceStartError(
            f"{service.name}: port(s) {taken} already in use by another process; "
            f"free them or set other ports (log: {service.log_file})"
        )


def _spawn(service: ServiceProcess) -> int:
    state_dirs.make_private(service.run_dir)
    state_dirs.make_private(service.log_file.parent)
    with service.log_file.open("ab") as log:
        log.write(f"\n--- start {time.strftime('%Y-%m-%dT%H:%M:%S')} ---\n".encode())
        log.flush()
        proc = subprocess.Popen(
            service.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env},
            cwd=service.cwd,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    record = {"pid": proc.pid, "ports": service.ports, "log_file": str(service.log_file)}
    service.pid_file.write_text(json.dumps(record))
    return proc.pid


def _wait_ready(service: ServiceProcess, pid: int) -> None:
    deadline = time.monotonic() + service.start_timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            service.pid_file.unlink(missing_ok=True)
            raise ServiceStartError(
                f"{service.name} exited during start-up; {_how_its_log_ends(service)}"
            )
        if service.is_ready():
            return
        time.sleep(0.25)
    stop(service)
    raise ServiceStartError(
        f"{service.name} did not answer within {service.start_timeout_s:.0f} s; "
        f"{_how_its_log_ends(service)}"
    )


def _how_its_log_ends(service: ServiceProcess) -> str:
    # In the message itself: a test's state folder, and the log in it, is gone by the report.
    tail = "\n".join(f"    {line}" for line in log_tail(service.log_file))
    return f"the end of {service.log_file}:\n{tail}"


def _reap(pid: int) -> None:
    """Collect a child we started in this process so it does not linger as a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)  # pop: stop_all's threads may reap the same child


def reap_children() -> None:
    """Collect every child of ours that has exited, whoever stopped it."""
    for pid in list(_CHILDREN):
        _reap(pid)


def stop(service: ServiceProcess, *, grace_s: float = 20.0) -> bool:
    """Stop the service's whole process group: TERM, then KILL after ``grace_s``.

    Returns:
        True if a process was running.
    """
    pid = _read_pid(service)
    if pid is None:
        return False
    ports = recorded_ports(service)
    was_running = pid_alive(pid)
    if was_running:
        signal_group(pid, signal.SIGTERM)
        if not _wait_exit(pid, grace_s):
            signal_group(pid, signal.SIGKILL)
            _wait_exit(pid, 5.0)
    wait_ports_free(ports, timeout_s=10.0)
    service.pid_file.unlink(missing_ok=True)
    reap_children()
    return was_running


def stop_all(services: list[ServiceProcess], *, grace_s: float = 20.0) -> list[str]:
    """Stop several services at once (a cluster's Kafka nodes: stopped one by one, the last
    ones would wait for a quorum that is gone). Returns the names that ran."""
    if len(services) == 1:
        return [services[0].name] if stop(services[0], grace_s=grace_s) else []
    results: dict[str, bool] = {}

    def one(service: ServiceProcess) -> None:
        results[service.name] = stop(service, grace_s=grace_s)

    threads = [threading.Thread(target=one, args=(s,), name=f"stop-{s.name}") for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [s.name for s in services if results.get(s.name)]


def kill(service: ServiceProcess) -> int:
    """SIGKILL the service's whole process group, as a crash would; returns the pid killed.

    The pid file stays (``status`` then says ``dead``), as a crash leaves it; ``start``
    starts the service again.

    Raises:
        ServiceStartError: the service was not running.
    """
    pid = _read_pid(service)
    if pid is None or not pid_alive(pid):
        raise ServiceStartError(f"{service.name} is not running: nothing to kill")
    signal_group(pid, signal.SIGKILL)
    _wait_exit(pid, 5.0)
    return pid


def _wait_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid) and not group_alive(pid):
            _reap(pid)
            return True
        time.sleep(0.1)
    return False
