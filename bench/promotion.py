"""Measurement 6: promote command -> every live predictor's acknowledgement.

The promoter times the reload broadcast itself and records it as ``ack_s`` in the
ledger record's inputs (promoter/execution.py ``complete``); that figure is read back.
"""

import time

from cli.settings import Settings
from clients.ledger_reader import read_ledger
from clients.promoter_commands import send_command
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from stack import services
from trainer.main import train_and_publish

#: The promoter reads ClickHouse through the sink, so both run for this measurement.
PROMOTION_SERVICES = ("sink", "promoter")


def measure_promotion(settings: Settings) -> tuple[float, float]:
    """Promote the candidate; returns (ack_s from the ledger, command round trip s).

    Raises:
        RuntimeError: the promoter refused, or its ledger record has no ``ack_s``.
    """
    _ensure_candidate(settings)
    services.up(settings, only=PROMOTION_SERVICES)
    started = time.perf_counter()
    result = send_command(settings, action="promote", operator="bench", reason="bench: timing")
    round_trip_s = time.perf_counter() - started
    if result.outcome != "done" or result.ledger_sequence is None:
        raise RuntimeError(f"promote answered {result.outcome}: {result.message}")
    record = next(r for r in read_ledger(settings) if r.sequence == result.ledger_sequence)
    ack_s = record.inputs.get("ack_s")
    if not isinstance(ack_s, int | float):
        raise RuntimeError(f"ledger record {record.sequence} has no ack_s: {record.inputs}")
    return float(ack_s), round_trip_s


def _ensure_candidate(settings: Settings) -> None:
    """A candidate to promote: the full system's promoter may have decided on the bench's."""
    current = SlotStore(s3_client(settings), settings.s3_bucket).read()
    if current is not None and current.slots.candidate is not None:
        return
    for algorithm in ("ridge", "lasso"):  # one of them differs from the best
        if train_and_publish(settings, target_slot="candidate", algorithms=(algorithm,)).published:
            return
    raise RuntimeError("no candidate could be published to promote")
