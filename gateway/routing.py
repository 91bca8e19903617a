"""What the gateway routes by: the slots, the candidate share and prod's feature domain.

A background task re-reads ``control/slots.json`` and ``control/split.json`` at once on
any model.events message (a promotion, a reload, a share change), and every
``gateway_routing_refresh_s`` as a safety net, so every gateway instance converges on
the same split. The safety net is slow on purpose: each read is two boto3 GETs, the
biggest part of an idle gateway's CPU. A failed read keeps the last good view. Manifests are
immutable, so each version's feature domain is read once.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from clients.split_store import SplitStore, SplitVersion
from gateway.settings import GatewaySettings
from plumbing.model_store import ModelStore, Slots, SlotStore
from pricing.features import FeatureDomain
from pricing.split import experiment_id_for, experiment_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routing:
    """One consistent view of the slots, the split and prod's domain."""

    slots: Slots | None
    candidate_share: float
    share_source: Literal["settings", "s3"]
    experiment_id: str
    domain: FeatureDomain | None = None
    locations: tuple[str, ...] = ()
    refreshed_at: float | None = None  # time.monotonic() of the last good read
    error: str | None = None

    @property
    def prod_version(self) -> str | None:
        return self.slots.best if self.slots else None

    @property
    def candidate_version(self) -> str | None:
        return self.slots.candidate if self.slots else None

    @property
    def candidate_available(self) -> bool:
        return self.candidate_version is not None

    @property
    def reason(self) -> str | None:
        """Why prod cannot serve, or None when it can."""
        if self.refreshed_at is None:
            return f"slots: not read from S3 yet ({self.error or 'starting'})"
        if self.prod_version is None:
            return "slots: no best model published (control/slots.json has no best)"
        if self.domain is None:
            return f"model {self.prod_version}: no feature domain in its manifest"
        return None


@dataclass
class RoutingCache:
    """The current ``Routing``, refreshed in the background."""

    settings: GatewaySettings
    s3: Any
    current: Routing = field(init=False)
    _domains: dict[str, tuple[FeatureDomain, tuple[str, ...]]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: "asyncio.Task[None] | None" = None

    def __post_init__(self) -> None:
        bucket = self.settings.s3_bucket
        self._slots = SlotStore(self.s3, bucket)
        self._models = ModelStore(self.s3, bucket)
        self._split = SplitStore(self.s3, bucket)
        self.current = Routing(
            slots=None,
            candidate_share=self.settings.candidate_share,
            share_source="settings",
            experiment_id=experiment_id_for(self.settings.experiment_id, None),
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="routing-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        """Refresh now (a model event arrived), not at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.gateway_routing_refresh_s)
            self._wake.clear()

    async def refresh(self) -> Routing:
        """Re-read the slots and the split; on failure keep the last view and note why."""
        try:
            routing = await asyncio.to_thread(self._load)
        except Exception as error:  # any S3 or decode failure: keep serving the last view
            message = f"{type(error).__name__}: {error}"[:300]
            if message != self.current.error:
                log.warning("routing refresh failed, keeping the last view: %s", message)
            self.current = replace(self.current, error=message)
            return self.current
        if routing.slots != self.current.slots or routing.candidate_share != (
            self.current.candidate_share
        ):
            log.info(
                "routing: best=%s candidate=%s share=%s experiment=%s",
                routing.prod_version,
                routing.candidate_version,
                routing.candidate_share,
                routing.experiment_id,
            )
        self.current = routing
        return routing

    def _load(self) -> Routing:
        """Blocking: read the slots, the split and prod's domain from S3."""
        version = self._slots.read()
        slots = version.slots if version else None
        split: SplitVersion | None = self._split.read()
        domain, locations = self._domain(slots.best) if slots and slots.best else (None, ())
        return Routing(
            slots=slots,
            candidate_share=split.candidate_share if split else self.settings.candidate_share,
            share_source="s3" if split else "settings",
            experiment_id=experiment_of(self.settings.experiment_id, slots),
            domain=domain,
            locations=locations,
            refreshed_at=time.monotonic(),
        )

    def _domain(self, version: str) -> tuple[FeatureDomain | None, tuple[str, ...]]:
        if version not in self._domains:
            manifest = self._models.manifest(version)
            if "feature_domain" not in manifest:
                return None, ()
            domain = FeatureDomain.from_manifest(manifest)
            self._domains[version] = (domain, tuple(sorted(domain.locations)))
        return self._domains[version]
