"""``splitstream promoter``: the poll loop around ``Promoter``.

It reads ``model.events`` and ``promoter.commands`` in the promoter's consumer group.
Whoever holds their one partition each (the range assignor gives both to the same
member) is the active promoter; the others are standbys that take over within a
session timeout. Trainer announcements are recorded, triggers and a timer start
evaluations, and operators' commands are executed in order. A command is read only
from ``promoter.commands``, which only operators' principals may write: one on
``model.events`` (anyone serving can write there) is ignored.

On becoming active it first completes a swap its predecessor wrote to S3 but did
not record (``Promoter.recover``), and records a candidate share it finds in S3 that
the ledger does not explain, so the ledger, the routing object and the split agree
again before anything else is decided.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from prometheus_client import ProcessCollector, start_http_server
from pydantic import ValidationError

from clients.ledger_reader import read_ledger
from clients.sink_query import open_clickhouse_reader
from plumbing import kafka
from plumbing.s3 import s3_client
from plumbing.shutdown import stopping_on_signals
from promoter.commands import execute
from promoter.drift import DriftRule, DriftWatch
from promoter.ledger import Ledger
from promoter.metrics import PromoterMetrics
from promoter.notify import Notifier
from promoter.policy import load_policy
from promoter.service import Promoter
from promoter.settings import PromoterSettings
from promoter.signals import Signals
from promoter.state import PromoterState
from schemas.decision_events import PromoterCommand

log = logging.getLogger(__name__)

#: How long a promoter that failed to become active waits before it tries again.
ACTIVATION_RETRY_S = 5.0


def promoter_group(settings: PromoterSettings) -> str:
    return f"{settings.topic_prefix}splitstream-promoter"


class _Role(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped: its classes are Any
    """Tracks whether this process holds the partition, i.e. is the active promoter."""

    def __init__(self) -> None:
        self.active = False
        self.changed = False
        self.retry_at = 0.0  # monotonic time of the next try after a failed activation

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.active, self.changed = False, True

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.active, self.changed = bool(assigned), True
        self.retry_at = 0.0


class PromoterLoop:
    """Builds the active ``Promoter`` on assignment and feeds it events and ticks."""

    def __init__(self, settings: PromoterSettings, signals: Signals | None = None) -> None:
        self.settings = settings
        self.policy = load_policy(settings.promoter_policy_file)
        self.producer = kafka.producer(settings, client_id="promoter")
        self.clickhouse = open_clickhouse_reader(settings)
        self.s3 = s3_client(settings)
        self.promoter: Promoter | None = None
        self.commands_topic = settings.topic("promoter_commands").name
        self.signals = signals or promoter_signals(settings)
        self.drift = DriftWatch(
            self.clickhouse,
            database=settings.clickhouse_database,
            rule=DriftRule(self.policy.drift_psi_threshold, self.policy.drift_min_requests),
            metrics=self.signals.metrics,
        )

    def activate(self) -> Promoter:
        """Become the active promoter: re-read the ledger and the state it implies, and
        complete a swap the previous promoter left unrecorded.

        A failure here (S3 or Kafka unreachable) is retried (``take_role``); until one
        succeeds no event is taken and no decision made on a ledger that disagrees with S3.
        """
        records = read_ledger(self.settings)
        promoter = Promoter(
            self.settings,
            clickhouse=self.clickhouse,
            s3=self.s3,
            producer=self.producer,
            policy=self.policy,
            ledger=Ledger(self.settings, self.producer, records),
            state=PromoterState.from_ledger(records, default_share=self.settings.candidate_share),
        )
        promoter.signals = self.signals
        self.signals.metrics.active.set(1)
        log.info("active promoter; ledger at sequence %d", promoter.ledger.next_sequence)
        promoter.recover()
        promoter.shares.reconcile()
        self.promoter = promoter
        return promoter

    def on_message(self, message: ConsumerRecord) -> None:
        promoter = self.promoter
        if promoter is None:
            return
        event = _json_object(message.value)
        kind = event.get("event_type") if event else None
        if kind == "model.candidate_published" and event:
            promoter.record_publish(str(event.get("model_version")), str(event.get("slot")))
        elif kind == "experiment.trigger":
            promoter.evaluate(trigger=event)
        elif kind == "promoter.command" and message.topic == self.commands_topic:
            self._command(promoter, message)
        elif kind == "promoter.command":
            log.warning(
                "ignored a command on %s: commands come only on %s",
                message.topic,
                self.commands_topic,
            )

    def evaluate(self) -> None:
        """The timer's evaluation, then the last complete hour's drift (read once)."""
        promoter = self.promoter
        if promoter is None:
            return
        promoter.evaluate()
        current = promoter.slots.read()
        if current is None or current.slots.best is None:
            return
        experiment_id = promoter.experiment_id(current.slots)
        for alert in self.drift.check(experiment_id, datetime.now(UTC)):
            promoter.send(alert.model_dump(mode="json"))

    def _command(self, promoter: Promoter, message: ConsumerRecord) -> None:
        try:
            command = PromoterCommand.model_validate_json(message.value)
        except ValidationError as error:
            log.warning("command at offset %d is malformed: %s", message.offset, error)
            return
        age = datetime.now(UTC) - command.occurred_at
        if age > timedelta(seconds=self.settings.promoter_command_timeout_s):
            log.warning("command %s is %s old; its requester gave up", command.command_id, age)
            return
        result = execute(promoter, command)
        log.info("command %s %s: %s", command.action, result.outcome, result.message)

    def close(self) -> None:
        self.signals.close()
        self.producer.close(timeout=5)
        self.clickhouse.close()


def promoter_signals(settings: PromoterSettings) -> Signals:
    """The promoter's metrics, and the webhook notifier when one is configured."""
    metrics = PromoterMetrics(evaluate_every_s=settings.promoter_evaluate_every_s)
    url = settings.notify_webhook_url
    notifier = None
    if url is not None:
        notifier = Notifier(url.get_secret_value(), outcomes=metrics.notifications).start()
    return Signals(metrics, notifier)


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    try:
        obj = json.loads(value or b"")
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
        return None
    return obj if isinstance(obj, dict) else None


