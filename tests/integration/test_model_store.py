"""The model store and the slot routing object on the real S3 server."""

import hashlib
import json
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sklearn.linear_model import LinearRegression

from cli.settings import Settings
from plumbing import manifest_signature
from plumbing.errors import ModelIntegrityError, ModelSignatureError, SlotConflictError
from plumbing.model_store import ModelStore, Slots, SlotStore
from plumbing.s3 import s3_client

COLUMNS = ["total_sqft", "bath", "bhk", "whitefield"]


@pytest.fixture
def bucket(stack: Settings) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client(stack).create_bucket(Bucket=name)
    yield name


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    """A (private, public) pair of this module's own: the trainer's, in these tests."""
    return manifest_signature.new_keypair()


def _store(s3: Any, bucket: str, keys: tuple[str, str]) -> ModelStore:
    """The store as the trainer holds it: signs with the private key, verifies with the public."""
    private, public = keys
    return ModelStore(
        s3, bucket, verify_key=public, signer=lambda m: manifest_signature.sign(private, m)
    )


def _model(scale: float = 1.0) -> LinearRegression:
    return LinearRegression().fit([[1000, 2, 2, 1], [500, 1, 1, 0]], [100.0 * scale, 40.0])


def test_a_version_is_written_once_and_loads_verified(
    stack: Settings, bucket: str, keys: tuple[str, str]
) -> None:
    store = _store(s3_client(stack), bucket, keys)
    manifest = store.publish("m-1", estimator=_model(), columns=COLUMNS, manifest={"x": 1})
    with pytest.raises(SlotConflictError):
        store.publish("m-1", estimator=_model(), columns=COLUMNS, manifest={"x": 2})
    loaded = store.load("m-1")
    assert loaded.columns == COLUMNS
    assert loaded.manifest == manifest
    assert loaded.estimator.predict([[1000, 2, 2, 1]])[0] == pytest.approx(100.0)


def test_a_tampered_model_file_is_refused_before_unpickling(
    stack: Settings, bucket: str, keys: tuple[str, str]
) -> None:
    s3: Any = s3_client(stack)
    _store(s3, bucket, keys).publish("m-2", estimator=_model(), columns=COLUMNS, manifest={})
    s3.put_object(Bucket=bucket, Key="models/m-2/model.pkl", Body=b"not the model")
    with pytest.raises(ModelIntegrityError, match=r"model\.pkl sha256"):
        _store(s3, bucket, keys).load("m-2")


def test_a_manifest_rewritten_with_the_shared_s3_keys_fails_its_signature(
    stack: Settings, bucket: str, keys: tuple[str, str]
) -> None:
    # Given a signed version, then a different model put in its place with the S3 keys every
    # service holds, and its manifest re-written with the matching sha256
    s3: Any = s3_client(stack)
    _store(s3, bucket, keys).publish("m-3", estimator=_model(), columns=COLUMNS, manifest={})
    forged = pickle.dumps(_model(scale=50.0), protocol=pickle.HIGHEST_PROTOCOL)
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key="models/m-3/manifest.json")["Body"].read()
    )
    manifest["files"]["model.pkl"] = hashlib.sha256(forged).hexdigest()
    s3.put_object(Bucket=bucket, Key="models/m-3/model.pkl", Body=forged)
    s3.put_object(
        Bucket=bucket, Key="models/m-3/manifest.json", Body=json.dumps(manifest, sort_keys=True)
    )

    # Then the signature, not the sha256, refuses it
    with pytest.raises(ModelSignatureError, match="signature does not verify"):
        _store(s3, bucket, keys).load("m-3")


def test_an_unsigned_or_foreign_signed_model_and_a_store_without_a_key_refuse(
    stack: Settings, bucket: str, keys: tuple[str, str]
) -> None:
    s3: Any = s3_client(stack)
    ModelStore(s3, bucket).publish("m-4", estimator=_model(), columns=COLUMNS, manifest={})
    _store(s3, bucket, manifest_signature.new_keypair()).publish(
        "m-5", estimator=_model(), columns=COLUMNS, manifest={}
    )
    _store(s3, bucket, keys).publish("m-6", estimator=_model(), columns=COLUMNS, manifest={})

    with pytest.raises(ModelSignatureError, match="not signed"):
        _store(s3, bucket, keys).load("m-4")
    with pytest.raises(ModelSignatureError, match="does not verify"):
        _store(s3, bucket, keys).load("m-5")
    with pytest.raises(ModelSignatureError, match="SPLITSTREAM_MODEL_VERIFY_KEY"):
        ModelStore(s3, bucket).load("m-6")


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
