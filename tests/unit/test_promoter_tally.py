"""The stream agent's batch arithmetic: deltas per arm and pane, the join, the trigger."""

from typing import Any

import pytest

from promoter.join_table import JoinTable
from promoter.observations import FeedbackSeen, ReplySeen, RequestSeen, read_batch, read_request
from promoter.tally import FeedbackHalf, Half, ReplyHalf, join, join_batch, tally_sources
from promoter.window_tables import PaneTable, count_batch, snapshot
from promoter.windows import Arm, HoppingWindows, TriggerRule, WindowCounts
from promoter.wire import (
    decode_halves,
    decode_pane_deltas,
    encode_halves,
    encode_pane_deltas,
    half_stored,
    stored_half,
)

DAY, HOUR = 86_400, 3_600
T0 = 1_800_000_000  # an hour boundary
WINDOWS = HoppingWindows(DAY, HOUR)
CANDIDATE, PROD = Arm("exp-1", "candidate"), Arm("exp-1", "prod")


def _requests(arm: Arm, n: int, at_s: float = T0 + 10, *, shadow: bool = False) -> list[Any]:
    return [RequestSeen(arm.experiment_id, arm.variant, shadow, at_s) for _ in range(n)]


def _reply(rid: str, arm: Arm = CANDIDATE, *, price: float | None = 80.0, shadow: bool = False,
           at_s: float = T0 + 20) -> ReplySeen:  # fmt: skip
    return ReplySeen(rid, arm.experiment_id, arm.variant, shadow, at_s, price is None, 2.5, price)


# --------------------------------------------------------------------------- source batches


def test_a_batch_becomes_one_delta_per_arm_and_pane() -> None:
    seen = [
        *_requests(CANDIDATE, 3, T0 + 10),
        *_requests(CANDIDATE, 2, T0 + HOUR + 5),  # the next pane
        *_requests(PROD, 4, T0 + 30),
        _reply("r1", CANDIDATE, at_s=T0 + 40),
        _reply("r2", CANDIDATE, price=None, at_s=T0 + 50),  # an error reply
    ]
    batch = tally_sources(seen, WINDOWS)
    assert batch.deltas == {
        CANDIDATE: {
            T0: WindowCounts(requests=3, errors=1, latency_ms_sum=5.0),
            T0 + HOUR: WindowCounts(requests=2),
        },
        PROD: {T0: WindowCounts(requests=4)},
    }
    assert batch.halves == [("r1", ReplyHalf("exp-1", "candidate", 80.0))]


def test_shadow_copies_are_neither_counted_nor_joined() -> None:
    seen = [*_requests(CANDIDATE, 5, shadow=True), _reply("r1", shadow=True)]
    batch = tally_sources(seen, WINDOWS)
    assert batch.deltas == {} and batch.halves == []


def test_feedback_with_a_true_price_becomes_a_half_and_a_judgement_is_dropped() -> None:
    seen = [FeedbackSeen("r1", 70.0, T0 + 5), FeedbackSeen("r2", None, T0 + 6)]
    batch = tally_sources(seen, WINDOWS)
    assert batch.deltas == {} and batch.halves == [("r1", FeedbackHalf(70.0, T0 + 5))]


def test_poison_in_a_batch_is_refused_with_its_position_and_the_rest_is_read() -> None:
    good = b'{"event_type":"predict.request"}'  # refused too: fields missing
    request = (
        b'{"event_type":"predict.request","schema_version":1,"experiment_id":"exp-1",'
        b'"variant":"prod","shadow":false,"occurred_at":"2026-11-27T02:11:58.123Z"}'
    )
    messages = [("t", b"\xffnot json"), ("t", request), ("t", b"[1]"), ("t", good), ("t", None)]
    seen, refused = read_batch(messages, {"t": read_request})
    assert seen == [read_request(request)]
    assert [position for position, _ in refused] == [0, 2, 3, 4]
    assert all(reason for _, reason in refused)


