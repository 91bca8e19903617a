"""The Faust stream agent on the real broker: windows counted, triggers emitted, poison skipped.

The agent runs as its own process (``python -m promoter.agent_main``) under a topic prefix
of this module's, so its consumer group and changelog topics are private too.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from cli.settings import Settings, load_settings
from plumbing import kafka
from plumbing.kafka import encode_json
from plumbing.settings import PROJECT_ROOT
from promoter.windows import WindowCounts
from schemas.decision_events import ExperimentTrigger
from schemas.serving_events import Feedback, PredictReply, PredictRequest
from stack import kafka_access
from stack.ports import free_port

EXPERIMENT = "exp-agent"
VARIANTS = ("prod", "candidate")
FIRST_TRIGGER_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 30.0


@dataclass
class Produced:
    """The truth: what this test produced, summed the way the agent should count it."""

    counts: dict[str, dict[str, float]] = field(
        default_factory=lambda: {v: dict.fromkeys(WindowCounts.measures(), 0) for v in VARIANTS}
    )
    poison: int = 0

    def add(self, variant: str, measure: str, value: float = 1) -> None:
        self.counts[variant][measure] += value


@dataclass(frozen=True)
class Agent:
    settings: Settings
    process: subprocess.Popen[bytes]
    started_at: float
    log_file: Path

    def counts(self) -> dict[str, dict[str, Any]]:
        """The agent's trailing-window counts now, by variant, from its web view."""
        url = f"http://{self.settings.stack_host}:{self.settings.promoter_agent_web_port}/counts/"
        try:
            arms = httpx.get(url, timeout=5).json()["arms"]
        except httpx.HTTPError:
            return {}
        return {a["variant"]: a for a in arms if a["experiment_id"] == EXPERIMENT}

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The agent's /metrics: value by sample name and sorted labels."""
        url = f"http://{self.settings.stack_host}:{self.settings.promoter_agent_web_port}/metrics"
        answer = httpx.get(url, timeout=5)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        return int(kib) / 1024

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextmanager
def private_agent_env() -> Iterator[Settings]:
    """A private topic prefix (so app id, group and changelogs) with every topic created,
    and a free web port, exported for the agent processes started meanwhile."""
    env = {
        "SPLITSTREAM_TOPIC_PREFIX": f"agent-{uuid.uuid4().hex[:10]}.",
        "SPLITSTREAM_PROMOTER_AGENT_WEB_PORT": str(free_port()),
        "SPLITSTREAM_PROMOTER_AGENT_COUNTS_LOG_S": "5",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
        kafka_access.provision(settings)
        yield settings


@pytest.fixture(scope="module")
def agent_settings(stack: Settings) -> Iterator[Settings]:
    with private_agent_env() as settings:
        yield settings


@pytest.fixture
def raw_producer(agent_settings: Settings) -> Iterator[KafkaProducer]:
    # As the admin: it writes requests, replies and feedback, as gateways and predictors do.
    producer = kafka.producer(agent_settings.as_kafka_role("admin"), value_serializer=None)
    try:
        yield producer
    finally:
        producer.close(timeout=10)


@pytest.fixture
def trigger_reader(agent_settings: Settings) -> Iterator[KafkaConsumer]:
    consumer = kafka.consumer(agent_settings.as_kafka_role("promoter"), group_id=None)
    consumer.subscribe([agent_settings.topic("model_events").name])
    try:
        yield consumer
    finally:
        consumer.close()


@contextmanager
def running_agent(settings: Settings, log_dir: Path) -> Iterator[Agent]:
    """``python -m promoter.agent_main`` with this module's environment; always stopped."""
    log_file = log_dir / "stream-agent.log"
    with log_file.open("wb") as log:
        started_at = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "promoter.agent_main"],
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    agent = Agent(settings, process, started_at, log_file)
    try:
        yield agent
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(f"--- stream agent log (last lines) ---\n{agent.log_text()[-3000:]}")


# --------------------------------------------------------------------------- traffic


def _request(variant: str, *, shadow: bool = False) -> PredictRequest:
    other = "prod" if variant == "candidate" else "candidate"
    return PredictRequest.create(
        request_id=str(uuid.uuid4()),
        experiment_id=EXPERIMENT,
        variant=variant,
        assignment="random",
        split_key=None,
        slot=other if shadow else variant,
        shadow=shadow,
        source="http",
        features={"location": "Whitefield", "total_sqft": 1200.0, "bath": 2, "bhk": 3},
        reply_to={"topic": "predict.replies", "partition": 0},
        deadline_at=datetime.now(UTC),
    )


