"""The predictors' ``ServingLoop`` with its real handler against stand-in Kafka and model.

The handler (``PredictHandler``), the batching engine, the dead-letter decisions and the
metrics are the real ones; the consumer, the producer and the model slot are stand-ins.
Real Kafka is exercised by tests/integration/test_predictor_serving.py and test_poison.py.
"""

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from kafka.errors import KafkaConnectionError
from kafka.structs import TopicPartition
from sklearn.linear_model import LinearRegression

from predictors.loop import COMMIT_EVERY_S, ServingLoop
from predictors.messages import ReplyAddresses
from predictors.metrics import PredictorMetrics
from predictors.model_slot import LiveModel
from predictors.worker import PredictHandler
from pricing.features import FeatureRow, feature_matrix

TOPIC = "predict.requests.prod"
REPLIES = "predict.replies"
DEADLETTER = "deadletter"
PARTITION = TopicPartition(TOPIC, 0)
COLUMNS = ["total_sqft", "bath", "bhk", "whitefield", "hebbal"]


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: int = 1_795_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class Sent:
    """A send acknowledged at once."""

    is_done = True

    def get(self, timeout: float | None = None) -> None:
        return None


class Kafka:
    """The requests consumer and the producer, sharing what was polled and sent."""

    def __init__(self) -> None:
        self.pending: list[list[bytes | None]] = []
        self.offset = 0
        self.subscribed: list[str] = []
        self.listener: Any = None
        self.unsubscribed = 0
        self.sent: list[dict[str, Any]] = []
        self.committed: dict[TopicPartition, int] = {}
        self.poll_errors: list[Exception] = []
        self.polls = 0
        #: Set after this many polls (ends ``ServingLoop.run``).
        self.stop_after: tuple[int, threading.Event] | None = None

    # the consumer
    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self.subscribed, self.listener = topics, listener
        listener.on_partitions_assigned({PARTITION})

    def unsubscribe(self) -> None:
        self.unsubscribed += 1
        self.subscribed = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.polls += 1
        if self.stop_after is not None and self.polls >= self.stop_after[0]:
            self.stop_after[1].set()
        if self.poll_errors:
            raise self.poll_errors.pop(0)
        if not self.pending:
            return {}
        values = self.pending.pop(0)
        records = [Record(TOPIC, 0, self.offset + i, value) for i, value in enumerate(values)]
        self.offset += len(values)
        return {PARTITION: records}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.committed.update({tp: o.offset for tp, o in offsets.items()})

    def commit_async(self, offsets: dict[TopicPartition, Any], callback: Any) -> None:
        self.commit(offsets)
        callback(offsets, None)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError(f"nothing failed, so nothing is rewound ({tp} to {offset})")

    # the producer
    def send(self, topic: str, value: bytes | None = None, **where: Any) -> Sent:
        self.sent.append({"topic": topic, "value": json.loads(value or b"null"), **where})
        return Sent()

    def flush(self, timeout: float | None = None) -> None:
        return None

    def to(self, topic: str) -> list[dict[str, Any]]:
        return [sent for sent in self.sent if sent["topic"] == topic]


@dataclass
class Slot:
    """The prod slot, with a model once one is loaded."""

    slot: str = "prod"
    live: LiveModel | None = None


def _model() -> LiveModel:
    """A small regression fitted on a few homes; the replies must carry its prices."""
    rows = [FeatureRow("whitefield", 600.0 + 150 * i, 1 + i % 3, 1 + i % 4) for i in range(12)]
    x = feature_matrix(rows, COLUMNS)
    prices = 0.08 * x[:, 0] + 4.0 * x[:, 1] + np.arange(12) % 5
    estimator = LinearRegression().fit(x, prices)
    return LiveModel("v1", 1, estimator, COLUMNS, None, None)


class World:
    def __init__(self) -> None:
        self.kafka = Kafka()
        self.slot = Slot(live=_model())
        self.metrics = PredictorMetrics("predictor")
        self.now = 0.0
        handler = PredictHandler(
            slot=self.slot,
            producer=self.kafka,
            predictor_id="predictor-prod-1",
            reply_addresses=ReplyAddresses(REPLIES, lambda topic: {0, 1, 2}),
            metrics=self.metrics,
        )
        self.loop = ServingLoop(
            consumer=self.kafka,
            topic=TOPIC,
            producer=self.kafka,
            deadletter_topic=DEADLETTER,
            handler=handler,
            metrics=self.metrics,
            batch_max_rows=64,
            clock=lambda: self.now,
        )

    def errors(self, kind: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "splitstream_predictor_errors_total", {"kind": kind}
        )
        return value or 0.0


def _request(
    *, sqft: float = 1200.0, deadline_s: float = 60.0, partition: int = 1, **changes: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    request: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "predict.request",
        "schema_version": 1,
        "occurred_at": _wire_time(now),
        "request_id": str(uuid.uuid4()),
        "experiment_id": "exp-1:v2",
        "variant": "prod",
        "assignment": "random",
        "split_key": None,
        "slot": "prod",
        "shadow": False,
        "source": "http",
        "features": {"location": "whitefield", "total_sqft": sqft, "bath": 2, "bhk": 2},
        "reply_to": {"topic": REPLIES, "partition": partition},
        "deadline_at": _wire_time(now + timedelta(seconds=deadline_s)),
    }
    return {**request, **changes}


