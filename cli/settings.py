"""Every setting in one class, for the tools that start or drive every service (the CLI,
bench, chaos) and for tests; each service itself reads only its own class."""

from functools import lru_cache
from typing import Any

from consumers.settings import SinkSettings
from gateway.settings import GatewaySettings
from plumbing.settings_stack import StackSettings
from predictors.settings import PredictorSettings
from promoter.settings import AgentSettings, PromoterSettings
from trainer.settings import TrainerSettings


class Settings(
    StackSettings,
    GatewaySettings,
    PredictorSettings,
    SinkSettings,
    PromoterSettings,
    AgentSettings,
    TrainerSettings,
):
    """All Splitstream settings."""


@lru_cache
def get_settings() -> Settings:
    """Build the settings once per process; tests call ``get_settings.cache_clear()``."""
    return load_settings()


def load_settings(**overrides: Any) -> Settings:
    """Build fresh settings: overrides, then the environment, then local.env, then defaults."""
    return Settings.load(**overrides)
