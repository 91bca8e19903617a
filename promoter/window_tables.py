"""The stream agent's window counts: one Faust table row per arm and pane, all measures in it.

Keyed by ``(experiment_id, variant, pane_start_s)``, valued by the five measures of
``WindowCounts``; a hopping window is the sum of its panes (see ``promoter.windows``).
An arm's batch adds one row per pane it touched, so one changelog record, however many
events the batch held. Faust's own hopping tables write every event to each of its
``size / step`` windows, and one table per measure multiplied that again.

The table holds only live panes: an arm's expired panes are deleted (a tombstone each)
when its trailing window moves on, and the changelog is compacted, so it stays O(arms x
panes) whatever the history.
"""

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types import TableT

from promoter.tally import PaneDeltas
from promoter.windows import Arm, HoppingWindows, TriggerRule, Window, WindowCounts
from schemas.decision_events import ExperimentTrigger

PaneKey = tuple[str, str, int]
#: Keys and values are JSON: tuple keys come back as lists, which Faust re-tuples.
JSON_SCHEMA: faust.Schema[Any, Any] = faust.Schema(key_serializer="json", value_serializer="json")


def pane_counts_table(
    app: faust.App, *, topic_configs: dict[str, str], store_options: dict[str, Any]
) -> TableT[Any, Any]:
    """The Faust table behind ``PaneTable``."""
    return app.Table(
        "pane-counts",
        schema=JSON_SCHEMA,
        extra_topic_configs=topic_configs,
        options=dict(store_options),  # Faust pops keys from it
    )


class PaneTable:
    """The window counts over a mapping: the Faust table in the agent (where ``add`` and
    ``prune`` write changelog records, so they run inside an agent only), a dict in tests."""

    def __init__(self, table: MutableMapping[Any, Any], windows: HoppingWindows) -> None:
        self.windows = windows
        self.table = table
        self._pruned_at: dict[Arm, float] = {}

    def pane(self, arm: Arm, pane_start_s: int) -> WindowCounts:
        value = self.table.get((arm.experiment_id, arm.variant, pane_start_s))
        return WindowCounts(*value) if value else WindowCounts()

    def read(self, arm: Arm, window: Window) -> WindowCounts:
        """``arm``'s counts in ``window``: the sum over its panes."""
        total = WindowCounts()
        for pane in self.windows.panes(window):
            total += self.pane(arm, int(pane.start_s))
        return total

    def arms(self) -> list[Arm]:
        return sorted({Arm(key[0], key[1]) for key in list(self.table.keys())})

    def add(self, arm: Arm, panes: PaneDeltas) -> None:
        """Add one batch's increments: one row written per pane."""
        self.prune(arm, max(panes) + self.windows.step_s - 1)
        for start, counts in panes.items():
            total = self.pane(arm, start) + counts
            self.table[(arm.experiment_id, arm.variant, start)] = list(total.values())

    def prune(self, arm: Arm, at_s: float) -> None:
        """Delete ``arm``'s expired panes, once per step of its trailing window."""
        start = self.windows.trailing(at_s).start_s
        if self._pruned_at.get(arm, float("-inf")) >= start:
            return
        self._pruned_at[arm] = start
        for key in list(self.table.keys()):
            pane = Window(float(key[2]), float(key[2] + self.windows.step_s))
            if Arm(key[0], key[1]) == arm and self.windows.expired(pane, at_s=at_s):
                del self.table[key]


def count_batch(
    table: PaneTable, rule: TriggerRule, arm: Arm, panes: PaneDeltas
) -> ExperimentTrigger | None:
    """Add one batch of ``arm``'s increments; the trigger if its trailing window crossed
    the rule. Checked once per batch, in the window of the batch's latest pane.

    The trigger's ``requests`` is the multiple of the rule the window reached (where a
    per-event count would have fired); the other measures are the window's after the batch.
    """
    if not panes:
        return None
    watched = rule.watches(arm.variant) and any(c.requests for c in panes.values())
    window = table.windows.trailing(max(panes))
    before = table.read(arm, window).requests if watched else 0
    table.add(arm, panes)
    if not watched:
        return None
    counts = table.read(arm, window)
    reached = rule.crossed(arm.variant, before=before, after=counts.requests)
    if reached is None:
        return None
    return ExperimentTrigger.create(
        experiment_id=arm.experiment_id,
        variant=arm.variant,
        window_start=_utc(window.start_s),
        window_end=_utc(window.end_s),
        requests=reached,
        errors=counts.errors,
        latency_ms_sum=float(counts.latency_ms_sum),
        abs_error_sum=float(counts.abs_error_sum),
        feedback_count=counts.feedback_count,
        rule=rule.describe(),
    )


@dataclass(frozen=True)
class ArmCounts:
    """One arm's counts in one window, as the web view and the log show them."""

    arm: Arm
    window: Window
    counts: WindowCounts

    def as_json(self) -> dict[str, Any]:
        return {
            "experiment_id": self.arm.experiment_id,
            "variant": self.arm.variant,
            "window_start": _utc(self.window.start_s).isoformat(),
            "window_end": _utc(self.window.end_s).isoformat(),
            **{m: getattr(self.counts, m) for m in WindowCounts.measures()},
        }


def snapshot(table: PaneTable, at_s: float) -> list[ArmCounts]:
    """Every arm's counts in its trailing window at ``at_s``."""
    window = table.windows.trailing(at_s)
    return [ArmCounts(arm, window, table.read(arm, window)) for arm in table.arms()]


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
