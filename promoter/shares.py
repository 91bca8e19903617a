"""The candidate share over time, as the ledger recorded every change of it.

Every change of ``control/split.json`` is a ledger record (an operator's ``split``, a
``ramp`` step, the holdback set by a promotion, an experiment's starting share) that
carries ``inputs.share_change = {before, after, effective_at}``. Read back, they say
which share the gateways were routing by at any moment: the split test compares each
period of constant share with its own plan, and a dry run sees the shares as they were.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.decision_events import LedgerRecord


@dataclass(frozen=True)
class ShareChange:
    """The candidate share became ``share`` at ``effective_at`` (the split's write)."""

    effective_at: datetime
    share: float


@dataclass(frozen=True)
class ShareHistory:
    """The share before any recorded change, then each change in time order."""

    initial: float
    changes: tuple[ShareChange, ...] = ()

    def until(self, moment: datetime) -> "ShareHistory":
        """Only the changes that had happened at ``moment`` (a point-in-time view)."""
        return ShareHistory(
            self.initial, tuple(c for c in self.changes if c.effective_at <= moment)
        )

    def share_at(self, moment: datetime) -> float:
        share = self.initial
        for change in self.changes:
            if change.effective_at <= moment:
                share = change.share
        return share

    def since(self, moment: datetime, *, start: datetime) -> datetime:
        """When the share in force at ``moment`` took effect (not before ``start``)."""
        last = start
        for change in self.changes:
            if change.effective_at <= moment:
                last = max(last, change.effective_at)
        return last

    def share_of_period(self, index: int) -> float:
        """Period 0 is before the first change, period i after the i-th."""
        return self.initial if index == 0 else self.changes[index - 1].share


def share_change(before: float, after: float, effective_at: datetime) -> dict[str, Any]:
    """The ``inputs.share_change`` a ledger record carries (JSON-safe)."""
    return {"before": before, "after": after, "effective_at": effective_at.isoformat()}


def share_history(records: Iterable[LedgerRecord], *, default_share: float) -> ShareHistory:
    """Every share change the ledger holds, oldest first.

    Args:
        default_share: the share in force before the first recorded change (the settings'
            ``candidate_share``).
    """
    changes = []
    for record in records:
        change = record.inputs.get("share_change")
        if not isinstance(change, dict):
            continue
        try:
            moment = datetime.fromisoformat(str(change["effective_at"]))
            changes.append(ShareChange(moment, float(change["after"])))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed record is reported by replay --verify, not here
    changes.sort(key=lambda c: c.effective_at)
    return ShareHistory(default_share, tuple(changes))
