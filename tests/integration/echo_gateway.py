"""Helpers for the gateway's integration tests: a tiny model, an echo predictor, a gateway process.

The echo predictor stands in for the real predictors (a colleague's) so that the
gateway's own tests need no model code: it answers every predict.request on both
request topics with a valid predict.reply on the request's reply_to address. A
request whose split key starts with ``silent-`` gets no answer (to test the deadline).
"""

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cli.settings import Settings
from plumbing.kafka import encode_json
from plumbing.kafka_security import client_security
from plumbing.model_store import ModelStore, Slots, SlotStore
from plumbing.s3 import s3_client
from plumbing.settings import PROJECT_ROOT
from schemas.serving_events import PredictReply
from stack import kafka_access, supervisor
from stack.ports import free_port
from stack.supervisor import ServiceProcess

PROD_VERSION = "gw-test-prod-v1"
CANDIDATE_VERSION = "gw-test-candidate-v2"
SILENT_PREFIX = "silent-"

FEATURE_DOMAIN = {
    "locations": ["whitefield", "electronic city", "rajaji nagar", "kengeri", "other"],
    "model_locations": ["whitefield", "electronic city"],
    "total_sqft": [300.0, 30000.0],
    "bath": [1, 10],
    "bhk": [1, 10],
}


def echo_price(features: dict[str, Any], slot: str) -> float:
    """The echo predictor's answer: deterministic, different per slot."""
    return round(
        features["total_sqft"] * 0.05 + features["bhk"] + (1 if slot == "candidate" else 0), 3
    )


def publish_models(settings: Settings, *, candidate: bool = True) -> None:
    """A fresh bucket with a prod model (and a candidate) and the slots naming them."""
    s3 = s3_client(settings)
    s3.create_bucket(Bucket=settings.s3_bucket)
    models = ModelStore(s3, settings.s3_bucket)
    columns = ["total_sqft", "bath", "bhk", "whitefield", "electronic city"]
    for version in (PROD_VERSION, CANDIDATE_VERSION):
        models.publish(
            version,
            estimator={"stand-in": version},
            columns=columns,
            manifest={"feature_domain": FEATURE_DOMAIN},
        )
    slots = Slots(best=PROD_VERSION, candidate=CANDIDATE_VERSION if candidate else None)
    SlotStore(s3, settings.s3_bucket).create(slots)


def ensure_topics(settings: Settings) -> None:
    """The topics of this prefix and their ACLs (the gateway logs in as its principal)."""
    kafka_access.provision(settings)


@dataclass
class EchoPredictor:
    """A thread answering predict.requests.{prod,candidate} on each request's reply_to, as the
    predictor principal."""

    settings: Settings
    requests: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="echo-predictor", daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "echo predictor did not start"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        bootstrap = self.settings.kafka_bootstrap
        security = client_security(self.settings.as_kafka_role("predictor"), "kafka-python")
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=5, **security
        )
        producer = KafkaProducer(bootstrap_servers=bootstrap, **security)
        try:
            partitions = [
                TopicPartition(spec.name, p)
                for spec in (
                    self.settings.topic("predict_requests_prod"),
                    self.settings.topic("predict_requests_candidate"),
                )
                for p in range(spec.partitions)
            ]
            consumer.assign(partitions)
            consumer.seek_to_end(*partitions)
            for tp in partitions:
                consumer.position(tp)
            self._ready.set()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    for record in records:
                        self._answer(producer, json.loads(record.value))
                producer.flush()
        finally:
            producer.close(timeout=5)
            consumer.close()

    def _answer(self, producer: KafkaProducer, request: dict[str, Any]) -> None:
        self.requests.append(request)
        if (request.get("split_key") or "").startswith(SILENT_PREFIX):
            return
        slot = request["slot"]
        reply = PredictReply.create(
            request_id=request["request_id"],
            experiment_id=request["experiment_id"],
            variant=request["variant"],
            slot=slot,
            shadow=False,
            model_version=PROD_VERSION if slot == "prod" else CANDIDATE_VERSION,
            status="ok",
            price_lakhs=echo_price(request["features"], slot),
            error=None,
            predictor_id="echo-predictor",
            timings={"queued_ms": 0.0, "predict_ms": 0.0, "batch_size": 1},
        )
        reply_to = request["reply_to"]
        value = encode_json(reply.model_dump(mode="json"))
        producer.send(reply_to["topic"], value, partition=reply_to["partition"])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class GatewayProcess:
    url: str
    service: ServiceProcess

    @property
    def log(self) -> str:
        return self.service.log_file.read_text(errors="replace")


def gateway_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "SPLITSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "SPLITSTREAM_S3_BUCKET": settings.s3_bucket,
        "SPLITSTREAM_REPLY_TIMEOUT_S": str(settings.reply_timeout_s),
    }
    return {**env, **extra}


@contextmanager
def run_gateway(
    name: str, run_dir: Path, env: dict[str, str], *, wait_ready_s: float = 60.0
) -> Iterator[GatewayProcess]:
    """A real ``gateway`` process on a free port, stopped (process group) at the end.

    With ``wait_ready_s`` > 0, it also waits until /readyz answers 200.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = ServiceProcess(
        name=name,
        command=[sys.executable, "-m", "cli.gateway_commands", "--port", str(port)],
        ports=[port],
        log_file=run_dir / f"{name}.log",
        run_dir=run_dir,
        is_ready=lambda: _healthy(url),
        start_timeout_s=60.0,
        env=env,
        cwd=PROJECT_ROOT,
    )
    supervisor.start(service)
    try:
        process = GatewayProcess(url, service)
        if wait_ready_s > 0:
            wait_ready(process, wait_ready_s)
        yield process
    finally:
        supervisor.stop(service, grace_s=10.0)


def wait_ready(process: GatewayProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    answer: Any = None
    while time.monotonic() < deadline:
        answer = httpx.get(f"{process.url}/readyz", timeout=2.0)
        if answer.status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"gateway not ready: {answer and answer.text}\n{process.log[-3000:]}")
