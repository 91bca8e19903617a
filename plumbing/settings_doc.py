"""The README's configuration table, generated from the settings object.

``python -m plumbing.settings_doc`` (``make docs``) writes it into the README;
a test checks the README holds exactly this text between its markers.
"""

import json
from pathlib import Path

from pydantic.fields import FieldInfo

from plumbing.settings import ENV_PREFIX, PROJECT_ROOT, load_settings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "unset"
    # Lists are set as JSON (pydantic-settings reads them so), and shown so.
    text = json.dumps(value) if isinstance(value, list) else str(value)
    if text == "":
        return "empty"
    # Paths are shown relative to the checkout, whichever folder it is in.
    if text.startswith(str(PROJECT_ROOT)):
        text = text.replace(str(PROJECT_ROOT), ".", 1)
    elif text.startswith(str(PROJECT_ROOT.parent)):
        text = text.replace(str(PROJECT_ROOT.parent), "..", 1)
    return f"`{text}`"


def settings_table() -> str:
    """One row per setting: environment variable, default, meaning."""
    fields = type(load_settings()).model_fields
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in fields.items():
        variable = f"`{ENV_PREFIX}{name.upper()}`"
        rows.append(f"| {variable} | {_default(field)} | {field.description or ''} |")
    return "\n".join(rows)


def rewrite_readme(readme: Path) -> None:
    """Replace the table between the README's markers with the generated one."""
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}")


if __name__ == "__main__":
    rewrite_readme(PROJECT_ROOT / "README.md")
