"""The query endpoint's statement check: one read-only statement, nothing else."""

import pytest

from consumers.errors import QueryRefusedError
from consumers.statements import check_read_only

READS = [
    "SELECT 1",
    "select count() FROM splitstream.requests FINAL",
    "  SELECT variant, count() AS n FROM splitstream.requests GROUP BY variant;  ",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "(SELECT 1) UNION ALL (SELECT 2)",
    "SHOW TABLES FROM splitstream",
    "SHOW CREATE TABLE splitstream.requests",
    "DESCRIBE TABLE splitstream.replies",
    "DESC splitstream.replies",
    "EXPLAIN SELECT 1",
    "EXPLAIN PIPELINE SELECT count() FROM splitstream.replies",
    "SELECT * FROM splitstream.replies WHERE request_id = {id:String}",
    "SELECT 'DROP TABLE x; INSERT INTO y' AS text",  # words in a string do not count
    "SELECT 1 -- ; DROP TABLE requests\n",  # nor in a comment
    "SELECT 1 /* SETTINGS readonly = 0 */",
    'SELECT "set", `into` FROM splitstream.requests',  # nor quoted names
    "SELECT format('{} {}', 'a', 'b')",  # the function, not the clause
]

REFUSALS = [
    ("INSERT INTO splitstream.requests VALUES (1)", "read-only statement"),
    ("DROP TABLE splitstream.requests", "read-only statement"),
    ("CREATE TABLE t (x UInt8) ENGINE = Memory", "read-only statement"),
    ("ALTER TABLE splitstream.requests DELETE WHERE 1", "read-only statement"),
    ("TRUNCATE TABLE splitstream.requests", "read-only statement"),
    ("OPTIMIZE TABLE splitstream.requests FINAL", "read-only statement"),
    ("SYSTEM FLUSH LOGS", "read-only statement"),
    ("SET readonly = 0", "read-only statement"),
    ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
    ("SELECT 1 SETTINGS max_threads = 64", "SETTINGS"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("SELECT 1; DROP TABLE splitstream.requests", "2 statements"),
    ("SELECT * FROM splitstream.requests INTO OUTFILE '/tmp/x.csv'", "INTO"),
    ("SELECT 1 FORMAT CSV", "FORMAT"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
    ("SELECT * FROM url('http://example.com/x.csv', CSV)", "url()"),
    ("SELECT * FROM Python(batch)", "Python()"),
    ("SELECT * FROM remote('host', system.one)", "remote()"),
    ("EXPLAIN header = 1 SELECT 1", "EXPLAIN"),
    ("EXPLAIN AST INSERT INTO t VALUES (1)", "EXPLAIN"),
    ("", "empty"),
    ("  ;  ", "empty"),
    ("-- only a comment", "empty"),
]


@pytest.mark.parametrize("sql", READS)
def test_a_single_read_only_statement_is_accepted(sql: str) -> None:
    first = check_read_only(sql)

    assert first == sql.strip().lstrip("(").split()[0].upper()


@pytest.mark.parametrize(("sql", "why"), REFUSALS)
def test_writes_ddl_settings_and_several_statements_are_refused_saying_why(
    sql: str, why: str
) -> None:
    with pytest.raises(QueryRefusedError, match=why.replace("(", r"\(").replace(")", r"\)")):
        check_read_only(sql)
