"""The README's configuration table, generated from the settings classes.

``python -m cli.settings_doc`` (``make docs``) writes it into the README; a test
checks the README holds exactly this text between its markers. One row per
setting, grouped by the class that declares it, with the services that read it.
"""

import inspect
import json
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from cli.settings import Settings
from consumers.settings import SinkSettings
from gateway.settings import GatewaySettings
from plumbing.settings import (
    ENV_PREFIX,
    PROJECT_ROOT,
    ClickHouseSettings,
    ExperimentSettings,
    GatewayAddressSettings,
    MlflowSettings,
    ModelVerifySettings,
    NicenessSettings,
    RequestIdSettings,
    S3Settings,
    SplitstreamSettings,
)
from plumbing.settings_kafka import KafkaSettings, PromoterClientSettings
from plumbing.settings_stack import StackSettings
from plumbing.settings_topics import TopicSettings
from predictors.settings import PredictorSettings
from promoter.settings import AgentSettings, PromoterSettings
from trainer.settings import TrainerSettings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"

#: Each reader of settings, by the name the table shows, with its class.
READERS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "predictors": PredictorSettings,
    "sink": SinkSettings,
    "promoter": PromoterSettings,
    "agent": AgentSettings,
    "trainer": TrainerSettings,
    "stack": StackSettings,
}


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


#: The classes that declare settings, in the table's order: shared bases, then each reader's.
DECLARING: tuple[type[BaseSettings], ...] = (
    SplitstreamSettings,
    TopicSettings,
    KafkaSettings,
    S3Settings,
    MlflowSettings,
    ClickHouseSettings,
    ExperimentSettings,
    RequestIdSettings,
    ModelVerifySettings,
    NicenessSettings,
    GatewayAddressSettings,
    StackSettings,
    GatewaySettings,
    PredictorSettings,
    SinkSettings,
    PromoterClientSettings,
    PromoterSettings,
    AgentSettings,
    TrainerSettings,
)


def declared_order() -> list[str]:
    """Every setting, in the order of the class that declares it and then of its fields."""
    names: list[str] = []
    for cls in DECLARING:
        names += [n for n in inspect.get_annotations(cls) if n in cls.model_fields]
    return names


def read_by(name: str) -> str:
    """The readers whose class holds setting ``name``: "all" when every one does."""
    readers = [reader for reader, cls in READERS.items() if name in cls.model_fields]
    return "all" if len(readers) == len(READERS) else ", ".join(readers) or "tools"


def settings_table() -> str:
    """One row per setting: environment variable, default, who reads it, meaning."""
    rows = ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for name in declared_order():
        field = Settings.model_fields[name]
        variable = f"`{ENV_PREFIX}{name.upper()}`"
        rows.append(
            f"| {variable} | {_default(field)} | {read_by(name)} | {field.description or ''} |"
        )
    return "\n".join(rows)


def rewrite_readme(readme: Path) -> None:
    """Replace the table between the README's markers with the generated one."""
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}")


if __name__ == "__main__":
    rewrite_readme(PROJECT_ROOT / "README.md")
