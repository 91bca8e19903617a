"""``python -m chaos`` (``make chaos``): a chaos run on a stack of its own.

Starts Kafka, S3 and MLflow on free ports, trains a best and a candidate model, plays
chaos.run's phases, prints the report and exits 1 when an invariant failed. Everything
it started is stopped, whatever happens. ``--cluster`` (``make chaos CLUSTER=1``) runs
chaos.cluster_run instead, on a three-node Kafka cluster.
"""

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from chaos.cluster_run import run_cluster_chaos
from chaos.plan import chaos_plan
from chaos.report import print_cluster_report, print_report
from chaos.run import run_chaos
from cli.settings import Settings, get_settings
from demo.scenario import train_best_and_candidate
from plumbing.settings import DEFAULT_STATE_DIR
from stack import local
from stack.paths import StackPaths
from stack.private import private_stack


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (60)")
    parser.add_argument("--rate", type=float, default=100.0, help="predictions per second (100)")
    parser.add_argument("--broker-down", type=float, default=None, help="broker outage, s (8; 20)")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="three Kafka nodes: kill the busiest leader, then the active controller, then a "
        "rolling restart, under load (--seconds does not apply: the phases set the length)",
    )
    return parser.parse_args()


def _cluster_main(arguments: argparse.Namespace, console: Console) -> None:
    down_s = 20.0 if arguments.broker_down is None else arguments.broker_down
    with private_stack(
        "chaos", Settings, kafka_nodes=3, changed=get_settings.cache_clear
    ) as settings:
        console.print("training a best and a candidate model")
        train_best_and_candidate(settings)
        report = run_cluster_chaos(
            settings, rate_per_s=arguments.rate, down_s=down_s, log=console.print
        )
        if not report.ok:
            console.print(f"the services' logs: {keep_logs(settings)}")
    print_cluster_report(console, report)
    sys.exit(0 if report.ok else 1)


def keep_logs(settings: Settings) -> Path:
    """Copy the run's logs out of its state folder (deleted at the end) into
    ``.splitstream/chaos-logs/<UTC time>/``, so a failed run can be read afterwards."""
    target = DEFAULT_STATE_DIR / "chaos-logs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    shutil.copytree(StackPaths(settings.state_dir).log_dir, target, dirs_exist_ok=True)
    return target


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    console = Console()
    if arguments.cluster:
        _cluster_main(arguments, console)
        return
    down_s = 8.0 if arguments.broker_down is None else arguments.broker_down
    plan = chaos_plan(arguments.seconds, arguments.rate, down_s)
    with private_stack("chaos", Settings, changed=get_settings.cache_clear) as settings:
        console.print("training a best and a candidate model")
        train_best_and_candidate(settings)
        report = run_chaos(settings, plan, kafka=local.kafka_process(settings), log=console.print)
        if not report.ok:
            console.print(f"the services' logs: {keep_logs(settings)}")
    print_report(console, report)
    sys.exit(0 if report.ok else 1)
