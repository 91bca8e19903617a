"""The MLflow tracking server: SQLite in the state folder, artifacts in S3.

The server proxies artifacts (``--serve-artifacts``), so clients only need
its URL, never the S3 keys.
"""

import sys
import urllib.error
import urllib.request
from pathlib import Path


def server_command(*, host: str, port: int, db_file: Path, artifacts_destination: str) -> list[str]:
    """The command line of a one-worker tracking server."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{db_file.resolve()}",
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts_destination,
    ]


def server_env(
    *, s3_endpoint: str, access_key: str, secret_key: str, region: str
) -> dict[str, str]:
    """What the server's boto3 needs to reach the S3 server."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": region,
        # Newer boto3 adds CRC checksums that S3 clones may not know.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        # MLflow 3 starts a job runner and seven huey consumers for GenAI jobs by default;
        # Splitstream runs none, and they polled at ~15% of a core with nothing to do.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def is_ready(tracking_uri: str, timeout_s: float = 2.0) -> bool:
    if not tracking_uri.startswith(("http://", "https://")):
        raise ValueError(f"mlflow: not an http(s) URL: {tracking_uri}")
    try:
        url = f"{tracking_uri}/health"
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
