"""The cluster run's verdicts per broker phase: the longest stretch of failed predictions
and the accepted events lost per kill, and the failed share of the rolling restart."""

from collections import Counter

from chaos import evidence
from chaos.broker_schedule import BrokerKill, RollingRestart
from chaos.invariants import Invariant
from chaos.load import Answer
from chaos.stretches import Stretch, failed_share

#: The issue's targets.
MAX_STRETCH_S = 5.0
MAX_ROLLING_FAILED_SHARE = 0.001


def lost_in_window(
    answers: list[Answer],
    served: dict[str, list[evidence.Served]],
    stored_feedback: set[str],
    start: float,
    end: float,
) -> int:
    """Accepted calls sent in [start, end) whose event ClickHouse lacks: a 200 without a
    served row, a 202 feedback not stored."""
    lost = 0
    for answer in answers:
        if not start <= answer.sent_at < end:
            continue
        if answer.kind == "predict" and answer.status == 200:
            lost += not served.get(answer.request_id or "")
        elif answer.kind == "feedback" and answer.status == 202:
            lost += answer.event_id not in stored_feedback
    return lost


def kill_verdict(kill: BrokerKill, stretch: Stretch, lost: int) -> Invariant:
    return Invariant(
        f"killing the {kill.what} (node {kill.node_id}) loses nothing; failures ≤ "
        f"{MAX_STRETCH_S:g} s",
        lost == 0 and stretch.seconds <= MAX_STRETCH_S,
        f"longest stretch of failed predictions {stretch.seconds:.1f} s ({stretch.failed} "
        f"failed, from {stretch.start - kill.killed_at:.1f} s after the kill); {lost} accepted "
        f"events lost; back {kill.ready_at - kill.killed_at:.1f} s after the kill, in sync "
        f"{kill.in_sync_at - kill.killed_at:.1f} s after",
    )


def rolling_verdict(rolling: RollingRestart, answers: list[Answer]) -> Invariant:
    failed, sent = failed_share(answers, start=rolling.started_at, end=rolling.ended_at)
    share = failed / sent if sent else 1.0
    statuses = Counter(
        a.status
        for a in answers
        if a.kind == "predict" and a.status != 200
        and rolling.started_at <= a.sent_at < rolling.ended_at
    )  # fmt: skip
    shown = ", ".join(f"{status or 'dropped'}: {n}" for status, n in sorted(statuses.items()))
    return Invariant(
        f"the rolling restart fails ≤ {MAX_ROLLING_FAILED_SHARE:.1%} of predictions",
        sent > 0 and share <= MAX_ROLLING_FAILED_SHARE,
        f"{failed} of {sent} predictions failed ({share:.3%}; {shown or 'none'}) during "
        f"{rolling.ended_at - rolling.started_at:.0f} s, nodes {list(rolling.nodes)} in turn"
        f"{failed_by_phase(rolling, answers)}",
    )


def failed_by_phase(rolling: RollingRestart, answers: list[Answer]) -> str:
    """Where the failures fell: node and phase of its restart, then the settling after."""
    counts = []
    for step, following in zip(rolling.steps, [*rolling.steps[1:], None], strict=True):
        settle_end = following.stop_at if following else rolling.ended_at
        for phase, start, end in (*step.phases(), ("settling", step.leading_at, settle_end)):
            failed, _ = failed_share(answers, start=start, end=end)
            if failed:
                counts.append(f"node {step.node_id} {phase}: {failed}")
    return f"; failed while {', '.join(counts)}" if counts else ""
