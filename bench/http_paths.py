"""Measurements 1 and 2: Splitstream's HTTP path and the in-process model, same schedule."""

from functools import partial

from bench import http_load
from bench.environment import bench_process, running
from bench.findings import LoadFindings
from bench.results import RatePoint
from bench.schedule import run_schedule
from plumbing.settings import Settings
from stack.services import http_answers
from stack.supervisor import free_port


def measure_splitstream(settings: Settings) -> LoadFindings:
    """HTTP -> gateway -> Kafka -> predictor -> Kafka -> HTTP, open loop."""
    url = f"http://{settings.gateway_host}:{settings.gateway_port}/v1/predict"
    return run_schedule("splitstream", partial(_attack, url))


def measure_direct(settings: Settings) -> LoadFindings:
    """The same model in one uvicorn process, no Kafka, open loop."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = bench_process(
        settings,
        name="bench-direct",
        module="bench.direct_app",
        args=[str(port)],
        ports=[port],
        is_ready=lambda: http_answers(f"{base}/healthz"),
    )
    with running(server):
        return run_schedule("direct", partial(_attack, f"{base}/v1/predict"))


def _attack(url: str, rate_per_s: float, duration_s: float) -> RatePoint:
    return http_load.attack(url, rate_per_s=rate_per_s, duration_s=duration_s)