def _wire_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wire(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


def _price(model: LiveModel, request: dict[str, Any]) -> float:
    f = request["features"]
    row = FeatureRow(f["location"], f["total_sqft"], f["bath"], f["bhk"])
    return round(float(model.estimator.predict(feature_matrix([row], model.columns))[0]), 2)


# --------------------------------------------------------------------------- serving


def test_it_scores_a_batch_and_replies_to_each_request_where_it_asked() -> None:
    world = World()
    requests = [_request(sqft=900.0 + 300 * i, partition=i % 3) for i in range(3)]
    world.kafka.pending.append([_wire(r) for r in requests])

    world.loop.step()

    assert world.kafka.subscribed == [TOPIC]
    replies = world.kafka.to(REPLIES)
    assert [r["partition"] for r in replies] == [r["reply_to"]["partition"] for r in requests]
    assert [r["key"] for r in replies] == [r["request_id"].encode() for r in requests]
    model = world.slot.live
    assert model is not None
    for sent, request in zip(replies, requests, strict=True):
        reply = sent["value"]
        assert reply["event_type"] == "predict.reply"
        assert (reply["request_id"], reply["status"]) == (request["request_id"], "ok")
        assert reply["price_lakhs"] == _price(model, request)
        assert (reply["model_version"], reply["slot"]) == (model.version, "prod")
        assert reply["timings"]["batch_size"] == len(requests)
    assert world.kafka.to(DEADLETTER) == []


def test_written_offsets_are_committed_once_the_commit_interval_passed() -> None:
    world = World()
    world.kafka.pending.append([_wire(_request())])
    world.loop.step()
    world.kafka.pending.append([_wire(_request()), _wire(_request())])
    world.loop.step()
    assert len(world.kafka.to(REPLIES)) == 3
    assert world.kafka.committed == {}  # within the interval: replies first, commits later

    world.now += COMMIT_EVERY_S
    world.loop.step()

    assert world.kafka.committed == {PARTITION: world.kafka.offset}


def test_expired_requests_are_skipped_and_counted() -> None:
    world = World()
    live, expired = _request(), _request(deadline_s=-1.0)
    world.kafka.pending.append([_wire(expired), _wire(live)])

    world.loop.step()

    replies = world.kafka.to(REPLIES)
    assert [r["value"]["request_id"] for r in replies] == [live["request_id"]]
    assert replies[0]["value"]["timings"]["batch_size"] == 1
    assert world.errors("expired") == 1
    assert world.kafka.to(DEADLETTER) == []


def test_poison_is_dead_lettered_with_its_reason_and_the_loop_keeps_serving() -> None:
    world = World()
    good = _request()
    no_address = {k: v for k, v in _request().items() if k != "reply_to"}
    wrong_slot = _request(slot="candidate", variant="candidate")
    world.kafka.pending.append(
        [b"{not json", _wire(no_address), _wire(good), _wire(wrong_slot), None]
    )

    world.loop.step()

    letters = [sent["value"] for sent in world.kafka.to(DEADLETTER)]
    assert [letter["source_offset"] for letter in letters] == [0, 1, 3]
    assert all(letter["source_topic"] == TOPIC for letter in letters)
    assert all(letter["consumer"] == "predictor-prod-1" for letter in letters)
    assert [letter["error_type"] for letter in letters] == ["decode", "missing_header", "schema"]
    assert "reply_to" in letters[1]["reason"]
    assert "'candidate'" in letters[2]["reason"]
    assert letters[0]["payload"] == "{not json"
    # every rejection is counted by its kind, the skipped tombstone (a decode error) too
    counted = {kind: world.errors(kind) for kind in ("decode", "missing_header", "schema")}
    assert counted == {"decode": 2, "missing_header": 1, "schema": 1}
    assert [r["value"]["request_id"] for r in world.kafka.to(REPLIES)] == [good["request_id"]]

    after = _request()
    world.kafka.pending.append([_wire(after)])
    world.loop.step()

    assert world.kafka.to(REPLIES)[-1]["value"]["request_id"] == after["request_id"]


# --------------------------------------------------------------------------- the group


def test_without_a_model_it_leaves_the_group_and_joins_once_one_is_loaded() -> None:
    world = World()
    model, world.slot.live = world.slot.live, None
    world.kafka.pending.append([_wire(_request())])

    world.loop.step()

    assert world.kafka.subscribed == []
    assert world.kafka.polls == 0  # the request waits in Kafka for a worker that can answer

    world.slot.live = model
    world.loop.step()

    assert world.kafka.subscribed == [TOPIC]
    assert len(world.kafka.to(REPLIES)) == 1

    world.slot.live = None  # the slot emptied by a reload
    world.loop.step()

    assert (world.kafka.subscribed, world.kafka.unsubscribed) == ([], 1)


def test_run_polls_again_after_a_kafka_error_and_leaves_the_group_when_stopped() -> None:
    world = World()
    stop = threading.Event()
    request = _request()
    world.kafka.poll_errors.append(KafkaConnectionError("the coordinator moved"))
    world.kafka.pending.append([_wire(request)])
    world.kafka.stop_after = (3, stop)

    world.loop.run(stop)

    assert world.kafka.polls == 3
    assert [r["value"]["request_id"] for r in world.kafka.to(REPLIES)] == [request["request_id"]]
    assert world.kafka.unsubscribed == 1
    assert world.kafka.committed == {PARTITION: 1}  # stopping commits what was written
