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

A swap writes the routing object first and the ledger record last, so a promoter
killed in between leaves S3 one generation ahead of the ledger. ``recover`` runs
when a promoter becomes active: if one swap turns the ledger's last slots into S3's,
it completes that swap (broadcast, share, aliases, event, record) as actor
``recovery``; any other difference is left alone and logged.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from plumbing.clickhouse import ClickHouse
from plumbing.errors import SlotConflictError
from plumbing.failpoints import failpoint
from plumbing.model_store import ModelStore, Slots, SlotStore, SlotsVersion
from plumbing.split import experiment_of
from promoter import evaluation, publishes
from promoter.decision import Decision
from promoter.ledger import Ledger
from promoter.policy import Policy
from promoter.registry import mirror_aliases
from promoter.settings import PromoterSettings
from promoter.share_control import ShareControl
from promoter.signals import Signals
from promoter.state import PromoterState
from promoter.swap import SlotSwap
from promoter.transitions import (
    SwapAction,
    TransitionRefusedError,
    apply_action,
    interrupted_action,
)
from schemas.models import (
    LedgerRecord,
    ModelPromoted,
    ModelRejected,
    ModelRolledBack,
)

log = logging.getLogger(__name__)

RECOVERY_ACTOR = {"kind": "recovery", "name": "promoter"}


@dataclass(frozen=True)
class Outcome:
    """What one swap attempt ended as: the ledger record, or why there is none."""

    outcome: str  # done | conflict | refused
    message: str
    record: LedgerRecord | None
    slots: SlotsVersion | None