def _reply(request: PredictRequest, *, ok: bool, n: int) -> PredictReply:
    return PredictReply.create(
        request_id=request.request_id,
        experiment_id=EXPERIMENT,
        variant=request.variant,
        slot=request.slot,
        shadow=request.shadow,
        model_version="v1" if ok else None,
        status="ok" if ok else "error",
        price_lakhs=50.0 + n % 40 if ok else None,
        error=None if ok else {"code": "internal", "message": "boom", "field": None},
        predictor_id=f"{request.slot}-test",
        timings={"queued_ms": 1.0 + n % 7, "predict_ms": 0.5, "batch_size": 8},
    )


def _feedback(request_id: str, actual: float | None) -> Feedback:
    return Feedback.create(
        request_id=request_id,
        actual_price_lakhs=actual,
        source="kafka",
        feedback_type="actual_price" if actual is not None else "too_high",
        note=None,
    )


def _send(producer: KafkaProducer, topic: str, event: Any) -> None:
    producer.send(topic, key=event.request_id, value=encode_json(event.model_dump(mode="json")))


def produce_traffic(
    producer: KafkaProducer, settings: Settings, produced: Produced, *, variant: str, n: int
) -> None:
    """``n`` served requests of ``variant`` with replies (every 25th an error), feedback on
    every 3rd ok reply, a judgement without a price on every 10th, and a shadow copy of every
    5th request with its shadow reply (none of which the windows count)."""
    replies, feedback = settings.topic("predict_replies").name, settings.topic("feedback").name
    for i in range(n):
        request = _request(variant)
        _send(producer, settings.topic(f"predict_requests_{variant}").name, request)
        produced.add(variant, "requests")
        reply = _reply(request, ok=i % 25 != 24, n=i)
        _send(producer, replies, reply)
        produced.add(variant, "errors", int(reply.status == "error"))
        produced.add(variant, "latency_ms_sum", reply.timings.queued_ms + reply.timings.predict_ms)
        if reply.price_lakhs is not None and i % 3 == 0:
            actual = 45.0 + i % 30
            _send(producer, feedback, _feedback(request.request_id, actual))
            produced.add(variant, "feedback_count")
            produced.add(variant, "abs_error_sum", abs(reply.price_lakhs - actual))
        if i % 10 == 0:
            _send(producer, feedback, _feedback(request.request_id, None))
        if i % 5 == 0:
            shadow = _request(variant, shadow=True)
            _send(producer, settings.topic(f"predict_requests_{shadow.slot}").name, shadow)
            _send(producer, replies, _reply(shadow, ok=True, n=i))
    producer.flush(timeout=30)


def produce_poison(producer: KafkaProducer, settings: Settings, produced: Produced) -> None:
    """On every source topic: not JSON, not an object, the wrong event, an invalid one."""
    wrong = encode_json(_feedback(str(uuid.uuid4()), 10.0).model_dump(mode="json"))
    invalid = encode_json({"event_type": "predict.request", "request_id": "nope"})
    for key in ("predict_requests_prod", "predict_requests_candidate", "predict_replies"):
        for value in (b"\xffnot json", b"[1, 2, 3]", wrong, invalid):
            producer.send(settings.topic(key).name, value=value)
            produced.poison += 1
    for value in (b"{", b'"text"', invalid):
        producer.send(settings.topic("feedback").name, value=value)
        produced.poison += 1
    producer.flush(timeout=30)


# --------------------------------------------------------------------------- reading back


def wait_for_triggers(
    reader: KafkaConsumer, agent: Agent, n: int, timeout_s: float
) -> list[ExperimentTrigger]:
    """The next ``n`` experiment.trigger events of this experiment (fewer on timeout)."""
    found: list[ExperimentTrigger] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < n and time.monotonic() < deadline:
        assert agent.process.poll() is None, f"the agent died:\n{agent.log_text()[-3000:]}"
        for records in reader.poll(timeout_ms=500).values():
            for record in records:
                obj = json.loads(record.value)
                if obj["event_type"] == "experiment.trigger" and obj["experiment_id"] == EXPERIMENT:
                    found.append(ExperimentTrigger.model_validate(obj))
    return found


