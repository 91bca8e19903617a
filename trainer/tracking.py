"""MLflow: one parent run per training, a nested run per algorithm, the registry and aliases.

The registry mirrors the store's slots: alias ``champion`` is the best slot's model,
``challenger`` the candidate's. Only a model that passed the gate is registered; every
run is logged, refused or not, with the gate's verdict as tags.
"""

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from trainer.dataset import Split
from trainer.gate import GateDecision
from trainer.selection import SCORING, CandidateResult, Selection
from trainer.settings import TrainerSettings

ALIAS_BY_SLOT = {"best": "champion", "candidate": "challenger"}
INPUT_EXAMPLE_ROWS = 5
#: Types skops may load besides its defaults: the Cython tree behind every tree and forest.
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]
TAG_GATE = "splitstream.gate"
TAG_GATE_REASON = "splitstream.gate_reason"
TAG_VERSION = "splitstream.model_version"
TAG_SLOT = "splitstream.slot"


@dataclass(frozen=True)
class TrackedRun:
    """The parent run and the URI of the model logged in it."""

    run_id: str
    model_uri: str


def configure(settings: TrainerSettings) -> None:
    """Point MLflow at ``settings.mlflow_uri`` and the experiment, and keep it quiet.

    Unless already set: ``MLFLOW_UV_AUTO_DETECT=false`` skips MLflow's slow ``uv export``
    of the project's requirements (``log_model`` gets them explicitly anyway), and
    ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true`` stops a "View run" line per run.
    """
    os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # "Failed to resolve installed pip version": the venv is built by uv, without pip.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_experiment(settings.registered_model_name)


def log_training(
    *,
    selection: Selection,
    split: Split,
    data_sha256: str,
    settings: TrainerSettings,
    context: dict[str, Any],
    gate: GateDecision,
) -> TrackedRun:
    """Log the parent run (winner, data hash, gate), one nested run per algorithm, the model.

    Args:
        context: more parameters for the parent run (rows, cleaning counts, ...).
    """
    winner = selection.winner
    with mlflow.start_run(run_name=f"train-{winner.algorithm}") as parent:
        mlflow.log_params(
            {
                "training_data_sha256": data_sha256,
                "algorithm": winner.algorithm,
                "cv_scoring": SCORING,
                "test_size": settings.train_test_size,
                "seed": settings.train_seed,
                "algorithms": ",".join(c.algorithm for c in selection.candidates),
                **{f"winner.{k}": v for k, v in winner.params.items()},
                **context,
            }
        )
        mlflow.log_metrics({"cv_score": winner.cv_score, **winner.test.as_dict()})
        mlflow.set_tags({TAG_GATE: "passed" if gate.passed else "refused"})
        mlflow.set_tag(TAG_GATE_REASON, gate.reason)
        for candidate in selection.candidates:
            _log_candidate(candidate, data_sha256)
        logged = _log_model(winner, split)
    return TrackedRun(parent.info.run_id, logged.model_uri)


def _log_candidate(candidate: CandidateResult, data_sha256: str) -> None:
    with mlflow.start_run(run_name=candidate.algorithm, nested=True):
        mlflow.log_params(
            {"algorithm": candidate.algorithm, "training_data_sha256": data_sha256}
            | candidate.params
        )
        mlflow.log_metrics(
            {"cv_score": candidate.cv_score, "search_s": candidate.search_s}
            | candidate.test.as_dict()
        )
        mlflow.log_dict({"scoring": SCORING, "grid": candidate.cv_table}, "cv_results.json")


def _log_model(winner: CandidateResult, split: Split) -> Any:
    example = pd.DataFrame(split.x_train[:INPUT_EXAMPLE_ROWS], columns=split.columns)
    signature = infer_signature(example, winner.estimator.predict(example.to_numpy()))
    with warnings.catch_warnings():
        # The model was fitted on arrays; MLflow predicts on the named example.
        warnings.filterwarnings("ignore", message="X has feature names", category=UserWarning)
        # MLflow's own pandas use (mlflow/models/utils.py), not ours.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        return mlflow.sklearn.log_model(
            winner.estimator,
            name="model",
            signature=signature,
            input_example=example,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
        )


def register(settings: TrainerSettings, run: TrackedRun) -> str:
    """Register the run's model under ``settings.registered_model_name``; its version number."""
    # register_model prints "Created version ..." to stderr, over the progress display.
    with contextlib.redirect_stderr(io.StringIO()):
        version = mlflow.register_model(run.model_uri, settings.registered_model_name)
    return str(version.version)


def mark_published(
    settings: TrainerSettings, run: TrackedRun, *, registered_version: str, version: str, slot: str
) -> None:
    """Tag the run and registry version with the store version; move the slot's alias to it.

    A candidate queued behind a watch gets no alias here: the promoter mirrors the aliases
    when it moves the candidate into its slot (promoter/registry.py).
    """
    client = MlflowClient(settings.mlflow_uri)
    name = settings.registered_model_name
    client.set_tag(run.run_id, TAG_VERSION, version)
    client.set_tag(run.run_id, TAG_SLOT, slot)
    client.set_model_version_tag(name, registered_version, TAG_VERSION, version)
    if slot in ALIAS_BY_SLOT:  # a queued candidate gets its alias when it takes the slot
        client.set_registered_model_alias(name, ALIAS_BY_SLOT[slot], registered_version)
