"""The demo's A/B loop: a better candidate is promoted, a worse one rejected, a forced bad
promotion rolled back, each on held-out traffic with its true prices as feedback.

It only uses what a user has: HTTP on the gateway, the trainer, the operator's command
and the ledger. The promoter decides; this waits for its records.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from plumbing.model_store import SlotStore
from plumbing.promoter_client import send_command
from plumbing.s3 import s3_client
from plumbing.settings import Settings
from promoter.ledger import read_ledger
from promoter.replay import verify
from schemas.models import LedgerRecord
from stack.scenario import held_out
from stack.traffic import drive
from trainer.main import train_and_publish
from trainer.selection import BASELINE

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


def publish_worse_candidate(settings: Settings, console: Console) -> None:
    """A model with no skill in the candidate slot (the trainer's gate relaxed for it)."""
    relaxed = settings.model_copy(update={"train_r2_floor": -1.0, "train_max_mae_regression": 1e9})
    result = train_and_publish(relaxed, target_slot="candidate", algorithms=(BASELINE,))
    console.print(
        f"  published {result.version} (test MAE {result.metrics['test_mae']:.1f}) to candidate"
    )


def force_bad_promotion(settings: Settings, console: Console) -> None:
    publish_worse_candidate(settings, console)
    answer = send_command(
        settings,
        action="promote",
        operator="demo",
        reason="demo: promote a worse model by hand, to show the automatic rollback",
    )
    console.print(f"  operator promote: {answer.outcome} ({answer.message})")


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
    """The ledger as a table: what was decided, by whom, on which evidence."""
    table = Table("#", "time", "action", "by", "best", "candidate", "evidence")
    for record in records:
        after = record.slots_after
        table.add_row(
            str(record.sequence),
            record.occurred_at.strftime("%H:%M:%S"),
            record.action,
            f"{record.actor.kind}:{record.actor.name}",
            after.best or "-",
            after.candidate or "-",
            evidence_summary(record.statistics),
        )
    console.print(table)


def evidence_summary(statistics: dict[str, Any]) -> str:
    """MAE per variant and the confidence interval of their difference, in one line."""
    mae = statistics.get("mae")
    if not isinstance(mae, dict):
        return ""
    lower, upper = mae.get("lower"), mae.get("upper")
    interval = f"[{lower:+.2f}, {upper:+.2f}]" if lower is not None and upper is not None else "-"
    return (
        f"{mae.get('method')}: MAE prod {mae.get('mae_prod', 0):.2f}, "
        f"candidate {mae.get('mae_candidate', 0):.2f}, diff CI {interval}, "
        f"n {mae.get('n_prod')}/{mae.get('n_candidate')}"
    )
