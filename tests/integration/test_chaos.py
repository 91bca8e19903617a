"""`make chaos`, short: kills under load and a broker restart on the session's stack.

The run has its own bucket, topic prefix, ports and state folder (so its own chDB);
the broker it restarts is the session's, which the later tests then use as it was.
The promoter's mid-swap kills, the run's last phase, are in test_promoter_recovery.py.
"""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from chaos.plan import chaos_plan
from chaos.report import print_report
from chaos.run import run_chaos
from cli.settings import Settings, get_settings, load_settings
from demo.scenario import train_best_and_candidate
from plumbing.settings import local_env_file
from stack import local
from stack.ports import free_port
from stack.private import exported, namespace_env

SECONDS = 24.0
RATE_PER_S = 50.0
BROKER_DOWN_S = 4.0


@pytest.fixture
def chaos_settings(stack: Settings) -> Iterator[Settings]:
    state_dir = Path(tempfile.mkdtemp(prefix="splitstream-chaos-"))
    shutil.copy(local_env_file(stack.state_dir), state_dir)  # the stack's S3 keys and token
    env = {
        **namespace_env("chaos"),
        "SPLITSTREAM_STATE_DIR": str(state_dir),
        "SPLITSTREAM_GATEWAY_PORT": str(free_port()),
        "SPLITSTREAM_SINK_PORT": str(free_port()),
    }
    try:
        with exported(env, changed=get_settings.cache_clear):
            settings = load_settings()
            train_best_and_candidate(settings)
            yield settings
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def test_kills_and_a_broker_restart_lose_nothing(stack: Settings, chaos_settings: Settings) -> None:
    console = Console(width=160)
    plan = chaos_plan(SECONDS, RATE_PER_S, BROKER_DOWN_S, promoter_kills=False)
    report = run_chaos(chaos_settings, plan, kafka=local.kafka_process(stack), log=console.print)
    print_report(console, report)
    assert len(report.invariants) == 7
    assert report.ok, [i for i in report.invariants if not i.holds]
    assert {r.victim for r in report.restarts} == {k.victim for k in plan.kills}
    assert sum(a.status == 200 for a in report.answers) > SECONDS * RATE_PER_S / 2
