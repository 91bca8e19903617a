"""One serving slot's live model: load the new version beside the old, then switch.

``ModelSlot.apply(slots)`` is the only writer. It loads a new version fully
(download, sha256 check, unpickle) while the old one keeps serving, then
replaces it in one assignment, so a batch that took ``slot.live`` before the
switch finishes on the old model and the next batch gets the new one. A load
that fails leaves the old model serving; a manifest whose signature fails is
refused with code ``signature`` (logged, acknowledged in ``model.reloaded``).
"""

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from plumbing.errors import ModelIntegrityError, ModelNotFoundError, ModelSignatureError
from plumbing.model_store import LoadedModel, ModelStore, Slots
from predictors.log_log import LogLogWeights, verified_weights
from pricing.features import FeatureDomain

log = logging.getLogger(__name__)

SlotName = Literal["prod", "candidate"]


@dataclass(frozen=True)
class LiveModel:
    """A loaded model version as served, with what its inputs may be."""

    version: str
    generation: int
    estimator: Any
    columns: list[str]
    domain: FeatureDomain | None
    #: Names the estimator was fitted with, when it was fitted on a DataFrame.
    feature_names: list[str] | None
    #: The model as one numpy expression, when it is a log-log linear model
    #: (predictors/log_log.py); None predicts through ``estimator.predict``.
    weights: LogLogWeights | None = None

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, *, generation: int) -> "LiveModel":
        domain = None
        if "feature_domain" in loaded.manifest:
            domain = FeatureDomain.from_manifest(loaded.manifest)
        else:
            log.warning("model %s has no feature_domain: inputs are not checked", loaded.version)
        names = getattr(loaded.estimator, "feature_names_in_", None)
        feature_names = [str(n) for n in names] if names is not None else None
        if feature_names is not None and len(feature_names) != len(loaded.columns):
            feature_names = None
        weights = None
        if feature_names is None:
            weights = verified_weights(loaded.estimator, len(loaded.columns))
        return cls(
            loaded.version,
            generation,
            loaded.estimator,
            loaded.columns,
            domain,
            feature_names,
            weights,
        )


@dataclass(frozen=True)
class SlotChange:
    """What one ``apply`` did; the model.reloaded acknowledgement is built from it."""

    slot: SlotName
    version: str | None  # now served
    generation: int  # of the routing object now served
    load_ms: float
    changed: bool
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


def wanted_version(slot: SlotName, slots: Slots | None) -> str | None:
    """The version ``slot`` should serve: prod serves best, candidate serves candidate."""
    if slots is None:
        return None
    return slots.best if slot == "prod" else slots.candidate


class ModelSlot:
    """Holds the live model of one serving slot."""

    def __init__(self, slot: SlotName, store: ModelStore) -> None:
        self.slot = slot
        self._store = store
        self._live: LiveModel | None = None

    @property
    def live(self) -> LiveModel | None:
        """The model serving now; read it once per batch."""
        return self._live

    def apply(self, slots: Slots | None) -> SlotChange:
        """Serve what ``slots`` names for this slot, loading it beside the current model."""
        current = self._live
        generation = slots.generation if slots is not None else 0
        wanted = wanted_version(self.slot, slots)
        if wanted is None:
            self._live = None
            if current is not None:
                log.info(
                    "%s slot emptied (generation %d): unloaded %s",
                    self.slot,
                    generation,
                    current.version,
                )
            return SlotChange(self.slot, None, generation, 0.0, changed=current is not None)
        if current is not None and current.version == wanted:
            self._live = replace(current, generation=generation)
            return SlotChange(self.slot, wanted, generation, 0.0, changed=False)
        started = time.perf_counter()
        try:
            loaded = self._store.load(wanted)
            new = LiveModel.from_loaded(loaded, generation=generation)
        except ModelSignatureError as error:
            return self._refused(current, wanted, started, "signature", str(error))
        except ModelIntegrityError as error:
            return self._refused(current, wanted, started, "integrity", str(error))
        except ModelNotFoundError as error:
            return self._refused(current, wanted, started, "not_found", str(error))
        except Exception as error:  # a broken pickle or an S3 outage must not stop serving
            log.exception("%s slot: loading model %s failed", self.slot, wanted)
            message = f"model {wanted}: {type(error).__name__}: {error}"
            return self._refused(current, wanted, started, "load_failed", message)
        load_ms = (time.perf_counter() - started) * 1000
        self._live = new  # the switch: one assignment
        log.info(
            "%s slot now serves %s (generation %d, was %s, loaded in %.1f ms, predicts through %s)",
            self.slot,
            wanted,
            generation,
            current.version if current else None,
            load_ms,
            "its log-log weights" if new.weights is not None else "scikit-learn",
        )
        return SlotChange(self.slot, wanted, generation, load_ms, changed=True)

    def _refused(
        self, current: LiveModel | None, wanted: str, started: float, code: str, message: str
    ) -> SlotChange:
        load_ms = (time.perf_counter() - started) * 1000
        keeps = current.version if current else None
        log.error(
            "%s slot REFUSED model %s: %s; still serving %s", self.slot, wanted, message, keeps
        )
        return SlotChange(
            self.slot,
            keeps,
            current.generation if current else 0,
            load_ms,
            changed=False,
            error_code=code,
            error_message=message[:2000],
        )
