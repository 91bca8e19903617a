"""The event tables of schemas/ in embedded ClickHouse (chDB)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from plumbing.clickhouse import ChdbClickHouse, create_tables
from schemas.registry import table_ddl

DATABASE = "splitstream_test"


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClickHouse]:
    path: Path = tmp_path_factory.mktemp("chdb")
    clickhouse = ChdbClickHouse(str(path), DATABASE)
    create_tables(clickhouse, DATABASE)
    yield clickhouse
    clickhouse.close()


def _count(chdb: ChdbClickHouse, table: str, topic: str) -> int:
    rows = chdb.query_df(
        f"SELECT count() AS n FROM {DATABASE}.{table} WHERE _topic = {{topic:String}}",
        params={"topic": topic},
    )
    return int(rows["n"].iloc[0])


def _tables(chdb: ChdbClickHouse) -> set[str]:
    rows = chdb.query_df(
        "SELECT name FROM system.tables WHERE database = {db:String}", params={"db": DATABASE}
    )
    return set(rows["name"])


def test_every_table_of_the_ddl_exists(chdb: ChdbClickHouse) -> None:
    declared = {s.split("(")[0].split()[-1].split(".")[-1] for s in table_ddl(DATABASE)[1:]}
    assert declared and declared <= _tables(chdb)


def test_creating_the_tables_twice_changes_nothing(chdb: ChdbClickHouse) -> None:
    before = _tables(chdb)
    create_tables(chdb, DATABASE)
    assert _tables(chdb) == before


def _feedback_batch(rows: int) -> pd.DataFrame:
    """A batch of feedback rows, tagged with a topic name of its own to count it by."""
    now = pd.Timestamp(datetime.now(UTC)).floor("ms")
    return pd.DataFrame(
        {
            "event_id": [str(uuid.uuid4()) for _ in range(rows)],
            "event_type": ["feedback"] * rows,
            "schema_version": [1] * rows,
            "occurred_at": [now] * rows,
            "request_id": [str(uuid.uuid4()) for _ in range(rows)],
            "actual_price_lakhs": [50.0 + i for i in range(rows)],
            "source": ["http"] * rows,
            "_topic": [f"feedback-{uuid.uuid4()}"] * rows,
            "_partition": [0] * rows,
            "_offset": list(range(rows)),
        }
    )


def test_same_batch_inserted_twice_with_same_token_is_stored_once(chdb: ChdbClickHouse) -> None:
    batch = _feedback_batch(5)
    token = f"feedback:0:0-4:{uuid.uuid4()}"
    chdb.insert_df("feedback", batch, dedup_token=token)
    chdb.insert_df("feedback", batch, dedup_token=token)
    assert _count(chdb, "feedback", batch["_topic"].iloc[0]) == 5


def test_a_different_token_inserts_again_and_final_collapses_by_event_id(
    chdb: ChdbClickHouse,
) -> None:
    batch = _feedback_batch(3)
    chdb.insert_df("feedback", batch, dedup_token=f"a-{uuid.uuid4()}")
    chdb.insert_df("feedback", batch, dedup_token=f"b-{uuid.uuid4()}")
    topic = batch["_topic"].iloc[0]
    assert _count(chdb, "feedback", topic) == 6
    assert _count(chdb, "feedback FINAL", topic) == 3
