"""`splitstream stack up/down/status` as a user runs them: nothing left behind, data kept."""

import os
import subprocess
import sys
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from cli.settings import Settings
from plumbing.kafka_security import client_security
from plumbing.s3 import s3_client
from stack import kafka_access, local, supervisor
from stack.ports import port_is_free
from stack.process_groups import pid_alive

CLI = [sys.executable, "-m", "cli"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )


def _ports(settings: Settings) -> list[int]:
    return [p for s in local.status(settings) for p in s.ports]


def _processes_under(state_dir: Path) -> list[int]:
    """Pids of any process whose command line mentions the state folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(state_dir) in cmdline and pid_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def _write_kafka_message(settings: Settings, topic: str, value: bytes) -> None:
    kafka_access.ensure_topics(settings, {topic: 1})
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **client_security(settings.as_kafka_role("admin"), "kafka-python"),
    )
    producer.send(topic, value=value).get(timeout=15)
    producer.close()


def _read_kafka_messages(settings: Settings, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        **client_security(settings.as_kafka_role("admin"), "kafka-python"),
    )
    values = [record.value for record in consumer]
    consumer.close()
    return values


def test_down_leaves_nothing_behind_and_up_again_keeps_the_data(
    stack: Settings, unique: str
) -> None:
    # Given an S3 object and a Kafka message written to the running stack
    key = f"test/{unique}/survivor.txt"
    s3_client(stack).put_object(Bucket=stack.s3_bucket, Key=key, Body=b"still here")
    topic = f"test.survive.{unique}"
    _write_kafka_message(stack, topic, b"still here")
    pids = [s.pid for s in local.status(stack)]
    assert len(pids) == 3 and all(pids)

    # When the stack is stopped
    down = _cli("stack", "down")
    assert down.returncode == 0, down.stderr

    # Then no process or port is left behind
    assert not [pid for pid in pids if pid and pid_alive(pid)]
    assert _processes_under(stack.state_dir) == []
    assert all(port_is_free(port) for port in _ports(stack))
    assert {s.state for s in local.status(stack)} == {"stopped"}

    # When it is started again, the data written before is still there
    up = _cli("stack", "up")
    assert up.returncode == 0, up.stderr
    body = s3_client(stack).get_object(Bucket=stack.s3_bucket, Key=key)["Body"].read()
    assert body == b"still here"
    assert _read_kafka_messages(stack, topic) == [b"still here"]


def test_status_shows_state_port_and_log_file_of_each_service(stack: Settings) -> None:
    shown = _cli("stack", "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    for service in local.status(stack):
        row = next(line for line in lines if line.strip("│ ").startswith(service.name))
        assert "running" in row
        assert all(str(port) in row for port in service.ports)
        assert service.log_file.name in shown.stdout
    assert "chDB" in shown.stdout


def test_status_exits_1_when_a_service_is_down(stack: Settings) -> None:
    process = local.mlflow_process(stack)
    supervisor.stop(process)
    try:
        shown = _cli("stack", "status")
        assert shown.returncode == 1
        assert "stopped" in shown.stdout
    finally:
        supervisor.start(process)
