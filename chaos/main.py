"""``python -m chaos`` (``make chaos``): a chaos run on a stack of its own.

Starts Kafka, S3 and MLflow on free ports, trains a best and a candidate model, plays
chaos.run's phases, prints the report and exits 1 when an invariant failed. Everything
it started is stopped, whatever happens.
"""

import argparse
import logging
import sys

from rich.console import Console

from chaos.plan import chaos_plan
from chaos.report import print_report
from chaos.run import run_chaos
from stack import local
from stack.private import private_stack, train_best_and_candidate


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (60)")
    parser.add_argument("--rate", type=float, default=100.0, help="predictions per second (100)")
    parser.add_argument("--broker-down", type=float, default=8.0, help="broker outage, s (8)")
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    console = Console()
    plan = chaos_plan(arguments.seconds, arguments.rate, arguments.broker_down)
    with private_stack("chaos") as settings:
        console.print("training a best and a candidate model")
        train_best_and_candidate(settings)
        report = run_chaos(settings, plan, kafka=local.kafka_process(settings), log=console.print)
    print_report(console, report)
    sys.exit(0 if report.ok else 1)
