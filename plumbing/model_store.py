"""The S3 model store: immutable model versions and the slot routing object.

Layout in the bucket:

- ``models/<version>/model.pkl``, ``columns.json``, ``manifest.sig`` and
  ``manifest.json``, each written once with ``If-None-Match: *``. The manifest
  goes last, so a version without one is incomplete and never loaded.
- ``manifest.sig`` is the trainer's Ed25519 signature of the manifest's bytes
  (plumbing/manifest_signature.py). ``load`` verifies it with the configured public
  key before it trusts any sha256 in the manifest, and the sha256 before unpickling.
- ``control/slots.json``: ``{best, candidate, previous_best, generation}``.
  Every change is one conditional write (``If-Match`` on its ETag), so two
  writers racing get exactly one winner and no reader sees half a change.
"""

import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from plumbing import manifest_signature
from plumbing.errors import ModelIntegrityError, ModelNotFoundError, SlotConflictError

MODELS_PREFIX = "models"
SLOTS_KEY = "control/slots.json"
MODEL_FILE = "model.pkl"
COLUMNS_FILE = "columns.json"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _missing_key(error: ClientError) -> bool:
    """A 404 for the object itself; a missing bucket is a configuration error instead."""
    return _status(error) == 404 and error.response.get("Error", {}).get("Code") != "NoSuchBucket"


@dataclass(frozen=True)
class Slots:
    """Which model version serves each slot, and how many swaps led here."""

    best: str | None
    candidate: str | None = None
    previous_best: str | None = None
    generation: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Slots":
        raw = json.loads(data)
        return cls(
            best=raw.get("best"),
            candidate=raw.get("candidate"),
            previous_best=raw.get("previous_best"),
            generation=int(raw.get("generation", 0)),
        )

    @property
    def holdback(self) -> str | None:
        """The previous best while it serves the candidate slot for the watch after a
        promotion (``candidate == previous_best``), else None.

        No other state has the old best back in the candidate slot, so the routing object
        needs no field of its own for it; the predictors serve it as any candidate.
        """
        if self.candidate is not None and self.candidate == self.previous_best:
            return self.candidate
        return None

    def next(self, **changes: str | None) -> "Slots":
        """These slots with ``changes`` applied and the generation moved on by one."""
        return replace(self, **changes, generation=self.generation + 1)


@dataclass(frozen=True)
class SlotsVersion:
    """The routing object as read, with the ETag a conditional write must quote."""

    slots: Slots
    etag: str


class SlotStore:
    """Reads and conditionally writes ``control/slots.json``."""

    def __init__(self, s3: Any, bucket: str, key: str = SLOTS_KEY) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key

    def read(self) -> SlotsVersion | None:
        """The current slots, or None when no model was ever published."""
        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        except ClientError as error:
            if _missing_key(error):
                return None
            raise
        return SlotsVersion(Slots.from_json(obj["Body"].read()), obj["ETag"])

    def create(self, slots: Slots) -> SlotsVersion:
        """Write the first routing object; raises SlotConflictError if one exists."""
        return self._put(slots, IfNoneMatch="*")

    def swap(self, expected: SlotsVersion, slots: Slots) -> SlotsVersion:
        """Replace the routing object only if it is still ``expected``.

        Raises:
            SlotConflictError: someone else changed it since ``expected`` was read.
        """
        return self._put(slots, IfMatch=expected.etag)

    def _put(self, slots: Slots, **condition: str) -> SlotsVersion:
        try:
            done = self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=slots.to_json(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _status(error) in (409, 412):
                raise SlotConflictError(
                    f"{self._key} changed since it was read ({condition}); re-read and retry"
                ) from error
            raise
        return SlotsVersion(slots, done["ETag"])


@dataclass(frozen=True)
class LoadedModel:
    """A verified, unpickled model version with its feature columns and manifest."""

    version: str
    estimator: Any
    columns: list[str]
    manifest: dict[str, Any]


class ModelStore:
    """Writes model versions once and loads them after checking signature and sha256s.

    ``verify_key`` is the trainer's public key (base64); without it ``load`` refuses
    every model. ``signer`` (the trainer's) signs the manifest of each ``publish``.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        verify_key: str | None = None,
        signer: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._verify_key = verify_key
        self._signer = signer

    def _key(self, version: str, name: str) -> str:
        return f"{MODELS_PREFIX}/{version}/{name}"

    def publish(
        self, version: str, *, estimator: Any, columns: list[str], manifest: dict[str, Any]
    ) -> dict[str, Any]:
        """Write a new version: the files, then the manifest naming their sha256.

        Returns:
            The manifest as written (with ``version`` and ``files`` filled in).

        Raises:
            SlotConflictError: the version exists already (versions are immutable).
        """
        files = {
            MODEL_FILE: pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL),
            COLUMNS_FILE: json.dumps({"data_columns": [c.lower() for c in columns]}).encode(),
        }
        full = {
            **manifest,
            "version": version,
            "files": {n: sha256_hex(b) for n, b in files.items()},
        }
        manifest_bytes = json.dumps(full, sort_keys=True).encode()
        for name, body in files.items():
            self._put_once(version, name, body)
        if self._signer is not None:
            self._put_once(version, SIGNATURE_FILE, self._signer(manifest_bytes))
        self._put_once(version, MANIFEST_FILE, manifest_bytes)
        return full

    def _put_once(self, version: str, name: str, body: bytes) -> None:
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key(version, name), Body=body, IfNoneMatch="*"
            )
        except ClientError as error:
            if _status(error) in (409, 412):
                raise SlotConflictError(f"model version {version} exists: {name}") from error
            raise

    def _get(self, version: str, name: str) -> bytes:
        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=self._key(version, name))
        except ClientError as error:
            if _missing_key(error):
                raise ModelNotFoundError(f"model version {version} has no {name}") from error
            raise
        body: bytes = obj["Body"].read()
        return body

    def manifest(self, version: str) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads(self._get(version, MANIFEST_FILE))
        return manifest

    def verified_manifest(self, version: str) -> dict[str, Any]:
        """The manifest, once its signature verifies with the configured public key.

        Raises:
            ModelSignatureError: no key configured, no signature, or a bad one.
        """
        raw = self._get(version, MANIFEST_FILE)
        try:
            signature: bytes | None = self._get(version, SIGNATURE_FILE)
        except ModelNotFoundError:
            signature = None
        manifest_signature.verify(self._verify_key, raw, signature, what=f"model {version}")
        manifest: dict[str, Any] = json.loads(raw)
        return manifest

    def load(self, version: str) -> LoadedModel:
        """Download, verify the manifest's signature, each file's sha256, then unpickle.

        Raises:
            ModelSignatureError: the manifest is unsigned or its signature fails.
            ModelIntegrityError: a file does not match its manifest digest; nothing
                was unpickled.
            ModelNotFoundError: the version or one of its files is missing.
        """
        manifest = self.verified_manifest(version)
        files = {name: self._get(version, name) for name in (MODEL_FILE, COLUMNS_FILE)}
        for name, body in files.items():
            expected = manifest.get("files", {}).get(name)
            if expected != sha256_hex(body):
                raise ModelIntegrityError(
                    f"model {version}: {name} sha256 {sha256_hex(body)[:12]}… does not match "
                    f"manifest {str(expected)[:12]}…; refusing to load it"
                )
        estimator = pickle.loads(files[MODEL_FILE])  # noqa: S301 - verified above
        columns = list(json.loads(files[COLUMNS_FILE])["data_columns"])
        return LoadedModel(version, estimator, columns, manifest)
