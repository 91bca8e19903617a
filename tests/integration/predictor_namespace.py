"""Set-up shared by the predictor and batch-scoring integration tests (no tests here).

Each test namespace gets its own topic prefix (topics and their ACLs created with
``kafka_access.provision``), its own bucket, and its own consumer groups (the
predictors prefix their group names too), so tests never see each other's messages
or slots. Workers run as real subprocesses under ``stack.supervisor`` and are always
stopped; they log in as the predictor principal. The tests write each topic as the
principal they stand in for (``WRITERS``) and read as the sink, which reads every topic.
"""

import hashlib
import json
import pickle
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from sklearn.linear_model import LinearRegression

from cli.settings import Settings, load_settings
from plumbing import kafka
from plumbing.model_store import ModelStore, Slots, SlotStore
from plumbing.s3 import s3_client
from plumbing.settings import PROJECT_ROOT, KafkaRole
from schemas.model_events import ModelReload
from schemas.registry import format_timestamp
from schemas.serving_events import PredictRequest
from stack import kafka_access, supervisor
from stack.ports import free_port
from trainer.signing import manifest_signer

LOCATIONS = ["whitefield", "hebbal", "electronic city", "indira nagar"]
COLUMNS = ["total_sqft", "bath", "bhk", *LOCATIONS[:3]]  # indira nagar is grouped as "other"
DOMAIN = {
    "locations": LOCATIONS,
    "model_locations": LOCATIONS[:3],
    "total_sqft": [300.0, 10000.0],
    "bath": [1, 8],
    "bhk": [1, 8],
}
ENTRY = "from cli.predictor_commands import predictor; predictor()"


@dataclass(frozen=True)
class Namespace:
    """One test's private topics, bucket and groups, and the settings that name them."""

    settings: Settings
    prefix: str
    bucket: str
    workdir: Path

    def topic(self, key: str) -> str:
        return self.settings.topic(key).name


def make_namespace(stack: Settings) -> Namespace:
    unique = uuid.uuid4().hex[:12]
    prefix, bucket = f"t{unique}.", f"pred-{unique}"
    s3_client(stack).create_bucket(Bucket=bucket)
    settings = load_settings(topic_prefix=prefix, s3_bucket=bucket)
    kafka_access.provision(settings)
    workdir = stack.state_dir / "predictor-tests" / unique  # removed with the stack's state
    workdir.mkdir(parents=True)
    return Namespace(settings, prefix, bucket, workdir)


# --------------------------------------------------------------------------- models and slots


def train(scale: float) -> LinearRegression:
    """A linear model of price = scale * (sqft/20 + 5 bath + 10 bhk + location), on a DataFrame."""
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "total_sqft": rng.uniform(300, 10000, n),
            "bath": rng.integers(1, 9, n).astype(float),
            "bhk": rng.integers(1, 9, n).astype(float),
        }
    )
    location = rng.integers(0, len(LOCATIONS), n)
    for i, name in enumerate(COLUMNS[3:]):
        frame[name] = (location == i).astype(float)
    price = frame["total_sqft"] / 20 + 5 * frame["bath"] + 10 * frame["bhk"] + 30 * frame["hebbal"]
    return LinearRegression().fit(frame, scale * price)


def expected_price(scale: float, *, total_sqft: float, bath: int, bhk: int, location: str) -> float:
    return scale * (total_sqft / 20 + 5 * bath + 10 * bhk + (30 if location == "hebbal" else 0))


def publish(ns: Namespace, version: str, *, scale: float) -> None:
    ModelStore(s3_client(ns.settings), ns.bucket, signer=manifest_signer(ns.settings)).publish(
        version,
        estimator=train(scale),
        columns=COLUMNS,
        manifest={
            "feature_domain": DOMAIN,
            "metrics": {"scale": scale},
            "mlflow_run_id": f"run-{version}",
            "created_at": format_timestamp(pd.Timestamp.now(tz="UTC").to_pydatetime()),
        },
    )


def tamper(ns: Namespace, version: str) -> None:
    """Overwrite a published model file, so its sha256 no longer matches the manifest."""
    s3_client(ns.settings).put_object(
        Bucket=ns.bucket, Key=f"models/{version}/model.pkl", Body=b"\x80\x04not the model"
    )


def forge(ns: Namespace, version: str, *, scale: float) -> None:
    """Put another model in ``version``'s place with the S3 keys every service holds, and
    re-write its manifest with the new sha256: all an attacker without the trainer's key can do."""
    s3 = s3_client(ns.settings)
    forged = pickle.dumps(train(scale), protocol=pickle.HIGHEST_PROTOCOL)
    key = f"models/{version}"
    manifest = json.loads(
        s3.get_object(Bucket=ns.bucket, Key=f"{key}/manifest.json")["Body"].read()
    )
    manifest["files"]["model.pkl"] = hashlib.sha256(forged).hexdigest()
    s3.put_object(Bucket=ns.bucket, Key=f"{key}/model.pkl", Body=forged)
    body = json.dumps(manifest, sort_keys=True).encode()
    s3.put_object(Bucket=ns.bucket, Key=f"{key}/manifest.json", Body=body)


