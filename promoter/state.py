"""What the ledger says beyond the slots, rebuilt from it record by record.

Pause, the alerts already raised, the watch after a promotion (when it started, on which
experiment), the candidate queued behind that watch, and the history of the candidate
share. A promoter that restarts reads the ledger again and carries on exactly where the
last one stopped (``PromoterState.from_ledger``); while it runs, every record it appends
goes through ``observe`` too.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from promoter.shares import ShareChange, ShareHistory
from schemas.decision_events import LedgerRecord


@dataclass(frozen=True)
class Watch:
    """A promotion being watched: the new best against the held-back previous best."""

    experiment_id: str
    started_at: datetime
    new_best: str
    holdback: str


@dataclass
class PromoterState:
    """The promoter's memory; the ledger is where it lives."""

    default_share: float
    paused: bool = False
    alerted: set[tuple[str, str]] = field(default_factory=set)
    watch: Watch | None = None
    queued: str | None = None
    base_share: float | None = None
    shares: ShareHistory = field(default_factory=lambda: ShareHistory(0.0))

    def __post_init__(self) -> None:
        if not self.shares.changes:
            self.shares = ShareHistory(self.default_share)

    @classmethod
    def from_ledger(
        cls, records: Iterable[LedgerRecord], *, default_share: float
    ) -> "PromoterState":
        state = cls(default_share=default_share)
        for record in records:
            state.observe(record)
        return state

    @property
    def current_share(self) -> float:
        changes = self.shares.changes
        return changes[-1].share if changes else self.shares.initial

    @property
    def operator_share(self) -> float:
        """The share an operator chose last (or the settings'): where experiments start
        when the policy has no ramp."""
        return self.default_share if self.base_share is None else self.base_share

    def observe(self, record: LedgerRecord) -> None:
        """Take one ledger record into account (in sequence order)."""
        inputs = record.inputs
        if record.action in ("pause", "resume"):
            self.paused = record.action == "pause"
        alert = inputs.get("alert")
        if record.action == "wait" and isinstance(alert, str):
            self.alerted.add((record.experiment_id or "", alert))
        self._observe_share(record)
        self._observe_watch(record)
        self._observe_queue(record)

    def _observe_share(self, record: LedgerRecord) -> None:
        change = record.inputs.get("share_change")
        if not isinstance(change, dict):
            return
        try:
            moment = datetime.fromisoformat(str(change["effective_at"]))
            share = float(change["after"])
        except (KeyError, TypeError, ValueError):
            return
        self.shares = replace(
            self.shares, changes=(*self.shares.changes, ShareChange(moment, share))
        )
        if record.action == "split":
            self.base_share = share

    def _observe_watch(self, record: LedgerRecord) -> None:
        watch = record.inputs.get("watch")
        if record.action == "promote" and isinstance(watch, dict):
            self.watch = Watch(
                experiment_id=str(watch["experiment_id"]),
                started_at=datetime.fromisoformat(str(watch["started_at"])),
                new_best=str(record.slots_after.best),
                holdback=str(record.slots_after.candidate),
            )
        elif record.action in ("promote", "rollback", "end_watch", "restore", "reject"):
            after = record.slots_after
            if after.candidate is None or after.candidate != after.previous_best:
                self.watch = None

    def _observe_queue(self, record: LedgerRecord) -> None:
        if record.action == "publish" and record.inputs.get("queued") is True:
            self.queued = str(record.inputs.get("model_version"))
        elif self.queued is not None and record.slots_after.candidate == self.queued:
            self.queued = None  # it took the candidate slot: its experiment started
        elif record.action == "restore":
            self.queued = None
