"""The CPU budget of the full system: each process at rest, and per request under load."""

import threading
import time
from dataclasses import dataclass, field

from bench.cpu import CpuWindow, measure_window
from bench.environment import gateway_url
from bench.http_load import V1_PREDICT, Answer, run_vegeta
from cli.settings import Settings

REST_S = 60.0
#: Before the window opens under load: connections, batches and fetches settle.
SETTLE_S = 5.0
LOAD_WINDOW_S = 20.0
BUDGET_RATES_PER_S = (100, 400)


@dataclass
class CpuBudget:
    """Percent of one core at rest, and CPU ms per request at each rate, by process."""

    rest_percent: dict[str, float] = field(default_factory=dict)
    rest_seconds: float = 0.0
    #: Rate -> process -> CPU ms per request (requests sent inside the window).
    ms_per_request: dict[int, dict[str, float]] = field(default_factory=dict)
    #: Rate -> requests sent inside the window, and how many of them failed.
    window_requests: dict[int, int] = field(default_factory=dict)
    window_failures: dict[int, int] = field(default_factory=dict)


def measure_rest(settings: Settings, budget: CpuBudget) -> None:
    window = measure_window(settings, REST_S)
    budget.rest_seconds = window.seconds
    budget.rest_percent = window.percent_of_core()


def measure_under_load(settings: Settings, budget: CpuBudget, rate_per_s: int) -> None:
    """CPU over ``LOAD_WINDOW_S`` in the middle of an open-loop run at ``rate_per_s``."""
    answers: list[Answer] = []
    duration_s = SETTLE_S + LOAD_WINDOW_S + 2
    load = threading.Thread(
        target=lambda: answers.extend(
            run_vegeta(
                gateway_url(settings), V1_PREDICT, rate_per_s=rate_per_s, duration_s=duration_s
            )
        ),
        name="cpu-budget-load",
    )
    load.start()
    time.sleep(SETTLE_S)
    opened_ns = time.time_ns()
    window: CpuWindow = measure_window(settings, LOAD_WINDOW_S)
    closed_ns = time.time_ns()
    load.join()
    inside = [a for a in answers if opened_ns <= a.sent_ns < closed_ns]
    failed = [a for a in inside if a.error or not V1_PREDICT.valid(a.status, a.body_b64)]
    budget.window_requests[rate_per_s] = len(inside)
    budget.window_failures[rate_per_s] = len(failed)
    budget.ms_per_request[rate_per_s] = window.ms_per_request(max(1, len(inside)))
