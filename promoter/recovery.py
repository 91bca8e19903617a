"""Recovery: finish a swap that a crash interrupted between the routing write and the record.

A swap writes the routing object first and the ledger record last
(``promoter/execution.py``), so a promoter killed in between leaves S3 one generation
ahead of the ledger. ``recover`` runs when a promoter becomes active: if one swap turns
the ledger's last slots into S3's, it completes that swap (broadcast, share, aliases,
event, record) as actor ``recovery``; any other difference is left alone and logged.
"""

import logging
from typing import TYPE_CHECKING

from promoter import execution
from promoter.transitions import interrupted_action
from schemas.decision_events import LedgerRecord

if TYPE_CHECKING:
    from promoter.service import Promoter

log = logging.getLogger(__name__)

RECOVERY_ACTOR = {"kind": "recovery", "name": "promoter"}


def recover(promoter: "Promoter") -> LedgerRecord | None:
    """Complete a swap whose routing write landed but whose record did not.

    Returns:
        The completing ledger record, or None when S3 matches the ledger or the
        difference is not one swap (e.g. a trainer's publish, which
        ``record_publish`` records when its event is consumed).
    """
    recorded, actual = promoter.last_slots_version(), promoter.slots.read()
    if recorded is None or actual is None or actual.slots == recorded.slots:
        return None
    action = interrupted_action(recorded.slots, actual.slots, queued=promoter.state.queued)
    if action is None:
        log.warning(
            "S3 holds %s but the ledger ended at %s; not one swap apart, left alone",
            actual.slots,
            recorded.slots,
        )
        return None
    reason = (
        f"completed after a restart: the routing object was at generation "
        f"{actual.slots.generation} but the ledger ended at {recorded.slots.generation}"
    )
    log.warning("interrupted %s: %s", action, reason)
    return execution.complete(
        promoter,
        action,
        recorded,
        actual,
        actor=RECOVERY_ACTOR,
        reasons=[reason],
        experiment_id=promoter.experiment_id(recorded.slots),
        inputs={"interrupted_generation": actual.slots.generation},
    )
