"""``python -m bench``: start a private stack, measure in the issue's order, write one table.

Each measurement runs in turn; one that fails is reported as missing with its reason
and the next still runs. Whatever happens (failure, Ctrl-C, SIGTERM) every process the
bench started is stopped, and the table of what was measured is written and printed.
"""

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from bench import render, table
from bench.batch import BATCH_ROWS, measure_batch, measure_raw_consume_produce
from bench.environment import restart_serving, start_serving
from bench.findings import Findings
from bench.floor import measure_floor
from bench.full_system import (
    measure_cpu_budget,
    measure_full_overload,
    measure_full_system,
    measure_more_workers,
    start_full_system,
)
from bench.http_load import REQUEST_TIMEOUT_S
from bench.http_paths import measure_direct, measure_targets
from bench.memory import measure_memory, memory_rate
from bench.promotion import measure_promotion
from bench.restart import measure_restart
from bench.schedule import FIXED_RATE_S, SEARCH_STEP_S, WARMUP_S
from cli.settings import Settings, get_settings, load_settings
from demo.scenario import train_best_and_candidate
from stack import services
from stack.private import private_stack

log = logging.getLogger("bench")

RESULTS_DIR = Path(__file__).resolve().parent.parent / "bench-results"
VEGETA_VERSION = "v12.12.0"
#: Above this 1-minute load average the machine is not quiet enough to measure on.
MAX_LOAD_AVERAGE = 2.5


def _caption(load_average: float) -> str:
    return (
        f"HTTP load: vegeta {VEGETA_VERSION}, open loop (constant-rate attack), "
        f"{FIXED_RATE_S:g} s per fixed rate, {SEARCH_STEP_S:g} s per search step, "
        f"{WARMUP_S:g} s warm-up dropped, {REQUEST_TIMEOUT_S} s timeout; every reply validated. "
        "Floor: aiokafka requester on the same open-loop schedule, kafka-python echo worker. "
        f"One machine, {os.cpu_count()} CPUs, load average {load_average:.2f} at start; "
        "load generator, Kafka, S3 and the services share it. "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )


def _step(findings: Findings, name: str, measure: Callable[[], None]) -> None:
    """Run one measurement; a failure is recorded as the reason that row is missing."""
    log.info("measuring %s", name)
    try:
        measure()
    except Exception as error:
        log.exception("%s failed", name)
        findings.failures[name] = f"{type(error).__name__}: {error}"[:300]


def _measure_all(settings: Settings, findings: Findings, only: set[str]) -> None:
    def request_path() -> None:
        findings.request_path = measure_targets(settings, "request path")

    def direct() -> None:
        services.down(settings)  # nothing of Splitstream runs beside the in-process model
        findings.direct = measure_direct(settings)

    def floor() -> None:
        findings.floor, findings.floor_max_throughput_per_s = measure_floor(settings)

    def batch() -> None:
        start_serving(settings)
        findings.batch_rows = BATCH_ROWS
        findings.batch_rows_per_s = measure_batch(settings)
        findings.floor_consume_produce_per_s = measure_raw_consume_produce(settings)

    def memory() -> None:
        restart_serving(settings)
        best = findings.request_path.get("v1")
        findings.memory_errors = measure_memory(
            settings,
            rate_per_s=memory_rate(best.max_sustained_per_s if best else None),
            rss_kb=findings.rss_kb,
        )

    def promotion() -> None:
        findings.promotion_ack_s, findings.promotion_round_trip_s = measure_promotion(settings)

    def restart() -> None:
        services.down(settings)  # the agent is measured alone, on a history of its own
        findings.restart = measure_restart(settings)

    for name, measure in (
        ("request path", request_path),
        ("full system start", lambda: start_full_system(settings)),
        ("full system", lambda: measure_full_system(settings, findings)),
        ("cpu budget", lambda: measure_cpu_budget(settings, findings)),
        ("overload", lambda: measure_full_overload(settings, findings)),
        ("gateway workers", lambda: measure_more_workers(settings, findings)),
        ("direct", direct),
        ("floor", floor),
        ("batch", batch),
        ("memory", memory),
        ("promotion", promotion),
        ("restart", restart),
    ):
        if not only or name in only:
            _step(findings, name, measure)


def _set_up(settings: Settings) -> None:
    train_best_and_candidate(settings)
    start_serving(settings)


def _busy_machine() -> str | None:
    """Why the machine is too busy to measure, or None. A busy machine makes every number
    worse and the comparisons noisy; SPLITSTREAM_BENCH_ALLOW_BUSY=1 runs anyway (captioned)."""
    load = os.getloadavg()[0]
    if load < MAX_LOAD_AVERAGE or os.environ.get("SPLITSTREAM_BENCH_ALLOW_BUSY") == "1":
        return None
    return f"load average {load:.2f} >= {MAX_LOAD_AVERAGE}: wait for a quiet machine"


def _report(findings: Findings, caption: str, console: Console) -> None:
    rows = table.rows_of(findings, deadline_ms=load_settings().reply_timeout_s * 1000)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "bench.json").write_text(render.to_json(findings, rows, caption))
    (RESULTS_DIR / "bench.md").write_text(render.markdown(rows, caption, findings.cpu))
    for printed in render.rich_tables(rows, findings.cpu, caption):
        console.print(printed)
    console.print(f"written: {RESULTS_DIR / 'bench.json'}, {RESULTS_DIR / 'bench.md'}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="STEP",
        help="run only these steps (e.g. 'request path' 'full system start' 'full system')",
    )
    return parser.parse_args()


def main() -> int:
    only = set(_arguments().only)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    console = Console(width=200)
    busy = _busy_machine()
    if busy is not None:
        console.print(f"make bench refused: {busy}")
        return 2
    findings = Findings(load_tool=f"vegeta {VEGETA_VERSION}")
    caption = _caption(os.getloadavg()[0])
    status = 0
    try:
        with private_stack("bench", Settings, changed=get_settings.cache_clear) as settings:
            _step(findings, "setup", lambda: _set_up(settings))
            if "setup" not in findings.failures:
                _measure_all(settings, findings, only)
    except KeyboardInterrupt:
        findings.failures["run"] = "interrupted; everything it started was stopped"
        status = 130
    except Exception as error:
        log.exception("the stack failed")
        findings.failures["stack"] = f"{type(error).__name__}: {error}"[:300]
        status = 1
    finally:
        _report(findings, caption, console)
    return status or (1 if findings.failures else 0)


if __name__ == "__main__":
    sys.exit(main())
