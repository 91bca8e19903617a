"""Publishing: the immutable version in S3, its slot (a conditional write), the event.

The first model ever (no routing object yet) goes to the best slot; after that a new
model is the candidate, unless the caller asks for ``best``. During the watch after a
promotion the candidate slot holds the previous best, so a new candidate is not placed:
it is ``queued``, and the promoter moves it into the candidate slot when the watch ends
(a new candidate never ends a watch). Versions are named
``m-<UTC time>-<8 hex of the pickled model's sha256>``.
"""

import hashlib
import logging
import pickle
from datetime import datetime
from typing import Any, Literal

from plumbing.errors import SlotConflictError
from plumbing.kafka import producer
from plumbing.model_store import MANIFEST_FILE, MODELS_PREFIX, Slots, SlotStore, SlotsVersion
from schemas.model_events import ModelCandidatePublished
from trainer.errors import PublishError
from trainer.selection import SCORING, CandidateResult
from trainer.settings import TrainerSettings

log = logging.getLogger(__name__)

TargetSlot = Literal["auto", "best", "candidate"]
Slot = Literal["best", "candidate", "queued"]
TARGET_SLOTS: tuple[TargetSlot, ...] = ("auto", "best", "candidate")
#: Tries at the conditional slot write before giving up (each one re-reads the slots).
MAX_SLOT_ATTEMPTS = 5
SEND_TIMEOUT_S = 10.0


def model_sha256(estimator: Any) -> str:
    """sha256 of the pickled estimator (the same pickling as ``ModelStore.publish``)."""
    return hashlib.sha256(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def version_id(model_sha: str, now: datetime) -> str:
    """``m-20261127T021158Z-1a2b3c4d``: the UTC time, then 8 hex of the model's sha256."""
    return f"m-{now:%Y%m%dT%H%M%SZ}-{model_sha[:8]}"


def utc_iso(now: datetime) -> str:
    """``2026-11-27T02:11:58.123Z``: UTC, milliseconds, ``Z``."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def build_manifest(
    *,
    run_id: str,
    registered_version: str,
    winner: CandidateResult,
    data_sha256: str,
    created_at: datetime,
    feature_domain: dict[str, Any],
    training_distribution: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of a new version (``ModelStore.publish`` adds ``version`` and ``files``)."""
    return {
        "mlflow_run_id": run_id,
        "mlflow_registered_version": registered_version,
        "algorithm": winner.algorithm,
        "params": winner.params,
        "metrics": {**winner.test.as_dict(), "cv_score": winner.cv_score},
        "cv_scoring": SCORING,
        "training_data_sha256": data_sha256,
        "created_at": utc_iso(created_at),
        "feature_domain": feature_domain,
        "training_distribution": training_distribution,
        **extra,
    }


def resolve_slot(current: Slots | None, target: TargetSlot) -> Slot:
    """Which slot a new model goes to, given the current routing object.

    ``auto``: best when no model was ever published (no object, or no best), else
    candidate. ``best`` and ``candidate`` force the slot. During a watch a candidate is
    ``queued``.

    Raises:
        PublishError: ``candidate`` was asked for, but there is no best model yet; or
            ``best`` during a watch (it would turn the held-back version into a candidate).
    """
    first = current is None or current.best is None
    watching = current is not None and current.holdback is not None
    if target == "best" and current is not None and current.holdback is not None:
        raise PublishError(
            f"a watch is running ({current.holdback} is held back beside {current.best}); "
            "replace the best model once it has ended, or roll back"
        )
    if target == "auto":
        target = "best" if first else "candidate"
    if target == "candidate" and first:
        raise PublishError("there is no best model yet; publish the first model to best")
    return "queued" if target == "candidate" and watching else target


def next_slots(current: Slots, version: str, slot: Literal["best", "candidate"]) -> Slots:
    """The routing object with ``version`` in ``slot`` (a new best demotes the old one)."""
    if slot == "best":
        return current.next(best=version, previous_best=current.best)
    return current.next(candidate=version)


def place_in_slot(slots: SlotStore, version: str, target: TargetSlot) -> tuple[Slot, SlotsVersion]:
    """Put ``version`` in its slot with one conditional write; re-read and retry on a race.

    A queued candidate is not written anywhere: the promoter takes it from the event.

    Raises:
        PublishError: every attempt lost the race, or the target slot is not allowed.
    """
    for attempt in range(1, MAX_SLOT_ATTEMPTS + 1):
        current = slots.read()
        slot = resolve_slot(current.slots if current else None, target)
        if slot == "queued":
            assert current is not None  # resolve_slot queues only during a watch
            return slot, current
        try:
            if current is None:
                return slot, slots.create(Slots(best=version))
            return slot, slots.swap(current, next_slots(current.slots, version, slot))
        except SlotConflictError:
            log.warning("slots changed while publishing %s (attempt %d)", version, attempt)
    raise PublishError(
        f"model {version} is stored, but the slot write lost {MAX_SLOT_ATTEMPTS} races in a row"
    )


def manifest_sha256(s3: Any, bucket: str, version: str) -> str:
    """sha256 of ``manifest.json`` as stored: the bytes a predictor reads."""
    body = s3.get_object(Bucket=bucket, Key=f"{MODELS_PREFIX}/{version}/{MANIFEST_FILE}")
    return hashlib.sha256(body["Body"].read()).hexdigest()


def candidate_published_event(
    *,
    version: str,
    slot: Slot,
    run_id: str,
    manifest_sha: str,
    metrics: dict[str, float],
    training_distribution: dict[str, Any],
) -> dict[str, Any]:
    """The ``model.candidate_published`` event, validated by its pydantic model.

    It carries the manifest's ``training_distribution`` too, so the drift view can read
    it from ClickHouse (``model_events.payload``) without reaching S3.
    """
    event = ModelCandidatePublished.create(
        model_version=version,
        slot=slot,
        mlflow_run_id=run_id,
        manifest_sha256=manifest_sha,
        metrics=metrics,
        training_distribution=training_distribution,
    )
    return event.model_dump(mode="json")


def emit(settings: TrainerSettings, event: dict[str, Any]) -> None:
    """Send ``event`` to the model events topic, keyed by model version; wait for the ack."""
    topic = settings.topic("model_events").name
    kafka = producer(settings.with_default_kafka_role("trainer"))
    try:
        kafka.send(topic, key=event["model_version"], value=event).get(timeout=SEND_TIMEOUT_S)
        kafka.flush(timeout=SEND_TIMEOUT_S)
    finally:
        kafka.close(timeout=SEND_TIMEOUT_S)