class Promoter:
    """Evaluates, swaps and records; driven by ``promoter.main``'s poll loop."""

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
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.ledger = ledger
        self.state = state
        self.clickhouse = clickhouse
        self._producer = producer
        self.slots = SlotStore(s3, settings.s3_bucket)
        self._store = ModelStore(s3, settings.s3_bucket)
        self._swap = SlotSwap(settings, self.slots, producer)
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

    # ------------------------------------------------------------------ swapping

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
        outcome = self._swap_once(action, before, actor, decision, experiment_id, inputs, now)
        if self.signals is not None and outcome.record is not None:
            self.signals.swapped(action, time.monotonic() - started)
        return outcome

    def _swap_once(
        self,
        action: SwapAction,
        before: SlotsVersion,
        actor: dict[str, str],
        decision: Decision | None,
        experiment_id: str | None,
        inputs: dict[str, Any],
        now: datetime | None,
    ) -> Outcome:
        try:
            after_slots = apply_action(
                action,
                before.slots,
                holdback=self.policy.holdback_share > 0,
                queued=self.state.queued,
            )
            after = self._swap.write(before, after_slots)
        except TransitionRefusedError as error:
            return Outcome("refused", str(error), None, before)
        except SlotConflictError as error:
            return Outcome("conflict", f"another swap won: {error}", None, self.slots.read())
        failpoint(self.settings, "promoter.after_routing_write")
        reasons = decision.reasons if decision else [f"{actor['name']} asked to {action}"]
        record = self._complete(
            action,
            before,
            after,
            actor=actor,
            reasons=reasons,
            experiment_id=experiment_id,
            inputs=inputs,
            decision=decision,
            now=now,
        )
        return Outcome("done", f"{action}: generation {after.slots.generation}", record, after)

    def _complete(
        self,
        action: SwapAction,
        before: SlotsVersion,
        after: SlotsVersion,
        *,
        actor: dict[str, str],
        reasons: list[str],
        experiment_id: str | None,
        inputs: dict[str, Any],
        decision: Decision | None = None,
        now: datetime | None = None,
    ) -> LedgerRecord:
        """Everything after the routing write: broadcast, share, aliases, event, record."""
        broadcast = self._swap.broadcast(after, reason=f"{action}: {'; '.join(reasons)}"[:2000])
        extra = self._after_swap(action, before.slots, after.slots, now)
        mirror_aliases(self.settings, self._store, after.slots)
        self._announce(action, before, after, actor, reasons)
        return self.append(
            action=action,
            actor=actor,
            reasons=[*reasons, *extra.pop("notes", [])],
            experiment_id=experiment_id,
            before=before,
            after=after,
            inputs={**inputs, **extra, "acked": list(broadcast.acked), "ack_s": broadcast.seconds},
            statistics=decision.statistics if decision else {},
            thresholds=decision.thresholds if decision else {},
            missing_acks=broadcast.missing,
        )

    def _after_swap(
        self, action: SwapAction, before: Slots, after: Slots, now: datetime | None
    ) -> dict[str, Any]:
        """The share a swap calls for, and what the record must say about the watch."""
        extra: dict[str, Any] = {"notes": []}
        if action == "promote" and after.holdback is not None:
            change = self.shares.set_for_swap(self.policy.holdback_share, now)
            started = datetime.fromisoformat(change["effective_at"]) if change else now
            extra["share_change"] = change
            extra["watch"] = {
                "experiment_id": self.experiment_id(after),
                "started_at": (started or datetime.now(UTC)).isoformat(),
                "holdback_share": self.policy.holdback_share,
            }
            extra["notes"].append(
                f"watch: {after.holdback} keeps {self.policy.holdback_share:.0%} of the traffic "
                f"beside {after.best} until the watch ends (at most "
                f"{self.policy.watch_max_hours:g} h)"
            )
        elif after.candidate is not None and after.candidate != before.candidate:
            extra["share_change"] = self.shares.start_experiment(now)
            extra["started_candidate"] = after.candidate
            extra["notes"].append(
                f"{after.candidate}, queued during the watch, takes the candidate slot: "
                f"experiment {self.experiment_id(after)} starts"
            )
        if extra.get("share_change") is None:
            extra.pop("share_change", None)
        return extra

    def recover(self) -> LedgerRecord | None:
        """Complete a swap whose routing write landed but whose record did not.

        Returns:
            The completing ledger record, or None when S3 matches the ledger or the
            difference is not one swap (e.g. a trainer's publish, which
            ``record_publish`` records when its event is consumed).
        """
        recorded, actual = self.last_slots_version(), self.slots.read()
        if recorded is None or actual is None or actual.slots == recorded.slots:
            return None
        action = interrupted_action(recorded.slots, actual.slots, queued=self.state.queued)
        if action is None:
            log.warning(
                "S3 holds %s but the ledger ended at %s; not one swap apart, left alone",
                actual.slots,
                recorded.slots,
            )
            return None
        reason = (
            f"completed after a restart: the routing object was at generation "
            f"{actual.slots.generation} but the ledger ended at {recorded.slots.generation}"
        )
        log.warning("interrupted %s: %s", action, reason)
        return self._complete(
            action,
            recorded,
            actual,
            actor=RECOVERY_ACTOR,
            reasons=[reason],
            experiment_id=self.experiment_id(recorded.slots),
            inputs={"interrupted_generation": actual.slots.generation},
        )

    def _announce(
        self,
        action: SwapAction,
        before: SlotsVersion,
        after: SlotsVersion,
        actor: dict[str, str],
        reasons: list[str],
    ) -> None:
        common = {"generation": after.slots.generation, "actor": actor}
        if action == "promote":
            event = ModelPromoted.create(
                model_version=after.slots.best, previous_best=before.slots.best, **common
            )
        elif action == "reject":
            event = ModelRejected.create(
                model_version=before.slots.candidate, reasons=reasons, **common
            )
        elif action == "rollback":
            event = ModelRolledBack.create(
                model_version=after.slots.best,
                from_version=before.slots.best,
                reasons=reasons,
                **common,
            )
        else:
            return  # the end of a watch changes no version's fate: the reload says enough
        self.send(event.model_dump(mode="json"))

    def send(self, event: dict[str, Any], topic: str | None = None) -> None:
        self._producer.send(topic or self._events_topic, event).get(timeout=10)
        if self.signals is not None and topic is None:
            self.signals.sent(event)

    def answer(self, result: dict[str, Any]) -> None:
        """A command's result goes beside the command, on ``promoter.commands``."""
        self.send(result, self._commands_topic)
