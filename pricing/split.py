"""The sticky A/B split: the same key always gets the same variant within an experiment."""

import hashlib
from dataclasses import dataclass
from typing import Literal

from plumbing.model_store import Slots

BUCKETS = 10_000

Variant = Literal["prod", "candidate"]


@dataclass(frozen=True)
class Assignment:
    variant: Variant
    assignment: Literal["hashed", "random"]
    bucket: int


def bucket_of(experiment_id: str, key: str) -> int:
    """hash(experiment_id + key) mod 10,000, stable across processes and versions."""
    digest = hashlib.sha256(f"{experiment_id}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign_variant(
    *,
    experiment_id: str,
    key: str | None,
    request_id: str,
    candidate_share: float,
    candidate_available: bool,
) -> Assignment:
    """Candidate when the bucket is below ``candidate_share * 10,000``.

    With no key the request id is hashed, and the assignment is marked random.
    With no candidate loaded, everything goes to prod.
    """
    hashed = key is not None
    bucket = bucket_of(experiment_id, key if key is not None else request_id)
    kind: Literal["hashed", "random"] = "hashed" if hashed else "random"
    if candidate_available and bucket < round(candidate_share * BUCKETS):
        return Assignment("candidate", kind, bucket)
    return Assignment("prod", kind, bucket)


def experiment_id_for(prefix: str, candidate_version: str | None) -> str:
    """One experiment per candidate: a new candidate re-draws the split."""
    return f"{prefix}:{candidate_version}" if candidate_version else f"{prefix}:prod-only"


def experiment_of(prefix: str, slots: Slots | None) -> str:
    """The experiment the routing object runs: a candidate's, or a watch's.

    While the previous best is held back after a promotion (``Slots.holdback``), the
    comparison is a watch of its own, ``<prefix>:watch-g<generation>:<previous best>``:
    the generation makes each watch a fresh split and keeps its numbers apart from the
    experiment that version once ran as a candidate.
    """
    if slots is not None and slots.holdback is not None:
        return f"{prefix}:watch-g{slots.generation}:{slots.holdback}"
    return experiment_id_for(prefix, slots.candidate if slots is not None else None)


def is_shadowed(experiment_id: str, request_id: str, shadow_share: float) -> bool:
    """Whether a prod request is mirrored to the candidate (shadow scoring), by its id."""
    return bucket_of(f"{experiment_id}:shadow", request_id) < shadow_share * BUCKETS
