"""Measurement: the Faust agent's restart on a state folder with a long history.

``measure_restart`` writes ``requests`` past requests with their replies and feedback
(default 1,000,000; ``bench.history``), lets the agent consume them all (timing its
catch-up and its CPU per request), measures its CPU at rest over ``rest_s`` and per request
under live traffic (100 req/s for 30 s, feedback 2 s after each reply), then restarts it
after a SIGTERM and after a SIGKILL and times, from the new process's start, until its web
view ``/counts/`` answers and until it counts again: a marker request of an experiment of
its own, written while the agent was down, shows up in ``/counts/``. CPU is the agent's
user plus system time from /proc, so a busy machine slows the clock figures more than it
changes the CPU ones.

``python -m bench.restart`` runs it alone on a private stack (Kafka, S3, MLflow on free
ports in a temp folder), prints the findings, and stops everything.
"""

import argparse
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from bench.agent_process import AgentProcess, agent_process
from bench.history import (
    EXPERIMENT,
    History,
    bulk_producer,
    event_templates,
    wire_timestamp,
    write_history,
    write_paced,
)
from cli.settings import Settings, get_settings
from plumbing import kafka
from stack import kafka_access
from stack.ports import free_port
from stack.private import exported, private_stack

log = logging.getLogger(__name__)

DEFAULT_REQUESTS = 1_000_000
#: Room for a busy 2-core machine to catch up on ``DEFAULT_REQUESTS`` (``make bench`` prints
#: the catch-up rate it measured).
CATCH_UP_TIMEOUT_S = 3 * 3_600.0
COUNTS_AGAIN_TIMEOUT_S = 300.0
POLL_S = 0.2
STEADY_S = 30.0


@dataclass(frozen=True)
class Restart:
    """One restart: how it was stopped, and how long until it served and counted again."""

    signal: str
    stop_s: float  # signal until the old process was gone
    web_s: float  # new process start until /counts/ answered
    counting_s: float  # new process start until the marker request was counted


