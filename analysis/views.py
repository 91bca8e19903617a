"""Reading one experiment's rows of the analysis views (``schemas/clickhouse/views.sql``).

Everything is read through ``ClickHouse.query_df`` (chDB in this process, the sink over
HTTP, or a server), so the readers work wherever ClickHouse runs. Reads block: an async
caller runs them in a thread.
"""

import re
from typing import Any

import pandas as pd

from plumbing.clickhouse import ClickHouse

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHERE = "WHERE experiment_id = {experiment:String}"


def checked_database(database: str) -> str:
    """``database`` if it is a plain identifier (it is put into SQL text, not bound).

    Raises:
        ValueError: naming the database.
    """
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid ClickHouse database name {database!r}")
    return database


def latest_experiment(clickhouse: ClickHouse, database: str) -> str | None:
    """The experiment of the most recent served request, or None when there is none."""
    frame = clickhouse.query_df(
        f"SELECT experiment_id FROM {checked_database(database)}.requests "  # noqa: S608
        "WHERE NOT shadow ORDER BY occurred_at DESC LIMIT 1"
    )
    return None if frame.empty else str(frame["experiment_id"].iloc[0])


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts of their columns."""
    found: list[dict[str, Any]] = frame.to_dict("records")
    return found


class ExperimentViews:
    """One experiment's rows of each view, each read a frame (blocking).

    Raises (every read):
        SplitstreamError: the sink or ClickHouse did not answer or refused a query.
    """

    def __init__(self, clickhouse: ClickHouse, *, database: str, experiment_id: str) -> None:
        self._clickhouse = clickhouse
        self._db = checked_database(database)
        self._params: dict[str, Any] = {"experiment": experiment_id}

    def _read(self, sql: str, **params: Any) -> pd.DataFrame:
        return self._clickhouse.query_df(sql, {**self._params, **params})

    def summary(self) -> pd.DataFrame:
        """v_variant_summary: each variant's requests, errors, latency and MAE."""
        return self._read(f"SELECT * FROM {self._db}.v_variant_summary {_WHERE}")  # noqa: S608

    def srm(self, candidate_share: float) -> pd.DataFrame:
        """v_srm: the split test against the planned ``candidate_share``."""
        return self._read(
            f"SELECT * FROM {self._db}.v_srm(candidate_share = {{share:Float64}}) {_WHERE}",  # noqa: S608
            share=candidate_share,
        )

    def paired(self) -> pd.DataFrame:
        """v_paired: the sums of the shadow-scored pairs' error differences."""
        return self._read(f"SELECT * FROM {self._db}.v_paired {_WHERE}")  # noqa: S608

    def drift(self) -> pd.DataFrame:
        """v_drift_psi: each feature's PSI per variant and model version."""
        return self._read(
            "SELECT variant, model_version, feature, requests, psi "  # noqa: S608
            f"FROM {self._db}.v_drift_psi {_WHERE}"
        )

    def hourly(self) -> pd.DataFrame:
        """v_variant_hourly, oldest hour first."""
        return self._read(
            f"SELECT * FROM {self._db}.v_variant_hourly {_WHERE} ORDER BY hour, variant"  # noqa: S608
        )

    def minutes(self, limit: int) -> pd.DataFrame:
        """Requests and latency p50/p95 per minute and variant (v_served_requests), the
        newest ``limit`` rows."""
        return self._read(
            "SELECT toStartOfMinute(occurred_at) AS minute, variant, count() AS requests, "  # noqa: S608
            "quantileExactInclusive(0.5)(latency_ms) AS latency_ms_p50, "
            "quantileExactInclusive(0.95)(latency_ms) AS latency_ms_p95 "
            f"FROM {self._db}.v_served_requests {_WHERE} GROUP BY minute, variant "
            f"ORDER BY minute DESC LIMIT {int(limit)}"
        )

    def decisions(self) -> pd.DataFrame:
        """The experiment's rows of the ledger table, one per sequence, in order."""
        return self._read(
            "SELECT sequence, occurred_at, action, actor_kind, actor_name, reasons, statistics "  # noqa: S608
            f"FROM {self._db}.ledger {_WHERE} ORDER BY sequence LIMIT 1 BY sequence"
        )
