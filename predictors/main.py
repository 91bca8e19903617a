"""Entry point of a predictor process: build the parts from settings and run the loop.

Roles:
- ``prod`` / ``candidate``: a predictor of that slot, in consumer group
  ``splitstream-predictor-<slot>`` on ``predict.requests.<slot>``;
- ``score``: the batch scorer, in group ``splitstream-scorer`` on ``score.requests``,
  serving both slots' models.

Group names get the topic prefix too (``SPLITSTREAM_TOPIC_PREFIX``), so two
deployments (or two tests) sharing a cluster never share a group.
"""

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kafka import KafkaConsumer

from plumbing import kafka
from plumbing.heap import freeze_startup_objects
from plumbing.model_store import ModelStore, SlotStore
from plumbing.s3 import s3_client
from plumbing.settings_topics import TopicKey
from plumbing.shutdown import stopping_on_signals
from predictors.loop import Handler, ServingLoop
from predictors.messages import ReplyAddresses
from predictors.metrics import PredictorMetrics
from predictors.model_slot import ModelSlot
from predictors.reloads import SlotKeeper
from predictors.scoring import ScoreHandler
from predictors.settings import PredictorSettings
from predictors.worker import PredictHandler

log = logging.getLogger(__name__)

Role = Literal["prod", "candidate", "score"]
#: The topic each role consumes.
REQUEST_TOPICS: dict[Role, TopicKey] = {
    "prod": "predict_requests_prod",
    "candidate": "predict_requests_candidate",
    "score": "score_requests",
}
ROLES: tuple[Role, ...] = ("prod", "candidate", "score")
SCORER_GROUP = "splitstream-scorer"
#: Producer linger of the scorer's results, and batch size of them and the replies (see ``run``).
WRITE_LINGER_MS = 100
WRITE_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class Started:
    """Told to ``on_ready`` once the models are loaded and /metrics answers."""

    role: Role
    predictor_id: str
    metrics_port: int
    topic: str
    group_id: str


def predictor_id(role: Role) -> str:
    """``<slot>-<hostname>-<pid>`` (``score-…`` for the scorer)."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


def group_id(settings: PredictorSettings, role: Role) -> str:
    """The role's consumer group, namespaced by the topic prefix like the topics are."""
    group = SCORER_GROUP if role == "score" else f"splitstream-predictor-{role}"
    return settings.topic_prefix + group


def request_topic(settings: PredictorSettings, role: Role) -> str:
    return settings.topic(REQUEST_TOPICS[role]).name


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


def run(
    settings: PredictorSettings,
    role: Role,
    *,
    on_ready: Callable[[Started], None] = lambda started: None,
    stop: threading.Event | None = None,
) -> None:
    """Run one predictor (or the scorer) until ``stop`` is set or SIGTERM/SIGINT arrives: its
    logging, its /metrics, its loop."""
    configure_logging()
    stop = stop or threading.Event()
    settings = settings.with_default_kafka_role("predictor")  # its Kafka principal
    me = predictor_id(role)
    topic, group = request_topic(settings, role), group_id(settings, role)
    s3 = s3_client(settings)
    store = ModelStore(s3, settings.s3_bucket, verify_key=settings.model_verify_key)
    slot_store = SlotStore(s3, settings.s3_bucket)
    metrics = PredictorMetrics(role)
    with stopping_on_signals(stop), contextlib.ExitStack() as close:
        # The serving loop does not wait for a batch's acks (ServingLoop's MAX_UNACKED), so
        # nothing flushes: a linger would delay every reply by it (p50 70 ms at 25 req/s
        # with 100 ms). The scorer writes bulk results, where the linger lets a batch's sends
        # share a produce request instead of waking the IO thread once per message.
        producer = kafka.producer(
            settings,
            client_id=me,
            linger_ms=WRITE_LINGER_MS if role == "score" else 0,
            batch_size=WRITE_BATCH_BYTES,
        )
        close.callback(producer.close)
        events = kafka.consumer(
            settings,
            group_id=None,
            client_id=f"{me}-events",
            fetch_max_wait_ms=settings.kafka_listener_fetch_max_wait_ms,
        )
        close.callback(events.close)
        requests = kafka.consumer(
            settings,
            group_id=group,
            client_id=me,
            max_poll_records=settings.predictor_batch_max_rows,
        )
        close.callback(requests.close)
        slots = [ModelSlot("prod", store), ModelSlot("candidate", store)]
        if role != "score":
            slots = [s for s in slots if s.slot == role]
        keeper = SlotKeeper(
            slots=slots,
            slot_store=slot_store,
            events=events,
            events_topic=settings.topic("model_events").name,
            producer=producer,
            predictor_id=me,
            refresh_s=settings.predictor_slot_refresh_s,
            metrics=metrics,
        )
        handler: Handler[Any] = _handler(settings, role, me, slots, producer, requests, metrics)
        loop = ServingLoop(
            consumer=requests,
            topic=topic,
            producer=producer,
            deadletter_topic=settings.topic("deadletter").name,
            handler=handler,
            metrics=metrics,
            batch_max_rows=settings.predictor_batch_max_rows,
        )
        keeper.start()
        listener = threading.Thread(target=keeper.listen, args=(stop,), name="model-events")
        listener.start()
        close.callback(listener.join)  # before the clients close (callbacks run last-first)
        close.callback(stop.set)  # whatever ends the loop ends the listener too
        freeze_startup_objects()  # the model is loaded: keep full GC passes off the batches
        port = metrics.serve_http(host=settings.stack_host, port=settings.predictor_metrics_port)
        close.callback(metrics.close)
        log.info("%s ready: %s in group %s, metrics port %d", me, topic, group, port)
        on_ready(Started(role, me, port, topic, group))
        loop.run(stop)
        log.info("%s stopping: closing clients", me)
    log.info("%s stopped", me)


def _handler(
    settings: PredictorSettings,
    role: Role,
    me: str,
    slots: list[ModelSlot],
    producer: Any,
    requests: KafkaConsumer,
    metrics: PredictorMetrics,
) -> PredictHandler | ScoreHandler:
    if role == "score":
        prod, candidate = slots
        return ScoreHandler(
            prod=prod,
            candidate=candidate,
            producer=producer,
            results_topic=settings.topic("score_results").name,
            experiment_prefix=settings.experiment_id,
            candidate_share=settings.candidate_share,
            scorer_id=me,
            metrics=metrics,
        )
    return PredictHandler(
        slot=slots[0],
        producer=producer,
        predictor_id=me,
        reply_addresses=ReplyAddresses(
            settings.topic("predict_replies").name, requests.partitions_for_topic
        ),
        metrics=metrics,
    )
