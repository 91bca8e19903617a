"""`make demo` as a user runs it: everything starts, the README's curl gets a price, all stops.

The demo runs against the session's Kafka, S3 and MLflow, given by URL as a user with
existing services would, in its own bucket and topic prefix. That skips three JVM and
server starts; `test_stack_lifecycle` covers the stack starting and stopping itself.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from plumbing.settings import DEFAULT_STATE_DIR, Settings
from stack.supervisor import free_port, port_is_free


def _demo_env(stack: Settings, state_dir: Path) -> dict[str, str]:
    assert stack.s3_access_key is not None and stack.s3_secret_key is not None
    assert stack.admin_token is not None
    suffix = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITSTREAM_")}
    return {
        **env,
        "SPLITSTREAM_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "SPLITSTREAM_S3_ENDPOINT_URL": stack.s3_endpoint,
        "SPLITSTREAM_S3_ACCESS_KEY": stack.s3_access_key.get_secret_value(),
        "SPLITSTREAM_S3_SECRET_KEY": stack.s3_secret_key.get_secret_value(),
        "SPLITSTREAM_ADMIN_TOKEN": stack.admin_token.get_secret_value(),
        "SPLITSTREAM_MLFLOW_TRACKING_URI": stack.mlflow_uri,
        "SPLITSTREAM_S3_BUCKET": f"demo-{suffix}",
        "SPLITSTREAM_TOPIC_PREFIX": f"demo-{suffix}.",
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_LIB_DIR": str(DEFAULT_STATE_DIR / "lib"),
        "EXIT": "1",
    }


def test_demo_serves_the_readme_request_and_stops_everything(stack: Settings) -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-demo-"))
    env = _demo_env(stack, state_dir)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        print(done.stdout[-3000:])
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        readme_row = next(line for line in done.stdout.splitlines() if "README curl" in line)
        assert "ok" in readme_row and "lakhs" in readme_row
        gateway_port = int(env["SPLITSTREAM_GATEWAY_PORT"])
        assert port_is_free(gateway_port)
        assert not list((state_dir / "run").glob("*.json"))
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
