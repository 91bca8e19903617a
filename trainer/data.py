"""The raw data set: read from ``settings.data_path``, or downloaded and checked; kept in S3.

The file is used as it is: its sha256 names it everywhere (the S3 key
``data/raw/<sha256>.csv``, the MLflow run, the model manifest). Only a download is
checked against ``settings.data_sha256``: a local file is the operator's choice, and
a new file simply trains a model with a new data hash.
"""

import hashlib
import io
import logging
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from trainer.errors import DataError, DataIntegrityError
from trainer.settings import TrainerSettings

log = logging.getLogger(__name__)

RAW_PREFIX = "data/raw"
DOWNLOAD_TIMEOUT_S = 60.0
_ALLOWED_SCHEMES = ("http", "https", "file")
# Read as text: cleaning parses them (ranges, units, "2 BHK").
_TEXT_COLUMNS = {"location": "string", "size": "string", "total_sqft": "string"}


@dataclass(frozen=True)
class RawData:
    """The bytes of the data set, where they came from, and their sha256."""

    path: Path
    sha256: str
    content: bytes
    downloaded: bool

    def frame(self) -> pd.DataFrame:
        """The CSV as a DataFrame; the columns cleaning parses are read as text."""
        return pd.read_csv(io.BytesIO(self.content), dtype=_TEXT_COLUMNS)


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def load_raw(settings: TrainerSettings) -> RawData:
    """The data set at ``settings.data_path``, or a checked download when it is missing.

    The download goes to ``<state_dir>/data/<name>`` and is reused when its hash matches.

    Raises:
        DataIntegrityError: the downloaded file's sha256 is not ``settings.data_sha256``.
        DataError: the file cannot be read or downloaded.
    """
    if settings.data_path.is_file():
        content = _read(settings.data_path)
        return RawData(settings.data_path, sha256_of(content), content, downloaded=False)
    target = settings.state_dir / "data" / settings.data_path.name
    if target.is_file():
        content = _read(target)
        if sha256_of(content) == settings.data_sha256:
            return RawData(target, settings.data_sha256, content, downloaded=False)
    log.info("%s is missing; downloading %s", settings.data_path, settings.data_url)
    download(settings.data_url, target, expected_sha256=settings.data_sha256)
    content = _read(target)
    return RawData(target, sha256_of(content), content, downloaded=True)


def download(
    url: str, target: Path, *, expected_sha256: str, timeout_s: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """Fetch ``url`` into ``target`` only if its sha256 is ``expected_sha256``.

    The bytes go to a ``.part`` file first, so a failed or refused download never
    leaves a file at ``target``.

    Raises:
        DataIntegrityError: the content's sha256 differs; nothing is kept.
        DataError: the URL's scheme is not http(s)/file, or the fetch failed.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _ALLOWED_SCHEMES:
        raise DataError(f"data_url {url!r}: scheme {scheme!r} is not one of {_ALLOWED_SCHEMES}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - checked
            content: bytes = response.read()
    except OSError as error:
        raise DataError(f"could not download the data set from {url}: {error}") from error
    actual = sha256_of(content)
    if actual != expected_sha256:
        raise DataIntegrityError(
            f"the data set downloaded from {url} has sha256 {actual}, expected "
            f"{expected_sha256} (SPLITSTREAM_DATA_SHA256); refusing to use it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(content)
    partial.replace(target)
    return target


def raw_key(sha256: str) -> str:
    return f"{RAW_PREFIX}/{sha256}.csv"


def store_raw(s3: Any, bucket: str, raw: RawData) -> tuple[str, bool]:
    """Keep the raw file in S3 under ``data/raw/<sha256>.csv``, written once.

    Returns:
        The key, and True when this call wrote it (False: it was already there).
    """
    key = raw_key(raw.sha256)
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=raw.content, ContentType="text/csv", IfNoneMatch="*"
        )
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (409, 412):
            return key, False
        raise DataError(f"could not store the data set in s3://{bucket}/{key}: {error}") from error
    return key, True


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(f"could not read the data set {path}: {error}") from error
