"""What the query endpoint refuses that embedded ClickHouse does not: read on its own parse.

ClickHouse's access control does the enforcing (plumbing/chdb_access.py): the
read-only connection runs at ``readonly=1`` with time, memory and result limits, as
a user granted only the Splitstream database and no sources (file, URL, S3, remote,
…). chDB leaves three things open in its local mode, measured on 4.4.0: the scalar
function ``file(path)`` reads any file the process can, ``INTO OUTFILE`` writes one,
and ``KILL QUERY`` stops the writer's queries. So on chDB each statement is parsed
first by ClickHouse itself (``parseQueryToJSON``, the statement bound as a
parameter, nothing run) and the syntax tree, not the text, is checked:

- the statement is a SELECT (with UNION, WITH, …), SHOW TABLES/DATABASES or EXPLAIN;
- no ``INTO OUTFILE`` and no ``FORMAT`` clause (the endpoint answers JSON);
- no call of a scalar function that reads outside the database (``file``).

Table functions are left to ClickHouse, which refuses every one that reaches outside
the database, and settings changes too. Comments, quoting and nesting cannot hide
anything from this check: it reads the tree ClickHouse would run.
"""

import json
from collections.abc import Iterator
from typing import Any

from consumers.errors import QueryRefusedError

#: Statement kinds (top-level node types) that only read.
READ_STATEMENTS = frozenset({"SelectWithUnionQuery", "ShowTablesQuery", "ExplainQuery"})
#: Scalar functions that reach outside the database in chDB's local mode (lower case).
OUTSIDE_FUNCTIONS = frozenset({"file"})
#: ClickHouse's own query: the statement travels as a bound parameter, never as SQL, and
#: comes back beside its tree so the caller can see it arrived unchanged.
PARSE_SQL = "SELECT parseQueryToJSON({statement:String}) AS tree, {statement:String} AS echo"
#: A parameter value is read in ClickHouse's escaped text format: these must be escaped.
_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0", "\b": "\\b", "\f": "\\f"}
)
MULTI_STATEMENTS = "Multi-statements are not allowed"
#: ClickHouse's SYNTAX_ERROR: the statement does not parse (the caller's mistake, a 400).
SYNTAX_ERROR = "Code: 62."


def escaped(value: str) -> str:
    """``value`` as a query parameter must be sent so that ClickHouse reads it unchanged."""
    return value.translate(_ESCAPES)


def parse_error_reason(message: str) -> str | None:
    """The refusal for a statement ClickHouse could not turn into a syntax tree.

    None for a plain syntax error. Any other failure means a tree that cannot be shown
    (DESCRIBE, SHOW CREATE, INSERT with data, …), and what cannot be checked is not run.
    """
    if MULTI_STATEMENTS in message:
        return "several statements; send exactly one"
    if SYNTAX_ERROR in message:
        return None
    return (
        "ClickHouse cannot show this statement's syntax tree, so it is not run "
        "(allowed: SELECT, WITH, SHOW TABLES, EXPLAIN; for columns read system.columns)"
    )


def check_tree(tree: dict[str, Any]) -> str:
    """The statement kind when ``tree`` (parseQueryToJSON's) is one the endpoint runs.

    Raises:
        QueryRefusedError: naming what in the statement is refused.
    """
    kind = str(tree.get("type", ""))
    if kind not in READ_STATEMENTS:
        raise QueryRefusedError(
            f"{kind or 'this statement'} is not a read-only statement "
            "(allowed: SELECT, WITH, SHOW TABLES, EXPLAIN)"
        )
    if "format_ast" in tree:
        raise QueryRefusedError("FORMAT is not allowed: the endpoint answers JSON")
    for key, node in _nodes(tree, parent_key=""):
        if "out_file" in node:
            raise QueryRefusedError("INTO OUTFILE is not allowed: the endpoint is read-only")
        name = str(node.get("name", "")).lower()
        scalar = node.get("type") == "Function" and key != "table_function"
        if scalar and name in OUTSIDE_FUNCTIONS:
            raise QueryRefusedError(f"function {node['name']}() reads outside the database")
    return kind


def check_tree_json(raw: str) -> str:
    """``check_tree`` of the JSON text parseQueryToJSON returned."""
    tree = json.loads(raw)
    if not isinstance(tree, dict):
        raise QueryRefusedError("ClickHouse returned no syntax tree for this statement")
    return check_tree(tree)


def _nodes(value: Any, *, parent_key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in the tree, with the key it hangs from (list items keep their list's)."""
    if isinstance(value, dict):
        yield parent_key, value
        for key, child in value.items():
            yield from _nodes(child, parent_key=key)
    elif isinstance(value, list):
        for child in value:
            yield from _nodes(child, parent_key=parent_key)
