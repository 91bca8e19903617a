"""The promoter's ledger: every state change and every deciding evaluation, in order.

``promoter.ledger`` has one partition and one writer, the active promoter, so a
record's ``sequence`` is its position: the writer reads the last record when it
starts and counts on from there. Reading it is shared (clients/ledger_reader.py);
writing it belongs here.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from kafka import KafkaProducer

from clients.ledger_reader import read_ledger
from plumbing.model_store import Slots, SlotsVersion
from promoter.settings import PromoterSettings
from schemas.decision_events import LedgerRecord

log = logging.getLogger(__name__)

__all__ = ["EMPTY_SLOTS", "Ledger", "read_ledger", "slots_json"]

EMPTY_SLOTS = Slots(best=None)


def slots_json(slots: Slots | None) -> dict[str, Any]:
    return asdict(slots or EMPTY_SLOTS)


class Ledger:
    """Appends records to ``promoter.ledger``; one instance per active promoter."""

    def __init__(
        self, settings: PromoterSettings, producer: KafkaProducer, records: list[LedgerRecord]
    ) -> None:
        self._settings = settings
        self._topic = settings.topic("promoter_ledger").name
        self._producer = producer
        self.records = records

    @classmethod
    def open(cls, settings: PromoterSettings, producer: KafkaProducer) -> "Ledger":
        """A writer that continues after the last record on the topic."""
        return cls(settings, producer, read_ledger(settings))

    @property
    def next_sequence(self) -> int:
        return self.records[-1].sequence + 1 if self.records else 0

    def _catch_up(self) -> None:
        """Pick up records another writer (``replay --restore``) appended meanwhile."""
        known = self.records[-1].sequence if self.records else -1
        newer = [r for r in read_ledger(self._settings) if r.sequence > known]
        self.records.extend(newer)

    def append(
        self,
        *,
        action: str,
        actor: dict[str, str],
        reasons: Sequence[str],
        experiment_id: str | None,
        before: SlotsVersion | None,
        after: SlotsVersion | None,
        inputs: dict[str, Any] | None = None,
        statistics: dict[str, Any] | None = None,
        thresholds: dict[str, Any] | None = None,
        missing_acks: Sequence[str] = (),
    ) -> LedgerRecord:
        """Write one record and wait until Kafka has it (acks=all)."""
        self._catch_up()
        last = after or before
        record = LedgerRecord.create(
            sequence=self.next_sequence,
            experiment_id=experiment_id,
            action=action,
            actor=actor,
            reasons=list(reasons) or [action],
            inputs=_plain(inputs),
            statistics=_plain(statistics),
            thresholds=_plain(thresholds),
            slots_before=slots_json(before.slots if before else None),
            slots_after=slots_json(last.slots if last else None),
            etag_before=before.etag if before else None,
            etag_after=last.etag if last else None,
            missing_acks=list(missing_acks),
        )
        self._producer.send(self._topic, record.model_dump(mode="json")).get(timeout=10)
        self.records.append(record)
        log.info("ledger #%d %s: %s", record.sequence, action, "; ".join(record.reasons))
        return record


def _plain(value: dict[str, Any] | None) -> dict[str, Any]:
    """JSON-safe (numpy numbers, datetimes and the like become plain values)."""
    result: dict[str, Any] = json.loads(json.dumps(value or {}, default=str))
    return result
