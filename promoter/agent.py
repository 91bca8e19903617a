"""The Faust stream agent: hopping-window counts per experiment arm, and ``experiment.trigger``.

Flow (``<app>-…`` are the agent's own topics; ``<app>`` is the prefixed app id)::

    predict.requests.{prod,candidate}, predict.replies
        -> <app>-window-deltas (key: arm) -> window tables -> experiment.trigger on model.events
    predict.replies, feedback
        -> <app>-feedback-join (key: request id) -> join table -> <app>-window-deltas

Re-keying into the two internal topics keeps every table co-partitioned with the one
topic that updates it, as Faust requires, whatever the source topics' partition counts.

The window tables are in ``promoter.window_tables``. The feedback join is a tumbling
Faust table with ``expires``: one expiry entry per stored half, released with it.

Poison messages on the source topics are logged and skipped, never dead-lettered: the
sink dead-letters those topics already. Counts are a trigger only; the promoter
re-reads ClickHouse.
"""

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, TypeVar

import faust
from faust.types import EventT, StreamT, TopicT
from faust.web import Request, Response, View

from plumbing.kafka import encode_json
from plumbing.kafka_security import client_security
from plumbing.settings import Settings
from promoter.observations import (
    EventModel,
    Half,
    JoinMessage,
    WindowDelta,
    decode,
    feedback_half,
    half_from_wire,
    half_to_wire,
    join,
    reply_delta,
    reply_half,
    request_delta,
)
from promoter.window_tables import JSON_SCHEMA, WindowTables, count_and_check, snapshot
from promoter.windows import HoppingWindows, TriggerRule, Window
from schemas.models import Feedback, PredictReply, PredictRequest

log = logging.getLogger(__name__)

Parsed = TypeVar("Parsed")


def app_id(settings: Settings) -> str:
    """The Faust app id (its consumer group and topic-name stem), prefixed like topics."""
    return settings.topic_prefix + settings.promoter_agent_app_id


def new_app(settings: Settings) -> faust.App:
    """A Faust app on the configured broker, tuned for fast fail-over and quick starts."""
    ident = app_id(settings)
    session_s = settings.kafka_session_timeout_ms / 1000
    return faust.App(
        ident,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store=settings.promoter_agent_store,
        datadir=settings.state_dir / "stream-agent" / ident,
        topic_partitions=settings.promoter_agent_partitions,
        topic_replication_factor=settings.promoter_agent_replication_factor,
        topic_disable_leader=True,  # its __assignor-__leader topic serves nothing here
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(session_s / 3, 0.5),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Every event becomes a few small writes (deltas, halves, changelogs); batching them
        # for 10 ms raised throughput by about a fifth here, and a trigger can wait that long.
        producer_linger=0.01,
        # Stop without finishing the event in hand: it is re-delivered (at least once), and a
        # count off by one is fine for a trigger.
        stream_wait_empty=False,
        web_bind=settings.stack_host,
        web_host=settings.stack_host,
        web_port=settings.promoter_agent_web_port,
        **client_security(settings.with_default_kafka_role("agent"), "faust"),
    )


# --------------------------------------------------------------------------- the app


@dataclass(frozen=True)
class StreamAgent:
    """The wired app, and what tests and benchmarks read."""

    app: faust.App
    tables: WindowTables
    rule: TriggerRule


def _raw_topic(app: faust.App, *names: str) -> TopicT:
    """A source topic read as bytes: decoding is ours, so poison cannot crash a stream."""
    return app.topic(
        *names, key_serializer="raw", value_serializer="raw", value_type=bytes, allow_empty=True
    )


def _internal_topic(app: faust.App, name: str) -> TopicT:
    return app.topic(
        f"{app.conf.id}-{name}", internal=True, key_serializer="raw", value_serializer="json"
    )


async def _parsed(
    stream: StreamT, parse: Callable[[Any], Parsed], what: str
) -> AsyncIterator[Parsed]:
    """The stream's values that ``parse`` accepts; the others are logged and skipped.

    The one place that decides about bad input: skip, with ``topic[partition]@offset``.
    """
    event: EventT
    async for event in stream.events():
        try:
            yield parse(event.value)
        except (KeyError, TypeError, ValueError) as exc:
            msg = event.message
            log.warning(
                "skip %s[%s]@%s: not a valid %s: %s",
                msg.topic,
                msg.partition,
                msg.offset,
                what,
                str(exc)[:500],
            )


def _events(stream: StreamT, model: type[EventModel]) -> AsyncIterator[EventModel]:
    return _parsed(stream, partial(decode, model=model), model.event_type_name())


