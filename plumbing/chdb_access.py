"""What chDB itself enforces on the sink's read-only connection, and the files that say so.

Measured on chDB 4.4.0 (ClickHouse 26.9 inside), in the tests of
tests/integration/test_query_access.py:

- Every connection of the process is ClickHouse user ``default``: the engine is one
  ``clickhouse-local`` per process, a connection string's ``user=`` is ignored and
  ``EXECUTE AS`` is refused (``access_control_improvements`` are not read in local
  mode). So the grants of ``default`` bind the writer and the reader alike.
- ``config-file=`` on the first connection is read, and its ``user_directories``
  users file too: that is how ``default`` gets only ``ALL ON <database>.*`` and
  ``CREATE TEMPORARY TABLE`` (what ``INSERT … SELECT FROM Python(df)`` needs), and
  no ``SOURCES`` (file, URL, S3, remote, …): ``file()`` answers
  ``Not enough privileges … READ ON FILE`` even to the writer. Without an explicit
  file, chDB reads ``./config.xml`` from its working folder if one is there.
- Query-level settings in the connection string apply to that connection only:
  ``readonly=1`` (chDB's own ``mode=ro`` sets 2, which still runs
  ``INSERT INTO FUNCTION file(...)``, table functions and ``SETTINGS``). At 1, no
  setting can change afterwards (``SET`` or ``SETTINGS``), so the limits given with
  it (time, memory, result size) hold for every query on the connection. Every
  table function that ``system.table_functions`` marks ``allow_readonly = 0`` is
  refused (``Cannot execute query in readonly mode``); those marked 1 compute in
  memory (``numbers``, ``values``, …) or read tables the grants allow (``merge``).
- Not enforced in local mode, so the query endpoint checks them on ClickHouse's own
  parse (``parseQueryToJSON``, consumers/statements.py): the scalar function
  ``file(path)`` reads any file the process can; ``INTO OUTFILE`` writes one (it is
  done by the embedded client); ``KILL QUERY`` stops the writer's queries (one user).
"""

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

CONFIG_FILE = "config.xml"
USERS_FILE = "users.xml"


@dataclass(frozen=True)
class QueryLimits:
    """What one read-only query may use; ClickHouse stops it past any of them."""

    max_execution_s: float
    max_memory_bytes: int
    max_result_rows: int

    def settings(self) -> dict[str, str]:
        """The ClickHouse settings that enforce these limits (and refuse, not truncate)."""
        return {
            "max_execution_time": f"{self.max_execution_s:g}",
            "max_memory_usage": str(self.max_memory_bytes),
            "max_result_rows": str(self.max_result_rows),
            "result_overflow_mode": "throw",
        }


def reader_connection_string(path: str, limits: QueryLimits) -> str:
    """chDB's connection string for the read-only connection: readonly=1 and the limits."""
    settings = {"readonly": "1", **limits.settings()}
    return path + "?" + "&".join(f"{name}={value}" for name, value in settings.items())


def users_xml(database: str) -> str:
    """The users file: ``default`` may do anything in ``database`` and nothing outside it."""
    name = escape(database.replace("`", ""))
    return f"""<clickhouse>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <users>
    <default>
      <password></password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <grants>
        <query>GRANT ALL ON `{name}`.*</query>
        <query>GRANT CREATE TEMPORARY TABLE ON *.*</query>
      </grants>
    </default>
  </users>
</clickhouse>
"""


def config_xml(users_file: Path) -> str:
    """The engine's configuration: users from ``users_file``, and fewer idle wake-ups.

    The memory worker re-reads the allocator's figures every 100 ms by default; once a
    second keeps the memory limits in force and wakes the sink 90 times a second less.
    """
    return f"""<clickhouse>
  <user_directories>
    <users_xml><path>{escape(str(users_file))}</path></users_xml>
  </user_directories>
  <memory_worker_period_ms>1000</memory_worker_period_ms>
</clickhouse>
"""


def write_access_config(folder: Path, database: str) -> Path:
    """Write the engine configuration into ``folder`` (mode 700); returns the config file."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    users = folder / USERS_FILE
    users.write_text(users_xml(database), encoding="utf-8")
    config = folder / CONFIG_FILE
    config.write_text(config_xml(users.resolve()), encoding="utf-8")
    return config
