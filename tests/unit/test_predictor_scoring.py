"""The scorer's variant assignment, batch inference, and the load-beside-then-switch slot."""

from typing import Any

import numpy as np
import pytest

from plumbing.errors import ModelIntegrityError
from plumbing.model_store import LoadedModel, Slots
from predictors.inference import predict_batch
from predictors.model_slot import LiveModel, ModelSlot
from predictors.scoring import assign_rows
from pricing.features import FeatureDomain, FeatureRow
from pricing.split import assign_variant
from schemas.serving_events import ScoreRequest

COLUMNS = ["total_sqft", "bath", "bhk", "whitefield", "hebbal"]
DOMAIN = {
    "locations": ["whitefield", "hebbal", "rare place"],
    "model_locations": ["whitefield", "hebbal"],
    "total_sqft": [300, 10000],
    "bath": [1, 8],
    "bhk": [1, 8],
}


def _row(i: int, key: str | None = None) -> ScoreRequest:
    return ScoreRequest(
        id=f"row-{i}", key=key, location="whitefield", total_sqft=1000.0, bath=2, bhk=2
    )


# --------------------------------------------------------------------------- assignment


def test_without_a_candidate_every_row_goes_to_prod() -> None:
    experiment_id, assignments = assign_rows(
        [_row(i) for i in range(200)],
        experiment_prefix="exp-1",
        candidate_version=None,
        candidate_share=0.5,
    )
    assert experiment_id == "exp-1:prod-only"
    assert {a.variant for a in assignments} == {"prod"}


def test_rows_split_by_the_candidate_share_in_the_candidates_experiment() -> None:
    experiment_id, assignments = assign_rows(
        [_row(i) for i in range(4000)],
        experiment_prefix="exp-1",
        candidate_version="v2",
        candidate_share=0.2,
    )
    share = sum(a.variant == "candidate" for a in assignments) / len(assignments)
    assert experiment_id == "exp-1:v2"
    assert 0.17 < share < 0.23


def test_keyed_rows_are_sticky_and_hashed_like_the_gateway() -> None:
    rows = [_row(i, key="user-42") for i in range(50)]
    experiment_id, assignments = assign_rows(
        rows, experiment_prefix="exp-1", candidate_version="v2", candidate_share=0.5
    )
    gateway = assign_variant(
        experiment_id=experiment_id,
        key="user-42",
        request_id="anything",
        candidate_share=0.5,
        candidate_available=True,
    )
    assert {(a.variant, a.assignment) for a in assignments} == {(gateway.variant, "hashed")}


def test_rows_without_a_key_hash_their_id_and_are_marked_random() -> None:
    _, assignments = assign_rows(
        [_row(7)], experiment_prefix="exp-1", candidate_version="v2", candidate_share=0.5
    )
    expected = assign_variant(
        experiment_id="exp-1:v2",
        key=None,
        request_id="row-7",
        candidate_share=0.5,
        candidate_available=True,
    )
    assert assignments == [expected]
    assert assignments[0].assignment == "random"


# --------------------------------------------------------------------------- inference


class CountingModel:
    """Predicts total_sqft / 10 and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        self.calls.append(len(matrix))
        return np.asarray(matrix)[:, 0] / 10.0 + 0.004


def _live(estimator: Any, version: str = "v1") -> LiveModel:
    loaded = LoadedModel(version, estimator, COLUMNS, {"feature_domain": DOMAIN})
    return LiveModel.from_loaded(loaded, generation=1)


def test_batch_is_predicted_in_one_call_and_out_of_domain_rows_get_errors() -> None:
    estimator = CountingModel()
    rows = [
        FeatureRow("Whitefield", 1000.0, 2, 2),
        FeatureRow("Atlantis", 1000.0, 2, 2),
        FeatureRow("hebbal", 20000.0, 2, 2),
        FeatureRow("rare place", 2000.0, 2, 3),
    ]

    prediction = predict_batch(_live(estimator), rows)

    assert estimator.calls == [2]
    assert [o.status for o in prediction.outcomes] == ["ok", "error", "error", "ok"]
    assert prediction.outcomes[0].price_lakhs == 100.0
    assert prediction.outcomes[3].price_lakhs == 200.0
    assert prediction.outcomes[1].error is not None
    assert prediction.outcomes[1].error["code"] == "out_of_domain"
    assert prediction.outcomes[1].error["field"] == "location"
    assert prediction.outcomes[2].error == {
        "code": "out_of_domain",
        "message": "total_sqft=20000.0 is outside the trained range [300.0, 10000.0]",
        "field": "total_sqft",
    }


def test_a_failing_model_answers_errors_instead_of_stopping() -> None:
    class Broken:
        def predict(self, matrix: np.ndarray) -> np.ndarray:
            raise ValueError("bad input")

    prediction = predict_batch(_live(Broken()), [FeatureRow("whitefield", 1000.0, 2, 2)])

    assert prediction.outcomes[0].error is not None
    assert prediction.outcomes[0].error["code"] == "predict_failed"


# --------------------------------------------------------------------------- the slot


class StubStore:
    """An in-memory twin of ModelStore.load: known versions, and tampered ones."""

    def __init__(self, tampered: frozenset[str] = frozenset()) -> None:
        self.tampered = tampered
        self.loads: list[str] = []

    def load(self, version: str) -> LoadedModel:
        self.loads.append(version)
        if version in self.tampered:
            raise ModelIntegrityError(f"model {version}: model.pkl sha256 does not match")
        return LoadedModel(version, CountingModel(), COLUMNS, {"feature_domain": DOMAIN})


def test_new_version_is_loaded_then_switched_and_an_unchanged_one_is_not_reloaded() -> None:
    store = StubStore()
    slot = ModelSlot("prod", store)  # type: ignore[arg-type]

    first = slot.apply(Slots(best="v1", generation=1))
    same = slot.apply(Slots(best="v1", candidate="v2", generation=2))
    second = slot.apply(Slots(best="v2", generation=3))

    assert (first.changed, same.changed, second.changed) == (True, False, True)
    assert store.loads == ["v1", "v2"]
    assert slot.live is not None
    assert (slot.live.version, slot.live.generation) == ("v2", 3)
    assert isinstance(slot.live.domain, FeatureDomain)


def test_tampered_version_is_refused_and_the_old_model_keeps_serving() -> None:
    slot = ModelSlot("prod", StubStore(tampered=frozenset({"v2"})))  # type: ignore[arg-type]
    slot.apply(Slots(best="v1", generation=1))
    serving = slot.live

    change = slot.apply(Slots(best="v2", generation=2))

    assert slot.live is serving
    assert (change.ok, change.error_code, change.version, change.generation) == (
        False,
        "integrity",
        "v1",
        1,
    )


@pytest.mark.parametrize("slots", [None, Slots(best="v1")], ids=["no-routing", "no-candidate"])
def test_empty_candidate_slot_has_no_model(slots: Slots | None) -> None:
    slot = ModelSlot("candidate", StubStore())  # type: ignore[arg-type]
    change = slot.apply(slots)
    assert slot.live is None
    assert (change.ok, change.version) == (True, None)


def test_a_results_partition_depends_on_its_key_only() -> None:
    from predictors.scoring import result_partition

    partitions = [result_partition(f"row-{i}".encode(), 3) for i in range(300)]

    assert set(partitions) == {0, 1, 2}
    assert partitions == [result_partition(f"row-{i}".encode(), 3) for i in range(300)]
