"""Kill the promoter mid-swap, restart it, and check that it completes the swap.

A swap writes the routing object, broadcasts the reload, waits for the acknowledgements
and only then appends the ledger record. A promoter SIGKILLed (through a failpoint)
after the write or after the broadcast leaves S3 one generation ahead of the ledger,
and ``replay --verify`` fails. The promoter started again must complete the swap when
it becomes active, so that the real ``splitstream replay --verify`` passes.

What it needs: a running stack whose settings are this process's environment (the
promoter and the CLI run as subprocesses and read it; ``stack.private.exported`` or a
test's monkeypatch put them there), the predictors running, and something to act on
(a candidate to promote, a previous best to roll back to). A promoter already running
is stopped first, since it would take the command; the promoters started here are
stopped before returning, whatever happened.

Both promoters run without ClickHouse (a sink port nobody listens on), so every policy
evaluation fails before deciding: only the operator's command moves the slots, even
when a sink holds evidence on which the policy could act.
"""

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from chaos.errors import PromoterKillFailedError
from cli.settings import Settings, load_settings
from clients.ledger_reader import read_ledger
from clients.promoter_commands import new_command, post_command
from plumbing.model_store import Slots, SlotStore, SlotsVersion
from plumbing.s3 import s3_client
from plumbing.settings import PROJECT_ROOT
from promoter.errors import TransitionRefusedError
from promoter.replay import Verification, slots_of, verify
from promoter.transitions import apply_action
from schemas.decision_events import LedgerRecord
from stack import services, supervisor
from stack.ports import free_port
from stack.supervisor import ServiceProcess

log = logging.getLogger(__name__)

#: The promoter's failpoints: after the routing write, and after the reload broadcast.
FAILPOINTS = ("promoter.after_routing_write", "promoter.after_reload_broadcast")
FAILPOINTS_ENV = "SPLITSTREAM_FAILPOINTS"
#: The promoter's start (imports, group join) and its catching up on model.events.
START_TIMEOUT_S = 90.0
#: `splitstream replay --verify` as a subprocess (imports, reading the ledger).
VERIFY_TIMEOUT_S = 120.0
LOG_TAIL_CHARS = 3000


@dataclass(frozen=True)
class PromoterKill:
    """One promoter killed mid-swap and its recovery, with the figures to print."""

    failpoint: str
    action: str
    generation_before: int
    generation_after: int
    verify_while_down: bool  # replay --verify while the promoter was dead (expected False)
    recovered_in_s: float  # from the restart until the completing ledger record
    acked: tuple[str, ...]  # predictors that acknowledged the completing broadcast
    missing_acks: tuple[str, ...]  # live predictors that did not, in time
    recorded_actor: str  # "kind:name" of the completing record; recovery:promoter
    verify_exit_code: int  # the real `splitstream replay --verify` after recovery; must be 0


def kill_promoter_mid_swap(
    settings: Settings, *, failpoint: str, action: Literal["promote", "rollback"]
) -> PromoterKill:
    """Send ``action`` to a promoter that dies at ``failpoint``; restart it; measure.

    Raises:
        ValueError: an unknown failpoint, or settings that are not the environment's.
        PromoterKillFailedError: the promoter did not die there, the slots and the
            ledger were not torn as expected, or the restarted promoter did not
            complete the swap in time.
    """
    if failpoint not in FAILPOINTS:
        raise ValueError(f"unknown failpoint {failpoint!r}; known: {FAILPOINTS}")
    _require_exported(settings)
    supervisor.stop(services.promoter_process(settings))
    try:
        return _kill_and_recover(settings, failpoint, action)
    finally:
        supervisor.stop(services.promoter_process(settings))


def _kill_and_recover(
    settings: Settings, failpoint: str, action: Literal["promote", "rollback"]
) -> PromoterKill:
    slots = SlotStore(s3_client(settings), settings.s3_bucket)
    doomed = services.promoter_process(settings, {**_without_evidence(), FAILPOINTS_ENV: failpoint})
    log_start = _log_size(doomed)
    pid = supervisor.start(doomed)
    before = _wait_until_consistent(settings, slots, doomed, log_start)
    expected = _slots_after(action, before.slots)
    command = new_command(action=action, operator="chaos", reason=f"chaos: killed at {failpoint}")
    post_command(settings, command)
    _wait_killed(doomed, pid, failpoint, log_start, settings.promoter_ack_timeout_s + 60)
    _check_torn(settings, slots, before.slots, expected)
    verify_while_down = _replay_verify() == 0

    restarted = services.promoter_process(settings, {**_without_evidence(), FAILPOINTS_ENV: ""})
    restarted_at = datetime.now(UTC)
    log_start = _log_size(restarted)
    supervisor.start(restarted)
    record = _wait_until_completed(settings, slots, expected, restarted, log_start)
    return PromoterKill(
        failpoint=failpoint,
        action=action,
        generation_before=before.slots.generation,
        generation_after=expected.generation,
        verify_while_down=verify_while_down,
        recovered_in_s=(record.occurred_at - restarted_at).total_seconds(),
        acked=tuple(str(a) for a in record.inputs.get("acked", [])),
        missing_acks=tuple(record.missing_acks),
        recorded_actor=f"{record.actor.kind}:{record.actor.name}",
        verify_exit_code=_replay_verify(),
    )