@dataclass(frozen=True)
class Started:
    """Told to ``on_ready`` once /metrics answers, before the loop joins its group."""

    group_id: str
    metrics_port: int


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is per connection


def run(
    settings: PromoterSettings,
    *,
    on_ready: Callable[[Started], None] = lambda started: None,
    stop: threading.Event | None = None,
    log_level: int = logging.INFO,
) -> None:
    """Run the promoter process until ``stop`` is set or SIGTERM/SIGINT arrives: its
    logging, its /metrics (and webhook), then the loop."""
    configure_logging(log_level)
    stop = stop or threading.Event()
    signals = promoter_signals(settings)
    serve_metrics(settings, signals.metrics)
    with stopping_on_signals(stop):
        on_ready(Started(promoter_group(settings), settings.promoter_metrics_port))
        run_promoter(settings, stop, signals)


def run_promoter(
    settings: PromoterSettings, stop: threading.Event, signals: Signals | None = None
) -> None:
    """Poll until ``stop`` is set; evaluate every ``promoter_evaluate_every_s``.

    ``signals`` are the metrics (and webhook) the caller serves; by default a private set.
    """
    settings = settings.with_default_kafka_role("promoter")  # its Kafka principal
    loop, role = PromoterLoop(settings, signals), _Role()
    consumer = kafka.consumer(
        settings,
        group_id=promoter_group(settings),
        client_id="promoter",
        max_poll_records=50,
        partition_assignment_strategy=(RangePartitionAssignor,),  # both topics to one member
    )
    topics = [settings.topic("model_events").name, loop.commands_topic]
    consumer.subscribe(topics, listener=role)
    next_evaluation = 0.0
    try:
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=500)
            if role.changed and time.monotonic() >= role.retry_at:
                take_role(loop, role)
            if role.active and loop.promoter is None:
                rewind(consumer, batch)  # held for the promoter it could not become yet
            else:
                feed_batch(loop, consumer, batch)
            if loop.promoter is not None and time.monotonic() >= next_evaluation:
                next_evaluation = time.monotonic() + settings.promoter_evaluate_every_s
                _guarded(loop.evaluate)
    finally:
        consumer.close()
        loop.close()


def take_role(loop: PromoterLoop, role: _Role) -> None:
    """Activate on assignment, stand by on revocation; retry a failed activation later
    (no supervisor restarts a local promoter, and a dead one leaves no decider at all)."""
    role.changed = False
    try:
        loop.promoter = loop.activate() if role.active else None
    except Exception:
        log.exception("activation failed; trying again in %.0f s", ACTIVATION_RETRY_S)
        loop.promoter, role.changed = None, True
        role.retry_at = time.monotonic() + ACTIVATION_RETRY_S
    loop.signals.metrics.active.set(1 if loop.promoter else 0)


def rewind(consumer: KafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> None:
    """Read ``batch`` again on a later poll: seek each partition back to its first record."""
    for partition, messages in batch.items():
        if messages:
            consumer.seek(partition, messages[0].offset)


def serve_metrics(settings: PromoterSettings, metrics: PromoterMetrics) -> None:
    """``/metrics`` on ``promoter_metrics_port``: the promoter's families and its process."""
    ProcessCollector(registry=metrics.registry)
    start_http_server(
        settings.promoter_metrics_port, addr=settings.stack_host, registry=metrics.registry
    )


def feed_batch(loop: PromoterLoop, consumer: KafkaConsumer, batch: dict[Any, list[Any]]) -> None:
    for messages in batch.values():
        for message in messages:
            _guarded(loop.on_message, message)
    if batch:
        _commit(consumer)


def _commit(consumer: KafkaConsumer) -> None:
    """A failed commit (the group rebalanced, or the coordinator moved) only means the next
    owner re-reads these events: publishes are recorded once, a trigger re-evaluates, and a
    command older than its timeout is skipped. Ending the process for it left no promoter."""
    try:
        consumer.commit()
    except (KafkaError, RuntimeError) as error:  # RuntimeError: see plumbing/offset_commits.py
        log.warning("commit failed; the partition's next owner re-reads: %s", error)


def _guarded(step: Any, *args: Any) -> None:
    """One failed step (S3 or ClickHouse unreachable) is logged; the loop goes on."""
    try:
        step(*args)
    except Exception:
        log.exception("promoter step failed; continuing")
