"""views.sql as text: statements, database templating, and what the views read.

The views' numbers are tested on chDB in tests/integration/test_views_chdb.py.
"""

import re

import pytest

from schemas import registry

VIEW_NAMES = [
    "v_served_requests",
    "v_variant_summary",
    "v_variant_hourly",
    "v_srm",
    "v_paired",
    "v_drift_bins",
    "v_drift_psi",
    "v_drift_psi_hourly",
    "v_feedback_corrections",
]


def test_view_ddl_splits_into_one_create_or_replace_per_view_in_file_order() -> None:
    statements = registry.view_ddl("splitstream_test")
    names = [
        re.match(r"CREATE OR REPLACE VIEW splitstream_test\.(\w+) AS\n", s) for s in statements
    ]
    assert [m.group(1) for m in names if m] == VIEW_NAMES
    assert all("$" not in s and not s.rstrip().endswith(";") for s in statements)
    assert all("--" not in s for s in statements)  # comment lines are dropped


def test_view_ddl_refuses_a_database_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="database"):
        registry.view_ddl("x; DROP TABLE y")


def test_views_read_only_declared_tables_and_earlier_views_of_the_same_database() -> None:
    tables = {s.split("(")[0].split()[-1].split(".")[-1] for s in registry.table_ddl("db")[1:]}
    seen: set[str] = set()
    for name, statement in zip(VIEW_NAMES, registry.view_ddl("db"), strict=True):
        read = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)\.(\w+)", statement))
        assert read, name
        assert {database for database, _ in read} == {"db"}, name
        assert {table for _, table in read} <= tables | seen, name
        seen.add(name)


def test_only_the_srm_view_takes_a_parameter() -> None:
    parameters = {
        name: re.findall(r"\{(\w+):(\w+)\}", statement)
        for name, statement in zip(VIEW_NAMES, registry.view_ddl("db"), strict=True)
    }
    assert parameters.pop("v_srm") == [("candidate_share", "Float64")]
    assert all(found == [] for found in parameters.values())
