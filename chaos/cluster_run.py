"""The cluster run of ``make chaos`` (``CLUSTER=1``): brokers lost under load, one at a time.

On a three-node stack, while 100 predictions/s (each with its feedback) go through two
gateways:
1. SIGKILL the broker that leads the most Splitstream partitions; start it after ``down_s``
   (20 s by default);
2. SIGKILL the active controller (the metadata quorum's leader); start it after ``down_s``;
3. restart the three brokers one at a time (SIGTERM: a controlled shutdown), each only
   once no partition is under-replicated and ``SETTLE_S`` after the last leader moved.
The phases are played by ``chaos.broker_schedule``. The single node run's invariants are
judged at the end, plus the verdicts of ``chaos.broker_verdicts``: per kill, the longest
stretch of failed predictions and the accepted events lost; the failed share of the roll.
"""

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from chaos import evidence, invariants
from chaos.broker_schedule import BrokerKill, BrokerSchedule, RollingRestart
from chaos.broker_verdicts import kill_verdict, lost_in_window, rolling_verdict
from chaos.cast import Cast
from chaos.invariants import Invariant
from chaos.load import Answer, drive
from chaos.run import KEYS
from chaos.stretches import longest_stretch
from cli.settings import Settings
from clients.sink_query import open_clickhouse_reader
from demo.scenario import held_out, wait_until_serving
from plumbing.errors import SinkUnavailableError
from stack import kafka_cluster, supervisor

#: Longest the whole schedule may take (the load's bodies are made for this long).
MAX_SECONDS = 600.0


@dataclass
class ClusterChaosReport:
    """What the cluster run measured, and the verdicts."""

    rate_per_s: float
    down_s: float
    kills: list[BrokerKill] = field(default_factory=list)
    rolling: RollingRestart | None = None
    answers: list[Answer] = field(default_factory=list)
    invariants: list[Invariant] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and all(i.holds for i in self.invariants)


def run_cluster_chaos(
    settings: Settings, *, rate_per_s: float, down_s: float, log: Callable[[str], None]
) -> ClusterChaosReport:
    """Start the services, play the broker phases under load, judge; stop the services."""
    cast, report = Cast(settings), ClusterChaosReport(rate_per_s, down_s)
    schedule = BrokerSchedule(settings, down_s, log)
    try:
        log("starting two prod predictors, the candidate, two gateways, the sink, the agent")
        cast.start()
        wait_until_serving(settings, candidate=True)
        kafka_cluster.wait_in_sync(settings)
        bodies, actuals = _traffic(settings, int(MAX_SECONDS * rate_per_s))
        log(f"{rate_per_s:g} req/s with feedback until the broker phases end")
        worker = threading.Thread(target=schedule.run, name="broker-schedule")
        worker.start()
        try:
            report.answers = asyncio.run(
                drive(
                    cast.gateway_urls(),
                    bodies,
                    actuals,
                    rate_per_s=rate_per_s,
                    reply_timeout_s=settings.reply_timeout_s,
                    stop=schedule.done,
                )
            )
        finally:
            schedule.done.set()
            worker.join()
        report.kills, report.rolling = schedule.kills, schedule.rolling
        log("waiting for the sink to store everything, then checking")
        _judge(settings, cast, report, schedule)
        return report
    finally:
        cast.stop()


def _traffic(settings: Settings, count: int) -> tuple[list[dict[str, Any]], list[float]]:
    split = held_out(settings)
    rows = [row._asdict() for row in split.rows_test]
    prices = [float(y) for y in split.y_test]
    bodies = [{**rows[i % len(rows)], "key": f"user-{i % KEYS}"} for i in range(count)]
    return bodies, [prices[i % len(prices)] for i in range(count)]


def _judge(
    settings: Settings, cast: Cast, report: ClusterChaosReport, schedule: BrokerSchedule
) -> None:
    answers = report.answers
    copies = evidence.topic_copies(settings)
    clickhouse = open_clickhouse_reader(settings)
    try:
        served = evidence.served_rows(clickhouse, settings.clickhouse_database)
        reply_rows = evidence.reply_rows(clickhouse, settings.clickhouse_database)
    except SinkUnavailableError:
        served, reply_rows = {}, Counter()
    stored_feedback = {e for c in copies if c.table == "feedback" for e in c.in_clickhouse}
    report.duplicates = invariants.duplicates(copies, reply_rows)
    report.invariants = [
        invariants.one_prediction_row_per_200(answers, served),
        invariants.nothing_lost(copies, answers),
        invariants.only_unavailable_errors(answers, []),
        invariants.within_deadline(answers, settings.reply_timeout_s),
        invariants.all_restarted([], cast.states(), []),
        _cluster_back(settings, schedule),
    ]
    for kill in report.kills:
        stretch = longest_stretch(answers, start=kill.killed_at, end=kill.in_sync_at)
        lost = lost_in_window(answers, served, stored_feedback, kill.killed_at, kill.in_sync_at)
        report.invariants.append(kill_verdict(kill, stretch, lost))
    if report.rolling is not None:
        report.invariants.append(rolling_verdict(report.rolling, answers))
    if schedule.error is not None:
        report.invariants.append(
            Invariant("the broker phases ran to the end", False, repr(schedule.error)[:300])
        )


def _cluster_back(settings: Settings, schedule: BrokerSchedule) -> Invariant:
    states = {p.name: supervisor.status(p).state for p in schedule.nodes.values()}
    try:
        lagging = kafka_cluster.under_replicated(kafka_cluster.snapshot(settings))
    except (KafkaError, OSError) as error:
        return Invariant("every broker runs, every partition in sync", False, repr(error)[:200])
    return Invariant(
        "every broker runs, every partition in sync",
        all(s == "running" for s in states.values()) and not lagging,
        f"brokers: {states}; under-replicated partitions: {len(lagging)}",
    )