# --------------------------------------------------------------------------- the join


@pytest.mark.parametrize("reply_first", [True, False])
def test_feedback_joins_its_reply_in_either_order(reply_first: bool) -> None:
    reply, feedback = ReplyHalf("exp-1", "candidate", 80.0), FeedbackHalf(70.5, 1.8e9)
    first, second = (reply, feedback) if reply_first else (feedback, reply)
    held = join(None, first)
    assert held.delta is None and held.keep == first
    paired = join(held.keep, second)
    assert paired.keep is None and paired.delta == (CANDIDATE, 1.8e9, 9.5)


def test_a_repeated_half_replaces_the_one_held() -> None:
    step = join(FeedbackHalf(70.0, 1.0), FeedbackHalf(71.0, 2.0))
    assert step.delta is None and step.keep == FeedbackHalf(71.0, 2.0)


def _joined(halves: list[tuple[str, Half]], table: dict[str, Half]) -> Any:
    return join_batch(halves, table.get, WINDOWS)


def test_a_pair_within_one_batch_counts_and_writes_nothing() -> None:
    halves: list[tuple[str, Half]] = [
        ("r1", ReplyHalf("exp-1", "candidate", 80.0)),
        ("r1", FeedbackHalf(75.0, T0 + 30)),
    ]
    joined = _joined(halves, {})
    assert joined.deltas == {CANDIDATE: {T0: WindowCounts(abs_error_sum=5.0, feedback_count=1)}}
    assert joined.writes == {}


def test_a_stored_half_is_joined_and_deleted_and_a_lone_one_is_stored() -> None:
    stored: dict[str, Half] = {"r1": ReplyHalf("exp-1", "prod", 50.0)}
    halves: list[tuple[str, Half]] = [
        ("r1", FeedbackHalf(60.0, T0 + 1)),
        ("r2", ReplyHalf("exp-1", "candidate", 40.0)),
    ]
    joined = _joined(halves, stored)
    assert joined.deltas == {PROD: {T0: WindowCounts(abs_error_sum=10.0, feedback_count=1)}}
    assert joined.writes == {"r1": None, "r2": ReplyHalf("exp-1", "candidate", 40.0)}


def test_repeats_in_a_batch_keep_the_newest_half_and_a_pair_counts_once() -> None:
    halves: list[tuple[str, Half]] = [
        ("r1", FeedbackHalf(60.0, T0 + 1)),
        ("r1", FeedbackHalf(62.0, T0 + 2)),  # a repeat replaces
        ("r1", ReplyHalf("exp-1", "candidate", 50.0)),  # pairs with the newest
        ("r1", FeedbackHalf(70.0, T0 + 3)),  # its reply is gone: held alone
    ]
    joined = _joined(halves, {})
    assert joined.deltas == {CANDIDATE: {T0: WindowCounts(abs_error_sum=12.0, feedback_count=1)}}
    assert joined.writes == {"r1": FeedbackHalf(70.0, T0 + 3)}


def test_the_join_table_forgets_halves_older_than_the_ttl() -> None:
    table: dict[str, Any] = {}
    joins = JoinTable(table, table, ttl_s=60)
    joins.write({"r1": ReplyHalf("exp-1", "candidate", 1.0), "r2": FeedbackHalf(2.0, 3.0)}, 1000)
    assert joins.lookup("r1", now_s=1060) == ReplyHalf("exp-1", "candidate", 1.0)
    assert joins.lookup("r1", now_s=1061) is None  # too late to join
    joins.write({"r2": None, "r3": None}, 1001)  # deleting an absent id is a no-op
    assert set(table) == {"r1"}
    assert joins.sweep(now_s=1030) == 0 and joins.sweep(now_s=1061) == 1 and table == {}


# --------------------------------------------------------------------------- the trigger


def _table() -> PaneTable:
    return PaneTable({}, WINDOWS)


