"""The candidate share, kept in S3 at ``control/split.json`` so every gateway converges.

Each write is conditional: ``If-None-Match: *`` for the first, ``If-Match`` on the
ETag read just before for later ones. Two admins racing both land in order (the
loser re-reads and writes again), and the generation counts every change.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from plumbing.errors import SlotConflictError, SplitWriteError

SPLIT_KEY = "control/split.json"
#: Attempts at a conditional write before giving up.
WRITE_ATTEMPTS = 5


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@dataclass(frozen=True)
class SplitVersion:
    """The stored split as read, with the ETag a conditional write must quote."""

    candidate_share: float
    generation: int
    updated_at: str
    etag: str


class SplitStore:
    """Reads and conditionally writes ``control/split.json``."""

    def __init__(self, s3: Any, bucket: str, key: str = SPLIT_KEY) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key

    def read(self) -> SplitVersion | None:
        """The stored split, or None when nobody set one (the settings' share applies)."""
        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        except ClientError as error:
            if _status(error) == 404:
                return None
            raise
        raw = json.loads(obj["Body"].read())
        return SplitVersion(
            candidate_share=float(raw["candidate_share"]),
            generation=int(raw.get("generation", 0)),
            updated_at=str(raw.get("updated_at", "")),
            etag=obj["ETag"],
        )

    def write(self, candidate_share: float) -> SplitVersion:
        """Store a new share, re-reading and retrying when another writer got in first.

        Raises:
            SplitWriteError: every attempt lost its race, or S3 refused the write.
        """
        for _ in range(WRITE_ATTEMPTS):
            current = self.read()
            try:
                return self.put(candidate_share, current)
            except SlotConflictError:
                continue
        raise SplitWriteError(f"{self._key}: lost {WRITE_ATTEMPTS} write races; try again")

    def put(self, candidate_share: float, current: SplitVersion | None) -> SplitVersion:
        """One conditional write against ``current`` (None: the object must not exist yet).

        Raises:
            SlotConflictError: the object changed since ``current`` was read.
            SplitWriteError: S3 refused the write for another reason.
        """
        generation = current.generation + 1 if current else 1
        updated_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {
            "candidate_share": candidate_share,
            "generation": generation,
            "updated_at": updated_at,
        }
        condition = {"IfMatch": current.etag} if current else {"IfNoneMatch": "*"}
        try:
            done = self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=json.dumps(body, sort_keys=True).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _status(error) in (409, 412):
                raise SlotConflictError(f"{self._key} changed since it was read") from error
            raise SplitWriteError(f"{self._key}: S3 refused the write: {error}") from error
        return SplitVersion(candidate_share, generation, updated_at, done["ETag"])