def build_app(settings: Settings) -> StreamAgent:
    """The Faust app with its topics, tables, agents, timer and web view."""
    app = new_app(settings)
    windows = HoppingWindows(settings.promoter_trigger_window_s, settings.promoter_window_step_s)
    rule = TriggerRule(settings.promoter_trigger_requests, windows)
    tables = WindowTables(app, windows)
    ttl_s = settings.promoter_agent_join_ttl_s
    join_windows = HoppingWindows(ttl_s, ttl_s)
    join_table = app.Table(
        "feedback-join",
        schema=JSON_SCHEMA,
        # Roll segments often, so retention (= expires) really drops old halves.
        extra_topic_configs={"segment.ms": str(ttl_s * 1000)},
    )
    join_table.tumbling(ttl_s, expires=ttl_s)  # Faust expires the halves; keys are ours

    requests_in = _raw_topic(
        app,
        settings.topic("predict_requests_prod").name,
        settings.topic("predict_requests_candidate").name,
    )
    replies_in = _raw_topic(app, settings.topic("predict_replies").name)
    feedback_in = _raw_topic(app, settings.topic("feedback").name)
    deltas = _internal_topic(app, "window-deltas")
    halves = _internal_topic(app, "feedback-join")
    model_events = app.topic(
        settings.topic("model_events").name, key_serializer="raw", value_serializer="raw"
    )

    async def send_delta(delta: WindowDelta | None) -> None:
        if delta is not None:
            key = f"{delta.arm.experiment_id}/{delta.arm.variant}".encode()
            await deltas.send(key=key, value=delta.to_wire())

    async def send_half(request_id: str, half: Half | None) -> None:
        if half is not None:
            await halves.send(
                key=request_id.encode(), value=JoinMessage(request_id, half).to_wire()
            )

    @app.agent(requests_in, name="read-requests")
    async def read_requests(stream: StreamT) -> None:
        async for request in _events(stream, PredictRequest):
            await send_delta(request_delta(request))

    @app.agent(replies_in, name="read-replies")
    async def read_replies(stream: StreamT) -> None:
        async for reply in _events(stream, PredictReply):
            await send_delta(reply_delta(reply))
            await send_half(reply.request_id, reply_half(reply))

    @app.agent(feedback_in, name="read-feedback")
    async def read_feedback(stream: StreamT) -> None:
        async for feedback in _events(stream, Feedback):
            await send_half(feedback.request_id, feedback_half(feedback))

    @app.agent(halves, name="join-feedback")
    async def join_feedback(stream: StreamT) -> None:
        async for message in _parsed(stream, JoinMessage.from_wire, "join message"):
            now_s = time.time()
            current = (message.request_id, _window_key(join_windows.trailing(now_s)))
            previous = (message.request_id, _window_key(join_windows.trailing(now_s - ttl_s)))
            found = next((k for k in (current, previous) if k in join_table), None)
            step = join(half_from_wire(join_table[found]) if found else None, message.half)
            if found:
                del join_table[found]
            if step.keep is not None:
                join_table[current] = half_to_wire(step.keep)
            await send_delta(step.delta)

    @app.agent(deltas, name="count-windows")
    async def count_windows(stream: StreamT) -> None:
        async for delta in _parsed(stream, WindowDelta.from_wire, "window delta"):
            trigger = count_and_check(tables, rule, delta)
            if trigger is not None:
                body = trigger.model_dump(mode="json")
                await model_events.send(key=trigger.experiment_id.encode(), value=encode_json(body))
                log.info("trigger %s: %s", rule.describe(), body)

    @app.timer(interval=settings.promoter_agent_counts_log_s, name="log-counts")
    async def log_counts() -> None:
        for row in snapshot(tables, time.time()):
            log.info("window counts: %s", row.as_json())

    @app.page("/counts/")
    async def counts_page(web: View, request: Request) -> Response:
        """Every arm's counts in its trailing window at ``?at=<unix s>`` (default: now)."""
        try:
            at_s = float(request.query.get("at", time.time()))
        except ValueError:
            return web.json({"error": "at must be Unix seconds"}, status=400)
        body = {
            "at_s": at_s,
            "window_s": windows.size_s,
            "step_s": windows.step_s,
            "rule": rule.describe(),
            "arms": [row.as_json() for row in snapshot(tables, at_s)],
        }
        return web.json(body)

    return StreamAgent(app, tables, rule)


def _window_key(window: Window) -> tuple[float, float]:
    return window.start_s, window.end_s


def run_agent(settings: Settings) -> NoReturn:
    """Run the stream agent in this process until SIGTERM or SIGINT."""
    agent = build_app(settings)
    agent.app.conf.datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes one level
    worker = faust.Worker(agent.app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()