def _batch(n: int, at_s: float = T0 + 10) -> dict[int, WindowCounts]:
    return tally_sources(_requests(CANDIDATE, n, at_s), WINDOWS).deltas[CANDIDATE]


RULE = TriggerRule(100, WINDOWS)


def test_a_batch_that_jumps_past_the_trigger_fires_once_at_the_multiple_reached() -> None:
    table = _table()
    first = count_batch(table, RULE, CANDIDATE, _batch(150))
    assert first is not None and first.requests == 100 and first.variant == "candidate"
    assert first.window_start.timestamp() == T0 + HOUR - DAY
    assert count_batch(table, RULE, CANDIDATE, _batch(40)) is None  # 190: no multiple
    jump = count_batch(table, RULE, CANDIDATE, _batch(230))  # 190 -> 420
    assert jump is not None and jump.requests == 400
    assert table.read(CANDIDATE, WINDOWS.trailing(T0)).requests == 420


def test_each_multiple_fires_once_over_many_small_batches() -> None:
    table = _table()
    fired = [count_batch(table, RULE, CANDIDATE, _batch(7)) for _ in range(60)]  # 420
    assert [t.requests for t in fired if t is not None] == [100, 200, 300, 400]


def test_prod_and_batches_without_requests_never_fire() -> None:
    table = _table()
    prod = tally_sources(_requests(PROD, 500), WINDOWS).deltas[PROD]
    assert count_batch(table, RULE, PROD, prod) is None
    replies = {T0: WindowCounts(errors=3, latency_ms_sum=9.0)}
    assert count_batch(table, RULE, CANDIDATE, replies) is None


def test_the_trigger_carries_the_window_s_other_measures_after_the_batch() -> None:
    table = _table()
    count_batch(table, RULE, CANDIDATE, {T0: WindowCounts(errors=2, abs_error_sum=4.5)})
    trigger = count_batch(table, RULE, CANDIDATE, _batch(100))
    assert trigger is not None
    assert (trigger.errors, trigger.abs_error_sum, trigger.requests) == (2, 4.5, 100)


def test_windows_sum_their_panes_and_expired_panes_are_pruned() -> None:
    table = _table()
    count_batch(table, RULE, CANDIDATE, _batch(5, T0 + 10))
    count_batch(table, RULE, CANDIDATE, _batch(7, T0 + 3 * HOUR))
    (row,) = snapshot(table, T0 + 3 * HOUR)
    assert row.counts.requests == 12 and row.arm == CANDIDATE
    count_batch(table, RULE, CANDIDATE, _batch(1, T0 + 3 * DAY))  # two days later
    assert [key[2] for key in table.table] == [T0 + 3 * DAY]


# --------------------------------------------------------------------------- the wire


def test_deltas_halves_and_stored_halves_survive_the_wire() -> None:
    panes = {T0: WindowCounts(1, 2, 3.5, 4.25, 5), T0 + HOUR: WindowCounts(requests=9)}
    assert decode_pane_deltas(encode_pane_deltas(CANDIDATE, panes)) == (CANDIDATE, panes)
    halves: list[tuple[str, Half]] = [
        ("r1", ReplyHalf("exp-1", "prod", 1.5)),
        ("r2", FeedbackHalf(2.5, 3.0)),
    ]
    assert decode_halves(encode_halves(halves)) == halves
    assert half_stored(stored_half(halves[0][1], 99.0)) == (halves[0][1], 99.0)


@pytest.mark.parametrize("raw", [None, b"", b"{}", b"[1]", b'["e", "v", [[1]]]', b"[[1, 2]]"])
def test_a_stray_internal_message_is_a_value_error(raw: bytes | None) -> None:
    with pytest.raises(ValueError):
        decode_pane_deltas(raw)
    with pytest.raises(ValueError):
        decode_halves(raw if raw != b"{}" else b'[["r", "x"]]')
