"""The model store and the slot routing object on the real S3 server."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sklearn.linear_model import LinearRegression

from plumbing.errors import ModelIntegrityError, SlotConflictError
from plumbing.model_store import ModelStore, Slots, SlotStore
from plumbing.s3 import s3_client
from plumbing.settings import Settings

COLUMNS = ["total_sqft", "bath", "bhk", "whitefield"]


@pytest.fixture
def bucket(stack: Settings) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client(stack).create_bucket(Bucket=name)
    yield name


def _model() -> LinearRegression:
    return LinearRegression().fit([[1000, 2, 2, 1], [500, 1, 1, 0]], [100.0, 40.0])


def test_a_version_is_written_once_and_loads_verified(stack: Settings, bucket: str) -> None:
    store = ModelStore(s3_client(stack), bucket)
    manifest = store.publish("m-1", estimator=_model(), columns=COLUMNS, manifest={"x": 1})
    with pytest.raises(SlotConflictError):
        store.publish("m-1", estimator=_model(), columns=COLUMNS, manifest={"x": 2})
    loaded = store.load("m-1")
    assert loaded.columns == COLUMNS
    assert loaded.manifest == manifest
    assert loaded.estimator.predict([[1000, 2, 2, 1]])[0] == pytest.approx(100.0)


def test_a_tampered_model_file_is_refused_before_unpickling(stack: Settings, bucket: str) -> None:
    s3: Any = s3_client(stack)
    ModelStore(s3, bucket).publish("m-2", estimator=_model(), columns=COLUMNS, manifest={})
    s3.put_object(Bucket=bucket, Key="models/m-2/model.pkl", Body=b"not the model")
    with pytest.raises(ModelIntegrityError, match=r"model\.pkl sha256"):
        ModelStore(s3, bucket).load("m-2")


def test_slots_swap_needs_the_current_etag(stack: Settings, bucket: str) -> None:
    slots = SlotStore(s3_client(stack), bucket)
    assert slots.read() is None
    first = slots.create(Slots(best="m-1"))
    with pytest.raises(SlotConflictError):
        slots.create(Slots(best="m-x"))
    second = slots.swap(first, first.slots.next(candidate="m-2"))
    with pytest.raises(SlotConflictError):
        slots.swap(first, first.slots.next(candidate="m-3"))
    current = slots.read()
    assert current == second
    assert current is not None and current.slots == Slots("m-1", "m-2", None, 1)


def test_a_missing_bucket_is_an_s3_error_not_a_missing_slot(stack: Settings) -> None:
    with pytest.raises(ClientError):
        SlotStore(s3_client(stack), f"missing-{uuid.uuid4().hex[:8]}").read()
