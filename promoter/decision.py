"""A decision: what to do, why, and the numbers and thresholds it rests on."""

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["promote", "reject", "wait", "rollback", "ramp", "end_watch"]


@dataclass(frozen=True)
class Decision:
    """What to do and why. ``statistics`` and ``thresholds`` are JSON-safe, for the ledger.

    ``final`` is True when the decision closes the experiment or the watch.
    ``srm_alert`` and ``evidence_alert`` ask for an ``experiment.alert`` (the split does
    not match the plan; the evidence is not finite). ``next_share`` is a ramp step's
    new candidate share.
    """

    action: Action
    reasons: list[str]
    statistics: dict[str, Any]
    thresholds: dict[str, Any]
    srm_alert: bool = False
    evidence_alert: bool = False
    final: bool = False
    next_share: float | None = None

    @property
    def alert_kind(self) -> Literal["srm", "evidence"] | None:
        if self.evidence_alert:
            return "evidence"
        return "srm" if self.srm_alert else None
