"""The local S3 server: s3proxy (Apache-2.0) on its filesystem backend.

Why s3proxy: objects live as plain files under a data folder (they survive a
restart), PutObject honours ``If-None-Match: *`` and ``If-Match: <etag>``
with 412 PreconditionFailed (the model registry's compare-and-swap needs
both), and it comes from Maven Central as jars, so no Docker and no binary
download. MinIO is AGPL and out.

Limits of the filesystem backend, by design of a file tree: a key cannot
also be a "folder" of another key (``a`` and ``a/b`` cannot coexist: the
second write gets 500 InternalError), and a body sent with Content-Type
``application/x-www-form-urlencoded`` is eaten by Jetty's form parsing
(signature mismatch). Objects need user xattrs on the data folder's
filesystem (ext4, xfs, btrfs, tmpfs on Linux 6.6+).

This module only installs, configures and probes the server; starting and
stopping the process is the supervisor's job.
"""

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from stack import maven, state_dirs

MAIN_CLASS = "org.gaul.s3proxy.Main"
POM = Path(__file__).resolve().parent / "s3" / "pom.xml"


def install(lib_dir: Path, *, pom: Path | None = None) -> None:
    """Copy s3proxy and its runtime jars into ``lib_dir`` unless already there."""
    pom = pom or POM
    version = maven.pom_property(pom, "s3proxy.version")
    maven.install_jars(
        service="s3", pom=pom, lib_dir=lib_dir, expected_jar=f"s3proxy-{version}.jar"
    )


def render_properties(
    *, data_dir: Path, port: int, access_key: str, secret_key: str, host: str = "127.0.0.1"
) -> str:
    """The s3proxy properties file: one identity, path-style, files under ``data_dir``.

    ``aws-v2-or-v4`` accepts whatever signature a client sends (boto3 signs
    v4, some older tools v2). The same keys are given to the backend only
    because s3proxy insists on ``jclouds.identity``/``credential``; the
    filesystem backend ignores them. No ``s3proxy.virtual-host`` is set, so
    clients must use path-style addressing (see ``plumbing.s3.s3_client``).

    Creates ``data_dir``: s3proxy exits at start with NoSuchFileException
    when its base folder is missing, and this is the one place that knows it.
    """
    state_dirs.make_private(data_dir)
    values = {
        "s3proxy.endpoint": f"http://{host}:{port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": access_key,
        "s3proxy.credential": secret_key,
        "jclouds.provider": "filesystem-nio2",
        "jclouds.identity": access_key,
        "jclouds.credential": secret_key,
        "jclouds.filesystem.basedir": str(data_dir.resolve()),
    }
    return "".join(f"{key}={_escape(value)}\n" for key, value in values.items())


def _escape(value: str) -> str:
    """Escape for java.util.Properties, which treats backslash as an escape."""
    if any(ch in value for ch in "\r\n"):
        raise ValueError("s3: property values may not contain line breaks")
    return value.replace("\\", "\\\\")


def server_command(
    *, lib_dir: Path, properties_file: Path, heap_mb: int = 256, log_level: str = "info"
) -> list[str]:
    """The foreground command of the server.

    s3proxy's Main routes ``System.err`` into its logger, so the simple
    logger must write to stdout or it recurses until StackOverflowError.
    Serial GC keeps the resident size low on a two-core machine.
    """
    return [
        maven.java_executable(),
        f"-Xmx{heap_mb}m",
        "-XX:+UseSerialGC",
        "-Dorg.slf4j.simpleLogger.logFile=System.out",
        f"-Dorg.slf4j.simpleLogger.defaultLogLevel={log_level}",
        "-cp",
        f"{lib_dir.resolve()}/*",
        MAIN_CLASS,
        "--properties",
        str(properties_file.resolve()),
    ]


def is_ready(endpoint_url: str, timeout_s: float = 2.0) -> bool:
    """True once anything answers HTTP at ``endpoint_url``, whatever the status.

    An unsigned request gets 403 AccessDenied from s3proxy, which still
    proves Jetty is serving. Proxy variables are bypassed: the server is
    local and a configured HTTP proxy would answer in its place.
    """
    if not endpoint_url.startswith(("http://", "https://")):
        raise ValueError(f"s3: not an http(s) URL: {endpoint_url}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(endpoint_url, timeout=timeout_s):
            return True
    except urllib.error.HTTPError as error:
        error.close()
        return True
    except (urllib.error.URLError, OSError):
        return False


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` with the boto3 ``client`` unless it exists; safe on every start."""
    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
