"""Publishing logic without services: version ids, manifests, slot choice and retries."""

import re
from datetime import UTC, datetime

import pytest

from plumbing.errors import SlotConflictError
from plumbing.model_store import Slots, SlotsVersion
from pricing.features import FeatureRow
from schemas.registry import validate_event
from trainer.dataset import training_distribution
from trainer.errors import PublishError
from trainer.publish import (
    candidate_published_event,
    model_sha256,
    next_slots,
    place_in_slot,
    resolve_slot,
    utc_iso,
    version_id,
)

NOW = datetime(2026, 11, 27, 2, 11, 58, 123456, tzinfo=UTC)


def test_version_id_is_the_utc_time_and_8_hex_of_the_model_sha() -> None:
    sha = model_sha256({"coef": [1.0, 2.0]})
    version = version_id(sha, NOW)
    assert version == f"m-20261127T021158Z-{sha[:8]}"
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+:-]*", version)


def test_the_model_sha_is_stable_for_the_same_model() -> None:
    assert model_sha256({"a": 1}) == model_sha256({"a": 1}) != model_sha256({"a": 2})


def test_utc_iso_has_milliseconds_and_z() -> None:
    assert utc_iso(NOW) == "2026-11-27T02:11:58.123Z"


def test_auto_sends_the_very_first_model_to_best_and_later_ones_to_candidate() -> None:
    assert resolve_slot(None, "auto") == "best"
    assert resolve_slot(Slots(best=None), "auto") == "best"
    assert resolve_slot(Slots(best="m-1"), "auto") == "candidate"


def test_best_can_be_forced_and_candidate_needs_a_best() -> None:
    assert resolve_slot(Slots(best="m-1"), "best") == "best"
    assert resolve_slot(Slots(best="m-1"), "candidate") == "candidate"
    with pytest.raises(PublishError, match="no best model yet"):
        resolve_slot(None, "candidate")


def test_a_new_best_keeps_the_old_one_as_previous_best() -> None:
    current = Slots(best="m-1", candidate="m-2", generation=4)
    assert next_slots(current, "m-3", "best") == Slots(
        best="m-3", candidate="m-2", previous_best="m-1", generation=5
    )
    assert next_slots(current, "m-3", "candidate") == Slots(
        best="m-1", candidate="m-3", generation=5
    )


class RacingSlots:
    """An in-memory SlotStore whose first ``losses`` writes lose a race."""

    def __init__(self, current: Slots | None, losses: int) -> None:
        self.current = current
        self.losses = losses
        self.etag = 0
        self.writes: list[Slots] = []

    def read(self) -> SlotsVersion | None:
        return SlotsVersion(self.current, str(self.etag)) if self.current else None

    def _write(self, slots: Slots) -> SlotsVersion:
        if self.losses:
            self.losses -= 1
            # Someone else swapped meanwhile.
            self.current = (self.current or Slots(best="m-other")).next()
            self.etag += 1
            raise SlotConflictError("lost")
        self.current, self.etag = slots, self.etag + 1
        self.writes.append(slots)
        return SlotsVersion(slots, str(self.etag))

    def create(self, slots: Slots) -> SlotsVersion:
        return self._write(slots)

    def swap(self, expected: SlotsVersion, slots: Slots) -> SlotsVersion:
        return self._write(slots)


def test_the_first_model_creates_the_slots_with_itself_as_best() -> None:
    store = RacingSlots(None, losses=0)
    slot, written = place_in_slot(store, "m-1", "auto")  # type: ignore[arg-type]
    assert slot == "best" and written.slots == Slots(best="m-1")


def test_a_lost_race_is_re_read_and_retried() -> None:
    store = RacingSlots(Slots(best="m-1", generation=1), losses=2)
    slot, written = place_in_slot(store, "m-2", "auto")  # type: ignore[arg-type]
    assert slot == "candidate"
    assert written.slots.candidate == "m-2" and written.slots.generation == 4


def test_losing_every_race_is_an_error() -> None:
    store = RacingSlots(Slots(best="m-1"), losses=100)
    with pytest.raises(PublishError, match="lost 5 races"):
        place_in_slot(store, "m-2", "auto")  # type: ignore[arg-type]


def test_a_lost_create_race_makes_the_model_a_candidate() -> None:
    store = RacingSlots(None, losses=1)
    slot, written = place_in_slot(store, "m-2", "auto")  # type: ignore[arg-type]
    assert slot == "candidate" and written.slots.best == "m-other"


def test_the_event_validates_against_its_schema_and_carries_the_training_distribution() -> None:
    rows = [FeatureRow("whitefield", 1000.0 + 10 * i, 1 + i % 3, 1 + i % 4) for i in range(30)] + [
        FeatureRow(f"place {i}", 800.0, 2, 2) for i in range(25)
    ]
    distribution = training_distribution(rows)
    event = candidate_published_event(
        version="m-20261127T021158Z-0123abcd",
        slot="candidate",
        run_id="0123456789abcdef0123456789abcdef",
        manifest_sha="a" * 64,
        metrics={"test_mae": 18.0, "test_rmse": 36.0, "test_r2": 0.8, "cv_score": -17.7},
        training_distribution=distribution,
    )
    validate_event(event)
    assert event["event_type"] == "model.candidate_published"
    assert event["training_distribution"] == distribution


def test_during_a_watch_a_new_candidate_is_queued_and_best_is_refused() -> None:
    watching = Slots(best="m-2", candidate="m-1", previous_best="m-1", generation=5)
    assert resolve_slot(watching, "auto") == "queued"
    assert resolve_slot(watching, "candidate") == "queued"
    with pytest.raises(PublishError, match="a watch is running"):
        resolve_slot(watching, "best")


def test_a_queued_candidate_writes_no_slot() -> None:
    watching = Slots(best="m-2", candidate="m-1", previous_best="m-1", generation=5)
    store = RacingSlots(watching, losses=0)
    slot, version = place_in_slot(store, "m-3", "auto")  # type: ignore[arg-type]
    assert slot == "queued" and version.slots == watching and store.writes == []
