"""The services a chaos run starts, kills and restarts: two of each that can be doubled.

Two prod predictors share the prod consumer group; two gateways own reply partitions
0 and 1. The sink, the candidate predictor and the Faust agent run once.
"""

import time
from dataclasses import dataclass

from cli.settings import Settings
from stack import services, supervisor
from stack.ports import free_port
from stack.supervisor import ServiceProcess

#: The services of services.APP_SERVICES that a chaos run starts (no scorer, no promoter).
SINGLE = ("sink", "predictor-prod", "predictor-candidate", "gateway", "windows")


@dataclass(frozen=True)
class Restart:
    """One SIGKILL and the start after it, in time.monotonic() seconds."""

    victim: str
    pid: int
    gateway_url: str | None  # the killed gateway's URL; None for other victims
    killed_at: float
    started_at: float
    ready_at: float

    @property
    def ready_after_s(self) -> float:
        """From the kill until the restarted process answered its health check."""
        return self.ready_at - self.killed_at


class Cast:
    """The chaos run's processes, by name; each restart reuses its ports."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        chosen = [p for p in services.app_processes(settings) if p.name in SINGLE]
        extra = [
            services.predictor_process(settings, name="predictor-prod-2", slot="prod"),
            services.gateway_process(
                settings, name="gateway-2", port=free_port(), reply_partition=1
            ),
        ]
        self.processes: dict[str, ServiceProcess] = {p.name: p for p in [*chosen, *extra]}

    def start(self) -> None:
        supervisor.start_all(list(self.processes.values()))

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            supervisor.stop(process)

    def gateway_urls(self) -> list[str]:
        return [url for name in ("gateway", "gateway-2") if (url := self._url(name))]

    def pid(self, name: str) -> int | None:
        return supervisor.status(self.processes[name]).pid

    def kill_and_restart(self, victim: str, down_s: float) -> Restart:
        """SIGKILL ``victim``, leave it dead ``down_s``, start it and wait until it answers."""
        process = self.processes[victim]
        killed_at = time.monotonic()
        pid = supervisor.kill(process)
        time.sleep(down_s)
        started_at = time.monotonic()
        supervisor.start(process)
        return Restart(victim, pid, self._url(victim), killed_at, started_at, time.monotonic())

    def _url(self, name: str) -> str | None:
        if not name.startswith("gateway"):
            return None
        return f"http://{self._settings.gateway_host}:{self.processes[name].ports[0]}"

    def states(self) -> dict[str, str]:
        """running / starting / dead / stopped, by service name."""
        return {name: supervisor.status(p).state for name, p in self.processes.items()}
