"""The gateway's OpenAPI document, its committed snapshot, and what differs between them.

The document does not depend on the settings (ports, tokens, limits), so any valid
settings build it. Regenerate the snapshot after an intended API change with
``make openapi-snapshot`` (``python -m tests.unit.openapi_snapshot``) and review its diff.
"""

import json
from pathlib import Path
from typing import Any

from cli.settings import load_settings
from gateway.main import create_app

SNAPSHOT = Path(__file__).parent / "data" / "gateway-openapi.json"
#: Longest shown value in a difference; the snapshot's diff in review shows the rest.
SHOWN_CHARS = 120


def current_document() -> dict[str, Any]:
    """The OpenAPI document the gateway serves at /openapi.json, as plain JSON values."""
    settings = load_settings(
        kafka_bootstrap_servers="127.0.0.1:9",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_access_key="snapshot",
        s3_secret_key="unit-secret",
        admin_token="openapi-snapshot-admin-token-0123",
        request_id_key="k" * 32,
    )
    document: dict[str, Any] = json.loads(json.dumps(create_app(settings).openapi()))
    return document


def encode(document: dict[str, Any]) -> str:
    """The snapshot file's text: sorted keys and two-space indents, so diffs stay small."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def differences(committed: Any, current: Any, at: str = "") -> list[str]:
    """Every place where ``current`` differs from ``committed``, one line each.

    Args:
        committed: the snapshot's value at ``at``.
        current: the served document's value at ``at``.
        at: the JSON path so far, as ``/``-joined keys and list indexes.

    Returns:
        Lines such as ``removed /paths/~1healthz: {...}`` or
        ``changed /info/version: "1" -> "2"`` (keys escaped as in a JSON Pointer), in
        document order; empty when equal.
    """
    if isinstance(committed, dict) and isinstance(current, dict):
        lines: list[str] = []
        for key in [*committed, *(k for k in current if k not in committed)]:
            where = f"{at}/{_escape(str(key))}"
            if key not in current:
                lines.append(f"removed {where}: {_shown(committed[key])}")
            elif key not in committed:
                lines.append(f"added {where}: {_shown(current[key])}")
            else:
                lines.extend(differences(committed[key], current[key], where))
        return lines
    if isinstance(committed, list) and isinstance(current, list) and len(committed) == len(current):
        return [
            line
            for index, (old, new) in enumerate(zip(committed, current, strict=True))
            for line in differences(old, new, f"{at}/{index}")
        ]
    if committed == current:
        return []
    return [f"changed {at or '/'}: {_shown(committed)} -> {_shown(current)}"]


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def main() -> None:
    """Write the current document over the snapshot."""
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(encode(current_document()), encoding="utf-8")
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()
