"""The gateway's OpenAPI document is the committed snapshot, so an API change shows in review."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.openapi_snapshot import SNAPSHOT, current_document, differences, encode

ROOT = Path(__file__).parents[2]


def test_openapi_document_matches_the_committed_snapshot() -> None:
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changes = differences(committed, current_document())
    if changes:
        pytest.fail(
            f"the gateway's OpenAPI document differs from {SNAPSHOT.relative_to(ROOT)}:\n  "
            + "\n  ".join(changes)
            + "\nIf the change is intended: make openapi-snapshot, then commit the file.",
            pytrace=False,
        )


def test_snapshot_file_is_written_the_way_the_regenerator_writes_it() -> None:
    text = SNAPSHOT.read_text(encoding="utf-8")
    assert text == encode(json.loads(text))


def _document() -> dict[str, Any]:
    return {
        "info": {"title": "Splitstream gateway", "version": "1"},
        "paths": {
            "/v1/predict": {"post": {"responses": {"200": {}, "422": {}}}},
            "/healthz": {"get": {"responses": {"200": {}}}},
        },
        "components": {"schemas": {"In": {"required": ["location", "bhk"]}}},
    }


def test_differences_name_each_added_removed_and_changed_place() -> None:
    before = _document()
    after = copy.deepcopy(before)
    after["info"]["version"] = "2"
    del after["paths"]["/healthz"]
    after["paths"]["/v1/predict"]["post"]["responses"]["503"] = {"description": "busy"}
    after["components"]["schemas"]["In"]["required"] = ["location"]

    assert differences(before, after) == [
        'changed /info/version: "1" -> "2"',
        'added /paths/~1v1~1predict/post/responses/503: {"description": "busy"}',
        "removed /paths/~1healthz: " + json.dumps(before["paths"]["/healthz"]),
        'changed /components/schemas/In/required: ["location", "bhk"] -> ["location"]',
    ]


def test_differences_compare_lists_item_by_item_and_shorten_long_values() -> None:
    before = {"tags": ["a", "b"], "description": "x"}
    after = {"tags": ["a", "c"], "description": "y" * 500}

    lines = differences(before, after)

    assert lines[0] == 'changed /tags/1: "b" -> "c"'
    assert lines[1].startswith('changed /description: "x" -> "yyy')
    assert lines[1].endswith("...")
    assert len(lines[1]) < 200


def test_no_differences_between_equal_documents() -> None:
    assert differences(_document(), _document()) == []
