"""The full system: every service ``splitstream up`` starts, measured as users run it.

In order: the schedule on both endpoints, the CPU budget (at rest, then at 100 and 400
req/s), the overload, and the schedule on /v1 with two gateway processes.
"""

import logging
import time

from bench.cpu_budget import BUDGET_RATES_PER_S, CpuBudget, measure_rest, measure_under_load
from bench.findings import Findings
from bench.http_paths import measure_one, measure_targets
from bench.overload import measure_overload
from cli.settings import Settings
from stack import services, supervisor

log = logging.getLogger(__name__)

#: Quiet before the rest window: the last load's batches, commits and evaluations finish.
QUIET_BEFORE_REST_S = 30.0
#: Gateway processes of the multi-worker measurement.
MORE_WORKERS = 2


def start_full_system(settings: Settings) -> None:
    """Every service that is not running yet; returns once all answer."""
    services.up(settings)


def measure_full_system(settings: Settings, findings: Findings) -> None:
    findings.full_system = measure_targets(settings, "full system")


def measure_cpu_budget(settings: Settings, findings: Findings) -> None:
    budget = findings.cpu = CpuBudget()
    time.sleep(QUIET_BEFORE_REST_S)
    measure_rest(settings, budget)
    log.info("at rest: %s", {k: round(v, 2) for k, v in budget.rest_percent.items()})
    for rate in BUDGET_RATES_PER_S:
        measure_under_load(settings, budget, rate)


def measure_full_overload(settings: Settings, findings: Findings) -> None:
    best = findings.full_system.get("v1")
    if best is None or not best.max_sustained_per_s:
        raise RuntimeError("no maximum sustained rate of the full system to overload")
    findings.overload = measure_overload(settings, best.max_sustained_per_s)


def measure_more_workers(settings: Settings, findings: Findings) -> None:
    """/v1 with ``MORE_WORKERS`` gateway processes on the one port, then back to one."""
    single = next(p for p in services.app_processes(settings) if p.name == "gateway")
    several = services.gateway_process(
        settings,
        name="gateway",
        port=settings.gateway_port,
        reply_partition=settings.gateway_reply_partition,
        workers=MORE_WORKERS,
    )
    supervisor.stop(single)
    try:
        supervisor.start(several)
        findings.full_system_workers[MORE_WORKERS] = measure_one(
            settings, f"full system, {MORE_WORKERS} workers"
        )
    finally:
        supervisor.stop(several)
        supervisor.start(single)
