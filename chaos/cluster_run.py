"""The cluster run of ``make chaos`` (``CLUSTER=1``): brokers lost under load, one at a time.

On a three-node stack, while 100 predictions/s (each with its feedback) go through two
gateways:
1. SIGKILL the broker that leads the most Splitstream partitions; start it after 20 s;
2. SIGKILL the active controller (the metadata quorum's leader); start it after 20 s;
3. restart the three brokers one at a time (SIGTERM: a controlled shutdown), each only
   once no partition is under-replicated and ``SETTLE_S`` after the last leader moved.
Each broker started again must be back in every ISR, and lead its preferred partitions
again, before the next phase: otherwise its peers lead everything it led, and the next
broker stopped moves all of them at once. As an operator would, the run moves them back
itself, ``WARM_S`` after the broker is in sync and one partition at a time
(``kafka_cluster.restore_preferred_leaders``). The single
node run's invariants are judged at the end, plus, per kill, the longest stretch of
failed predictions and the accepted events lost, and the failed share of the roll.
"""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from chaos import evidence, invariants
from chaos.cast import Cast
from chaos.invariants import Invariant
from chaos.load import Answer, drive
from chaos.run import KEYS
from chaos.stretches import Stretch, failed_share, longest_stretch
from cli.settings import Settings
from plumbing.clickhouse import SinkUnavailableError, open_clickhouse_reader
from stack import kafka_cluster, kafka_service, supervisor
from stack.scenario import held_out, wait_until_serving
from stack.supervisor import ServiceProcess

#: Load before the first kill, between phases, and after the last.
LEAD_S = 5.0
SETTLE_S = 5.0
#: A restarted broker replicates this long before it leads again: a JVM seconds old served
#: its first leaderships slowly, past the reply deadline.
WARM_S = 15.0
#: Between two leaderships moved back. Each stalls its partition's clients for up to ~1 s
#: (a metadata refresh, on a busy machine); 0.5 s apart, a request partition's stall and
#: then its reply partition's added up past the 2 s deadline.
LEADER_MOVE_PAUSE_S = 2.0
TAIL_S = 10.0
#: Longest the whole schedule may take (the load's bodies are made for this long).
MAX_SECONDS = 600.0
#: The issue's targets.
MAX_STRETCH_S = 5.0
MAX_ROLLING_FAILED_SHARE = 0.001


@dataclass(frozen=True)
class BrokerKill:
    """One broker SIGKILLed, down ``down_s``, started, and back in sync."""

    what: str  # "busiest leader" or "active controller"
    node_id: int
    killed_at: float
    started_at: float
    ready_at: float
    in_sync_at: float


@dataclass(frozen=True)
class RollStep:
    """One broker of the rolling restart: when its SIGTERM was sent, when it had exited,
    answered again, was back in every ISR, started taking its leaderships back, and led
    its preferred partitions again."""

    node_id: int
    stop_at: float
    exited_at: float
    ready_at: float
    in_sync_at: float
    moving_at: float
    leading_at: float

    def phases(self) -> tuple[tuple[str, float, float], ...]:
        return (
            ("stopping", self.stop_at, self.exited_at),
            ("down", self.exited_at, self.ready_at),
            ("catching up", self.ready_at, self.in_sync_at),
            ("warming", self.in_sync_at, self.moving_at),
            ("leaders back", self.moving_at, self.leading_at),
        )


@dataclass(frozen=True)
class RollingRestart:
    started_at: float
    ended_at: float
    steps: tuple[RollStep, ...]

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(step.node_id for step in self.steps)


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


class BrokerSchedule:
    """The broker phases, played in a thread beside the load; sets ``done`` at the end."""

    def __init__(
        self, settings: Settings, report: ClusterChaosReport, log: Callable[[str], None]
    ) -> None:
        self._settings = settings
        self._report = report
        self._log = log
        self.nodes: dict[int, ServiceProcess] = {
            i: kafka_service.process(settings, i) for i in range(1, settings.kafka_nodes + 1)
        }
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            time.sleep(LEAD_S)
            states = kafka_cluster.snapshot(self._settings)
            leader = kafka_cluster.busiest_leader(states, topic_prefix=self._settings.topic_prefix)
            self._kill("busiest leader", leader)
            time.sleep(SETTLE_S)
            self._kill("active controller", kafka_cluster.active_controller(self._settings))
            time.sleep(SETTLE_S)
            self._roll()
            time.sleep(TAIL_S)
        except BaseException as error:  # reported as a failed invariant, after the load
            self.error = error
        finally:
            self.done.set()

    def _kill(self, what: str, node_id: int) -> None:
        process = self.nodes[node_id]
        self._log(f"SIGKILL {process.name} (node {node_id}, the {what}), {self._report.down_s:g} s")
        killed_at = time.monotonic()
        supervisor.kill(process)
        time.sleep(self._report.down_s)
        started_at = time.monotonic()
        supervisor.start(process)
        ready_at = time.monotonic()
        _wait_back(self._settings)
        kill = BrokerKill(what, node_id, killed_at, started_at, ready_at, time.monotonic())
        self._report.kills.append(kill)
        self._log(
            f"  {process.name} answering {ready_at - started_at:.1f} s after its start, "
            f"in sync {kill.in_sync_at - ready_at:.1f} s later"
        )

    def _roll(self) -> None:
        self._log("rolling restart: each broker stopped (SIGTERM), started, back in sync")
        started_at = time.monotonic()
        steps = [self._restart(node_id, process) for node_id, process in self.nodes.items()]
        self._report.rolling = RollingRestart(started_at, time.monotonic(), tuple(steps))

    def _restart(self, node_id: int, process: ServiceProcess) -> RollStep:
        stop_at = time.monotonic()
        supervisor.stop(process)
        exited_at = time.monotonic()
        supervisor.start(process)
        ready_at = time.monotonic()
        kafka_cluster.wait_in_sync(self._settings)
        in_sync_at = time.monotonic()
        time.sleep(WARM_S)
        moving_at = time.monotonic()
        moved = _lead_again(self._settings)
        step = RollStep(
            node_id, stop_at, exited_at, ready_at, in_sync_at, moving_at, time.monotonic()
        )
        self._log(
            f"  {process.name}: exited {exited_at - stop_at:.1f} s after SIGTERM, answering "
            f"{ready_at - exited_at:.1f} s after its start, in sync {in_sync_at - ready_at:.1f}"
            f" s later; {moved} leaderships moved back in {step.leading_at - moving_at:.1f} s"
        )
        # The clients follow the leaders moved back before the next broker moves more:
        # two moves within a second stalled every partition past the reply deadline.
        time.sleep(SETTLE_S)
        return step


