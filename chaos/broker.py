"""The broker restart: SIGKILL Kafka under load, start it again, watch the gateways.

While the broker is down the gateways must answer 503 at once (their reachability
probe), and once it is back they must serve again without being restarted.
"""

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaos.load import Answer, drive
from stack import supervisor
from stack.ports import port_is_free
from stack.supervisor import ServiceProcess

#: Load before the kill, so the outage starts from a serving system.
LEAD_S = 2.0
#: Allowance for the broker's start (JVM, log recovery) within the load's schedule.
START_ALLOWANCE_S = 25.0


@dataclass(frozen=True)
class BrokerOutage:
    """The answers around one broker restart, and when it went down and came back."""

    answers: list[Answer]
    killed_at: float
    started_at: float
    listening_at: float  # the broker's port accepted connections again
    ready_at: float  # the broker answered metadata requests


def restart_broker_under_load(
    kafka: ServiceProcess,
    gateways: Sequence[str],
    bodies: Sequence[dict[str, Any]],
    actuals: Sequence[float],
    *,
    rate_per_s: float,
    down_s: float,
    reply_timeout_s: float,
) -> BrokerOutage:
    """Load ``gateways`` at ``rate_per_s`` with ``bodies``; kill and restart Kafka meanwhile."""
    times: dict[str, float] = {}

    def outage() -> None:
        time.sleep(LEAD_S)
        times["killed_at"] = time.monotonic()
        supervisor.kill(kafka)
        time.sleep(down_s)
        times["started_at"] = time.monotonic()
        starting = threading.Thread(target=supervisor.start, args=(kafka,), name="broker-start")
        starting.start()
        while port_is_free(kafka.ports[0]) and starting.is_alive():
            time.sleep(0.05)
        times["listening_at"] = time.monotonic()
        starting.join()
        times["ready_at"] = time.monotonic()

    worker = threading.Thread(target=outage, name="broker-outage")
    worker.start()
    try:
        answers = asyncio.run(
            drive(gateways, bodies, actuals, rate_per_s=rate_per_s, reply_timeout_s=reply_timeout_s)
        )
    finally:
        worker.join()
    return BrokerOutage(answers, **times)


def outage_seconds(down_s: float, recovery_s: float) -> float:
    """How long the load must run to cover the lead, the outage, the start and ``recovery_s``."""
    return LEAD_S + down_s + START_ALLOWANCE_S + recovery_s
