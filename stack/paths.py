"""Where the local stack keeps each service's data, logs and pid files."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackPaths:
    """Where each service keeps its data, logs and pid files."""

    state_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def s3_dir(self) -> Path:
        return self.state_dir / "s3"

    @property
    def mlflow_dir(self) -> Path:
        return self.state_dir / "mlflow"