@dataclass
class RestartFindings:
    """What ``measure_restart`` found; a part that did not run stays None."""

    requests: int = 0
    events: int = 0
    produce_s: float | None = None
    catch_up_s: float | None = None
    catch_up_events_per_s: float | None = None
    catch_up_cpu_ms_per_request: float | None = None
    rest_cpu_percent: float | None = None
    rest_s: float | None = None
    steady_rate_per_s: float | None = None
    #: CPU per request under live traffic (request, reply, feedback 2 s later).
    steady_cpu_ms_per_request: float | None = None
    restarts: list[Restart] = field(default_factory=list)
    rss_mib: float | None = None
    load_average: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _wait(what: str, timeout_s: float, check: Callable[[], bool]) -> float:
    """Poll ``check`` until true; monotonic time when it was."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(POLL_S)
    raise TimeoutError(f"{what}: not within {timeout_s:g} s")


# --------------------------------------------------------------------------- the steps


def _caught_up(agent: AgentProcess, *written: History) -> Callable[[], bool]:
    """True once the agent counted every request and feedback in ``written``."""
    requests = sum(h.requests for h in written)
    candidates = sum(h.candidate_requests for h in written)

    def check() -> bool:
        arms = agent.arms() or {}
        candidate = arms.get((EXPERIMENT, "candidate"), {})
        prod = arms.get((EXPERIMENT, "prod"), {})
        return bool(
            candidate.get("requests", 0) >= candidates
            and prod.get("requests", 0) >= requests - candidates
            and candidate.get("feedback_count", 0) + prod.get("feedback_count", 0) >= requests
        )

    return check


def _write_marker(settings: Settings, experiment_id: str) -> None:
    """One candidate request of ``experiment_id``, occurred now."""
    request = {
        **event_templates()[0],
        "request_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "experiment_id": experiment_id,
        "variant": "candidate",
        "slot": "candidate",
        "occurred_at": wire_timestamp(time.time()),
    }
    producer = bulk_producer(settings)
    try:
        producer.send(
            settings.topic("predict_requests_candidate").name,
            key=request["request_id"].encode(),
            value=orjson.dumps(request),
        )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def _restart(agent: AgentProcess, signum: signal.Signals, n: int) -> Restart:
    marker = f"restart-marker-{n}-{signum.name.lower()}"
    stop_s = agent.stop(signum)
    _write_marker(agent.settings, marker)
    agent.start()
    started = agent.started_at
    web_at = _wait("the web view", COUNTS_AGAIN_TIMEOUT_S, lambda: agent.arms() is not None)
    counted_at = _wait(
        "the marker request",
        COUNTS_AGAIN_TIMEOUT_S,
        lambda: (marker, "candidate") in (agent.arms() or {}),
    )
    found = Restart(signum.name, stop_s, web_at - started, counted_at - started)
    log.info("restart after %s: %s", signum.name, found)
    return found


@contextmanager
def own_namespace(settings: Settings) -> Iterator[Settings]:
    """A topic prefix (so topics, app id, consumer group and agent state) and a web port of
    this measurement's own, exported for the agent it starts, so a stack's running services
    (a sink, another agent) never see its history. Its topics are deleted at the end."""
    prefix = f"{settings.topic_prefix}restart-{uuid.uuid4().hex[:8]}."
    port = free_port()
    own = settings.model_copy(update={"topic_prefix": prefix, "promoter_agent_web_port": port})
    env = {"SPLITSTREAM_TOPIC_PREFIX": prefix, "SPLITSTREAM_PROMOTER_AGENT_WEB_PORT": str(port)}
    with exported(env, changed=get_settings.cache_clear):
        kafka_access.provision(own)  # its topics, and their ACLs for the agent's principal
        try:
            yield own
        finally:
            _delete_topics(own, prefix)


def _delete_topics(settings: Settings, prefix: str) -> None:
    admin = kafka.admin(settings.as_kafka_role("admin"))
    try:
        mine = [name for name in admin.list_topics() if name.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def measure_restart(
    settings: Settings,
    *,
    requests: int = DEFAULT_REQUESTS,
    rest_s: float = 60.0,
    steady_rate_per_s: float = 100.0,
) -> RestartFindings:
    """Write the history, let the agent catch up, measure it at rest and under live
    traffic, then restart it twice; on topics and agent state of its own."""
    with own_namespace(settings) as own:
        return _measure(own, requests=requests, rest_s=rest_s, steady_rate_per_s=steady_rate_per_s)


def _measure(
    settings: Settings, *, requests: int, rest_s: float, steady_rate_per_s: float
) -> RestartFindings:
    findings = RestartFindings(load_average=os.getloadavg()[0])
    run = os.getpid()
    history = write_history(settings, requests=requests, run=run)
    findings.requests, findings.events = history.requests, history.events
    findings.produce_s = history.produce_s
    log.info("history: %s", history)
    with agent_process(settings) as agent:
        agent.start()
        _wait("the web view", COUNTS_AGAIN_TIMEOUT_S, lambda: agent.arms() is not None)
        cpu_before = agent.cpu_s()
        caught_at = _wait("the catch-up", CATCH_UP_TIMEOUT_S, _caught_up(agent, history))
        cpu_used = agent.cpu_s() - cpu_before
        findings.catch_up_s = caught_at - agent.started_at
        findings.catch_up_events_per_s = history.events / findings.catch_up_s
        findings.catch_up_cpu_ms_per_request = 1000 * cpu_used / history.requests
        findings.rss_mib = agent.rss_mib()
        log.info("caught up in %.1f s", findings.catch_up_s)
        if rest_s > 0:
            time.sleep(5)  # let the last commits and timers settle
            cpu_rest = agent.cpu_s()
            time.sleep(rest_s)
            findings.rest_s = rest_s
            findings.rest_cpu_percent = 100 * (agent.cpu_s() - cpu_rest) / rest_s
        cpu_steady = agent.cpu_s()
        live = write_paced(settings, rate_per_s=steady_rate_per_s, duration_s=STEADY_S, run=run + 1)
        _wait("the live traffic", CATCH_UP_TIMEOUT_S, _caught_up(agent, history, live))
        findings.steady_rate_per_s = steady_rate_per_s
        findings.steady_cpu_ms_per_request = 1000 * (agent.cpu_s() - cpu_steady) / live.requests
        for n, signum in enumerate((signal.SIGTERM, signal.SIGKILL)):
            findings.restarts.append(_restart(agent, signum, n))
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--rest-s", type=float, default=60.0, help="0 skips the rest run")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with private_stack("restart", Settings, changed=get_settings.cache_clear) as settings:
        findings = measure_restart(settings, requests=args.requests, rest_s=args.rest_s)
    sys.stdout.write(orjson.dumps(findings.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
