"""Splitstream's HTTP paths and the in-process model, under the same open-loop schedule.

*Request path*: the gateway, the predictors and the scorer only. *Full system*: every
service ``splitstream up`` starts (sink, promoter and Faust agent included), as users run
it. Each is measured on ``/v1/predict`` and on the old form endpoint.
"""

from functools import partial

from bench import http_load
from bench.environment import bench_process, gateway_url, running
from bench.findings import LoadFindings
from bench.http_load import LEGACY_PREDICT, V1_PREDICT, HttpTarget
from bench.results import RatePoint
from bench.schedule import run_schedule
from cli.settings import Settings
from stack.ports import free_port
from stack.services import http_answers

TARGETS = (V1_PREDICT, LEGACY_PREDICT)


def measure_targets(settings: Settings, name: str) -> dict[str, LoadFindings]:
    """The schedule on each prediction endpoint of the running gateway, by target name."""
    return {
        target.name: run_schedule(
            f"{name} {target.name}", partial(_attack, gateway_url(settings), target)
        )
        for target in TARGETS
    }


def measure_one(settings: Settings, name: str, target: HttpTarget = V1_PREDICT) -> LoadFindings:
    return run_schedule(f"{name} {target.name}", partial(_attack, gateway_url(settings), target))


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
        return run_schedule("direct", partial(_attack, base, V1_PREDICT))


def _attack(base_url: str, target: HttpTarget, rate_per_s: float, duration_s: float) -> RatePoint:
    return http_load.attack(base_url, target, rate_per_s=rate_per_s, duration_s=duration_s)
