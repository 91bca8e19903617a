"""The slot transitions and the ledger replay, as pure functions."""

from datetime import UTC, datetime

import pytest

from plumbing.model_store import Slots, SlotsVersion
from promoter.errors import TransitionRefusedError
from promoter.ledger import slots_json
from promoter.replay import chain_problems, verify
from promoter.transitions import apply_action, interrupted_action
from schemas.decision_events import LedgerRecord

RUNNING = Slots(best="v1", candidate="v2", previous_best=None, generation=4)


def test_promote_moves_candidate_to_best_and_keeps_the_old_best() -> None:
    after = apply_action("promote", RUNNING, holdback=False)
    assert after == Slots(best="v2", candidate=None, previous_best="v1", generation=5)
    assert after.holdback is None


def test_promote_with_a_holdback_keeps_the_old_best_serving_from_the_candidate_slot() -> None:
    after = apply_action("promote", RUNNING)
    assert after == Slots(best="v2", candidate="v1", previous_best="v1", generation=5)
    assert after.holdback == "v1"


def test_during_a_watch_only_a_rollback_or_its_end_applies() -> None:
    watching = apply_action("promote", RUNNING)
    for action in ("promote", "reject"):
        with pytest.raises(TransitionRefusedError, match="during the watch"):
            apply_action(action, watching)  # type: ignore[arg-type]
    assert apply_action("end_watch", watching) == Slots("v2", None, "v1", 6)
    assert apply_action("rollback", watching) == Slots("v1", None, None, 6)


def test_a_candidate_queued_during_the_watch_takes_the_slot_when_it_ends() -> None:
    watching = apply_action("promote", RUNNING)
    assert apply_action("end_watch", watching, queued="v3") == Slots("v2", "v3", "v1", 6)
    assert apply_action("rollback", watching, queued="v3") == Slots("v1", "v3", None, 6)
    with pytest.raises(TransitionRefusedError, match="no watch"):
        apply_action("end_watch", RUNNING)


def test_reject_empties_the_candidate_slot_only() -> None:
    assert apply_action("reject", RUNNING) == Slots("v1", None, None, 5)


def test_rollback_restores_the_previous_best_and_forgets_it() -> None:
    promoted = apply_action("promote", RUNNING)
    assert apply_action("rollback", promoted) == Slots("v1", None, None, 6)


@pytest.mark.parametrize(
    ("action", "slots"),
    [
        ("promote", Slots("v1")),
        ("reject", Slots("v1")),
        ("rollback", RUNNING),
        ("end_watch", RUNNING),
    ],
)
def test_an_action_that_does_not_apply_is_refused(action: str, slots: Slots) -> None:
    with pytest.raises(TransitionRefusedError):
        apply_action(action, slots)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("recorded", "action"),
    [
        (RUNNING, "promote"),
        (RUNNING, "reject"),
        (apply_action("promote", RUNNING), "rollback"),
        (apply_action("promote", RUNNING), "end_watch"),
    ],
)
def test_a_swap_written_but_not_recorded_is_recognised(recorded: Slots, action: str) -> None:
    actual = apply_action(action, recorded, queued="v9")  # type: ignore[arg-type]
    assert interrupted_action(recorded, actual, queued="v9") == action
    without_holdback = apply_action("promote", RUNNING, holdback=False)
    assert interrupted_action(RUNNING, without_holdback) == "promote"


def test_a_publish_not_yet_recorded_is_not_an_interrupted_swap() -> None:
    recorded = Slots("v1", None, None, 1)
    published = Slots("v1", "v2", None, 2)  # the trainer filled the candidate slot
    assert interrupted_action(recorded, published) is None


def test_equal_slots_and_two_swaps_ahead_are_not_an_interrupted_swap() -> None:
    two_ahead = apply_action("end_watch", apply_action("promote", RUNNING))
    assert interrupted_action(RUNNING, RUNNING) is None
    assert interrupted_action(RUNNING, two_ahead) is None


def record(
    sequence: int, before: Slots, after: Slots, etag: str, action: str = "publish"
) -> LedgerRecord:
    return LedgerRecord.create(
        sequence=sequence,
        experiment_id=None,
        action=action,
        actor={"kind": "trainer", "name": "t"},
        reasons=["r"],
        inputs={},
        statistics={},
        thresholds={},
        slots_before=slots_json(before),
        slots_after=slots_json(after),
        etag_before=None,
        etag_after=etag,
        missing_acks=[],
        occurred_at=datetime.now(UTC),
    )


def history() -> list[LedgerRecord]:
    first = Slots("v1", None, None, 1)
    return [
        record(0, Slots(None), first, '"e1"'),
        record(1, first, RUNNING, '"e4"'),
    ]


def test_verify_passes_when_s3_holds_the_last_recorded_state() -> None:
    assert verify(history(), SlotsVersion(RUNNING, '"e4"')).ok


def test_verify_reports_slots_that_differ_from_the_ledger() -> None:
    corrupted = Slots(best="v9", candidate=None, previous_best=None, generation=4)
    result = verify(history(), SlotsVersion(corrupted, '"e5"'))
    assert not result.ok and "v9" in result.problems[0]
    assert result.expected == RUNNING


def test_verify_reports_a_rewrite_with_the_same_content_by_its_etag() -> None:
    result = verify(history(), SlotsVersion(RUNNING, '"other"'))
    assert not result.ok and "ETag" in result.problems[0]


def test_a_broken_chain_and_a_sequence_gap_are_reported() -> None:
    first, second = history()
    gap = record(3, Slots("v7"), RUNNING, '"e9"')
    problems = chain_problems([first, second, gap])
    assert any("jumps from 1 to 3" in p for p in problems)
    assert any("starts from" in p for p in problems)


def test_a_restore_starts_from_the_corrupted_state_it_found_without_breaking_the_chain() -> None:
    first, second = history()
    corrupted = Slots(best="v9", candidate=None, previous_best=None, generation=99)
    restore = record(2, corrupted, RUNNING, '"e6"', action="restore")
    assert chain_problems([first, second, restore]) == []
    assert verify([first, second, restore], SlotsVersion(RUNNING, '"e6"')).ok
