"""The demo's A/B loop: a better candidate is promoted, a worse one rejected, a forced bad
promotion rolled back, each on held-out traffic with its true prices as feedback.

After each promotion the previous best keeps a tenth of the traffic for the watch, so the
rollback compares both versions on the same requests at the same time. A candidate
published during a watch waits for it: the worse candidate of the second phase waits
for the first promotion's watch to pass, and a new candidate published during the forced
promotion's watch waits while the bad model is rolled back.

It only uses what a user has: HTTP on the gateway, the trainer, the operator's command
and the ledger. The promoter decides; this waits for its records.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from cli.settings import Settings
from clients.ledger_evidence import evidence_line
from clients.ledger_reader import read_ledger
from clients.promoter_commands import send_command
from demo.scenario import held_out
from demo.stopped_services import print_stopped_services
from demo.traffic import drive
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from promoter.replay import verify
from schemas.decision_events import LedgerRecord
from trainer.main import train_and_publish
from trainer.selection import BASELINE, WEAK

#: Held-out rows sent per round; the promoter is asked again after each round.
ROUND_ROWS = 500
MAX_ROUNDS = 14
RATE_PER_S = 60.0


@dataclass(frozen=True)
class Phase:
    """One step of the loop: set it up, then drive traffic until the ledger shows ``expect``."""

    title: str
    expect: str
    prepare: Callable[[Settings, Console], None] | None


def publish_worse_candidate(
    settings: Settings, console: Console, algorithm: str = BASELINE
) -> None:
    """A worse model as the candidate (the trainer's gate relaxed for it): queued when a
    watch is running."""
    relaxed = settings.model_copy(update={"train_r2_floor": -1.0, "train_max_mae_regression": 1e9})
    result = train_and_publish(relaxed, target_slot="candidate", algorithms=(algorithm,))
    where = "queued behind the watch" if result.slot == "queued" else "to candidate"
    console.print(
        f"  published {result.version} ({algorithm}, test MAE {result.metrics['test_mae']:.1f}) "
        f"{where}"
        if result.published
        else f"  not published: {result.gate.reason}"
    )


def force_bad_promotion(settings: Settings, console: Console) -> None:
    """Promote a model with no skill by hand, then publish a new candidate during its watch."""
    publish_worse_candidate(settings, console)
    answer = send_command(
        settings,
        action="promote",
        operator="demo",
        reason="demo: promote a worse model by hand, to show the automatic rollback",
    )
    console.print(f"  operator promote: {answer.outcome} ({answer.message})")
    console.print("  a new candidate arrives during the watch:")
    publish_worse_candidate(settings, console, algorithm=WEAK)


PHASES = (
    Phase("better candidate on held-out traffic", "promote", None),
    Phase("worse candidate", "reject", publish_worse_candidate),
    Phase("forced bad promotion, watched", "rollback", force_bad_promotion),
)


def run_loop(settings: Settings, console: Console) -> bool:
    """Run every phase; print the decisions and ``replay --verify``; True when all held."""
    split = held_out(settings)
    rows = [row._asdict() for row in split.rows_test]
    actuals = [float(y) for y in split.y_test]
    outcomes = []
    for phase in PHASES:
        console.print(f"[bold]{phase.title}[/bold]: waiting for the promoter to {phase.expect}")
        if phase.prepare is not None:
            phase.prepare(settings, console)
        outcomes.append(_run_phase(settings, console, phase, rows, actuals))
    records = read_ledger(settings)
    print_decisions(console, records)
    check = verify(records, SlotStore(s3_client(settings), settings.s3_bucket).read())
    console.print(f"replay --verify: {'ok' if check.ok else '; '.join(check.problems)}")
    return all(outcomes) and check.ok


def _run_phase(
    settings: Settings,
    console: Console,
    phase: Phase,
    rows: list[dict[str, Any]],
    actuals: list[float],
) -> bool:
    start, sent = time.monotonic(), 0
    known = len(read_ledger(settings))
    for round_number in range(MAX_ROUNDS):
        begin = (round_number * ROUND_ROWS) % len(rows)
        chunk = slice(begin, begin + ROUND_ROWS)
        served = drive(settings, rows[chunk], actuals[chunk], rate_per_s=RATE_PER_S)
        sent += len(served)
        decided = _decision_after(settings, known, phase.expect)
        if decided is not None:
            console.print(
                f"  {phase.expect} after {sent} requests and {time.monotonic() - start:.0f} s: "
                + "; ".join(decided.reasons)
            )
            return True
    console.print(f"  [red]no {phase.expect} after {sent} requests[/red]")
    print_stopped_services(settings, console)
    return False


def _decision_after(settings: Settings, known: int, action: str) -> LedgerRecord | None:
    deadline = time.monotonic() + settings.promoter_evaluate_every_s + 2
    while time.monotonic() < deadline:
        new = read_ledger(settings)[known:]
        found = [r for r in new if r.action == action and r.actor.kind == "policy"]
        if found:
            return found[0]
        time.sleep(1.0)
    return None


def print_decisions(console: Console, records: list[LedgerRecord]) -> None:
    """The ledger as a table: what was decided, by whom, on which evidence.

    The evidence is the MAEs the decision compared (both on the same requests when
    paired), then their difference and its interval (``clients.ledger_evidence``).
    """
    table = Table("#", "time", "action", "by", "best", "candidate", "evidence")
    for record in records:
        after = record.slots_after
        candidate = after.candidate or "-"
        if after.candidate is not None and after.candidate == after.previous_best:
            candidate += " (held back)"
        table.add_row(
            str(record.sequence),
            record.occurred_at.strftime("%H:%M:%S"),
            record.action,
            f"{record.actor.kind}:{record.actor.name}",
            after.best or "-",
            candidate,
            evidence_line(record.statistics),
        )
    console.print(table)
