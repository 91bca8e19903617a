"""Is this SQL a single read-only statement? The query endpoint's first check.

The second check is ClickHouse's own: the endpoint runs queries on a read-only
connection (chDB ``mode=ro``, readonly=2). This one refuses, with a reason:

- anything but one statement (a trailing ``;`` is fine);
- a statement that does not start with SELECT, WITH, SHOW, DESCRIBE/DESC or EXPLAIN
  (EXPLAIN only of a SELECT);
- settings changes (``SETTINGS`` anywhere, ``SET``), ``INTO OUTFILE`` and ``FORMAT``
  (the endpoint chooses the output format);
- table functions that reach outside ClickHouse's tables (files, URLs, other servers,
  programs, Python objects of the sink process).

Strings, quoted identifiers and comments are skipped, so words inside them do not count.
"""

import re

from consumers.errors import QueryRefusedError

READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"})
EXPLAIN_KINDS = frozenset({"AST", "SYNTAX", "QUERY", "TREE", "PLAN", "PIPELINE", "ESTIMATE"})
#: Words that change settings or write somewhere, wherever they appear.
FORBIDDEN_WORDS = frozenset({"SETTINGS", "SET", "INTO", "OUTFILE"})
#: Table functions that read or write outside the database (lower case).
OUTSIDE_FUNCTIONS = frozenset(
    {
        "file",
        "filecluster",
        "url",
        "urlcluster",
        "s3",
        "s3cluster",
        "gcs",
        "azureblobstorage",
        "azureblobstoragecluster",
        "hdfs",
        "hdfscluster",
        "remote",
        "remotesecure",
        "cluster",
        "clusterallreplicas",
        "mysql",
        "postgresql",
        "mongodb",
        "redis",
        "sqlite",
        "odbc",
        "jdbc",
        "executable",
        "python",
        "input",
        "iceberg",
        "icebergs3",
        "deltalake",
        "hudi",
    }
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"\\]|\\.|"")*(?:"|\Z)|`(?:[^`\\]|\\.|``)*(?:`|\Z))
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<semicolon>;)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens(sql: str) -> list[tuple[str, str]]:
    """(kind, text) of every token that matters: words, quoted names, strings, symbols."""
    return [
        (match.lastgroup or "other", match.group())
        for match in _TOKEN.finditer(sql)
        if match.lastgroup not in ("space", "comment")
    ]


def _statements(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    statements: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token[0] == "semicolon":
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def check_read_only(sql: str) -> str:
    """The statement's first keyword when ``sql`` is one read-only statement.

    Raises:
        QueryRefusedError: naming why it is not.
    """
    statements = _statements(_tokens(sql))
    if not statements:
        raise QueryRefusedError("empty statement")
    if len(statements) > 1:
        raise QueryRefusedError(f"{len(statements)} statements; send exactly one")
    tokens = statements[0]
    words = [(i, text.upper()) for i, (kind, text) in enumerate(tokens) if kind == "word"]
    leading = next((token for token in tokens if token != ("other", "(")), ("other", "("))
    first = leading[1].upper() if leading[0] == "word" else ""
    if first not in READ_KEYWORDS:
        raise QueryRefusedError(
            f"{leading[1]!r} does not start a read-only statement "
            "(allowed: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)"
        )
    if first == "EXPLAIN":
        _check_explained(words)
    for index, word in words:
        if word in FORBIDDEN_WORDS:
            raise QueryRefusedError(f"{word} is not allowed: the endpoint is read-only")
        followed_by_paren = tokens[index + 1 : index + 2] == [("other", "(")]
        if word == "FORMAT" and not followed_by_paren:
            raise QueryRefusedError("FORMAT is not allowed: the endpoint answers JSON")
        if followed_by_paren and word.lower() in OUTSIDE_FUNCTIONS:
            raise QueryRefusedError(
                f"table function {tokens[index][1]}() reaches outside the database"
            )
    return first


def _check_explained(words: list[tuple[int, str]]) -> None:
    """EXPLAIN [kind] must explain a SELECT (its ``name = value`` options are settings)."""
    explained = next((w for _, w in words[1:] if w not in EXPLAIN_KINDS), None)
    if explained not in ("SELECT", "WITH"):
        raise QueryRefusedError("EXPLAIN is allowed for SELECT queries only, without options")
