"""Kafka with identities, on the real broker: who may connect, write, join and command.

Every assertion is on the broker's own refusal (TopicAuthorizationFailedError,
GroupAuthorizationFailedError, a closed connection, a failed SASL exchange), never on a mock.
The writes and the group joins of every principal are tried against the whole ACL table
(plumbing/kafka_acls.py): allowed exactly where it grants them.
"""

import asyncio
import json
import logging
import secrets
import socket
import struct
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from cli.settings import Settings
from clients.ledger_reader import read_ledger
from clients.promoter_commands import new_command, send_command
from plumbing import kafka
from plumbing.kafka_acls import acl_table, splitstream_groups
from plumbing.kafka_security import client_security
from plumbing.settings import KAFKA_ROLES, PROJECT_ROOT, KafkaRole
from stack import supervisor
from stack.ports import free_port
from stack.services import http_answers
from stack.supervisor import ServiceProcess
from tests.integration.predictor_namespace import (
    Namespace,
    make_namespace,
    publish,
    set_slots,
)

#: Every principal but the admin (the broker's super user).
ROLES: tuple[KafkaRole, ...] = tuple(r for r in KAFKA_ROLES if r != "admin")
#: Splitstream's own groups, by what runs in them (the batch principal must join none).
GROUP_KEYS = (
    "predictor-prod",
    "predictor-candidate",
    "predictor-score",
    "sink",
    "promoter",
    "agent",
)


@pytest.fixture(scope="module")
def ns(stack: Settings) -> Namespace:
    """A prefix of its own: topics and their ACLs, a bucket with one model in the best slot."""
    namespace = make_namespace(stack)
    publish(namespace, "v1", scale=1.0)
    set_slots(namespace, best="v1")
    return namespace


def _as(ns: Namespace, role: KafkaRole) -> Settings:
    return ns.settings.as_kafka_role(role)


def _granted(ns: Namespace, role: KafkaRole, operation: str, resource: str, name: str) -> bool:
    return any(
        g.role == role
        and g.operation == operation
        and g.resource == resource
        and (name.startswith(g.name) if g.prefixed else name == g.name)
        for g in acl_table(ns.settings)
    )


def _write(settings: Settings, topic: str, value: dict[str, Any]) -> None:
    producer = kafka.producer(settings, max_block_ms=10_000)
    try:
        producer.send(topic, value).get(timeout=15)
    finally:
        producer.close(timeout=5)


def _join(settings: Settings, group: str, topic: str) -> None:
    """Join ``group`` subscribed to ``topic`` and commit; raises what the broker answers."""
    consumer = kafka.consumer(settings, group_id=group)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)
        assert consumer.assignment(), f"{group}: no partitions assigned"
        consumer.commit()
    finally:
        consumer.close()


# --------------------------------------------------------------------------- no identity


def _frame(api_key: int, version: int, correlation: int, body: bytes) -> bytes:
    client = b"no-sasl"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def _read_frame(sock: socket.socket) -> bytes:
    size = sock.recv(4)
    if len(size) < 4:
        return b""
    (length,) = struct.unpack(">i", size)
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_a_client_without_sasl_gets_nothing_but_api_versions(stack: Settings) -> None:
    # Given a plain TCP connection to the client listener, with no SASL handshake
    host, _, port = stack.kafka_bootstrap.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # When it asks for the API versions (allowed before authentication), it is answered
        sock.sendall(_frame(18, 0, 1, b""))
        assert len(_read_frame(sock)) > 6
        # But when it asks for metadata (every topic), the broker closes the connection
        sock.sendall(_frame(3, 0, 2, struct.pack(">i", 0)))
        try:
            answer = _read_frame(sock)
        except ConnectionResetError:
            answer = b""
    assert answer == b""
    # And a library client without credentials cannot even bootstrap
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, bootstrap_timeout_ms=3000)


