"""The stream agent as a process of the bench: started, signalled, and read from /proc and
its web view."""

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cli.settings import Settings
from plumbing.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class AgentProcess:
    """``python -m promoter.agent_main`` under this process's environment."""

    settings: Settings
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{self.settings.stack_host}:{self.settings.promoter_agent_web_port}/counts/"

    def start(self) -> None:
        with self.log_file.open("ab") as out:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "promoter.agent_main"],
                cwd=PROJECT_ROOT,
                env=dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, signum: int = signal.SIGTERM) -> float:
        """Send ``signum``; seconds until the process was gone (killed after a timeout)."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("the agent ignored signal %s for %s s: killed", signum, STOP_TIMEOUT_S)
            self.process.kill()
            self.process.wait(timeout=10)
        return time.monotonic() - sent

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_s(self) -> float:
        """User plus system CPU seconds the process used so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def arms(self) -> dict[tuple[str, str], dict[str, Any]] | None:
        """The web view's arms, or None while it does not answer."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the agent exited; see {self.log_file}")
        try:
            answer = httpx.get(self.url, timeout=5)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        return {(a["experiment_id"], a["variant"]): a for a in answer.json()["arms"]}


@contextmanager
def agent_process(settings: Settings) -> Iterator[AgentProcess]:
    """An agent runner whose process is always stopped at the end."""
    log_dir = Path(settings.state_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    agent = AgentProcess(settings, log_dir / "restart-agent.log")
    try:
        yield agent
    finally:
        agent.stop(signal.SIGTERM)
