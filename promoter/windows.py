"""Window arithmetic and the trigger rule of the stream agent: plain values, no I/O.

Windows hop like Faust's ``HoppingWindow``: whole seconds, one window
``[start, start + size)`` for every ``start`` on the ``step`` grid, so each moment lies
in ``size / step`` windows. The *trailing* window of a moment is the earliest-starting
one that holds it: it covers the last ``size`` seconds up to the end of the moment's
step, which is the window a "≥100 requests in 24 h" rule means.

Counts are stored per *pane*, the ``step``-long slice a moment falls in, and a window is
the sum of its ``size / step`` panes. An event then writes one key, not one per window
(24 with a day hopping by the hour), and the window sums come out the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple


class Arm(NamedTuple):
    """One variant of one experiment: what the windows are counted per."""

    experiment_id: str
    variant: str


@dataclass(frozen=True, order=True)
class Window:
    """``[start_s, end_s)`` in Unix seconds."""

    start_s: float
    end_s: float


@dataclass(frozen=True)
class HoppingWindows:
    """Windows of ``size_s`` seconds starting every ``step_s`` seconds."""

    size_s: int
    step_s: int

    def __post_init__(self) -> None:
        if self.size_s < 1 or self.step_s < 1:
            raise ValueError("window size and step must be at least 1 s")
        if self.size_s % self.step_s:
            raise ValueError(f"step {self.step_s} s does not divide size {self.size_s} s")

    def ranges(self, at_s: float) -> list[Window]:
        """Every window holding ``at_s``, oldest first (``size / step`` of them)."""
        first = math.floor(at_s / self.step_s) * self.step_s - self.size_s + self.step_s
        starts = (first + k * self.step_s for k in range(self.size_s // self.step_s))
        return [Window(float(s), float(s + self.size_s)) for s in starts]

    def trailing(self, at_s: float) -> Window:
        """The earliest-starting window holding ``at_s``: the last ``size`` seconds."""
        return self.ranges(at_s)[0]

    def pane(self, at_s: float) -> Window:
        """The ``step``-long slice holding ``at_s``: where an event's counts are stored."""
        start = math.floor(at_s / self.step_s) * self.step_s
        return Window(float(start), float(start + self.step_s))

    def panes(self, window: Window) -> list[Window]:
        """The panes that make up ``window``, oldest first."""
        starts = range(int(window.start_s), int(window.end_s), self.step_s)
        return [Window(float(s), float(s + self.step_s)) for s in starts]

    def expired(self, pane: Window, *, at_s: float) -> bool:
        """True once no window that ended less than one size before ``at_s`` needs ``pane``.

        Closed windows stay readable for one more size, so a reader can still compare the
        last full window; older panes only cost memory.
        """
        return pane.end_s <= at_s - 2 * self.size_s

    def describe(self) -> str:
        return duration_label(self.size_s)


def duration_label(seconds: int) -> str:
    """``86400`` -> ``24h``, ``90`` -> ``90s``: the shortest exact unit."""
    for unit, length in (("h", 3600), ("m", 60)):
        if seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class WindowCounts:
    """What one arm accumulated in one window."""

    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    abs_error_sum: float = 0.0
    feedback_count: int = 0

    @classmethod
    def measures(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def nonzero(self) -> dict[str, float]:
        """The measures this value changes, by name (what an increment must write)."""
        return {m: getattr(self, m) for m in self.measures() if getattr(self, m)}

    def values(self) -> tuple[int, int, float, float, int]:
        """The measures in ``measures()`` order (the agent's table value)."""
        return (
            self.requests,
            self.errors,
            self.latency_ms_sum,
            self.abs_error_sum,
            self.feedback_count,
        )

    def __add__(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(
            self.requests + other.requests,
            self.errors + other.errors,
            self.latency_ms_sum + other.latency_ms_sum,
            self.abs_error_sum + other.abs_error_sum,
            self.feedback_count + other.feedback_count,
        )


@dataclass(frozen=True)
class TriggerRule:
    """Fire when ``variant``'s requests in the trailing window reach ``every``.

    It fires again at each further multiple (``2 * every``, ...), so the promoter
    re-evaluates as the evidence grows, not on every message.
    """

    every: int
    windows: HoppingWindows
    variant: str = "candidate"

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("the trigger needs at least 1 request")

    def watches(self, variant: str) -> bool:
        return variant == self.variant

    def fires(self, variant: str, *, before: int, after: int) -> bool:
        """True when a count of ``variant`` going from ``before`` to ``after`` crosses a
        multiple of ``every`` (at least ``every`` itself)."""
        return self.crossed(variant, before=before, after=after) is not None

    def crossed(self, variant: str, *, before: int, after: int) -> int | None:
        """The highest multiple of ``every`` that a count going from ``before`` to ``after``
        reached, or None if it reached none: one batch fires once, however far it jumps."""
        if not self.watches(variant) or after < self.every:
            return None
        if after // self.every <= before // self.every:
            return None
        return after // self.every * self.every

    def describe(self) -> str:
        return (
            f"{self.variant}_requests>={self.every} in {self.windows.describe()} "
            f"(again every {self.every})"
        )
