"""`make demo` as a user runs it: everything starts, the README's curl gets a price, all stops."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from plumbing.settings import DEFAULT_STATE_DIR
from stack.supervisor import free_port, port_is_free


def _demo_env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLITSTREAM_")}
    ports = {
        "SPLITSTREAM_KAFKA_PORT": free_port(),
        "SPLITSTREAM_KAFKA_CONTROLLER_PORT": free_port(),
        "SPLITSTREAM_S3_PORT": free_port(),
        "SPLITSTREAM_MLFLOW_PORT": free_port(),
        "SPLITSTREAM_GATEWAY_PORT": free_port(),
    }
    return {
        **env,
        **{k: str(v) for k, v in ports.items()},
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_LIB_DIR": str(DEFAULT_STATE_DIR / "lib"),
        "EXIT": "1",
    }


def test_demo_serves_the_readme_request_and_stops_everything() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-demo-"))
    env = _demo_env(state_dir)
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
