"""CPU time per process from /proc: what each service costs at rest and per request.

A service's cost is its whole process tree (MLflow and multi-worker gateways fork), read
as utime + stime from ``/proc/<pid>/stat`` before and after a window. The load generator
is not a service and is not counted.
"""

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cli.settings import Settings
from stack import local, services, supervisor

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces


def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_cpu_s(root: int, children: Mapping[int, list[int]]) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its live descendants."""
    total_ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        fields = _stat_fields(pid)
        if fields is not None:
            total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
        todo.extend(children.get(pid, []))
    return total_ticks / TICKS_PER_S


def running_pids(settings: Settings) -> dict[str, int]:
    """Every process of the system by service name: the stack's and Splitstream's."""
    pids = {}
    for process in [*local.local_processes(settings), *services.app_processes(settings)]:
        status = supervisor.status(process)
        if status.state == "running" and status.pid is not None:
            pids[process.name] = status.pid
    return pids


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    children = _children_of()
    return {name: tree_cpu_s(pid, children) for name, pid in pids.items()}


@dataclass(frozen=True)
class CpuWindow:
    """CPU seconds each service used over ``seconds`` of wall time."""

    seconds: float
    cpu_s: dict[str, float]

    def percent_of_core(self) -> dict[str, float]:
        return {name: 100 * used / self.seconds for name, used in self.cpu_s.items()}

    def ms_per_request(self, requests: int) -> dict[str, float]:
        return {name: 1000 * used / requests for name, used in self.cpu_s.items()}

    @property
    def total_s(self) -> float:
        return sum(self.cpu_s.values())


def measure_window(
    settings: Settings, seconds: float, sleep: Callable[[float], None] = time.sleep
) -> CpuWindow:
    """The CPU every running service used over the next ``seconds``."""
    pids = running_pids(settings)
    before, started = cpu_snapshot(pids), time.monotonic()
    sleep(seconds)
    after, elapsed = cpu_snapshot(pids), time.monotonic() - started
    return CpuWindow(elapsed, {name: max(0.0, after[name] - before[name]) for name in before})
