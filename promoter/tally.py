"""One batch of events, added up: counts per arm and pane, and the halves to join.

Plain functions of what ``promoter.observations`` read (no Faust, no Kafka). A batch of
any size becomes one delta per arm and pane, so the agent writes to Kafka per batch, not
per event. Shadow copies are left out: they are not what a client was served, and a
shadow reply shares its request id with the served one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from promoter.observations import FeedbackSeen, ReplySeen, RequestSeen, Seen
from promoter.windows import Arm, HoppingWindows, WindowCounts

#: An arm's increments in one batch: pane start (Unix s) -> counts.
PaneDeltas = dict[int, WindowCounts]


class Tally:
    """Counts added up per arm and pane (the ``step``-long slice an event falls in)."""

    def __init__(self, windows: HoppingWindows) -> None:
        self.windows = windows
        # arm -> pane start -> [requests, errors, latency_ms_sum, abs_error_sum, feedback_count]
        self._sums: dict[Arm, dict[int, list[float]]] = {}

    def add(self, arm: Arm, at_s: float, counts: tuple[float, float, float, float, float]) -> None:
        pane = int(self.windows.pane(at_s).start_s)
        sums = self._sums.setdefault(arm, {}).setdefault(pane, [0, 0, 0.0, 0.0, 0])
        for i, value in enumerate(counts):
            sums[i] += value

    def by_arm(self) -> dict[Arm, PaneDeltas]:
        return {
            arm: {pane: WindowCounts(*sums) for pane, sums in panes.items()}  # type: ignore[arg-type]  # one list of int and float sums
            for arm, panes in self._sums.items()
        }


# --------------------------------------------------------------------------- feedback join


@dataclass(frozen=True)
class ReplyHalf:
    """What feedback needs from the served reply."""

    experiment_id: str
    variant: str
    price_lakhs: float


@dataclass(frozen=True)
class FeedbackHalf:
    actual_price_lakhs: float
    at_s: float


Half = ReplyHalf | FeedbackHalf


@dataclass(frozen=True)
class JoinStep:
    """What to do with one arriving half: count a joined pair, and keep or drop state."""

    delta: tuple[Arm, float, float] | None  # (reply's arm, feedback's time, absolute error)
    keep: Half | None  # store this for the request id; None: forget the request id


def join(stored: Half | None, arriving: Half) -> JoinStep:
    """Pair ``arriving`` with the other half stored for the same request id, if any.

    A pair counts one feedback and its absolute error for the reply's arm, at the
    feedback's time. Without a partner the newest half is kept (a repeat replaces it).
    """
    if isinstance(stored, ReplyHalf) and isinstance(arriving, FeedbackHalf):
        return JoinStep(_joined(stored, arriving), None)
    if isinstance(stored, FeedbackHalf) and isinstance(arriving, ReplyHalf):
        return JoinStep(_joined(arriving, stored), None)
    return JoinStep(None, arriving)


def _joined(reply: ReplyHalf, feedback: FeedbackHalf) -> tuple[Arm, float, float]:
    arm = Arm(reply.experiment_id, reply.variant)
    return arm, feedback.at_s, abs(reply.price_lakhs - feedback.actual_price_lakhs)


# --------------------------------------------------------------------------- batches


@dataclass
class SourceBatch:
    """One batch of source events, added up."""

    deltas: dict[Arm, PaneDeltas]
    #: ``(request id, half)`` in arrival order, for the join.
    halves: list[tuple[str, Half]] = field(default_factory=list)


def tally_sources(seen: Iterable[Seen], windows: HoppingWindows) -> SourceBatch:
    """Requests and replies counted per arm and pane; reply prices and true prices as halves.

    A reply without a price (an error) and feedback without a true price join nothing.
    """
    tally = Tally(windows)
    halves: list[tuple[str, Half]] = []
    for event in seen:
        if isinstance(event, RequestSeen):
            if not event.shadow:
                tally.add(Arm(event.experiment_id, event.variant), event.at_s, (1, 0, 0, 0, 0))
        elif isinstance(event, ReplySeen):
            if event.shadow:
                continue
            arm = Arm(event.experiment_id, event.variant)
            tally.add(arm, event.at_s, (0, int(event.failed), event.latency_ms, 0, 0))
            if event.price_lakhs is not None:
                half = ReplyHalf(event.experiment_id, event.variant, event.price_lakhs)
                halves.append((event.request_id, half))
        elif isinstance(event, FeedbackSeen) and event.actual_price_lakhs is not None:
            halves.append((event.request_id, FeedbackHalf(event.actual_price_lakhs, event.at_s)))
    return SourceBatch(tally.by_arm(), halves)


@dataclass
class JoinBatch:
    """One batch of halves joined: the pairs counted, and the join table's new state."""

    deltas: dict[Arm, PaneDeltas]
    #: request id -> half to store, or None to delete; only ids whose state changed.
    writes: dict[str, Half | None]


def join_batch(
    halves: Iterable[tuple[str, Half]],
    stored: Callable[[str], Half | None],
    windows: HoppingWindows,
) -> JoinBatch:
    """Join a batch of halves against the table (``stored``) and against each other.

    Each request id's final state is written once: a reply and its feedback in the same
    batch cost no write at all, and a pair whose first half was stored deletes it.
    """
    tally = Tally(windows)
    state: dict[str, Half | None] = {}
    was_stored: set[str] = set()
    for request_id, half in halves:
        if request_id in state:
            held = state[request_id]
        else:
            held = stored(request_id)
            if held is not None:
                was_stored.add(request_id)
        step = join(held, half)
        if step.delta is not None:
            arm, at_s, abs_error = step.delta
            tally.add(arm, at_s, (0, 0, 0.0, abs_error, 1))
        state[request_id] = step.keep
    writes = {rid: h for rid, h in state.items() if h is not None or rid in was_stored}
    return JoinBatch(tally.by_arm(), writes)
