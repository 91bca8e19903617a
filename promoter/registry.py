"""MLflow's registry mirrors the slots: ``champion`` is best, ``challenger`` the candidate.

The routing object is the truth; the aliases follow it after each swap. A failure
here is logged, not raised: serving already moved, and the next swap re-mirrors.
"""

import logging

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from plumbing.model_store import ModelStore, Slots
from promoter.settings import PromoterSettings

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"


def mirror_aliases(settings: PromoterSettings, store: ModelStore, slots: Slots) -> None:
    """Point each alias at the registry version of its slot's model, or remove it."""
    client = MlflowClient(settings.mlflow_uri)
    name = settings.registered_model_name
    try:
        for alias, version in ((CHAMPION, slots.best), (CHALLENGER, slots.candidate)):
            registered = _registered_version(store, version)
            if registered is None:
                _delete_alias(client, name, alias)
            else:
                client.set_registered_model_alias(name, alias, registered)
    except (MlflowException, OSError) as error:
        log.warning("mlflow aliases not mirrored for generation %d: %s", slots.generation, error)


def _registered_version(store: ModelStore, version: str | None) -> str | None:
    if version is None:
        return None
    registered = store.manifest(version).get("mlflow_registered_version")
    return str(registered) if registered is not None else None


def _delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    try:
        client.delete_registered_model_alias(name, alias)
    except MlflowException as error:
        if "RESOURCE_DOES_NOT_EXIST" not in str(error.error_code):
            raise
