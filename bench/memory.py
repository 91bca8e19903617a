"""Measurement 5: gateway and predictor resident memory after 1,000 and 100,000 requests."""

import logging
from pathlib import Path

from bench import http_load
from bench.environment import service_pid
from bench.http_load import V1_PREDICT
from cli.settings import Settings

log = logging.getLogger(__name__)

#: The services whose growth is watched.
WATCHED = ("gateway", "predictor-prod")
#: Requests served when RSS is read (cumulative).
CHECKPOINTS = (1_000, 100_000)
#: Open-loop rate of the memory run, as a share of the sustained maximum (not a stress test).
SHARE_OF_MAX = 0.7
MIN_RATE_PER_S, MAX_RATE_PER_S = 200.0, 2_000.0


def vm_rss_kb(pid: int) -> int:
    """The process's VmRSS from /proc, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def memory_rate(max_sustained_per_s: float | None) -> float:
    """A rate the path holds, so the run measures memory, not a backlog."""
    if not max_sustained_per_s:
        return MIN_RATE_PER_S
    return max(MIN_RATE_PER_S, min(MAX_RATE_PER_S, SHARE_OF_MAX * max_sustained_per_s))


def measure_memory(
    settings: Settings, *, rate_per_s: float, rss_kb: dict[str, dict[int, int]]
) -> int:
    """Fill ``rss_kb`` (service -> requests -> kB) on freshly started services.

    Returns:
        How many requests failed along the way.
    """
    url = f"http://{settings.gateway_host}:{settings.gateway_port}"
    pids = {name: service_pid(settings, name) for name in WATCHED}
    served, errors = 0, 0
    for checkpoint in CHECKPOINTS:
        duration_s = (checkpoint - served) / rate_per_s
        point = http_load.attack(url, V1_PREDICT, rate_per_s=rate_per_s, duration_s=duration_s)
        served, errors = served + point.sent, errors + point.errors
        for name, pid in pids.items():
            rss_kb.setdefault(name, {})[checkpoint] = vm_rss_kb(pid)
        log.info("memory after %d requests: %s", served, {n: r for n, r in rss_kb.items()})
    return errors