def set_slots(ns: Namespace, *, best: str | None, candidate: str | None = None) -> Slots:
    store = SlotStore(s3_client(ns.settings), ns.bucket)
    current = store.read()
    if current is None:
        return store.create(Slots(best=best, candidate=candidate)).slots
    changed = current.slots.next(best=best, candidate=candidate)
    return store.swap(current, changed).slots


def broadcast_reload(ns: Namespace, slots: Slots, reason: str = "test") -> None:
    reload = ModelReload.create(
        generation=slots.generation, best=slots.best, candidate=slots.candidate, reason=reason
    )
    produce(ns, "model_events", [reload.model_dump(mode="json")])


# --------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class Worker:
    process: supervisor.ServiceProcess
    metrics_port: int

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text: str = response.read().decode()
            return text

    def log(self) -> str:
        return self.process.log_file.read_text(errors="replace")


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_worker(ns: Namespace, role: str, *, refresh_s: float = 30.0) -> Iterator[Worker]:
    """A ``splitstream predictor --slot <role>`` subprocess, ready (models loaded, /metrics up)."""
    port = free_port()
    process = supervisor.ServiceProcess(
        name=f"predictor-{role}-{uuid.uuid4().hex[:6]}",
        command=[sys.executable, "-c", ENTRY, "--slot", role],
        ports=[port],
        log_file=ns.workdir / f"{role}.log",
        run_dir=ns.workdir / "run",
        is_ready=lambda: _answers(port),
        start_timeout_s=60,
        env={
            "SPLITSTREAM_TOPIC_PREFIX": ns.prefix,
            "SPLITSTREAM_S3_BUCKET": ns.bucket,
            "SPLITSTREAM_PREDICTOR_METRICS_PORT": str(port),
            "SPLITSTREAM_PREDICTOR_SLOT_REFRESH_S": str(refresh_s),
            "PYTHONUNBUFFERED": "1",
        },
        cwd=PROJECT_ROOT,
    )
    supervisor.start(process)
    try:
        yield Worker(process, port)
    finally:
        supervisor.stop(process)


# --------------------------------------------------------------------------- messages


def predict_request(
    ns: Namespace,
    *,
    slot: str = "prod",
    reply_partition: int = 0,
    location: str = "whitefield",
    total_sqft: float = 1200.0,
    bath: int = 2,
    bhk: int = 2,
) -> dict[str, Any]:
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    request = PredictRequest.create(
        request_id=str(uuid.uuid4()),
        experiment_id="exp-1:test",
        variant=slot,
        assignment="random",
        split_key=None,
        slot=slot,
        shadow=False,
        source="http",
        features={"location": location, "total_sqft": total_sqft, "bath": bath, "bhk": bhk},
        reply_to={"topic": ns.topic("predict_replies"), "partition": reply_partition},
        deadline_at=format_timestamp(now + pd.Timedelta(seconds=30)),
    )
    return request.model_dump(mode="json")


#: Which principal writes each topic the tests write: the one they stand in for.
WRITERS: dict[str, KafkaRole] = {
    "predict_requests_prod": "gateway",
    "predict_requests_candidate": "gateway",
    "feedback": "gateway",
    "score_requests": "batch",
    "model_events": "promoter",  # reload broadcasts
    "promoter_commands": "operator",
}


def produce(ns: Namespace, topic_key: str, values: list[Any]) -> None:
    """Produce JSON values (or raw bytes, sent as they are), and wait for the acks."""
    producer = kafka.producer(
        ns.settings.as_kafka_role(WRITERS[topic_key]),
        value_serializer=lambda v: v if isinstance(v, bytes) else kafka.encode_json(v),
    )
    try:
        futures = [producer.send(ns.topic(topic_key), value=v) for v in values]
        producer.flush()
        for future in futures:
            future.get(timeout=10)
    finally:
        producer.close()


@contextmanager
def reading(ns: Namespace, topic_key: str, *, from_end: bool = False) -> Iterator[KafkaConsumer]:
    """A group-less consumer on every partition of a topic, from its beginning (or end)."""
    consumer = kafka.consumer(ns.settings.as_kafka_role("sink"), group_id=None)
    topic = ns.topic(topic_key)
    assigned = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(assigned)
    if from_end:
        consumer.seek_to_end(*assigned)
        for tp in assigned:
            consumer.position(tp)
    try:
        yield consumer
    finally:
        consumer.close()


def collect(
    consumer: KafkaConsumer,
    match: Callable[[dict[str, Any]], bool],
    *,
    count: int,
    timeout_s: float = 30.0,
) -> list[tuple[int, dict[str, Any]]]:
    """(partition, event) of matching JSON messages, until ``count`` arrived or the timeout."""
    found: list[tuple[int, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            for record in records:
                try:
                    event = json.loads(record.value)
                except (TypeError, ValueError):
                    continue
                if isinstance(event, dict) and match(event):
                    found.append((tp.partition, event))
    return found


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        head, _, rest = sample.partition("{")
        if head == name and ",".join(sorted(rest.rstrip("}").split(","))) == wanted:
            return float(value)
    return None
