"""The query endpoint's syntax-tree check, on trees as ClickHouse's parseQueryToJSON writes them.

The trees below are what ClickHouse 26.9 (chDB 4.4) returned for the statement named in each
case; tests/integration/test_query_access.py runs the whole path on the real engine.
"""

import json
from typing import Any

import pytest

from consumers.errors import QueryRefusedError
from consumers.statements import check_tree, check_tree_json, escaped, parse_error_reason


def _select(*expressions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """SELECT <expressions> as ClickHouse's tree, with top-level ``extra`` keys."""
    return {
        "type": "SelectWithUnionQuery",
        "union_mode": "UNION_DEFAULT",
        "list_of_selects": {
            "type": "ExpressionList",
            "children": [
                {
                    "type": "SelectQuery",
                    "select": {"type": "ExpressionList", "children": [*expressions]},
                }
            ],
        },
        "is_outfile_append": False,
        **extra,
    }


def _function(name: str, *arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Function",
        "name": name,
        "arguments": {"type": "ExpressionList", "children": [*arguments]},
    }


def _literal(value: Any) -> dict[str, Any]:
    return {"type": "Literal", "value": {"field_type": "String", "value": value}}


def _from_table_function(name: str) -> dict[str, Any]:
    """SELECT * FROM name('/etc/passwd')."""
    tree = _select({"type": "Asterisk"})
    tree["list_of_selects"]["children"][0]["tables"] = {
        "type": "TablesInSelectQuery",
        "children": [
            {
                "type": "TablesInSelectQueryElement",
                "table_expression": {
                    "type": "TableExpression",
                    "table_function": _function(name, _literal("/etc/passwd")),
                },
            }
        ],
    }
    return tree


def test_a_select_show_tables_and_explain_pass() -> None:
    assert check_tree(_select(_literal("x"))) == "SelectWithUnionQuery"
    assert check_tree({"type": "ShowTablesQuery"}) == "ShowTablesQuery"
    assert check_tree({"type": "ExplainQuery", "explained": _select(_literal(1))}) == "ExplainQuery"


def test_table_functions_are_left_to_clickhouses_access_control() -> None:
    assert check_tree(_from_table_function("file")) == "SelectWithUnionQuery"


@pytest.mark.parametrize(
    ("tree", "why"),
    [
        ({"type": "KillQueryQuery", "kill_type": "Query"}, "KillQueryQuery is not a read-only"),
        ({"type": "DropQuery"}, "not a read-only statement"),
        ({}, "this statement is not a read-only statement"),
        (_select(_literal(1), out_file=_literal("/tmp/x")), "INTO OUTFILE"),
        (_select(_literal(1), format_ast={"type": "Identifier", "name": "CSV"}), "FORMAT"),
        (_select(_function("file", _literal("/etc/passwd"))), r"function file\(\) reads outside"),
        (
            _select(_function("arrayMap", _function("lambda", _function("file", _literal("p"))))),
            r"file\(\)",
        ),
        (
            {"type": "ExplainQuery", "explained": _select(_literal(1), out_file=_literal("x"))},
            "OUTFILE",
        ),
    ],
)
def test_what_local_mode_leaves_open_is_refused_saying_why(tree: dict[str, Any], why: str) -> None:
    with pytest.raises(QueryRefusedError, match=why):
        check_tree(tree)


def test_a_string_that_looks_like_a_call_is_only_a_string() -> None:
    assert check_tree(_select(_literal("file('/etc/passwd')"))) == "SelectWithUnionQuery"
    assert check_tree_json(json.dumps(_select(_literal("INTO OUTFILE")))) == "SelectWithUnionQuery"
    with pytest.raises(QueryRefusedError, match="no syntax tree"):
        check_tree_json("[]")


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        ("Code: 62. DB::Exception: Syntax error (Multi-statements are not allowed)", "several"),
        ("Code: 62. DB::Exception: Syntax error: failed at position 7", None),
        ("Code: 36. DB::Exception: AST node of type 'DescribeQuery' does not support JSON", "tree"),
        ("Code: 36. DB::Exception: INSERT with inline data has no JSON form", "tree"),
    ],
)
def test_a_failed_parse_is_refused_unless_it_is_a_plain_syntax_error(
    message: str, refused: str | None
) -> None:
    reason = parse_error_reason(message)

    assert (reason is None) if refused is None else (reason is not None and refused in reason)


def test_escaping_a_parameter_keeps_every_character_clickhouse_would_read_as_an_escape() -> None:
    assert escaped("a\nb\tc\\d\re\0f") == "a\\nb\\tc\\\\d\\re\\0f"
    assert escaped("SELECT 'x' -- $$") == "SELECT 'x' -- $$"