def _wait_back(settings: Settings) -> None:
    kafka_cluster.wait_in_sync(settings)
    time.sleep(WARM_S)
    _lead_again(settings)


def _lead_again(settings: Settings) -> int:
    """Move every leadership back to its preferred broker, one at a time; wait until done."""
    moved = kafka_cluster.restore_preferred_leaders(settings, pause_s=LEADER_MOVE_PAUSE_S)
    kafka_cluster.wait_led_by_preferred(settings)
    return moved


def run_cluster_chaos(
    settings: Settings, *, rate_per_s: float, down_s: float, log: Callable[[str], None]
) -> ClusterChaosReport:
    """Start the services, play the broker phases under load, judge; stop the services."""
    cast, report = Cast(settings), ClusterChaosReport(rate_per_s, down_s)
    schedule = BrokerSchedule(settings, report, log)
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
        report.invariants.append(_kill_verdict(kill, stretch, lost))
    if report.rolling is not None:
        report.invariants.append(_rolling_verdict(report.rolling, answers))
    if schedule.error is not None:
        report.invariants.append(
            Invariant("the broker phases ran to the end", False, repr(schedule.error)[:300])
        )


def lost_in_window(
    answers: list[Answer],
    served: dict[str, list[evidence.Served]],
    stored_feedback: set[str],
    start: float,
    end: float,
) -> int:
    """Accepted calls sent in [start, end) whose event ClickHouse lacks: a 200 without a
    served row, a 202 feedback not stored."""
    lost = 0
    for answer in answers:
        if not start <= answer.sent_at < end:
            continue
        if answer.kind == "predict" and answer.status == 200:
            lost += not served.get(answer.request_id or "")
        elif answer.kind == "feedback" and answer.status == 202:
            lost += answer.event_id not in stored_feedback
    return lost


def _kill_verdict(kill: BrokerKill, stretch: Stretch, lost: int) -> Invariant:
    return Invariant(
        f"killing the {kill.what} (node {kill.node_id}) loses nothing; failures ≤ "
        f"{MAX_STRETCH_S:g} s",
        lost == 0 and stretch.seconds <= MAX_STRETCH_S,
        f"longest stretch of failed predictions {stretch.seconds:.1f} s ({stretch.failed} "
        f"failed, from {stretch.start - kill.killed_at:.1f} s after the kill); {lost} accepted "
        f"events lost; back {kill.ready_at - kill.killed_at:.1f} s after the kill, in sync "
        f"{kill.in_sync_at - kill.killed_at:.1f} s after",
    )


def _rolling_verdict(rolling: RollingRestart, answers: list[Answer]) -> Invariant:
    failed, sent = failed_share(answers, start=rolling.started_at, end=rolling.ended_at)
    share = failed / sent if sent else 1.0
    statuses = Counter(
        a.status
        for a in answers
        if a.kind == "predict" and a.status != 200
        and rolling.started_at <= a.sent_at < rolling.ended_at
    )  # fmt: skip
    shown = ", ".join(f"{status or 'dropped'}: {n}" for status, n in sorted(statuses.items()))
    return Invariant(
        f"the rolling restart fails ≤ {MAX_ROLLING_FAILED_SHARE:.1%} of predictions",
        sent > 0 and share <= MAX_ROLLING_FAILED_SHARE,
        f"{failed} of {sent} predictions failed ({share:.3%}; {shown or 'none'}) during "
        f"{rolling.ended_at - rolling.started_at:.0f} s, nodes {list(rolling.nodes)} in turn"
        f"{failed_by_phase(rolling, answers)}",
    )


def failed_by_phase(rolling: RollingRestart, answers: list[Answer]) -> str:
    """Where the failures fell: node and phase of its restart, then the settling after."""
    counts = []
    for step, following in zip(rolling.steps, [*rolling.steps[1:], None], strict=True):
        settle_end = following.stop_at if following else rolling.ended_at
        for phase, start, end in (*step.phases(), ("settling", step.leading_at, settle_end)):
            failed, _ = failed_share(answers, start=start, end=end)
            if failed:
                counts.append(f"node {step.node_id} {phase}: {failed}")
    return f"; failed while {', '.join(counts)}" if counts else ""


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
