"""The chaos run's invariants, judged from what the clients saw and what was stored.

Pure functions over plain data, so each rule is tested without a stack
(tests/unit/test_chaos_invariants.py).
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chaos.broker import BrokerOutage
from chaos.cast import Restart
from chaos.evidence import Served, TopicCopies
from chaos.load import Answer
from chaos.promoter_kills import PromoterKill

#: What a client may wait beyond the gateway's reply deadline: HTTP, the event loop.
DEADLINE_ALLOWANCE_S = 1.0
#: A connection dropped up to this long after its gateway was killed counts as in flight.
DROP_WINDOW_S = 1.0
SUCCESS = {"predict": 200, "feedback": 202}
UNAVAILABLE = {503, 504}
NOT_AN_EVENT_ID = {"<not json>", "<not an object>"}


@dataclass(frozen=True)
class Invariant:
    """One rule, whether it held, and the counts behind the verdict."""

    name: str
    holds: bool
    counts: str


def _examples(items: Iterable[str], limit: int = 3) -> str:
    shown = list(items)[:limit]
    return f" (e.g. {', '.join(shown)})" if shown else ""


def one_prediction_row_per_200(
    answers: Sequence[Answer], served: dict[str, list[Served]]
) -> Invariant:
    """Every 200 has exactly one served row in ClickHouse, with the price the client got."""
    ok = [a for a in answers if a.kind == "predict" and a.status == 200]
    wrong = [a.request_id or "?" for a in ok if not _matches(a, served.get(a.request_id or "", []))]
    return Invariant(
        "every 200 has exactly one prediction row",
        not wrong,
        f"{len(ok)} answers 200, {len(ok) - len(wrong)} with one matching row, "
        f"{len(wrong)} without{_examples(wrong)}",
    )


def _matches(answer: Answer, rows: list[Served]) -> bool:
    if len(rows) != 1 or not rows[0].replied or rows[0].status != "ok":
        return False
    row = rows[0]
    same_price = (
        row.price_lakhs is not None
        and answer.price_lakhs is not None
        and math.isclose(row.price_lakhs, answer.price_lakhs, rel_tol=1e-9, abs_tol=1e-6)
    )
    return same_price and row.model_version == answer.model_version


def nothing_lost(copies: Sequence[TopicCopies], answers: Sequence[Answer]) -> Invariant:
    """Every event in Kafka is in ClickHouse, and so is every feedback a client had accepted."""
    missing = {c.topic: set(c.in_kafka) - set(c.in_clickhouse) - NOT_AN_EVENT_ID for c in copies}
    stored_feedback = {e for c in copies if c.table == "feedback" for e in c.in_clickhouse}
    accepted = [a for a in answers if a.kind == "feedback" and a.status == SUCCESS["feedback"]]
    unstored = [a.event_id or "?" for a in accepted if a.event_id not in stored_feedback]
    lost = sum(len(ids) for ids in missing.values())
    events = sum(len(set(c.in_kafka) - NOT_AN_EVENT_ID) for c in copies)
    return Invariant(
        "no event is lost",
        bool(copies) and lost == 0 and not unstored,
        f"{events} events in Kafka, {lost} missing from ClickHouse"
        f"{_examples(i for ids in missing.values() for i in ids)}; "
        f"{len(accepted)} feedback accepted, {len(unstored)} not stored{_examples(unstored)}",
    )


def duplicates(copies: Sequence[TopicCopies], reply_rows: Counter[str]) -> dict[str, int]:
    """Raw duplicates, by kind: copies the views collapse (they are counted, not failures)."""
    return {
        "Kafka copies of one event (producer retries)": sum(
            n - 1 for c in copies for n in c.in_kafka.values() if n > 1
        ),
        "ClickHouse rows of an event stored twice (sink re-reads)": sum(
            n - 1 for c in copies for n in c.in_clickhouse.values() if n > 1
        ),
        "second replies to one request (re-predicted after a kill)": sum(
            n - 1 for n in reply_rows.values() if n > 1
        ),
    }


def only_unavailable_errors(answers: Sequence[Answer], restarts: Sequence[Restart]) -> Invariant:
    """Every failure is a 503 or 504 with a JSON error, or a connection the kill dropped."""
    failed = [a for a in answers if a.status != SUCCESS[a.kind]]
    wrong = [a for a in failed if not _acceptable_failure(a, restarts)]
    by_status = Counter(a.status for a in failed)
    shown = ", ".join(f"{status or 'dropped'}: {n}" for status, n in sorted(by_status.items()))
    return Invariant(
        "every non-200 is a 503 or 504 with a JSON body",
        not wrong,
        f"{len(answers)} calls, {len(failed)} failed ({shown or 'none'}), "
        f"{len(wrong)} otherwise{_examples(_describe(a) for a in wrong)}",
    )


def _describe(answer: Answer) -> str:
    return (
        f"{answer.kind} {answer.index}: {answer.status} in {answer.waited_s:.2f} s ({answer.error})"
    )


def _acceptable_failure(answer: Answer, restarts: Sequence[Restart]) -> bool:
    if answer.status in UNAVAILABLE:
        return answer.json_body and answer.error is not None
    if answer.status == 0:
        return _dropped_by_kill(answer, restarts)
    return False


def _dropped_by_kill(answer: Answer, restarts: Sequence[Restart]) -> bool:
    """The call to a gateway overlapped its SIGKILL (give or take ``DROP_WINDOW_S``: a
    connection can be accepted into the dying process's backlog and then reset)."""
    ended = answer.sent_at + answer.waited_s
    return any(
        r.gateway_url == answer.gateway
        and answer.sent_at <= r.killed_at + DROP_WINDOW_S
        and ended >= r.killed_at - DROP_WINDOW_S
        for r in restarts
    )


def within_deadline(answers: Sequence[Answer], reply_timeout_s: float) -> Invariant:
    """No prediction client waited longer than the reply deadline plus the allowance."""
    predictions = [a for a in answers if a.kind == "predict"]
    limit = reply_timeout_s + DEADLINE_ALLOWANCE_S
    late = [a for a in predictions if a.waited_s > limit]
    longest = max((a.waited_s for a in predictions), default=0.0)
    return Invariant(
        "no client waited past its deadline",
        not late,
        f"deadline {reply_timeout_s:g} s + {DEADLINE_ALLOWANCE_S:g} s; longest wait "
        f"{longest:.2f} s; {len(late)} late{_examples(_describe(a) for a in late)}",
    )


def all_restarted(
    restarts: Sequence[Restart], states: dict[str, str], victims: Sequence[str]
) -> Invariant:
    """Each victim was killed and answered again; every service runs at the end."""
    killed = {r.victim for r in restarts}
    down = {name: state for name, state in states.items() if state != "running"}
    times = ", ".join(f"{r.victim} {r.ready_after_s:.1f} s" for r in restarts)
    return Invariant(
        "every killed service came back",
        killed == set(victims) and not down,
        f"killed and ready again: {times or 'none'}; not running at the end: {down or 'none'}",
    )


#: How long the gateways may take to notice a dead broker (their probe runs every 0.5 s).
BROKER_DETECT_S = 2.0
#: Once recovered, the load must go on this long with every prediction answered 200.
BROKER_SETTLE_S = 5.0


def unavailable_while_broker_down(outage: BrokerOutage) -> Invariant:
    """Predictions sent while the broker was down (after the probe noticed) get a JSON 503."""
    during = [
        a
        for a in outage.answers
        if a.kind == "predict"
        and outage.killed_at + BROKER_DETECT_S <= a.sent_at < outage.listening_at
    ]
    wrong = [a for a in during if not (a.status == 503 and a.json_body and a.error)]
    return Invariant(
        "the gateway answers 503 while the broker is down",
        bool(during) and not wrong,
        f"broker down {outage.listening_at - outage.killed_at:.1f} s; {len(during)} predictions "
        f"while down, {len(during) - len(wrong)} answered 503 at once"
        f"{_examples(_describe(a) for a in wrong)}",
    )


def recovered_after_broker(outage: BrokerOutage, gateway_restarts: int) -> Invariant:
    """Once the broker is back the gateways serve every request again, without a restart."""
    after = [a for a in outage.answers if a.kind == "predict" and a.sent_at >= outage.listening_at]
    failing = [a.sent_at for a in after if a.status != 200]
    recovered_at = max(failing, default=outage.listening_at)
    settled = [a for a in after if a.sent_at > recovered_at]
    settled_s = (settled[-1].sent_at - recovered_at) if settled else 0.0
    return Invariant(
        "the gateway recovers without a restart",
        settled_s >= BROKER_SETTLE_S and gateway_restarts == 0,
        f"every prediction 200 from {recovered_at - outage.listening_at:.1f} s after the broker "
        f"listened again ({len(failing)} failed before), for the last {settled_s:.1f} s of load; "
        f"gateways restarted: {gateway_restarts}",
    )


def promoter_kill_recovered(kill: PromoterKill) -> Invariant:
    """The kill left S3 ahead of the ledger; the restarted promoter completed the swap."""
    holds = (
        not kill.verify_while_down
        and kill.generation_after == kill.generation_before + 1
        and not kill.missing_acks
        and kill.recorded_actor == "recovery:promoter"
        and kill.verify_exit_code == 0
    )
    return Invariant(
        f"promoter killed at {kill.failpoint} completes the {kill.action} when restarted",
        holds,
        f"replay --verify while dead: {'ok' if kill.verify_while_down else 'mismatch'}; "
        f"generation {kill.generation_before} -> {kill.generation_after}; completed "
        f"{kill.recovered_in_s:.1f} s after the restart by {kill.recorded_actor}; acked by "
        f"{len(kill.acked)}, missing {len(kill.missing_acks)}; replay --verify after: exit "
        f"{kill.verify_exit_code}",
    )
