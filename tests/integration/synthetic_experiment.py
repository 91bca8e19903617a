"""Helpers for the views' tests: a synthetic A/B experiment as events, and its numbers in Python.

``build_world`` makes the events the services would produce (through the pydantic models):
prod and candidate traffic with error replies, timeouts, pending requests, second replies,
re-delivered copies, corrected feedback, shadow scoring, a prod-only experiment and the
trainer's training distributions. ``load_world`` writes them to a ClickHouse the way the
sink lays them out; the ``expected_*`` functions compute every view's numbers from the same
events with pandas and numpy, independently of the SQL.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from plumbing.clickhouse import ClickHouse
from pricing.features import FeatureRow
from schemas.columns import event_body, flatten_event
from schemas.model_events import ModelCandidatePublished, ModelReload
from schemas.serving_events import Feedback, PredictReply, PredictRequest
from trainer.dataset import training_distribution

PROD_VERSION = "m-20261127T000000Z-aaaaaaaa"
CANDIDATE_VERSION = "m-20261127T010000Z-bbbbbbbb"
EXPERIMENT = f"exp-test:{CANDIDATE_VERSION}"
PROD_ONLY = "exp-test:prod-only"
CANDIDATE_SHARE = 0.2
LOCATIONS = [f"place {i:02d}" for i in range(30)]
FEATURES = ("total_sqft", "bath", "bhk", "location")


@dataclass
class World:
    """Every event of the synthetic experiment, duplicates included, in insertion batches."""

    now: datetime
    requests: list[PredictRequest] = field(default_factory=list)
    replies: list[PredictReply] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    model_events: list[BaseModel] = field(default_factory=list)
    redelivered_requests: list[PredictRequest] = field(default_factory=list)
    redelivered_replies: list[PredictReply] = field(default_factory=list)
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _features(rng: random.Random, shift: float) -> FeatureRow:
    location = LOCATIONS[min(int(rng.expovariate(0.15 + shift)), len(LOCATIONS) - 1)]
    bhk = rng.randint(1, 4) + (1 if rng.random() < shift else 0)
    return FeatureRow(
        location=location,
        total_sqft=round(rng.lognormvariate(7.0 + shift, 0.35), 1),
        bath=max(1, bhk + rng.choice((-1, 0, 0, 1))),
        bhk=bhk,
    )


def _request(
    rng: random.Random, *, at: datetime, experiment: str, variant: str, deadline_s: float = 2.0
) -> PredictRequest:
    row = _features(rng, shift=0.3 if variant == "candidate" else 0.0)
    return PredictRequest.create(
        occurred_at=at,
        request_id=str(uuid.uuid4()),
        experiment_id=experiment,
        variant=variant,
        assignment="hashed",
        split_key=f"user-{rng.randint(1, 10_000)}",
        slot=variant,
        shadow=False,
        source="http",
        features=row._asdict(),
        reply_to={"topic": "predict.replies", "partition": 0},
        deadline_at=at + timedelta(seconds=deadline_s),
    )


def _shadow_of(request: PredictRequest) -> PredictRequest:
    return PredictRequest.create(
        **{
            **request.model_dump(exclude={"event_id"}),
            "slot": "candidate",
            "shadow": True,
            "occurred_at": request.occurred_at + timedelta(milliseconds=1),
        }
    )


def _reply(
    request: PredictRequest,
    *,
    at: datetime,
    version: str,
    price: float | None,
) -> PredictReply:
    ok = price is not None
    return PredictReply.create(
        occurred_at=at,
        request_id=request.request_id,
        experiment_id=request.experiment_id,
        variant=request.variant,
        slot=request.slot,
        shadow=request.shadow,
        model_version=version,
        status="ok" if ok else "error",
        price_lakhs=price,
        error=None if ok else {"code": "predict_failed", "message": "boom", "field": None},
        predictor_id=f"{request.slot}-1",
        timings={"queued_ms": 1.0, "predict_ms": round(at.microsecond / 1e6, 3), "batch_size": 1},
    )


def _feedback(request: PredictRequest, *, at: datetime, price: float | None) -> Feedback:
    return Feedback.create(
        occurred_at=at,
        request_id=request.request_id,
        actual_price_lakhs=price,
        source="http",
        feedback_type="actual_price" if price is not None else "accurate",
        note=None,
    )


def _published(version: str, rows: list[FeatureRow], at: datetime) -> ModelCandidatePublished:
    return ModelCandidatePublished.create(
        occurred_at=at,
        model_version=version,
        slot="candidate",
        mlflow_run_id=uuid.uuid4().hex,
        manifest_sha256="c" * 64,
        metrics={"test_mae": 20.0},
        training_distribution=training_distribution(rows),
    )


def _serve(world: World, rng: random.Random, request: PredictRequest, version: str) -> None:
    """Reply (ok, error, a second reply, or none) and maybe feedback, for one served request."""
    world.requests.append(request)
    true_price = round(rng.uniform(30, 200), 2)
    bias = 1.0 if request.variant == "prod" else 0.8
    latency = timedelta(milliseconds=rng.randint(5, 400))
    outcome = rng.random()
    if outcome < 0.07:
        return  # no reply: the deadline passed, a timeout
    price = None if outcome < 0.15 else round(true_price + bias * rng.gauss(0, 25), 2)
    reply = _reply(request, at=request.occurred_at + latency, version=version, price=price)
    world.replies.append(reply)
    if outcome > 0.95:  # a second reply later (a re-delivered request): the first one counts
        later = request.occurred_at + latency + timedelta(milliseconds=50)
        world.replies.append(_reply(request, at=later, version=version, price=1.0))
    if rng.random() < 0.6:
        first = request.occurred_at + timedelta(minutes=1)
        world.feedback.append(_feedback(request, at=first, price=true_price * 1.3))
        world.feedback.append(_feedback(request, at=first + timedelta(minutes=1), price=true_price))
    elif rng.random() < 0.2:
        world.feedback.append(_feedback(request, at=request.occurred_at, price=None))
    if request.variant == "prod" and request.experiment_id == EXPERIMENT and rng.random() < 0.4:
        shadow = _shadow_of(request)
        world.requests.append(shadow)
        shadow_price = None if rng.random() < 0.1 else round(true_price + rng.gauss(0, 15), 2)
        world.replies.append(
            _reply(
                shadow,
                at=shadow.occurred_at + latency,
                version=CANDIDATE_VERSION,
                price=shadow_price,
            )
        )


def build_world(seed: int = 7) -> World:
    """A three-hour experiment (about 260 served requests), a prod-only one, and the models."""
    rng = random.Random(seed)
    now = _ms(datetime.now(UTC))
    world = World(now=now)
    for version, shift in ((PROD_VERSION, 0.0), (CANDIDATE_VERSION, 0.15)):
        rows = [_features(rng, shift) for _ in range(400)]
        event = _published(version, rows, now - timedelta(hours=5))
        world.model_events.append(event)
        world.distributions[version] = event.training_distribution.model_dump()
    world.model_events.append(
        ModelReload.create(
            generation=2, best=PROD_VERSION, candidate=CANDIDATE_VERSION, reason="publish"
        )
    )
    start = now - timedelta(hours=3)
    for _ in range(260):
        at = _ms(start + timedelta(seconds=rng.uniform(0, 3 * 3600 - 600)))
        variant = "candidate" if rng.random() < 0.28 else "prod"
        version = CANDIDATE_VERSION if variant == "candidate" else PROD_VERSION
        _serve(world, rng, _request(rng, at=at, experiment=EXPERIMENT, variant=variant), version)
    for variant in ("prod", "candidate", "prod"):  # pending: the deadline has not passed yet
        world.requests.append(
            _request(rng, at=now, experiment=EXPERIMENT, variant=variant, deadline_s=600)
        )
    for _ in range(12):
        at = _ms(start + timedelta(seconds=rng.uniform(0, 3600)))
        request = _request(rng, at=at, experiment=PROD_ONLY, variant="prod")
        _serve(world, rng, request, PROD_VERSION)
    world.redelivered_requests = rng.sample(world.requests, 15)
    world.redelivered_replies = rng.sample(world.replies, 15)
    return world


# --------------------------------------------------------------------------- writing


def _rows(events: list[Any], topic: str) -> pd.DataFrame:
    rows = []
    for offset, event in enumerate(events):
        row = flatten_event(event.model_dump(), event.event_type)
        rows.append({**row, "_topic": topic, "_partition": 0, "_offset": offset})
    return pd.DataFrame(rows)


def _model_event_rows(events: list[BaseModel]) -> pd.DataFrame:
    rows = []
    for offset, event in enumerate(events):
        wire = event.model_dump(mode="json")
        rows.append(
            {
                "event_id": wire["event_id"],
                "event_type": wire["event_type"],
                "schema_version": wire["schema_version"],
                "occurred_at": event.occurred_at,  # type: ignore[attr-defined]
                "model_version": wire.get("model_version"),
                "payload": event_body(wire),
                "_topic": "model.events",
                "_partition": 0,
                "_offset": offset,
            }
        )
    return pd.DataFrame(rows)


def load_world(clickhouse: ClickHouse, world: World) -> None:
    """Insert the world as the sink would, re-delivered copies in batches of their own."""
    clickhouse.insert_df("requests", _rows(world.requests, "predict.requests"))
    clickhouse.insert_df("requests", _rows(world.redelivered_requests, "predict.requests"))
    clickhouse.insert_df("replies", _rows(world.replies, "predict.replies"))
    clickhouse.insert_df("replies", _rows(world.redelivered_replies, "predict.replies"))
    clickhouse.insert_df("feedback", _rows(world.feedback, "feedback"))
    clickhouse.insert_df("model_events", _model_event_rows(world.model_events))


# --------------------------------------------------------------------------- expected numbers


def served_frame(world: World) -> pd.DataFrame:
    """One row per served request: first reply, latency, first priced feedback, abs error."""
    requests = pd.DataFrame(
        [
            {
                "request_id": r.request_id,
                "experiment_id": r.experiment_id,
                "variant": r.variant,
                "occurred_at": r.occurred_at,
                "deadline_at": r.deadline_at,
                **r.features.model_dump(),
            }
            for r in world.requests
            if not r.shadow
        ]
    )
    replies: dict[str, PredictReply] = {}
    for reply in sorted(world.replies, key=lambda r: (r.occurred_at, r.event_id)):
        if not reply.shadow:
            replies.setdefault(reply.request_id, reply)
    actual: dict[str, float] = {}
    for item in sorted(world.feedback, key=lambda f: (f.occurred_at, f.event_id)):
        if item.actual_price_lakhs is not None:
            actual.setdefault(item.request_id, item.actual_price_lakhs)  # the first counts
    rows = []
    for request in requests.itertuples():
        reply = replies.get(request.request_id)
        ok = reply is not None and reply.status == "ok"
        price = reply.price_lakhs if ok and reply is not None else None
        truth = actual.get(request.request_id)
        latency = (
            (reply.occurred_at - request.occurred_at) / timedelta(milliseconds=1) if reply else None
        )
        timed_out = reply is None and request.deadline_at <= world.now
        rows.append(
            {
                "timed_out": timed_out,
                "is_error": (reply is not None and not ok) or timed_out,
                "replied": reply is not None,
                "model_version": reply.model_version if reply else None,
                "status": reply.status if reply else None,
                "latency_ms": latency,
                "abs_error": abs(price - truth)
                if price is not None and truth is not None
                else None,
            }
        )
    return pd.concat([requests, pd.DataFrame(rows)], axis=1)


def expected_summary(served: pd.DataFrame) -> dict[str, float | int | None]:
    """The v_variant_summary numbers of one group of served rows."""
    latency = served["latency_ms"].dropna().to_numpy(dtype=float)
    errors = served["abs_error"].dropna().to_numpy(dtype=float)
    p50, p95, p99 = np.quantile(latency, [0.5, 0.95, 0.99]) if len(latency) else (None,) * 3
    return {
        "requests": len(served),
        "replies": int(served["replied"].sum()),
        "timeouts": int(served["timed_out"].sum()),
        "errors": int(served["is_error"].sum()),
        "latency_ms_p50": p50,
        "latency_ms_p95": p95,
        "latency_ms_p99": p99,
        "latency_ms_sum": float(latency.sum()),
        "feedback": len(errors),
        "abs_error_sum": float(errors.sum()),
        "abs_error_sq_sum": float((errors**2).sum()),
        "mae": float(errors.mean()) if len(errors) else None,
        "rmse": float(np.sqrt((errors**2).mean())) if len(errors) else None,
    }


def expected_paired(world: World) -> dict[str, float | int]:
    """pairs, diff_sum and diff_sq_sum of |prod error| - |candidate error| on shadowed requests."""
    served = served_frame(world)
    prod = served[(served["variant"] == "prod") & served["abs_error"].notna()]
    shadow: dict[str, PredictReply] = {}
    for reply in sorted(world.replies, key=lambda r: (r.occurred_at, r.event_id)):
        if reply.shadow and reply.status == "ok":
            shadow.setdefault(reply.request_id, reply)
    actual: dict[str, float] = {}
    for item in sorted(world.feedback, key=lambda f: (f.occurred_at, f.event_id)):
        if item.actual_price_lakhs is not None:
            actual.setdefault(item.request_id, item.actual_price_lakhs)  # the first counts
    diffs = []
    for row in prod.itertuples():
        candidate = shadow.get(row.request_id)
        if candidate is not None and row.experiment_id == EXPERIMENT:
            candidate_error = abs(candidate.price_lakhs - actual[row.request_id])  # type: ignore[operator]
            diffs.append(row.abs_error - candidate_error)
    values = np.array(diffs)
    return {
        "pairs": len(values),
        "diff_sum": float(values.sum()),
        "diff_sq_sum": float((values**2).sum()),
    }


def _live_shares(values: np.ndarray, distribution: dict[str, Any], feature: str) -> np.ndarray:
    if feature == "location":
        categories = distribution["categories"]
        index = {name: i for i, name in enumerate(categories)}
        other = categories.index("other")
        counts = np.bincount([index.get(v, other) for v in values], minlength=len(categories))
        return counts / len(values)
    edges = np.array(distribution["edges"], dtype=float)
    clipped = np.clip(values.astype(float), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return counts / len(values)


def psi(live: np.ndarray, training: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index with both shares floored (as the view documents)."""
    a = np.maximum(live, floor)
    e = np.maximum(np.asarray(training, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def expected_psi(world: World, *, hourly: bool = False) -> dict[tuple[Any, ...], tuple[int, float]]:
    """(experiment, variant, version, feature[, hour]) -> (requests, PSI) over rows answered
    ok; with ``hourly`` per hour of the request too (the hour's start, naive UTC)."""
    served = served_frame(world)
    ok = served[served["status"] == "ok"].copy()
    keys = ["experiment_id", "variant", "model_version"]
    if hourly:
        ok["hour"] = pd.to_datetime(ok["occurred_at"], utc=True).dt.floor("h").dt.tz_localize(None)
        keys.append("hour")
    out: dict[tuple[Any, ...], tuple[int, float]] = {}
    for group_key, group in ok.groupby(keys):
        experiment, variant, version = (str(k) for k in group_key[:3])
        distribution = world.distributions[version]
        for feature in FEATURES:
            live = _live_shares(group[feature].to_numpy(), distribution[feature], feature)
            key = (experiment, variant, version, feature, *group_key[3:])
            out[key] = (len(group), psi(live, distribution[feature]["shares"]))
    return out