@pytest.mark.parametrize(
    "change",
    [
        {"sasl_plain_password": secrets.token_urlsafe(16)},  # not the principal's
        {"sasl_plain_username": "splitstream-nobody"},
        {"sasl_mechanism": "PLAIN"},  # the client listener speaks SCRAM only
    ],
    ids=["wrong-password", "unknown-user", "plain-mechanism"],
)
def test_wrong_credentials_are_refused_by_the_broker(
    stack: Settings, change: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    security = {**client_security(stack.as_kafka_role("batch"), "aiokafka"), **change}

    async def connect() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=stack.kafka_bootstrap, request_timeout_ms=5000, **security
        )
        try:
            await producer.start()
        finally:
            await producer.stop()

    with (
        caplog.at_level(logging.ERROR, logger="aiokafka"),
        pytest.raises(KafkaConnectionError, match="Unable to bootstrap"),
    ):
        asyncio.run(connect())
    refusals = [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")]
    # The broker's answer, as aiokafka logged it: error 58 (SASL authentication failed)
    # or 33 (mechanism not enabled)
    assert any(
        "SaslAuthenticationFailed" in m or "UnsupportedSaslMechanism" in m for m in refusals
    ), refusals


# --------------------------------------------------------------------------- the batch producer


def test_a_batch_producer_writes_score_requests_and_reads_results_in_its_own_group(
    ns: Namespace,
) -> None:
    batch = _as(ns, "batch")
    _write(batch, ns.topic("score_requests"), {"id": "b1", "location": "hebbal"})
    group = ns.prefix + ns.settings.kafka_batch_group_prefix + uuid.uuid4().hex[:6]
    _join(batch, group, ns.topic("score_results"))


@pytest.mark.parametrize(
    "topic_key", ["model_events", "promoter_ledger", "predict_replies", "feedback"]
)
def test_a_batch_producer_cannot_write_splitstream_topics(ns: Namespace, topic_key: str) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _write(_as(ns, "batch"), ns.topic(topic_key), {"event_type": "forged"})


@pytest.mark.parametrize("group_key", GROUP_KEYS)
def test_a_batch_producer_cannot_join_a_splitstream_consumer_group(
    ns: Namespace, group_key: str
) -> None:
    group = splitstream_groups(ns.settings)[group_key]
    with pytest.raises(GroupAuthorizationFailedError):
        _join(_as(ns, "batch"), group, ns.topic("score_results"))


def test_a_predictor_cannot_write_the_ledger(ns: Namespace) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _write(_as(ns, "predictor"), ns.topic("promoter_ledger"), {"event_type": "ledger.record"})


# --------------------------------------------------------------------------- the whole table


@pytest.mark.parametrize("role", ROLES)
def test_each_principal_writes_exactly_the_topics_the_table_grants(
    ns: Namespace, role: KafkaRole
) -> None:
    outcomes: dict[str, bool] = {}
    for spec in ns.settings.topics():  # a producer each: a refusal is fatal to an idempotent one
        try:
            _write(_as(ns, role), spec.name, {"probe": role})
            outcomes[spec.key] = True
        except TopicAuthorizationFailedError:
            outcomes[spec.key] = False
    expected = {
        spec.key: _granted(ns, role, "WRITE", "topic", spec.name) for spec in ns.settings.topics()
    }
    assert outcomes == expected
    assert outcomes["promoter_ledger"] == (role == "promoter")


@pytest.mark.parametrize("role", ROLES)
def test_each_principal_joins_exactly_the_groups_the_table_grants(
    ns: Namespace, role: KafkaRole
) -> None:
    # Subscribed to a topic the principal may read (the trainer reads none), so only the
    # group decides
    readable = next(
        (s.name for s in ns.settings.topics() if _granted(ns, role, "READ", "topic", s.name)),
        ns.topic("model_events"),
    )
    outcomes: dict[str, bool] = {}
    for key in GROUP_KEYS:
        group = splitstream_groups(ns.settings)[key]
        try:
            _join(_as(ns, role), group, readable)
            outcomes[key] = True
        except GroupAuthorizationFailedError:
            outcomes[key] = False
    groups = splitstream_groups(ns.settings)
    assert outcomes == {k: _granted(ns, role, "READ", "group", groups[k]) for k in GROUP_KEYS}


# --------------------------------------------------------------------------- forged commands


def _forged_command(actor_kind: str) -> dict[str, Any]:
    """A well-formed pause command whose body also claims who decides."""
    body = new_command(action="pause", operator="mallory", reason="forged").model_dump(mode="json")
    return {**body, "actor": {"kind": actor_kind, "name": "mallory"}}


@pytest.mark.parametrize("role", ["predictor", "batch", "agent", "trainer", "sink"])
def test_a_command_from_a_principal_that_is_no_operator_cannot_be_written(
    ns: Namespace, role: KafkaRole
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _write(_as(ns, role), ns.topic("promoter_commands"), _forged_command("operator"))


def _promoter(ns: Namespace) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name=f"promoter-acl-{uuid.uuid4().hex[:6]}",
        command=[sys.executable, "-m", "cli", "promoter"],
        ports=[port],
        log_file=ns.workdir / "promoter-acl.log",
        run_dir=ns.workdir / "run-acl",
        is_ready=lambda: http_answers(f"http://127.0.0.1:{port}/metrics"),
        start_timeout_s=60,
        env={
            "SPLITSTREAM_TOPIC_PREFIX": ns.prefix,
            "SPLITSTREAM_S3_BUCKET": ns.bucket,
            "SPLITSTREAM_PROMOTER_METRICS_PORT": str(port),
            "SPLITSTREAM_SINK_PORT": str(free_port()),  # no sink: evaluations just fail
            "SPLITSTREAM_KAFKA_ROLE": "promoter",
            "PYTHONUNBUFFERED": "1",
        },
        cwd=PROJECT_ROOT,
    )


@pytest.fixture
def promoter(ns: Namespace) -> Iterator[ServiceProcess]:
    process = _promoter(ns)
    supervisor.start(process)
    try:
        yield process
    finally:
        supervisor.stop(process)


def test_a_forged_command_is_not_executed_and_the_actor_comes_from_the_topic(
    ns: Namespace, promoter: ServiceProcess
) -> None:
    # Given a command on model.events, which a predictor may write (reload acks), and a
    # command on the commands topic whose body claims the policy decided
    _write(_as(ns, "predictor"), ns.topic("model_events"), _forged_command("operator"))
    _write(_as(ns, "operator"), ns.topic("promoter_commands"), _forged_command("policy"))

    # When an operator then asks for a pause
    result = send_command(
        _as(ns, "operator"), action="pause", operator="asha", reason="the real one"
    )

    # Then neither forgery paused the promoter (the real pause is done, not "already
    # paused"), and the ledger's one pause is the operator's, named as she asked
    log = promoter.log_file.read_text(errors="replace")
    assert result.outcome == "done", log[-3000:]
    pauses = [r for r in read_ledger(_as(ns, "operator")) if r.action == "pause"]
    assert [(r.actor.kind, r.actor.name) for r in pauses] == [("operator", "asha")]
    assert "ignored a command on" in log and "is malformed" in log, log[-3000:]
    send_command(_as(ns, "operator"), action="resume", operator="asha", reason="done")


def _read_all(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every JSON message of a one-partition topic, from its beginning to its end now."""
    consumer = kafka.consumer(settings, group_id=None)
    partition = TopicPartition(topic, 0)
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while consumer.position(partition) < end and time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200).get(partition, []):
                found.append(json.loads(record.value))
        return found
    finally:
        consumer.close()


def test_the_gateway_and_operators_read_the_promoters_answers(ns: Namespace) -> None:
    # Given an answer on the commands topic, written as the promoter answers
    probe = {"event_type": "probe", "id": uuid.uuid4().hex}
    _write(_as(ns, "promoter"), ns.topic("promoter_commands"), probe)
    # Then the gateway (admin endpoints) and the operator (CLI) both read it
    for role in ("gateway", "operator"):
        assert probe in _read_all(_as(ns, role), ns.topic("promoter_commands")), role
    # And a batch producer, who may not read the topic, is refused
    with pytest.raises(TopicAuthorizationFailedError):
        _read_all(_as(ns, "batch"), ns.topic("promoter_commands"))
