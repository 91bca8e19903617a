"""The promoter: decides on evidence, swaps, broadcasts, records.

One instance is active at a time: ``model.events`` has one partition, read in the
``splitstream-promoter`` consumer group, so a second promoter waits as a standby and
takes over when the first dies. The active one is therefore the ledger's only
writer, and executes operators' commands one at a time.

It evaluates the running experiment, or the watch after a promotion: the previous best
keeps ``holdback_share`` of the traffic from the candidate slot, so the rollback decision
compares both versions on the same traffic at the same time. A candidate published
during a watch waits (queued) until the watch ends. Every change of the candidate share
is a ledger record too (``promoter/share_control.py``).

Evaluating (``promoter/evaluation.py``), executing a decision (``promoter/execution.py``)
and recovering an interrupted swap (``promoter/recovery.py``) are modules of their own;
``Promoter`` holds what they share: the settings, the policy, the ledger, the state and
the clients.
"""

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from kafka import KafkaProducer

from plumbing.clickhouse import ClickHouse
from plumbing.model_store import ModelStore, Slots, SlotStore, SlotsVersion
from pricing.split import experiment_of
from promoter import evaluation, execution, publishes, recovery, registry
from promoter.decision import Decision
from promoter.evidence import Window
from promoter.execution import Outcome
from promoter.experiment import ExperimentStats
from promoter.ledger import Ledger
from promoter.policy import Policy
from promoter.settings import PromoterSettings
from promoter.share_control import ShareControl
from promoter.signals import Signals
from promoter.state import PromoterState
from promoter.swap import SlotSwap
from promoter.transitions import SwapAction
from schemas.decision_events import LedgerRecord


class Promoter:
    """Evaluates, swaps and records; driven by ``promoter.main``'s poll loop.

    ``evidence``, ``slot_swap`` and ``mirror_aliases`` default to ClickHouse, S3 with the
    Kafka broadcast, and MLflow; unit tests pass stand-ins.
    """

    def __init__(
        self,
        settings: PromoterSettings,
        *,
        clickhouse: ClickHouse,
        s3: Any,
        producer: KafkaProducer,
        policy: Policy,
        ledger: Ledger,
        state: PromoterState,
        evidence: Callable[[Window], ExperimentStats] | None = None,
        slot_swap: SlotSwap | None = None,
        mirror_aliases: Callable[[Slots], None] | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.ledger = ledger
        self.state = state
        self.clickhouse = clickhouse
        self._producer = producer
        self.slots = SlotStore(s3, settings.s3_bucket)
        self.slot_swap = slot_swap or SlotSwap(settings, self.slots, producer)
        self.evidence = evidence or partial(evaluation.read_evidence, self)
        self.mirror_aliases = mirror_aliases or partial(
            registry.mirror_aliases, settings, ModelStore(s3, settings.s3_bucket)
        )
        self.shares = ShareControl(self, s3)
        self._events_topic = settings.topic("model_events").name
        self._commands_topic = settings.topic("promoter_commands").name
        self.signals: Signals | None = None  # metrics and webhook, when the service runs

    def append(self, **fields: Any) -> LedgerRecord:
        """Append a ledger record and take it into the state at once."""
        record = self.ledger.append(**fields)
        self.state.observe(record)
        if self.signals is not None:
            self.signals.recorded(record)
        return record

    def experiment_id(self, slots: Slots | None) -> str:
        return experiment_of(self.settings.experiment_id, slots)

    # ------------------------------------------------------------------ recording the trainer

    def record_publish(
        self, model_version: str, slot: str, *, now: datetime | None = None
    ) -> LedgerRecord | None:
        """A trainer placed ``model_version`` in ``slot`` (or queued it behind the watch):
        record it once; a new experiment starts at its starting share."""
        return publishes.record_publish(self, model_version, slot, now=now)

    def last_slots_version(self) -> SlotsVersion | None:
        if not self.ledger.records:
            return None
        last = self.ledger.records[-1]
        return SlotsVersion(Slots(**last.slots_after.model_dump()), last.etag_after or "")

    # ------------------------------------------------------------------ evaluating

    def evaluate(
        self, *, trigger: dict[str, Any] | None = None, now: datetime | None = None
    ) -> Decision | None:
        """Decide on the running experiment, or on the watch of the last promotion."""
        decision = evaluation.evaluate(self, trigger=trigger, now=now)
        if self.signals is not None:
            current = self.slots.read()
            experiment_id = self.experiment_id(current.slots) if decision and current else None
            statistics = decision.statistics if decision else {}
            srm = bool(decision and decision.srm_alert)
            self.signals.evaluated(experiment_id, statistics, srm_mismatch=srm)
        return decision

    # ------------------------------------------------------------------ executing

    def swap(
        self,
        action: SwapAction,
        before: SlotsVersion,
        actor: dict[str, str],
        decision: Decision | None,
        experiment_id: str | None,
        inputs: dict[str, Any],
        now: datetime | None = None,
    ) -> Outcome:
        """One conditional write, the broadcast, the share, the aliases, the event, the record."""
        started = time.monotonic()
        outcome = execution.swap(self, action, before, actor, decision, experiment_id, inputs, now)
        if self.signals is not None and outcome.record is not None:
            self.signals.swapped(action, time.monotonic() - started)
        return outcome

    def recover(self) -> LedgerRecord | None:
        """Complete a swap a crash interrupted (``promoter/recovery.py``)."""
        return recovery.recover(self)

    def send(self, event: dict[str, Any], topic: str | None = None) -> None:
        self._producer.send(topic or self._events_topic, event).get(timeout=10)
        if self.signals is not None and topic is None:
            self.signals.sent(event)

    def answer(self, result: dict[str, Any]) -> None:
        """A command's result goes beside the command, on ``promoter.commands``."""
        self.send(result, self._commands_topic)
