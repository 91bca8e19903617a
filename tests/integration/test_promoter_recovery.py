"""A promoter killed mid-swap: the next one completes the swap, and the ledger agrees with S3.

Issue 5 ("make chaos"): the promoter SIGKILLs itself (a failpoint) between the routing
object's write and the reload broadcast, then between the broadcast and the
acknowledgements. Each time S3 is one generation ahead of the ledger while it is dead;
started again, it completes the swap and `splitstream replay --verify` passes. The
scenario is chaos/promoter_kills.py, which `make chaos` plays too; here it runs on the
session's stack with three real predictors, in a bucket and topic prefix of its own.
"""

import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from chaos.promoter_kills import PromoterKill, kill_promoter_mid_swap
from cli.settings import Settings, load_settings
from clients.ledger_reader import read_ledger
from demo.scenario import train_best_and_candidate
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from promoter.replay import slots_of
from promoter.swap import live_predictors
from stack import services, supervisor
from stack.supervisor import ServiceProcess

GROUP_JOIN_TIMEOUT_S = 30.0
PREDICTORS = ("predictor-prod", "predictor-candidate")


@pytest.fixture(scope="module")
def recovery(stack: Settings) -> Iterator[tuple[Settings, list[ServiceProcess]]]:
    """A best and a candidate model, two prod predictors and a candidate one, running."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        "SPLITSTREAM_S3_BUCKET": f"recovery-{suffix}",
        "SPLITSTREAM_TOPIC_PREFIX": f"recovery-{suffix}.",
        # The safety net's re-read would reload the predictors before the recovery does;
        # kept out of the way, so the acknowledgements answer the recovery's broadcast.
        "SPLITSTREAM_PREDICTOR_SLOT_REFRESH_S": "600",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
        train_best_and_candidate(settings)
        predictors = [
            *(p for p in services.app_processes(settings) if p.name in PREDICTORS),
            services.predictor_process(settings, name="predictor-prod-2", slot="prod"),
        ]
        try:
            supervisor.start_all(predictors)
            yield settings, predictors
        finally:
            for process in predictors:
                supervisor.stop(process)
            services.down(settings)  # and a promoter, had the scenario left one


def _predictor_id(process: ServiceProcess) -> str:
    """The id a predictor acknowledges with: ``<slot>-<hostname>-<pid>``."""
    pid = supervisor.status(process).pid
    slot = "candidate" if process.name == "predictor-candidate" else "prod"
    return f"{slot}-{socket.gethostname()}-{pid}"


def _wait_until_members(settings: Settings, ids: set[str]) -> None:
    """Each predictor has joined its consumer group, so a broadcast expects its ack."""
    deadline = time.monotonic() + GROUP_JOIN_TIMEOUT_S
    promoter = settings.as_kafka_role("promoter")  # who asks which predictors are live
    while live_predictors(promoter) != ids and time.monotonic() < deadline:
        time.sleep(0.5)
    assert live_predictors(promoter) == ids


def _assert_ledger_ends_at_the_routing_object(settings: Settings, action: str) -> None:
    last = read_ledger(settings)[-1]
    actual = SlotStore(s3_client(settings), settings.s3_bucket).read()
    assert actual is not None
    assert (slots_of(last), last.etag_after) == (actual.slots, actual.etag)
    assert (last.action, last.actor.kind, last.actor.name) == (action, "recovery", "promoter")
    assert last.reasons[0].startswith("completed after a restart: the routing object was at")


def _print(kill: PromoterKill) -> None:
    print(
        f"\n{kill.action} killed at {kill.failpoint}: generation {kill.generation_before} -> "
        f"{kill.generation_after}; verify while down ok={kill.verify_while_down}; completed "
        f"{kill.recovered_in_s:.2f} s after the restart by {kill.recorded_actor}; acked "
        f"{len(kill.acked)}, missing {len(kill.missing_acks)}; verify after: exit "
        f"{kill.verify_exit_code}"
    )


def test_a_promoter_killed_mid_swap_is_completed_by_the_next_one(
    recovery: tuple[Settings, list[ServiceProcess]],
) -> None:
    # Given two prod predictors and a candidate one in their consumer groups
    settings, predictors = recovery
    ids = {_predictor_id(p) for p in predictors}
    assert len(ids) == 3
    _wait_until_members(settings, ids)

    # When the promoter dies right after writing the promotion to S3, and is restarted
    promoted = kill_promoter_mid_swap(
        settings, failpoint="promoter.after_routing_write", action="promote"
    )
    _print(promoted)

    # Then S3 was ahead of the ledger while it was dead (verify failed), and the restart
    # completed the promotion: broadcast, every predictor's ack, the recovery's record
    assert promoted.verify_while_down is False
    assert promoted.generation_after == promoted.generation_before + 1
    assert promoted.recorded_actor == "recovery:promoter"
    assert set(promoted.acked) == ids
    assert promoted.missing_acks == ()
    assert promoted.verify_exit_code == 0
    _assert_ledger_ends_at_the_routing_object(settings, "promote")

    # When it dies again, after broadcasting a rollback's reload and before the acks
    rolled_back = kill_promoter_mid_swap(
        settings, failpoint="promoter.after_reload_broadcast", action="rollback"
    )
    _print(rolled_back)

    # Then the restart completed the rollback too. The candidate predictor has had no
    # model since the promotion, so it left its group and no ack is expected of it.
    prod = {i for i in ids if i.startswith("prod-")}
    assert rolled_back.verify_while_down is False
    assert rolled_back.generation_after == promoted.generation_after + 1
    assert rolled_back.recorded_actor == "recovery:promoter"
    assert prod <= set(rolled_back.acked)
    assert rolled_back.missing_acks == ()
    assert rolled_back.verify_exit_code == 0
    _assert_ledger_ends_at_the_routing_object(settings, "rollback")
