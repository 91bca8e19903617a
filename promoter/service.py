"""The promoter: decides on evidence, swaps, broadcasts, records.

One instance is active at a time: ``model.events`` has one partition, read in the
``splitstream-promoter`` consumer group, so a second promoter waits as a standby and
takes over when the first dies. The active one is therefore the ledger's only
writer, and executes operators' commands one at a time.

A swap writes the routing object first and the ledger record last, so a promoter
killed in between leaves S3 one generation ahead of the ledger. ``recover`` runs
when a promoter becomes active: if one promote, reject or rollback turns the ledger's
last slots into S3's, it completes that swap (broadcast, aliases, event, record) as
actor ``recovery``; any other difference is left alone and logged.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaProducer

from plumbing.clickhouse import ClickHouse
from plumbing.errors import SlotConflictError
from plumbing.failpoints import failpoint
from plumbing.model_store import ModelStore, Slots, SlotStore, SlotsVersion
from plumbing.settings import Settings
from plumbing.split import experiment_id_for
from plumbing.split_store import SplitStore
from promoter.evidence import experiment_stats, watch_stats
from promoter.ledger import Ledger
from promoter.policy import Decision, Policy, decide, decide_watch
from promoter.registry import mirror_aliases
from promoter.swap import SlotSwap
from promoter.transitions import (
    SwapAction,
    TransitionRefusedError,
    apply_action,
    interrupted_action,
)
from schemas.models import (
    ExperimentAlert,
    LedgerRecord,
    ModelPromoted,
    ModelRejected,
    ModelRolledBack,
    PromoterCommand,
    PromoterCommandResult,
)

log = logging.getLogger(__name__)

POLICY_ACTOR = {"kind": "policy", "name": "promoter"}
RECOVERY_ACTOR = {"kind": "recovery", "name": "promoter"}


@dataclass
class PromoterState:
    """What the ledger says beyond the slots: pause, the last promotion, alerts sent."""

    paused: bool = False
    promoted_at: datetime | None = None
    alerted: set[str] = field(default_factory=set)

    @classmethod
    def from_ledger(cls, records: list[LedgerRecord]) -> "PromoterState":
        state = cls()
        for record in records:
            if record.action in ("pause", "resume"):
                state.paused = record.action == "pause"
            if record.action == "promote":
                state.promoted_at = record.occurred_at
            if record.action == "wait" and record.statistics.get("srm_alert"):
                state.alerted.add(record.experiment_id or "")
        return state


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
        settings: Settings,
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
        self._clickhouse = clickhouse
        self._producer = producer
        self._slots = SlotStore(s3, settings.s3_bucket)
        self._store = ModelStore(s3, settings.s3_bucket)
        self._split = SplitStore(s3, settings.s3_bucket)
        self._swap = SlotSwap(settings, self._slots, producer)
        self._events_topic = settings.topic("model_events").name
        self._commands_topic = settings.topic("promoter_commands").name

    # ------------------------------------------------------------------ recording the trainer

    def record_publish(self, model_version: str, slot: str) -> LedgerRecord | None:
        """A trainer placed ``model_version`` in ``slot``: record it once in the ledger."""
        current = self._slots.read()
        if current is None or self._already_recorded(model_version):
            return None
        before = self._last_slots_version()
        first = before is None or before.slots.best is None
        return self.ledger.append(
            action="bootstrap" if first else "publish",
            actor={"kind": "trainer", "name": "trainer"},
            reasons=[f"the trainer placed {model_version} in the {slot} slot"],
            experiment_id=experiment_id_for(self.settings.experiment_id, current.slots.candidate),
            before=before,
            after=current,
            inputs={"model_version": model_version, "slot": slot},
        )

    def _already_recorded(self, model_version: str) -> bool:
        return any(
            r.action in ("bootstrap", "publish") and r.inputs.get("model_version") == model_version
            for r in self.ledger.records
        )

    def _last_slots_version(self) -> SlotsVersion | None:
        if not self.ledger.records:
            return None
        last = self.ledger.records[-1]
        return SlotsVersion(Slots(**last.slots_after.model_dump()), last.etag_after or "")

    # ------------------------------------------------------------------ evaluating

    def evaluate(self, *, trigger: dict[str, Any] | None = None) -> Decision | None:
        """Decide on the running experiment, or watch the last promotion."""
        if self.state.paused:
            return None
        current = self._slots.read()
        if current is None or current.slots.best is None:
            return None
        if current.slots.candidate is not None:
            return self._evaluate_experiment(current, trigger)
        return self._evaluate_watch(current)

    def _evaluate_experiment(
        self, current: SlotsVersion, trigger: dict[str, Any] | None
    ) -> Decision:
        experiment_id = experiment_id_for(self.settings.experiment_id, current.slots.candidate)
        split = self._split.read()
        share = split.candidate_share if split else self.settings.candidate_share
        stats = experiment_stats(
            self._clickhouse,
            self.settings.clickhouse_database,
            experiment_id=experiment_id,
            expected_candidate_share=share,
        )
        decision = decide(stats, self.policy)
        inputs = {"stats": asdict(stats), "trigger": trigger, "candidate_share": share}
        if decision.action in ("promote", "reject"):
            self.swap(decision.action, current, POLICY_ACTOR, decision, experiment_id, inputs)
        elif decision.srm_alert and experiment_id not in self.state.alerted:
            self._alert_srm(current, decision, experiment_id, inputs)
        return decision

    def _evaluate_watch(self, current: SlotsVersion) -> Decision | None:
        previous, promoted_at = current.slots.previous_best, self.state.promoted_at
        if previous is None or promoted_at is None or current.slots.best is None:
            return None
        if datetime.now(UTC) - promoted_at > timedelta(hours=self.policy.watch_max_hours):
            return None
        stats = watch_stats(
            self._clickhouse,
            self.settings.clickhouse_database,
            previous=previous,
            current=current.slots.best,
            promoted_at=promoted_at,
            lookback_s=int(self.policy.max_duration_hours * 3600),
        )
        decision = decide_watch(stats, self.policy)
        if decision.action == "rollback":
            inputs = {"stats": asdict(stats), "watch_of": current.slots.best}
            self.swap("rollback", current, POLICY_ACTOR, decision, stats.experiment_id, inputs)
        return decision

    def _alert_srm(
        self, current: SlotsVersion, decision: Decision, experiment_id: str, inputs: dict[str, Any]
    ) -> None:
        p_value = decision.statistics.get("srm_p_value")
        alert = ExperimentAlert.create(
            experiment_id=experiment_id,
            kind="srm",
            message="; ".join(decision.reasons)[:2000],
            p_value=float(p_value) if p_value is not None else None,
        )
        self._send(alert.model_dump(mode="json"))
        self.ledger.append(
            action="wait",
            actor=POLICY_ACTOR,
            reasons=decision.reasons,
            experiment_id=experiment_id,
            before=current,
            after=current,
            inputs=inputs,
            statistics={**decision.statistics, "srm_alert": True},
            thresholds=decision.thresholds,
        )
        self.state.alerted.add(experiment_id)

    # ------------------------------------------------------------------ swapping

    def swap(
        self,
        action: SwapAction,
        before: SlotsVersion,
        actor: dict[str, str],
        decision: Decision | None,
        experiment_id: str | None,
        inputs: dict[str, Any],
    ) -> Outcome:
        """One conditional write, the broadcast, the aliases, the event and the record."""
        try:
            after_slots = apply_action(action, before.slots)
            after = self._swap.write(before, after_slots)
        except TransitionRefusedError as error:
            return Outcome("refused", str(error), None, before)
        except SlotConflictError as error:
            return Outcome("conflict", f"another swap won: {error}", None, self._slots.read())
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
    ) -> LedgerRecord:
        """Everything after the routing write: broadcast, aliases, event, record."""
        broadcast = self._swap.broadcast(after, reason=f"{action}: {'; '.join(reasons)}"[:2000])
        mirror_aliases(self.settings, self._store, after.slots)
        self._announce(action, before, after, actor, reasons)
        if action == "promote":
            self.state.promoted_at = datetime.now(UTC)
        return self.ledger.append(
            action=action,
            actor=actor,
            reasons=reasons,
            experiment_id=experiment_id,
            before=before,
            after=after,
            inputs={**inputs, "acked": list(broadcast.acked), "ack_s": broadcast.seconds},
            statistics=decision.statistics if decision else {},
            thresholds=decision.thresholds if decision else {},
            missing_acks=broadcast.missing,
        )

    def recover(self) -> LedgerRecord | None:
        """Complete a swap whose routing write landed but whose record did not.

        Returns:
            The completing ledger record, or None when S3 matches the ledger or the
            difference is not one swap (e.g. a trainer's publish, which
            ``record_publish`` records when its event is consumed).
        """
        recorded, actual = self._last_slots_version(), self._slots.read()
        if recorded is None or actual is None or actual.slots == recorded.slots:
            return None
        action = interrupted_action(recorded.slots, actual.slots)
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
            experiment_id=experiment_id_for(self.settings.experiment_id, recorded.slots.candidate),
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
        else:
            event = ModelRolledBack.create(
                model_version=after.slots.best,
                from_version=before.slots.best,
                reasons=reasons,
                **common,
            )
        self._send(event.model_dump(mode="json"))

    def _send(self, event: dict[str, Any], topic: str | None = None) -> None:
        self._producer.send(topic or self._events_topic, event).get(timeout=10)

    # ------------------------------------------------------------------ operators

    def execute(self, command: PromoterCommand) -> PromoterCommandResult:
        """Run an operator's command through the same swap, and answer it."""
        current = self._slots.read()
        actor = command.actor.model_dump()
        if current is None:
            outcome = Outcome("refused", "no model was ever published", None, None)
        elif (
            command.expected_generation is not None
            and command.expected_generation != current.slots.generation
        ):
            outcome = Outcome(
                "conflict",
                f"the slots moved on: expected generation {command.expected_generation}, "
                f"found {current.slots.generation}",
                None,
                current,
            )
        elif command.action in ("pause", "resume"):
            outcome = self._pause_or_resume(command, current, actor)
        else:
            experiment_id = experiment_id_for(self.settings.experiment_id, current.slots.candidate)
            inputs = {"command_id": str(command.command_id), "reason": command.reason}
            outcome = self.swap(command.action, current, actor, None, experiment_id, inputs)
            if outcome.record is not None:
                outcome = Outcome(outcome.outcome, command.reason, outcome.record, outcome.slots)
        result = _result(command, outcome, current)
        self._send(result.model_dump(mode="json"), self._commands_topic)  # beside the command
        return result

    def _pause_or_resume(
        self, command: PromoterCommand, current: SlotsVersion, actor: dict[str, str]
    ) -> Outcome:
        paused = command.action == "pause"
        if self.state.paused == paused:
            return Outcome("refused", f"already {'paused' if paused else 'running'}", None, current)
        self.state.paused = paused
        record = self.ledger.append(
            action=command.action,
            actor=actor,
            reasons=[command.reason],
            experiment_id=experiment_id_for(self.settings.experiment_id, current.slots.candidate),
            before=current,
            after=current,
            inputs={"command_id": str(command.command_id)},
        )
        return Outcome("done", command.reason, record, current)


def _result(
    command: PromoterCommand, outcome: Outcome, fallback: SlotsVersion | None
) -> PromoterCommandResult:
    slots = outcome.slots or fallback
    return PromoterCommandResult.create(
        command_id=command.command_id,
        action=command.action,
        outcome=outcome.outcome,
        message=outcome.message[:2000] or outcome.outcome,
        ledger_sequence=outcome.record.sequence if outcome.record else None,
        slots=asdict(slots.slots)
        if slots
        else {"best": None, "candidate": None, "previous_best": None, "generation": 0},
    )
