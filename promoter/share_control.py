"""Changes of the candidate share, each one a ledger record: nothing moves the split silently.

``control/split.json`` says what share of traffic the gateways send to the candidate
slot. The promoter is its only writer: an operator's ``split`` (``PUT /v1/admin/split``
comes through the promoter), a ``ramp`` step, the holdback share a promotion sets for the
watch, and the starting share of a new experiment. Every record carries
``inputs.share_change = {before, after, effective_at}``; ``promoter/shares.py`` reads
them back into the share history the split test and the dry run use.
"""

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clients.split_store import SplitStore
from promoter.decision import Decision
from promoter.shares import share_change
from schemas.decision_events import LedgerRecord

if TYPE_CHECKING:
    from promoter.service import Promoter

log = logging.getLogger(__name__)


class ShareControl:
    """Writes the candidate share and records why."""

    def __init__(self, promoter: "Promoter", s3: Any) -> None:
        self._promoter = promoter
        self._split = SplitStore(s3, promoter.settings.s3_bucket)

    def current(self) -> float:
        """The share the gateways route by: ``control/split.json``, else the settings'."""
        stored = self._split.read()
        return stored.candidate_share if stored else self._promoter.settings.candidate_share

    def starting_share(self) -> float:
        """Where a new experiment starts: the ramp's first step, else the operator's share."""
        steps = self._promoter.policy.ramp_steps
        return steps[0] if steps else self._promoter.state.operator_share

    def start_experiment(self, now: datetime | None) -> dict[str, Any] | None:
        return self.set_for_swap(self.starting_share(), now)

    def set_for_swap(self, share: float, now: datetime | None) -> dict[str, Any] | None:
        """Write ``share`` if it differs; the record's ``share_change``, or None if unchanged."""
        before = self.current()
        if abs(before - share) < 1e-12:
            return None
        self._split.write(share)
        return share_change(before, share, now or datetime.now(UTC))

    def change(
        self,
        share: float,
        *,
        action: str,
        actor: dict[str, str],
        reasons: list[str],
        decision: Decision | None = None,
        inputs: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> LedgerRecord:
        """An operator's ``split`` or a ``ramp`` step: write the share, record the change."""
        promoter = self._promoter
        current = promoter.slots.read()
        before = self.current()
        self._split.write(share)
        change = share_change(before, share, now or datetime.now(UTC))
        summary = f"candidate share {before:.0%} -> {share:.0%}"
        return promoter.append(
            action=action,
            actor=actor,
            reasons=[*reasons, summary] if summary not in " ".join(reasons) else reasons,
            experiment_id=promoter.experiment_id(current.slots if current else None),
            before=current,
            after=current,
            inputs={**(inputs or {}), "share_change": change},
            statistics=decision.statistics if decision else {},
            thresholds=decision.thresholds if decision else {},
        )

    def reconcile(self) -> LedgerRecord | None:
        """Record a share found in S3 that the ledger does not explain (written by hand,
        or by an older version that did not record shares)."""
        promoter = self._promoter
        stored = self._split.read()
        if stored is None or abs(stored.candidate_share - promoter.state.current_share) < 1e-12:
            return None
        current = promoter.slots.read()
        if current is None:
            return None
        recorded = promoter.state.current_share
        log.warning(
            "control/split.json holds %s but the ledger says %s; recording it",
            stored.candidate_share,
            recorded,
        )
        return promoter.append(
            action="split",
            actor={"kind": "recovery", "name": "promoter"},
            reasons=[
                f"control/split.json holds a candidate share of {stored.candidate_share:.0%} "
                f"(written {stored.updated_at}) that the ledger did not record (it says "
                f"{recorded:.0%}); recorded as found"
            ],
            experiment_id=promoter.experiment_id(current.slots),
            before=current,
            after=current,
            inputs={"share_change": share_change(recorded, stored.candidate_share, _when(stored))},
        )


def _when(stored: Any) -> datetime:
    """When the split was written, as it says; now if it cannot say."""
    try:
        return datetime.fromisoformat(str(stored.updated_at))
    except ValueError:
        return datetime.now(UTC)
