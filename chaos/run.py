"""One chaos run on a running stack: kills under load, a broker restart, promoter kills.

The phases run in turn on one set of services; the invariants are judged at the end,
over everything every phase sent, once the sink has caught up.
"""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from chaos import evidence, invariants
from chaos.broker import BrokerOutage, outage_seconds, restart_broker_under_load
from chaos.cast import Cast, Restart
from chaos.errors import PromoterKillFailedError
from chaos.invariants import Invariant
from chaos.load import Answer, drive
from chaos.plan import ChaosPlan, Kill
from chaos.promoter_kills import FAILPOINTS, PromoterKill, kill_promoter_mid_swap
from cli.settings import Settings
from clients.sink_query import open_clickhouse_reader
from demo.scenario import held_out, wait_until_serving
from plumbing.errors import SinkUnavailableError
from stack.supervisor import ServiceProcess

#: Predictions per second while the broker restarts (the outage, not the load, is tested).
BROKER_RATE_PER_S = 20.0
#: Load after the broker answers again, to see the gateways recover.
BROKER_RECOVERY_S = 15.0
#: Distinct split keys: requests repeat keys, as returning users do.
KEYS = 500


@dataclass
class ChaosReport:
    """Everything a chaos run measured, and the verdicts."""

    plan: ChaosPlan
    invariants: list[Invariant] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    restarts: list[Restart] = field(default_factory=list)
    outage: BrokerOutage | None = None
    promoter_kills: list[PromoterKill] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    failures: list[Invariant] = field(default_factory=list)  # phases that could not finish

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and all(i.holds for i in self.invariants)


def run_chaos(
    settings: Settings, plan: ChaosPlan, *, kafka: ServiceProcess, log: Callable[[str], None]
) -> ChaosReport:
    """Start the services, play every phase, stop the services; the report says what held."""
    cast, report = Cast(settings), ChaosReport(plan)
    try:
        log("starting two prod predictors, the candidate, two gateways, the sink, the agent")
        cast.start()
        wait_until_serving(settings, candidate=True)
        bodies, actuals = _traffic(settings, int(plan.seconds * plan.rate_per_s))
        log(f"{plan.rate_per_s:g} req/s for {plan.seconds:g} s; kills: {_kills(plan.kills)}")
        report.answers, report.restarts = _load_with_kills(settings, cast, plan, bodies, actuals)
        log(f"broker: SIGKILL, {plan.broker_down_s:g} s down, start, {BROKER_RECOVERY_S:g} s more")
        gateway_pids = _gateway_pids(cast)
        report.outage = _broker_phase(settings, cast, plan, kafka)
        gateway_restarts = len(gateway_pids ^ _gateway_pids(cast)) // 2
        if plan.promoter_kills:
            log("promoter: killed after the routing write, then after the reload broadcast")
            _promoter_phase(settings, report)
        log("waiting for the sink to store everything, then checking")
        _judge(settings, cast, report, gateway_restarts)
        return report
    finally:
        cast.stop()


def _gateway_pids(cast: Cast) -> set[int | None]:
    return {cast.pid("gateway"), cast.pid("gateway-2")}


def _traffic(settings: Settings, count: int) -> tuple[list[dict[str, Any]], list[float]]:
    """``count`` held-out rows (cycled) with split keys, and their true prices."""
    split = held_out(settings)
    rows = [row._asdict() for row in split.rows_test]
    prices = [float(y) for y in split.y_test]
    bodies = [{**rows[i % len(rows)], "key": f"user-{i % KEYS}"} for i in range(count)]
    return bodies, [prices[i % len(prices)] for i in range(count)]


def _kills(kills: tuple[Kill, ...]) -> str:
    return ", ".join(f"{k.victim} at {k.at_s:g} s" for k in kills)


def _load_with_kills(
    settings: Settings,
    cast: Cast,
    plan: ChaosPlan,
    bodies: list[dict[str, Any]],
    actuals: list[float],
) -> tuple[list[Answer], list[Restart]]:
    restarts: list[Restart] = []
    start = time.monotonic()

    def strike(kill: Kill) -> None:  # one thread per kill: restarts may overlap later kills
        time.sleep(max(0.0, start + kill.at_s - time.monotonic()))
        restarts.append(cast.kill_and_restart(kill.victim, kill.down_s))

    strikes = [threading.Thread(target=strike, args=(k,), name=k.victim) for k in plan.kills]
    for thread in strikes:
        thread.start()
    try:
        answers = asyncio.run(
            drive(
                cast.gateway_urls(),
                bodies,
                actuals,
                rate_per_s=plan.rate_per_s,
                reply_timeout_s=settings.reply_timeout_s,
            )
        )
    finally:
        for thread in strikes:
            thread.join()
    return answers, restarts


def _broker_phase(
    settings: Settings, cast: Cast, plan: ChaosPlan, kafka: ServiceProcess
) -> BrokerOutage:
    count = int(outage_seconds(plan.broker_down_s, BROKER_RECOVERY_S) * BROKER_RATE_PER_S)
    bodies, actuals = _traffic(settings, count)
    return restart_broker_under_load(
        kafka,
        cast.gateway_urls(),
        bodies,
        actuals,
        rate_per_s=BROKER_RATE_PER_S,
        down_s=plan.broker_down_s,
        reply_timeout_s=settings.reply_timeout_s,
    )


def _promoter_phase(settings: Settings, report: ChaosReport) -> None:
    """Promote with a promoter that dies after the routing write, then roll back with one
    that dies after the broadcast; each restarted promoter must complete the swap."""
    actions: tuple[Literal["promote", "rollback"], ...] = ("promote", "rollback")
    for failpoint, action in zip(FAILPOINTS, actions, strict=True):
        try:
            report.promoter_kills.append(
                kill_promoter_mid_swap(settings, failpoint=failpoint, action=action)
            )
        except PromoterKillFailedError as error:
            report.failures.append(Invariant(f"promoter killed at {failpoint}", False, str(error)))


def _judge(settings: Settings, cast: Cast, report: ChaosReport, gateway_restarts: int) -> None:
    outage_answers = report.outage.answers if report.outage else []
    answers = [*report.answers, *outage_answers]
    copies = evidence.topic_copies(settings)
    clickhouse = open_clickhouse_reader(settings)
    try:
        served = evidence.served_rows(clickhouse, settings.clickhouse_database)
        reply_rows = evidence.reply_rows(clickhouse, settings.clickhouse_database)
    except SinkUnavailableError:  # the sink is down: every row counts as missing
        served, reply_rows = {}, Counter()
    victims = [k.victim for k in report.plan.kills]
    report.duplicates = invariants.duplicates(copies, reply_rows)
    report.invariants = [
        invariants.one_prediction_row_per_200(answers, served),
        invariants.nothing_lost(copies, answers),
        invariants.only_unavailable_errors(answers, report.restarts),
        invariants.within_deadline(answers, settings.reply_timeout_s),
        invariants.all_restarted(report.restarts, cast.states(), victims),
    ]
    if report.outage is not None:
        report.invariants += [
            invariants.unavailable_while_broker_down(report.outage),
            invariants.recovered_after_broker(report.outage, gateway_restarts),
        ]
    report.invariants += [invariants.promoter_kill_recovered(k) for k in report.promoter_kills]
    report.invariants += report.failures
