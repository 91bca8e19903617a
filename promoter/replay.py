"""Replay the ledger: verify S3 against it, or restore S3 from it.

(The dry run of a proposed policy over the recorded history is ``promoter/backtest.py``.)

The ledger's last record says what the routing object must be (``slots_after`` and
``etag_after``). Every record's ``slots_before`` must equal the previous record's
``slots_after``; a break in that chain or in the sequence is reported too.
"""

import itertools
from dataclasses import dataclass, field

from plumbing.model_store import Slots, SlotStore, SlotsVersion
from schemas.decision_events import LedgerRecord


@dataclass(frozen=True)
class Verification:
    """The ledger's expected slots against what S3 holds."""

    expected: Slots | None
    actual: SlotsVersion | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def slots_of(record: LedgerRecord) -> Slots:
    return Slots(**record.slots_after.model_dump())


def chain_problems(records: list[LedgerRecord]) -> list[str]:
    """Gaps in the sequence, and records that do not start where the previous ended.

    A ``restore`` record starts from what it found in S3, which is off the chain by
    definition: that departure is what it repaired, so it is not a problem.
    """
    problems = []
    for previous, record in itertools.pairwise(records):
        if record.sequence != previous.sequence + 1:
            problems.append(f"sequence jumps from {previous.sequence} to {record.sequence}")
        if record.action != "restore" and record.slots_before != previous.slots_after:
            problems.append(
                f"record {record.sequence} starts from {record.slots_before.model_dump()}, "
                f"but record {previous.sequence} ended at {previous.slots_after.model_dump()}"
            )
    return problems


def verify(records: list[LedgerRecord], actual: SlotsVersion | None) -> Verification:
    """Compare the state the ledger implies with the routing object read from S3."""
    problems = chain_problems(records)
    if not records:
        if actual is not None:
            problems.append("S3 has a routing object but the ledger is empty")
        return Verification(None, actual, problems)
    expected, last = slots_of(records[-1]), records[-1]
    if actual is None:
        problems.append("the ledger expects a routing object but S3 has none")
    elif actual.slots != expected:
        problems.append(
            f"S3 holds {actual.slots} but the ledger (record {last.sequence}) expects {expected}"
        )
    elif last.etag_after is not None and actual.etag != last.etag_after:
        problems.append(
            f"S3's routing object has ETag {actual.etag}, the ledger recorded {last.etag_after}: "
            "it was rewritten outside the promoter"
        )
    return Verification(expected, actual, problems)


def restore(slots: SlotStore, verification: Verification) -> SlotsVersion:
    """Rewrite S3 to the ledger's state (conditional on what was just read)."""
    if verification.expected is None:
        raise ValueError("the ledger is empty: nothing to restore")
    if verification.actual is None:
        return slots.create(verification.expected)
    return slots.swap(verification.actual, verification.expected)
