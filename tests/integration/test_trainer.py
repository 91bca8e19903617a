"""The trainer against the real stack: S3 (s3proxy), MLflow and Kafka.

Each test gets its own bucket (the slots object is global in a bucket) and its own
registered model name, so the tests are independent of each other and of their order.
"""

import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any

import pytest
from click.testing import CliRunner
from kafka import TopicPartition
from mlflow import MlflowClient
from sklearn.linear_model import Ridge

from cli.settings import Settings, get_settings
from cli.train_commands import train
from plumbing.kafka import consumer
from plumbing.model_store import ModelStore, SlotStore
from plumbing.s3 import s3_client
from pricing.features import FeatureRow, feature_matrix
from schemas.registry import validate_event
from trainer.cleaning import clean
from trainer.data import load_raw
from trainer.dataset import split_dataset
from trainer.domain_grid import lowest_price
from trainer.errors import EXIT_NOT_POSITIVE, EXIT_R2_FLOOR, EXIT_REGRESSION, EXIT_UNCHANGED
from trainer.gate import decide
from trainer.main import train_and_publish
from trainer.selection import DEFAULT_ALGORITHMS


@pytest.fixture
def fresh(stack: Settings, unique: str) -> Settings:
    """The stack's settings with a new, empty bucket and a new registered model name."""
    bucket = f"trainer-{unique}"
    s3_client(stack).create_bucket(Bucket=bucket)
    return stack.model_copy(
        update={"s3_bucket": bucket, "registered_model_name": f"houses-{unique}"}
    )


def read_object(settings: Settings, key: str) -> bytes:
    body: bytes = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
    return body


def model_events(settings: Settings, versions: Iterable[str], timeout_s: float = 30.0) -> dict:
    """The model events about ``versions``, read from the start of the topic."""
    wanted = set(versions)
    topic = settings.topic("model_events").name
    reader = consumer(settings.as_kafka_role("promoter"), group_id=None)  # it reads them
    found: dict[str, dict[str, Any]] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic)]
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while wanted - set(found) and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500).values():
                for record in records:
                    event = json.loads(record.value)
                    if event.get("model_version") in wanted:
                        found[event["model_version"]] = event
    finally:
        reader.close()
    return found


def test_train_publishes_to_best_then_candidate_only_changes_and_only_positive_prices(
    fresh: Settings,
) -> None:
    s3 = s3_client(fresh)
    slots = SlotStore(s3, fresh.s3_bucket)

    # Given an empty bucket, when the default training runs (the full grid)
    first = train_and_publish(fresh)

    # Then the first model is published straight to the best slot
    assert first.published and first.exit_code == 0 and first.slot == "best"
    assert [c.algorithm for c in first.selection.candidates] == list(DEFAULT_ALGORITHMS)
    current = slots.read()
    assert current is not None and current.slots.best == first.version
    assert current.slots.candidate is None

    # When a second training runs, then its model becomes the candidate
    second = train_and_publish(fresh, algorithms=("ridge",))
    assert second.published and second.slot == "candidate"
    assert second.version != first.version
    current = slots.read()
    assert current is not None
    assert (current.slots.best, current.slots.candidate) == (first.version, second.version)

    # The version's files are in S3 and the manifest's sha256s match them
    for result in (first, second):
        assert result.version is not None
        prefix = f"models/{result.version}"
        manifest_bytes = read_object(fresh, f"{prefix}/manifest.json")
        manifest = json.loads(manifest_bytes)
        for name in ("model.pkl", "columns.json"):
            digest = hashlib.sha256(read_object(fresh, f"{prefix}/{name}")).hexdigest()
            assert manifest["files"][name] == digest
        assert hashlib.sha256(manifest_bytes).hexdigest() == result.manifest_sha256
        assert manifest["mlflow_run_id"] == result.mlflow_run_id
        assert manifest["algorithm"] == result.algorithm and manifest["params"] == result.params
        assert set(manifest["metrics"]) == {"test_rmse", "test_mae", "test_r2", "cv_score"}
        assert manifest["training_data_sha256"] == fresh.data_sha256
        domain = manifest["feature_domain"]
        assert len(domain["locations"]) > len(domain["model_locations"]) > 100
        assert set(domain["model_locations"]) <= set(domain["locations"])
        distribution = manifest["training_distribution"]
        assert set(distribution) == {"total_sqft", "bath", "bhk", "location"}
        assert distribution["location"]["categories"][-1] == "other"
        store = ModelStore(s3, fresh.s3_bucket, verify_key=fresh.model_verify_key)
        loaded = store.load(result.version)
        assert loaded.columns[:3] == ["total_sqft", "bath", "bhk"]
        assert loaded.columns[3:] == domain["model_locations"]

    # The raw data is kept in S3 by its hash
    raw = read_object(fresh, f"data/raw/{fresh.data_sha256}.csv")
    assert hashlib.sha256(raw).hexdigest() == fresh.data_sha256 == first.data_sha256

    # The registry mirrors the slots, and the run holds one nested run per algorithm
    client = MlflowClient(fresh.mlflow_uri)
    name = fresh.registered_model_name
    assert client.get_model_version_by_alias(name, "champion").version == first.registered_version
    assert (
        client.get_model_version_by_alias(name, "challenger").version == second.registered_version
    )
    run = client.get_run(first.mlflow_run_id)
    assert run.data.params["training_data_sha256"] == fresh.data_sha256
    assert {"test_rmse", "test_mae", "test_r2"} <= set(run.data.metrics)
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(c.data.params["algorithm"] for c in children) == sorted(DEFAULT_ALGORITHMS)
    assert all(c.data.params["training_data_sha256"] == fresh.data_sha256 for c in children)

    # A model.candidate_published event per model, valid against its schema
    events = model_events(fresh, [first.version, second.version])
    assert set(events) == {first.version, second.version}
    for result in (first, second):
        event = events[result.version]
        validate_event(event)
        assert event["event_type"] == "model.candidate_published"
        assert event["slot"] == result.slot
        assert event["mlflow_run_id"] == result.mlflow_run_id
        assert event["manifest_sha256"] == result.manifest_sha256
        assert set(event["training_distribution"]) == {"total_sqft", "bath", "bhk", "location"}

    # When a weak model is trained, then the gate refuses it as a regression
    weak = train_and_publish(fresh, algorithms=("weak",))
    assert not weak.published and weak.exit_code == EXIT_REGRESSION
    assert first.version in weak.gate.reason
    after = slots.read()
    assert after is not None and after.slots == current.slots
    run = client.get_run(weak.mlflow_run_id)
    assert run.data.tags["splitstream.gate"] == "refused"
    # A refused model is logged in MLflow but never registered
    assert len(client.search_model_versions(f"name = '{name}'")) == 2

    # When the candidate's training runs again on the same data, nothing is published
    again = train_and_publish(fresh, algorithms=("ridge",))
    assert not again.published and again.exit_code == EXIT_UNCHANGED
    assert f"the model already in the candidate slot ({second.version})" in again.gate.reason
    assert slots.read() == after
    assert len(client.search_model_versions(f"name = '{name}'")) == 2

    # When a model is sent straight to best, then the old best becomes previous_best
    forced = train_and_publish(fresh, algorithms=("lasso",), target_slot="best")
    assert forced.published and forced.slot == "best"
    after = slots.read()
    assert after is not None
    assert (after.slots.best, after.slots.previous_best) == (forced.version, first.version)
    assert after.slots.candidate == second.version
    assert client.get_model_version_by_alias(name, "champion").version == forced.registered_version

    # Every published model, loaded as serving loads it, answers a positive price on every
    # point of the grid over its manifest's feature domain, and on the two requests the
    # old models answered with a negative price
    store = ModelStore(s3, fresh.s3_bucket, verify_key=fresh.model_verify_key)
    for result in (first, second, forced):
        assert result.version is not None and result.lowest_price is not None
        loaded = store.load(result.version)
        lowest = lowest_price(loaded.estimator, loaded.manifest["feature_domain"], loaded.columns)
        print(f"{result.algorithm}: lowest price {lowest.price:.2f} lakhs at {lowest.row}")
        assert lowest.positive and lowest.rows_checked > 500_000
        assert lowest.price == result.lowest_price.price
        answers = loaded.estimator.predict(feature_matrix(NEGATIVE_BEFORE, loaded.columns))
        assert (answers > 0).all(), answers

    # And a model fitted on raw prices, as the old trainer fitted them, is refused by the gate
    split = split_dataset(clean(load_raw(fresh).frame()), test_size=0.2, seed=fresh.train_seed)
    raw = Ridge().fit(split.x_train, split.y_train)
    refused = decide(
        test_r2=0.8,
        test_mae=18.0,
        best_mae=None,
        best_version=None,
        r2_floor=0.6,
        max_mae_regression=0.05,
        lowest=lowest_price(
            raw, store.load(first.version or "").manifest["feature_domain"], split.columns
        ),
    )
    assert refused.exit_code == EXIT_NOT_POSITIVE
    print(refused.reason)


