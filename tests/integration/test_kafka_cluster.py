"""A three-node Kafka cluster of the test's own: a broker SIGKILLed under load loses nothing.

`make chaos CLUSTER=1` is the long form (the whole system, three kinds of broker loss);
this is the short one for `make test`: a cluster on free ports (S3 and MLflow are the
session stack's), records produced at a steady rate by the services' producer factory
(acks=all), the broker leading most of the test's partitions killed mid-way, and every
record read back. A send may fail during the election, as a prediction may answer 503: it
must fail loudly (its future holds the error) and within one stretch of at most
``MAX_STRETCH_S``, the cluster chaos run's bound; an acknowledged record must never be lost.
"""

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.errors import KafkaError

from chaos.broker_verdicts import MAX_STRETCH_S
from chaos.evidence import kafka_event_ids
from cli.settings import Settings, get_settings
from plumbing import kafka
from plumbing.settings import ENV_PREFIX
from stack import kafka_cluster, kafka_service, supervisor
from stack.private import exported, isolated_env, namespace_env, running_stack

RATE_PER_S = 100.0
COUNT = 400
KILL_AT = 100  # the record sent when the broker dies: 1 s into the load


@pytest.fixture
def cluster(stack: Settings) -> Iterator[Settings]:
    """Three KRaft nodes on free ports in a folder of their own; stopped at the end."""
    assert stack.s3_access_key is not None and stack.s3_secret_key is not None
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-cluster-"))
    env = {
        **isolated_env(state_dir, kafka_nodes=3),
        **namespace_env("cluster"),
        f"{ENV_PREFIX}S3_ENDPOINT_URL": stack.s3_endpoint,
        f"{ENV_PREFIX}S3_ACCESS_KEY": stack.s3_access_key.get_secret_value(),
        f"{ENV_PREFIX}S3_SECRET_KEY": stack.s3_secret_key.get_secret_value(),
        f"{ENV_PREFIX}MLFLOW_TRACKING_URI": stack.mlflow_uri,
    }
    started = time.monotonic()
    try:
        with (
            exported(env, changed=get_settings.cache_clear),
            running_stack(Settings, changed=get_settings.cache_clear) as settings,
        ):
            print(f"three-node cluster up in {time.monotonic() - started:.1f} s")
            yield settings
        print(f"cluster up, used and stopped in {time.monotonic() - started:.1f} s")
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def test_a_broker_killed_under_load_loses_no_acknowledged_record(cluster: Settings) -> None:
    # Given: the cluster's topics, three copies of each partition, all in sync
    topic = cluster.topic("predict_requests_prod").name
    states = kafka_cluster.snapshot(cluster)
    mine = [s for s in states if s.topic == topic]
    assert mine and all(len(s.replicas) == 3 and len(s.isr) == 3 for s in mine)
    victim = kafka_cluster.busiest_leader(states, topic_prefix=cluster.topic_prefix)
    producer = kafka.producer(cluster.as_kafka_role("gateway"), client_id="cluster-test")
    sent: list[tuple[str, float, object]] = []
    acked_at: dict[str, float] = {}
    try:
        # When: records go out at a steady rate and the busiest leader dies mid-way
        start = time.monotonic()
        for i in range(COUNT):
            time.sleep(max(0.0, start + i / RATE_PER_S - time.monotonic()))
            if i == KILL_AT:
                supervisor.kill(kafka_service.process(cluster, victim))
            event_id = uuid.uuid4().hex
            future = producer.send(topic, key=event_id, value={"event_id": event_id, "n": i})
            future.add_callback(lambda _meta, e=event_id: acked_at.setdefault(e, time.monotonic()))
            sent.append((event_id, time.monotonic(), future))
        producer.flush(timeout=60)
        failed: list[tuple[str, float, str]] = []
        for event_id, sent_at, future in sent:
            try:
                future.get(timeout=1)  # type: ignore[attr-defined]
            except KafkaError as error:
                failed.append((event_id, sent_at - start, f"{error!r}"))
    finally:
        producer.close()

    # Then: every acknowledged record is there once; failures were reported, in one short stretch
    waits = [acked_at[e] - t for e, t, _ in sent if e in acked_at]
    print(f"killed node {victim}; {len(acked_at)} of {COUNT} acknowledged, longest wait for an "
          f"ack {max(waits):.2f} s")  # fmt: skip
    if failed:
        print(*failed, *_refusals_logged(cluster), sep="\n")
    assert len(acked_at) + len(failed) == COUNT  # each send ended, one way or the other
    failed_at = [sent_at for _, sent_at, _ in failed]
    assert not failed or max(failed_at) - min(failed_at) <= MAX_STRETCH_S
    stored = kafka_event_ids(cluster, topic)
    lost = [e for e in acked_at if e not in stored]
    assert lost == []
    assert all(copies == 1 for copies in stored.values())  # idempotent retries: none twice
    assert set(stored) <= {e for e, _, _ in sent}


def _refusals_logged(settings: Settings) -> list[str]:
    """The brokers' log lines of refused requests (their authorizer logs each one)."""
    logs = sorted((settings.state_dir / "logs").glob("kafka*.log"))
    return [line for log in logs for line in log.read_text().splitlines() if "Denied" in line]
