"""The training pipeline: data, cleaning, split, model choice, gate, MLflow, publish.

``train_and_publish`` is the one entry point (the CLI, the scheduler, the demo and the
tests call it). Each stage reports itself through ``on_step`` for a progress display,
and is timed; a failure names its stage.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from plumbing.model_store import ModelStore, SlotStore, SlotsVersion
from plumbing.s3 import s3_client
from schemas.errors import SplitstreamError
from trainer import tracking
from trainer.cleaning import clean
from trainer.data import load_raw, store_raw
from trainer.dataset import feature_domain, split_dataset, training_distribution
from trainer.domain_grid import LowestPrice, lowest_price
from trainer.errors import TrainerError
from trainer.gate import GateDecision, decide, same_model, slot_model
from trainer.publish import (
    TARGET_SLOTS,
    Slot,
    TargetSlot,
    build_manifest,
    candidate_published_event,
    emit,
    manifest_sha256,
    model_sha256,
    place_in_slot,
    resolve_slot,
    version_id,
)
from trainer.selection import Selection, resolve, select_model
from trainer.settings import TrainerSettings
from trainer.signing import manifest_signer

StepHook = Callable[[str], None]

#: The stages besides the per-algorithm searches, in order (one progress step each).
STAGES = ("load data", "clean", "split", "gate", "track in MLflow", "publish")


@dataclass(frozen=True)
class TrainResult:
    """What one training did: the chosen model, the gate's verdict, and where it went."""

    published: bool
    gate: GateDecision
    selection: Selection
    metrics: dict[str, float]
    mlflow_run_id: str
    data_sha256: str
    raw_data_key: str
    rows: int
    locations: int
    model_locations: int
    best_version: str | None
    best_mae: float | None
    lowest_price: LowestPrice | None = None
    version: str | None = None
    slot: Slot | None = None
    registered_version: str | None = None
    manifest_sha256: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def algorithm(self) -> str:
        return self.selection.winner.algorithm

    @property
    def params(self) -> dict[str, Any]:
        return self.selection.winner.params

    @property
    def exit_code(self) -> int:
        """0 published (or queued behind a watch), 3 refused by the R² floor, 4 refused as a
        regression vs best, 8 unchanged (the model is already in a slot), 9 refused for a
        price <= 0 on the domain grid."""
        return self.gate.exit_code


def planned_steps(algorithms: Sequence[str] | None = None) -> int:
    """How many times ``train_and_publish`` calls ``on_step`` (when it publishes)."""
    return len(STAGES) + len(resolve(algorithms))