#: The two requests the old models answered with a negative price (issue 12).
NEGATIVE_BEFORE = [
    FeatureRow("sarjapur", 607.0, 1, 1),
    FeatureRow("kumaraswami layout", 576.0, 3, 4),
]


def test_train_command_exits_3_when_the_r2_floor_is_not_reached(
    fresh: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a floor no model reaches
    monkeypatch.setenv("SPLITSTREAM_S3_BUCKET", fresh.s3_bucket)
    monkeypatch.setenv("SPLITSTREAM_REGISTERED_MODEL_NAME", fresh.registered_model_name)
    monkeypatch.setenv("SPLITSTREAM_BACKGROUND_NICENESS", "0")  # in-process: keep pytest's
    monkeypatch.setenv("SPLITSTREAM_TRAIN_R2_FLOOR", "0.99")
    get_settings.cache_clear()
    try:
        # When `splitstream train` runs
        result = CliRunner().invoke(train, ["--algorithm", "ridge"])
    finally:
        get_settings.cache_clear()

    # Then it exits 3, says why, and publishes nothing
    assert result.exit_code == EXIT_R2_FLOOR, result.output
    assert "not published (exit 3)" in result.output
    assert "below the floor 0.9900" in result.output
    assert SlotStore(s3_client(fresh), fresh.s3_bucket).read() is None
    listing = s3_client(fresh).list_objects_v2(Bucket=fresh.s3_bucket, Prefix="models/")
    assert listing.get("KeyCount", 0) == 0


def test_train_command_on_unchanged_data_publishes_nothing_and_exits_8(
    fresh: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITSTREAM_S3_BUCKET", fresh.s3_bucket)
    monkeypatch.setenv("SPLITSTREAM_REGISTERED_MODEL_NAME", fresh.registered_model_name)
    monkeypatch.setenv("SPLITSTREAM_BACKGROUND_NICENESS", "0")  # in-process: keep pytest's
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(train, ["--algorithm", "ridge"])
        again = CliRunner().invoke(train, ["--algorithm", "ridge"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert again.exit_code == EXIT_UNCHANGED, again.output
    assert "not published (exit 8): nothing changed: it is the model already in the best" in (
        " ".join(again.output.split())
    )
    current = SlotStore(s3_client(fresh), fresh.s3_bucket).read()
    assert current is not None and current.slots.candidate is None