def wait_for_counts(agent: Agent, produced: Produced) -> dict[str, dict[str, Any]]:
    """The agent's counts once they match ``produced`` (or the last seen, on timeout)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    counts = agent.counts()
    while not _agree(counts, produced) and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = agent.counts()
    return counts


def _agree(counts: dict[str, dict[str, Any]], produced: Produced) -> bool:
    return all(
        variant in counts and abs(counts[variant][m] - truth) <= 0.01 * truth + 1e-6
        for variant, measures in produced.counts.items()
        for m, truth in measures.items()
    )


def print_comparison(counts: dict[str, dict[str, Any]], produced: Produced) -> None:
    for variant, measures in produced.counts.items():
        window = counts.get(variant, {})
        print(f"{variant} window {window.get('window_start')} .. {window.get('window_end')}")
        for m, truth in measures.items():
            print(f"  {m:15} agent {window.get(m)!s:>12}  produced {truth:>12.4g}")


# --------------------------------------------------------------------------- the test


def test_agent_counts_windows_triggers_per_hundred_and_survives_poison(
    agent_settings: Settings,
    raw_producer: KafkaProducer,
    trigger_reader: KafkaConsumer,
    tmp_path: Path,
) -> None:
    # Given: poison first on every source topic, then 150 candidate and 600 prod requests
    # with their replies, feedback and shadow copies, all already in Kafka.
    produced = Produced()
    produce_poison(raw_producer, agent_settings, produced)
    produce_traffic(raw_producer, agent_settings, produced, variant="candidate", n=150)
    produce_traffic(raw_producer, agent_settings, produced, variant="prod", n=600)

    with running_agent(agent_settings, tmp_path) as agent:
        # When the agent starts, then: one trigger, at the 100th candidate request.
        first = wait_for_triggers(trigger_reader, agent, 1, FIRST_TRIGGER_TIMEOUT_S)
        startup_s, rss_at_trigger = time.monotonic() - agent.started_at, agent.rss_mib()
        assert [t.requests for t in first] == [100], agent.log_text()[-3000:]
        assert first[0].variant == "candidate"
        assert first[0].window_start <= datetime.now(UTC) < first[0].window_end
        assert first[0].rule.startswith(
            f"candidate_requests>={agent_settings.promoter_trigger_requests}"
        )

        # And every window count equals what was produced (shadows and poison left out).
        counts = wait_for_counts(agent, produced)
        print_comparison(counts, produced)
        assert _agree(counts, produced)

        # When 50 more candidate requests arrive: one more trigger, at 200, with the counts.
        produce_traffic(raw_producer, agent_settings, produced, variant="candidate", n=50)
        second = wait_for_triggers(trigger_reader, agent, 1, SETTLE_TIMEOUT_S)
        assert [t.requests for t in second] == [200]
        counts = wait_for_counts(agent, produced)
        print_comparison(counts, produced)
        assert _agree(counts, produced)
        assert wait_for_triggers(trigger_reader, agent, 1, 2.0) == []  # not one per message

        # And the poison was skipped with a log line each, and the agent still runs.
        assert agent.process.poll() is None
        assert agent.log_text().count("skip ") == produced.poison

        # And /metrics says the same: windows per arm, events skipped, triggers sent.
        metrics = agent.metrics()
        for variant in VARIANTS:
            arm = (("experiment_id", EXPERIMENT), ("variant", variant))
            for measure in ("requests", "errors", "feedback_count"):
                name = f"splitstream_agent_window_{measure}"
                assert metrics[(name, arm)] == produced.counts[variant][measure], name
        skipped = sum(
            v for (n, _), v in metrics.items() if n == "splitstream_agent_events_skipped_total"
        )
        assert skipped == produced.poison
        assert metrics[("splitstream_agent_triggers_total", ())] == 2
        requests_read = metrics[
            ("splitstream_agent_events_total", (("event_type", "predict.request"),))
        ]
        assert requests_read >= sum(produced.counts[v]["requests"] for v in VARIANTS)
        assert 0 <= metrics[("splitstream_agent_window_lag_seconds", ())] < 3600
        rss_end = agent.rss_mib()
    print(
        f"stream agent: start to first trigger {startup_s:.1f} s; RSS {rss_at_trigger:.0f} MiB "
        f"at the trigger, {rss_end:.0f} MiB at the end"
    )