def _require_exported(settings: Settings) -> None:
    """The subprocesses read the environment: it must give these very settings."""
    seen = load_settings()
    differ = [k for k in type(settings).model_fields if getattr(seen, k) != getattr(settings, k)]
    if differ:
        raise ValueError(
            f"the environment's settings differ in {differ}; the promoter and the CLI read "
            "the environment, so export the settings first (stack.private.exported)"
        )


def _without_evidence() -> dict[str, str]:
    """No ClickHouse for the promoter: its evaluations fail, so only the command swaps."""
    return {"SPLITSTREAM_CLICKHOUSE_URL": "", "SPLITSTREAM_SINK_PORT": str(free_port())}


def _slots_after(action: Literal["promote", "rollback"], slots: Slots) -> Slots:
    try:
        return apply_action(action, slots)
    except TransitionRefusedError as error:
        raise PromoterKillFailedError(f"nothing to {action} in {slots}: {error}") from error


# --------------------------------------------------------------------------- waiting


def _verification(settings: Settings, slots: SlotStore) -> Verification:
    return verify(read_ledger(settings), slots.read())


def _wait_until_consistent(
    settings: Settings, slots: SlotStore, promoter: ServiceProcess, log_start: int
) -> SlotsVersion:
    """Wait until the promoter has recorded what it found (the trainer's publishes)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    verification = _verification(settings, slots)
    while not verification.ok and time.monotonic() < deadline:
        time.sleep(0.5)
        verification = _verification(settings, slots)
    if not verification.ok or verification.actual is None:
        problems = verification.problems or ["no routing object: publish a best model first"]
        raise PromoterKillFailedError(
            f"the ledger never matched S3 before the kill: {problems}\n"
            f"{_log_tail(promoter, log_start)}"
        )
    return verification.actual


def _wait_killed(
    promoter: ServiceProcess, pid: int, failpoint: str, log_start: int, timeout_s: float
) -> None:
    """Wait for the promoter to SIGKILL itself at ``failpoint`` (its log says so)."""
    deadline = time.monotonic() + timeout_s
    ended = _ending(pid)
    while ended is None and time.monotonic() < deadline:
        time.sleep(0.1)
        ended = _ending(pid)
    tail = _log_tail(promoter, log_start)
    if ended is None:
        raise PromoterKillFailedError(f"the promoter never reached {failpoint}:\n{tail}")
    supervisor.reap_children()
    sigkill = ended.si_code == os.CLD_KILLED and ended.si_status == signal.SIGKILL
    if not sigkill or f"failpoint {failpoint}: SIGKILL" not in tail:
        raise PromoterKillFailedError(
            f"the promoter ended (code {ended.si_code}, status {ended.si_status}) but not by "
            f"SIGKILL at {failpoint}:\n{tail}"
        )


def _ending(pid: int) -> os.waitid_result | None:
    """How our child ``pid`` ended, or None while it runs.

    WNOWAIT leaves it unreaped, so its ``Popen`` (the supervisor's) still collects it.
    """
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)


def _check_torn(settings: Settings, slots: SlotStore, before: Slots, expected: Slots) -> None:
    """The kill left S3 at the swap's result and the ledger where it was."""
    actual = slots.read()
    if actual is None or actual.slots != expected:
        found = actual.slots if actual else None
        raise PromoterKillFailedError(f"S3 holds {found}, not the swap's result {expected}")
    recorded = slots_of(read_ledger(settings)[-1])
    if recorded != before:
        raise PromoterKillFailedError(
            f"the ledger moved on to {recorded}: the kill came after the record"
        )


def _wait_until_completed(
    settings: Settings,
    slots: SlotStore,
    expected: Slots,
    promoter: ServiceProcess,
    log_start: int,
) -> LedgerRecord:
    """Wait until the ledger's last record is the swap and S3 matches it, slots and ETag.

    The restarted promoter gets the partition only once the dead one's session expired.
    """
    timeout_s = settings.kafka_session_timeout_ms / 1000 + settings.promoter_ack_timeout_s
    deadline = time.monotonic() + timeout_s + START_TIMEOUT_S
    while True:
        records = read_ledger(settings)
        verification = verify(records, slots.read())
        if verification.ok and records and slots_of(records[-1]) == expected:
            return records[-1]
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    raise PromoterKillFailedError(
        f"the restarted promoter did not complete the swap: {verification.problems}\n"
        f"{_log_tail(promoter, log_start)}"
    )


# --------------------------------------------------------------------------- the CLI, the log


def _replay_verify() -> int:
    """Exit code of the real `splitstream replay --verify`, run on this environment."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", "replay", "--verify"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=VERIFY_TIMEOUT_S,
        check=False,
    )
    log.info("replay --verify exited %d:\n%s%s", done.returncode, done.stdout, done.stderr)
    return done.returncode


def _log_size(process: ServiceProcess) -> int:
    return process.log_file.stat().st_size if process.log_file.exists() else 0


def _log_tail(process: ServiceProcess, start: int) -> str:
    """The end of what ``process`` logged since byte ``start`` of its log file."""
    with process.log_file.open("rb") as file:
        file.seek(start)
        text = file.read().decode(errors="replace")
    return f"--- {process.log_file} (end) ---\n{text[-LOG_TAIL_CHARS:]}"