def train_and_publish(
    settings: TrainerSettings,
    *,
    target_slot: TargetSlot = "auto",
    algorithms: Sequence[str] | None = None,
    on_step: StepHook | None = None,
) -> TrainResult:
    """Train on the configured data, and publish the winner if it passes the gate.

    Args:
        settings: everything configurable (data, split, seed, gate, S3, MLflow, Kafka).
        target_slot: ``auto`` (best for the very first model, else candidate), or force
            ``best`` or ``candidate``.
        algorithms: keys of ``trainer.selection.ALGORITHMS`` to search; None is the full
            default set. ``("weak",)`` trains a deliberately weak depth-3 tree.
        on_step: called with each stage's name as it starts (progress display).

    Returns:
        The result; ``published`` is False when the gate refused (see ``exit_code``).

    Raises:
        SplitstreamError: a stage failed; the message names it.
    """
    if target_slot not in TARGET_SLOTS:
        raise TrainerError(f"target_slot {target_slot!r} is not one of {TARGET_SLOTS}")
    keys = resolve(algorithms)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    step = on_step or (lambda _name: None)
    s3 = s3_client(settings)
    slots = SlotStore(s3, settings.s3_bucket)
    store = ModelStore(
        s3,
        settings.s3_bucket,
        verify_key=settings.model_verify_key,
        signer=manifest_signer(settings),
    )

    with _stage("load data", step, timings):
        raw = load_raw(settings)
        raw_key, _ = store_raw(s3, settings.s3_bucket, raw)
    with _stage("clean", step, timings):
        cleaned = clean(raw.frame())
    with _stage("split", step, timings):
        split = split_dataset(cleaned, test_size=settings.train_test_size, seed=settings.train_seed)
    with _stage("model selection", lambda _name: None, timings):
        selection = select_model(
            split,
            seed=settings.train_seed,
            algorithms=keys,
            on_candidate=lambda key: step(f"search {key}"),
        )
    winner = selection.winner
    with _stage("gate", step, timings):
        current = slots.read()
        resolve_slot(current.slots if current else None, target_slot)  # refuse early
        in_slots = [
            slot_model(store, name, version, split.rows_test)
            for name, version in _slot_versions(current)
        ]
        best = next((m for m in in_slots if m.slot == "best"), None)
        best_version = best.version if best else None
        best_mae = best.mae(split.y_test) if best else None
        domain = feature_domain(cleaned)
        lowest = lowest_price(winner.estimator, domain, split.columns)
        duplicate = same_model(
            winner.estimator.predict(split.x_test), model_sha256(winner.estimator), in_slots
        )
        gate = decide(
            test_r2=winner.test.r2,
            test_mae=winner.test.mae,
            best_mae=best_mae,
            best_version=best_version,
            r2_floor=settings.train_r2_floor,
            max_mae_regression=settings.train_max_mae_regression,
            lowest=lowest,
            duplicate=duplicate,
            test_rows=len(split.rows_test),
        )
    context = {
        "rows_cleaned": len(cleaned.frame),
        "rows_train": len(split.rows_train),
        "rows_test": len(split.rows_test),
        "locations": len(cleaned.locations),
        "model_locations": len(cleaned.model_locations),
    }
    with _stage("track in MLflow", step, timings):
        tracking.configure(settings)
        run = tracking.log_training(
            selection=selection,
            split=split,
            data_sha256=raw.sha256,
            settings=settings,
            context=context,
            gate=gate,
        )
    result = TrainResult(
        published=False,
        gate=gate,
        selection=selection,
        metrics={**winner.test.as_dict(), "cv_score": winner.cv_score},
        mlflow_run_id=run.run_id,
        data_sha256=raw.sha256,
        raw_data_key=raw_key,
        rows=len(cleaned.frame),
        locations=len(cleaned.locations),
        model_locations=len(cleaned.model_locations),
        best_version=best_version,
        best_mae=best_mae,
        lowest_price=lowest,
        timings_s=timings,
    )
    if not gate.passed:
        timings["total"] = time.perf_counter() - started
        return result

    with _stage("publish", step, timings):
        registered = tracking.register(settings, run)
        now = datetime.now(UTC)
        version = version_id(model_sha256(winner.estimator), now)
        distribution = training_distribution(split.rows_train)
        manifest = build_manifest(
            run_id=run.run_id,
            registered_version=registered,
            winner=winner,
            data_sha256=raw.sha256,
            created_at=now,
            feature_domain=domain,
            training_distribution=distribution,
            extra={"registered_model_name": settings.registered_model_name, "rows": context},
        )
        store.publish(version, estimator=winner.estimator, columns=split.columns, manifest=manifest)
        slot, _ = place_in_slot(slots, version, target_slot)
        tracking.mark_published(
            settings, run, registered_version=registered, version=version, slot=slot
        )
        manifest_sha = manifest_sha256(s3, settings.s3_bucket, version)
        emit(
            settings,
            candidate_published_event(
                version=version,
                slot=slot,
                run_id=run.run_id,
                manifest_sha=manifest_sha,
                metrics=result.metrics,
                training_distribution=distribution,
            ),
        )
    timings["total"] = time.perf_counter() - started
    return replace(
        result,
        published=True,
        version=version,
        slot=slot,
        registered_version=registered,
        manifest_sha256=manifest_sha,
    )


def _slot_versions(current: SlotsVersion | None) -> list[tuple[str, str]]:
    """The versions in the best and candidate slots (the candidate may be a holdback)."""
    if current is None:
        return []
    named = (("best", current.slots.best), ("candidate", current.slots.candidate))
    return [(slot, version) for slot, version in named if version is not None]


@contextmanager
def _stage(name: str, step: StepHook, timings: dict[str, float]) -> Iterator[None]:
    """Report and time one stage; an unexpected error becomes a TrainerError naming it."""
    step(name)
    started = time.perf_counter()
    try:
        yield
    except SplitstreamError:
        raise
    except Exception as error:
        raise TrainerError(f"{name} failed: {type(error).__name__}: {error}") from error
    finally:
        timings[name] = time.perf_counter() - started
