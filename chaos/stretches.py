"""How long predictions kept failing around a broker kill, and what share failed: pure
functions over the answers the chaos client recorded (tests/unit/test_chaos_stretches.py)."""

from collections.abc import Sequence
from dataclasses import dataclass

from chaos.load import Answer

#: Failures closer together than this (by send time) belong to one stretch: with one of
#: several partitions leaderless only every few predictions fail, and that is one outage.
STRETCH_GAP_S = 1.0


@dataclass(frozen=True)
class Stretch:
    """Failed predictions sent from ``start`` to ``end`` (time.monotonic() seconds)."""

    start: float
    end: float
    failed: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _predictions(answers: Sequence[Answer], start: float, end: float) -> list[Answer]:
    return sorted(
        (a for a in answers if a.kind == "predict" and start <= a.sent_at < end),
        key=lambda a: a.sent_at,
    )


def failure_stretches(
    answers: Sequence[Answer], *, start: float, end: float, gap_s: float = STRETCH_GAP_S
) -> list[Stretch]:
    """Runs of failed predictions sent in [start, end), each failure within ``gap_s`` of the
    previous one; a single failure is a stretch of 0 s."""
    stretches: list[Stretch] = []
    for answer in _predictions(answers, start, end):
        if answer.status == 200:
            continue
        last = stretches[-1] if stretches else None
        if last is not None and answer.sent_at - last.end <= gap_s:
            stretches[-1] = Stretch(last.start, answer.sent_at, last.failed + 1)
        else:
            stretches.append(Stretch(answer.sent_at, answer.sent_at, 1))
    return stretches


def longest_stretch(answers: Sequence[Answer], *, start: float, end: float) -> Stretch:
    """The longest run of failures in [start, end); an empty one at ``start`` when none."""
    stretches = failure_stretches(answers, start=start, end=end)
    return max(stretches, key=lambda s: (s.seconds, s.failed), default=Stretch(start, start, 0))


def failed_share(answers: Sequence[Answer], *, start: float, end: float) -> tuple[int, int]:
    """(failed, sent) predictions sent in [start, end)."""
    sent = _predictions(answers, start, end)
    return sum(a.status != 200 for a in sent), len(sent)
