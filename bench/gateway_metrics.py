"""``python -m bench.gateway_metrics``: what the gateway's metrics cost one prediction.

A micro loop, in-process, no services: the metric updates of one successful prediction
as the gateway makes them (``GatewayMetrics.served``, label children kept), beside the
same updates through ``labels(**kwargs)`` per request, as the gateway made them before
the old stack's families were added. Also the cost of one scrape. Prints the best of
several repeats in microseconds; run it on an idle machine to compare figures.
"""

import argparse
import time
import timeit
from collections.abc import Callable

from gateway.metrics import GatewayMetrics


def _best_us(work: Callable[[], object], *, number: int, repeat: int) -> float:
    return min(timeit.repeat(work, number=number, repeat=repeat)) / number * 1e6


def measure(number: int, repeat: int) -> dict[str, float]:
    """Microseconds per call of each variant of the per-prediction updates."""
    metrics = GatewayMetrics()

    def now() -> None:
        started = time.perf_counter()
        metrics.in_flight.inc()
        metrics.in_flight.dec()
        metrics.served("v1", "prod", time.perf_counter() - started)

    def per_request_labels() -> None:
        started = time.perf_counter()
        metrics.in_flight.inc()
        metrics.in_flight.dec()
        metrics.requests.labels(api="v1", variant="prod", status=str(200)).inc()
        metrics.latency.labels(variant="prod", api="v1").observe(time.perf_counter() - started)
        metrics.predictions_total += 1

    def nothing() -> None:
        started = time.perf_counter()
        time.perf_counter() - started

    for _ in range(1000):  # every child exists before the clock starts
        now()
        per_request_labels()
    return {
        "loop and clock alone": _best_us(nothing, number=number, repeat=repeat),
        "metrics of one prediction, label children kept (now)": _best_us(
            now, number=number, repeat=repeat
        ),
        "metrics of one prediction, labels() per request (before)": _best_us(
            per_request_labels, number=number, repeat=repeat
        ),
        "one scrape (render every family)": _best_us(
            metrics.render, number=max(1, number // 100), repeat=repeat
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats; the best is shown")
    args = parser.parse_args()
    for name, micros in measure(args.number, args.repeat).items():
        print(f"{micros:8.3f} µs  {name}")  # noqa: T201


if __name__ == "__main__":
    main()
