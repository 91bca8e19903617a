"""The Faust stream agent across restarts on the real broker: counts survive a SIGKILL, and
a restart resumes its tables from the offsets its store holds instead of replaying history.

Uses the helpers of ``test_promoter_agent`` (the agent as its own process, the truth of
what was produced) under a topic prefix, consumer group and state of this module's own.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer, TopicPartition
from rocksdict import AccessType, Options, Rdict

from cli.settings import Settings
from plumbing import kafka
from promoter.agent_app import app_id
from tests.integration.test_promoter_agent import (
    Agent,
    Produced,
    _agree,
    print_comparison,
    private_agent_env,
    produce_traffic,
    running_agent,
    wait_for_counts,
)

COMMIT_TIMEOUT_S = 60.0
#: Faust's key under which a RocksDB table file keeps the changelog offset it holds.
OFFSET_KEY = b"__faust\x00offset__"
TABLES = ("pane-counts", "join-halves")


@pytest.fixture(scope="module")
def restart_settings(stack: Settings) -> Iterator[Settings]:
    with private_agent_env() as settings:
        assert settings.promoter_agent_store.startswith("rocksdb://")
        yield settings


@pytest.fixture
def producer(restart_settings: Settings) -> Iterator[KafkaProducer]:
    # As the admin: it writes requests, replies and feedback, as gateways and predictors do.
    raw = kafka.producer(restart_settings.as_kafka_role("admin"), value_serializer=None)
    try:
        yield raw
    finally:
        raw.close(timeout=10)


def _read_topics(settings: Settings) -> list[str]:
    """Every topic the agent's group consumes: the sources and its two internal topics."""
    sources = ("predict_requests_prod", "predict_requests_candidate", "predict_replies", "feedback")
    internal = (f"{app_id(settings)}-pane-deltas", f"{app_id(settings)}-join-halves")
    return [settings.topic(key).name for key in sources] + list(internal)


def _uncommitted(settings: Settings) -> int:
    """Messages of the topics the agent reads that its group has not committed yet (a
    partition without a committed offset counts whole)."""
    group = app_id(settings)
    admin = kafka.admin(settings.as_kafka_role("admin"))  # inspects the agent's group
    reader = kafka.consumer(settings.as_kafka_role("admin"), group_id=None)
    try:
        committed = admin.list_group_offsets({group: None}).get(group, {})
        partitions = []
        for topic in _read_topics(settings):
            numbers = reader.partitions_for_topic(topic)
            assert numbers, f"no partitions for {topic}"
            partitions += [TopicPartition(topic, p) for p in numbers]
        ends = reader.end_offsets(partitions)
    finally:
        admin.close()
        reader.close()
    done = {tp: max(meta.offset, 0) for tp, meta in committed.items()}
    return sum(end - done.get(tp, 0) for tp, end in ends.items())


def wait_until_committed(agent: Agent) -> int:
    """Wait until the agent's group committed everything it reads; what is left (0)."""
    deadline = time.monotonic() + COMMIT_TIMEOUT_S
    left = _uncommitted(agent.settings)
    while left and time.monotonic() < deadline:
        assert agent.process.poll() is None, agent.log_text()[-3000:]
        time.sleep(0.5)
        left = _uncommitted(agent.settings)
    return left


def _table_files(settings: Settings) -> dict[str, Path]:
    root = settings.state_dir / "stream-agent" / app_id(settings)
    found = {name: next(root.rglob(f"{name}-0.db"), None) for name in TABLES}
    assert all(found.values()), f"no RocksDB table files under {root}: {found}"
    return found  # type: ignore[return-value]


def persisted_offsets(settings: Settings) -> dict[str, int]:
    """Table -> the changelog offset its RocksDB file holds (read after the agent stopped)."""
    offsets = {}
    for name, path in _table_files(settings).items():
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            offsets[name] = int(db[OFFSET_KEY])
        finally:
            db.close()
    return offsets


def changelog_last_offsets(settings: Settings) -> dict[str, int]:
    """Table -> offset of the last record in its changelog topic."""
    reader = kafka.consumer(settings.as_kafka_role("admin"), group_id=None)
    try:
        partitions = {
            name: TopicPartition(f"{app_id(settings)}-{name}-changelog", 0) for name in TABLES
        }
        ends = reader.end_offsets(list(partitions.values()))
    finally:
        reader.close()
    return {name: ends[tp] - 1 for name, tp in partitions.items()}


def test_counts_survive_a_sigkill_and_a_restart_resumes_from_the_store_offsets(
    restart_settings: Settings, producer: KafkaProducer, tmp_path: Path
) -> None:
    settings = restart_settings
    produced = Produced()
    produce_traffic(producer, settings, produced, variant="candidate", n=120)
    produce_traffic(producer, settings, produced, variant="prod", n=300)

    # Given an agent that counted everything and committed what it read
    with running_agent(settings, tmp_path) as agent:
        counts = wait_for_counts(agent, produced)
        print_comparison(counts, produced)
        assert _agree(counts, produced)
        assert wait_until_committed(agent) == 0
        # When it is SIGKILLed, and traffic arrives while it is down
        agent.process.kill()
        agent.process.wait(timeout=10)
    produce_traffic(producer, settings, produced, variant="candidate", n=60)

    # Then a new agent counts the old history and the new traffic, each once
    with running_agent(settings, tmp_path) as agent:
        counts = wait_for_counts(agent, produced)
        print_comparison(counts, produced)
        assert _agree(counts, produced)
        assert wait_until_committed(agent) == 0
    # (running_agent stopped it with SIGTERM)

    # And its tables hold every record of their changelogs, so a restart reads none again
    persisted, last = persisted_offsets(settings), changelog_last_offsets(settings)
    print(f"store offsets {persisted}, changelog last offsets {last}")
    assert all(offset >= 0 for offset in last.values())
    assert persisted == last

    # And a restart on that store answers with the same counts
    with running_agent(settings, tmp_path) as agent:
        counts = wait_for_counts(agent, produced)
        assert _agree(counts, produced)
