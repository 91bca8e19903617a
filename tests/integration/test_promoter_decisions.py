"""The promoter's decisions on the real stack: a ramp, the concurrent watch, absurd evidence,
and the point-in-time dry run.

The promoter runs in this process, on the session's Kafka (its ledger and model.events in
a topic prefix of its own), S3 (slots, split and tiny models in a bucket of its own) and
MLflow, with an embedded chDB holding synthetic traffic: served requests, replies, shadow
replies and feedback, each stored a second after it happened. It is evaluated at chosen
moments, as its timer would, so hours of an experiment play out in seconds, and every
decision reads only the evidence that existed at its moment.
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kafka import TopicPartition
from pydantic import SecretStr
from sklearn.dummy import DummyRegressor

from cli.settings import Settings
from clients.ledger_reader import read_ledger
from clients.promoter_commands import new_command
from clients.split_store import SplitStore
from plumbing import kafka
from plumbing.clickhouse import ChdbClickHouse, create_tables
from plumbing.model_store import ModelStore, Slots, SlotStore
from plumbing.s3 import s3_client
from promoter.backtest import backtest
from promoter.commands import execute
from promoter.ledger import Ledger
from promoter.main import promoter_signals
from promoter.policy import Policy
from promoter.replay import verify
from promoter.service import Promoter
from promoter.state import PromoterState
from stack import kafka_access
from tests.integration.decision_traffic import Arms, candidate_request_ids, feedback_row, traffic
from tests.webhook_receiver import webhook_receiver
from trainer.publish import place_in_slot

DATABASE = "decisions"
#: Simulated time starts a day ago, so every moment here is in the past.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class World:
    settings: Settings
    clickhouse: ChdbClickHouse
    producer: Any
    rng: np.random.Generator

    def promoter(self, policy: Policy) -> Promoter:
        """A promoter as ``promoter.main`` activates one: state rebuilt from the ledger."""
        records = read_ledger(self.settings)
        return Promoter(
            self.settings,
            clickhouse=self.clickhouse,
            s3=s3_client(self.settings),
            producer=self.producer,
            policy=policy,
            ledger=Ledger(self.settings, self.producer, records),
            state=PromoterState.from_ledger(records, default_share=self.settings.candidate_share),
        )

    def publish(self, version: str) -> None:
        """A tiny model in the store, as the trainer's publish would leave it."""
        ModelStore(s3_client(self.settings), self.settings.s3_bucket).publish(
            version,
            estimator=DummyRegressor().fit([[0.0]], [1.0]),
            columns=["total_sqft"],
            manifest={"created_at": "2026-01-01T00:00:00.000Z"},
        )

    def slots(self) -> Slots:
        found = SlotStore(s3_client(self.settings), self.settings.s3_bucket).read()
        assert found is not None
        return found.slots

    def share(self) -> float:
        stored = SplitStore(s3_client(self.settings), self.settings.s3_bucket).read()
        assert stored is not None
        return stored.candidate_share


@pytest.fixture
def world(stack: Settings, unique: str, tmp_path: Any) -> Iterator[World]:
    settings = stack.model_copy(
        update={
            "s3_bucket": f"decide-{unique}",
            "topic_prefix": f"decide-{unique}.",
            "registered_model_name": f"decide-{unique}",
            "clickhouse_database": DATABASE,
            "experiment_id": "exp",
            "candidate_share": 0.2,
            "kafka_role": "admin",  # this test's own prefix is in no ACL table
        }
    )
    s3_client(settings).create_bucket(Bucket=settings.s3_bucket)
    kafka_access.ensure_topics(settings, {t.name: t.partitions for t in settings.topics()})
    clickhouse = ChdbClickHouse(str(tmp_path / "chdb"), DATABASE)
    create_tables(clickhouse, DATABASE)
    producer = kafka.producer(settings, client_id="decisions-test")
    try:
        yield World(settings, clickhouse, producer, np.random.default_rng(7))
    finally:
        producer.close(timeout=5)
        clickhouse.close()


def _start(world: World, promoter: Promoter, best: str, candidate: str, *, minutes: float) -> None:
    """The trainer's bootstrap and publish, recorded by the promoter."""
    world.publish(best)
    world.publish(candidate)
    slots = SlotStore(s3_client(world.settings), world.settings.s3_bucket)
    place_in_slot(slots, best, "best")
    promoter.record_publish(best, "best", now=at(minutes))
    place_in_slot(slots, candidate, "candidate")
    promoter.record_publish(candidate, "candidate", now=at(minutes))


def _actions(settings: Settings) -> list[tuple[str, str]]:
    return [(r.action, r.actor.kind) for r in read_ledger(settings)]


# --------------------------------------------------------------------------- the ramp

RAMP = Policy(
    ramp_steps=(0.05, 0.2, 0.5),
    ramp_step_min_hours=0.5,
    holdback_share=0.1,
    min_feedback_per_variant=100,
)


def test_a_ramp_plays_through_with_the_split_checked_per_step_and_every_step_recorded(
    world: World,
) -> None:
    # Given a new candidate, whose experiment starts at the ramp's first step
    promoter = world.promoter(RAMP)
    _start(world, promoter, "v1", "v2", minutes=0)
    assert world.share() == 0.05
    first_step = read_ledger(world.settings)[-1]  # the publish that started the experiment
    assert (first_step.action, first_step.inputs["share_change"]["after"]) == ("publish", 0.05)
    experiment = "exp:v2"
    arms = Arms("v1", "v2")

    # When each step's traffic is routed at its share and the promoter looks after 40 min
    shares = []
    for step, share in enumerate((0.05, 0.2, 0.5)):
        begin, end = 40 * step, 40 * (step + 1)
        # the first seconds after a change are routed by the old share: gateways lag
        settle = traffic(
            experiment,
            arms,
            start=at(begin),
            end=at(begin) + timedelta(seconds=5),
            requests=50,
            share=0.2 if step == 0 else (0.05, 0.2)[step - 1],
            rng=world.rng,
            feedback_share=0.0,
        )
        settle.insert(world.clickhouse)
        traffic(
            experiment,
            arms,
            start=at(begin) + timedelta(seconds=15),
            end=at(end),
            requests=6_000,
            share=share,
            rng=world.rng,
            feedback_share=0.0,
        ).insert(world.clickhouse)
        decision = promoter.evaluate(now=at(end))
        assert decision is not None
        shares.append((decision.action, world.share()))

    # Then it stepped 5% -> 20% -> 50% and stayed at the last step, waiting for feedback
    assert shares == [("ramp", 0.2), ("ramp", 0.5), ("wait", 0.5)], shares
    records = read_ledger(world.settings)
    steps = [r for r in records if r.action == "ramp"]
    assert [r.inputs["share_change"]["after"] for r in steps] == [0.2, 0.5]
    assert [r.inputs["share_change"]["before"] for r in steps] == [0.05, 0.2]
    # and the split was tested per period of constant share, each against its own plan
    periods = steps[1].statistics["srm"]["periods"]
    assert [p["share"] for p in periods] == [0.05, 0.2]
    assert all(
        abs(p["candidate"] / (p["prod"] + p["candidate"]) - p["share"]) < 0.02 for p in periods
    )
    assert steps[1].statistics["srm_p_value"] > RAMP.srm_p_threshold
    assert verify(records, SlotStore(s3_client(world.settings), world.settings.s3_bucket).read()).ok

    # When the next period is routed off its plan (30% at a planned 50%)
    traffic(
        experiment,
        arms,
        start=at(121),
        end=at(160),
        requests=6_000,
        share=0.3,
        rng=world.rng,
        feedback_share=0.0,
    ).insert(world.clickhouse)
    decision = promoter.evaluate(now=at(160))
    # Then the split test blocks every decision and alerts, once
    assert decision is not None and decision.srm_alert and decision.action == "wait"
    assert promoter.evaluate(now=at(161)) is not None
    alerts = [r for r in read_ledger(world.settings) if r.inputs.get("alert") == "srm"]
    assert len(alerts) == 1 and alerts[0].experiment_id == experiment


# --------------------------------------------------------------------------- the watch


def test_a_forced_bad_promotion_is_rolled_back_on_concurrent_evidence_despite_a_new_candidate(
    world: World,
) -> None:
    # Given v2, much worse than v1, promoted by hand: v1 keeps 10% of the traffic
    policy = Policy(holdback_share=0.1, watch_min_feedback=100)
    promoter = world.promoter(policy)
    _start(world, promoter, "v1", "v2", minutes=0)
    command = new_command(action="promote", operator="asha", reason="trust me")
    assert execute(promoter, command).outcome == "done"
    slots = world.slots()
    assert (slots.best, slots.holdback) == ("v2", "v1") and world.share() == 0.1
    watch = f"exp:watch-g{slots.generation}:v1"
    started = promoter.state.watch
    assert started is not None and started.experiment_id == watch

    # When the trainer publishes v3 during the watch
    world.publish("v3")
    slot, _ = place_in_slot(
        SlotStore(s3_client(world.settings), world.settings.s3_bucket), "v3", "auto"
    )
    assert slot == "queued"
    promoter.record_publish("v3", "queued")
    # Then v3 waits: the watch goes on, v1 still held back
    assert world.slots() == slots and promoter.state.queued == "v3"

    # When the promoter restarts during the watch, it rebuilds the watch from the ledger
    promoter = world.promoter(policy)
    assert promoter.state.watch == started and promoter.state.queued == "v3"

    # When both versions serve the same traffic (v2 prod, v1 the holdback, shadow-paired)
    begin = started.started_at
    arms = Arms("v2", "v1", prod_mae=40.0, candidate_mae=20.0, shadow_share=0.5)
    traffic(
        watch,
        arms,
        start=begin,
        end=begin + timedelta(minutes=30),
        requests=3_000,
        share=0.1,
        rng=world.rng,
    ).insert(world.clickhouse)
    decision = promoter.evaluate(now=begin + timedelta(minutes=31))

    # Then v2 is rolled back on the concurrent, paired evidence, and v3's experiment starts
    assert decision is not None and decision.action == "rollback", decision
    after = world.slots()
    assert (after.best, after.candidate, after.holdback) == ("v1", "v3", None)
    rollback = next(r for r in reversed(read_ledger(world.settings)) if r.action == "rollback")
    assert rollback.experiment_id == watch and rollback.actor.kind == "policy"
    mae = rollback.statistics["mae"]
    assert mae["method"] == "paired" and mae["lower"] > 0
    assert mae["mae_candidate"] > mae["mae_prod"]  # the new best (v2) erred more
    assert rollback.reasons[0].startswith("the new version errs more: MAE previous")
    assert rollback.inputs["started_candidate"] == "v3"
    assert rollback.inputs["share_change"]["after"] == 0.2  # v3 starts at the usual share
    assert [a for a in _actions(world.settings) if a[0] != "wait"] == [
        ("bootstrap", "trainer"),
        ("publish", "trainer"),
        ("promote", "operator"),
        ("publish", "trainer"),
        ("rollback", "policy"),
    ]

    # And a promoter that restarts knows the watch is over and the queue is empty
    again = world.promoter(policy)
    assert again.state.watch is None and again.state.queued is None


# --------------------------------------------------------------------------- absurd evidence


def _alerts(settings: Settings) -> list[dict[str, Any]]:
    topic = TopicPartition(settings.topic("model_events").name, 0)
    reader = kafka.consumer(settings, group_id=None)
    try:
        reader.assign([topic])
        reader.seek_to_beginning(topic)
        found, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in reader.poll(timeout_ms=300).get(topic, []):
                event = json.loads(message.value)
                if event.get("event_type") == "experiment.alert":
                    found.append(event)
            if found:
                break
        return found
    finally:
        reader.close()


def test_feedback_of_1e200_makes_the_promoter_wait_and_alert_and_it_still_times_out(
    world: World,
) -> None:
    # Given an experiment whose candidate's first feedback on one request was 1e200 lakhs
    # (written straight into the table: the sink refuses it since feedback is bounded)
    promoter = world.promoter(Policy())
    _start(world, promoter, "v1", "v2", minutes=0)
    batch = traffic(
        "exp:v2",
        Arms("v1", "v2"),
        start=at(0),
        end=at(60),
        requests=2_000,
        share=0.2,
        rng=world.rng,
    )
    absurd = candidate_request_ids(batch)[0]
    batch.feedback = [f for f in batch.feedback if f["request_id"] != absurd]
    batch.feedback.append(feedback_row(absurd, 1e200, at(61)))
    batch.insert(world.clickhouse)

    # and a promoter whose signals post to a webhook that fails its first post
    with webhook_receiver(answers=[503]) as webhook:
        signals = promoter_signals(
            world.settings.model_copy(update={"notify_webhook_url": SecretStr(webhook.url)})
        )
        promoter.signals = signals

        # When it is evaluated, again, and past its maximum duration
        first = promoter.evaluate(now=at(62))
        second = promoter.evaluate(now=at(63))
        waiting = world.slots()
        late = promoter.evaluate(now=at(60 * 400))
        posts = webhook.wait_for(3, timeout_s=15)
        signals.close()

    # Then it waits every time, without an exception, and alerts once
    for decision in (first, second):
        assert decision is not None and decision.action == "wait"
        assert decision.alert_kind == "evidence"
    assert "is 1e+200, beyond any real sum" in first.reasons[0]  # type: ignore[union-attr]
    alerts = _alerts(world.settings)
    assert [a["kind"] for a in alerts] == ["evidence"]
    assert alerts[0]["experiment_id"] == "exp:v2"
    assert waiting.candidate == "v2"

    # And past the maximum duration it still decides: the timeout needs no statistic
    assert late is not None and late.action == "reject"
    assert "maximum duration" in late.reasons[0] and "1e+200" in late.reasons[1]
    assert world.slots().candidate is None

    # And the webhook got the alert, its wait record and the reject, in order, each with
    # a text a person reads, the first after a retry
    assert [(m["kind"], m["event"].get("kind") or m["event"]["action"]) for m in posts] == [
        ("alert", "evidence"),
        ("decision", "wait"),
        ("decision", "reject"),
    ]
    assert posts[0]["text"].startswith("Splitstream alert (evidence) in exp:v2")
    assert "reject candidate v2" in posts[2]["text"]
    assert webhook.attempts == 4
    metrics = signals.metrics.render().decode()
    assert 'splitstream_promoter_decisions_total{action="reject"} 1.0' in metrics
    assert 'splitstream_promoter_alerts_total{kind="evidence"} 1.0' in metrics
    assert 'splitstream_promoter_notifications_total{outcome="delivered"} 3.0' in metrics


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the dry run


def test_the_dry_run_is_point_in_time_and_policies_decide_at_their_own_moments(
    world: World,
) -> None:
    # Given a candidate 10% better, its paired evidence accruing over two hours, and the
    # promoter looking every 5 minutes until it promotes
    policy = Policy(holdback_share=0.1)
    promoter = world.promoter(policy)
    _start(world, promoter, "v1", "v2", minutes=0)
    arms = Arms("v1", "v2", prod_mae=25.0, candidate_mae=21.0, shadow_share=0.5)
    traffic(
        "exp:v2", arms, start=at(0), end=at(120), requests=6_000, share=0.2, rng=world.rng
    ).insert(world.clickhouse)
    recorded_at = None
    for minutes in range(5, 125, 5):
        decision = promoter.evaluate(now=at(minutes))
        if decision is not None and decision.action != "wait":
            recorded_at = minutes
            break
    assert recorded_at is not None and world.slots().best == "v2"

    def dry_run() -> list[Any]:
        return backtest(
            read_ledger(world.settings),
            {
                "recorded": policy,
                "strict": policy.model_copy(
                    update={"alpha": 0.001, "min_feedback_per_variant": 300}
                ),
                "loose": policy.model_copy(update={"alpha": 0.3, "min_feedback_per_variant": 30}),
            },
            clickhouse=world.clickhouse,
            database=DATABASE,
            prefix="exp",
            default_share=0.2,
            every=timedelta(minutes=5),
            until=at(200),
        )

    # When the dry run evaluates each policy every 5 minutes of the recorded history
    rows = dry_run()
    experiment = rows[0]
    assert experiment.span.experiment_id == "exp:v2" and experiment.span.ended_by == "promote"
    moments = {name: found.at for name, found in experiment.decisions.items()}
    actions = {name: found.action for name, found in experiment.decisions.items()}
    print({name: (found.action, found.at) for name, found in experiment.decisions.items()})

    # Then the recorded policy promotes when it did, the loose one earlier, the strict one
    # later or never within the experiment (it ended at the promotion)
    assert actions["recorded"] == "promote" and moments["recorded"] == at(recorded_at)
    assert actions["loose"] == "promote" and moments["loose"] < at(recorded_at)
    assert moments["strict"] is None or moments["strict"] > at(recorded_at)

    # When late feedback is appended: corrections that would reverse the comparison,
    # one set dated now, one backdated into the experiment but stored only now
    late = [
        feedback_row(request_id, 1.0, datetime.now(UTC), offset)
        for offset, request_id in enumerate(_request_ids(world, "exp:v2")[:500])
    ]
    backdated = [
        feedback_row(request_id, 1.0, at(10), offset, ingested_at=datetime.now(UTC))
        for offset, request_id in enumerate(_request_ids(world, "exp:v2")[500:1000])
    ]
    world.clickhouse.insert_df("feedback", _frame(late + backdated))

    # Then the dry run gives exactly the same answer: no later evidence reaches any moment
    again = dry_run()
    assert [(r.span, r.decisions) for r in again] == [(r.span, r.decisions) for r in rows]


def _request_ids(world: World, experiment: str) -> list[str]:
    frame = world.clickhouse.query_df(
        f"SELECT request_id FROM {DATABASE}.requests WHERE experiment_id = {{e:String}} "
        "AND NOT shadow ORDER BY occurred_at",
        {"e": experiment},
    )
    return [str(v) for v in frame["request_id"]]


def test_publishing_over_a_running_candidate_ends_its_experiment_on_the_record(
    world: World,
) -> None:
    # Given v2 under experiment
    promoter = world.promoter(Policy())
    _start(world, promoter, "v1", "v2", minutes=0)
    # When the trainer publishes v3 into the candidate slot over it
    world.publish("v3")
    place_in_slot(SlotStore(s3_client(world.settings), world.settings.s3_bucket), "v3", "auto")
    record = promoter.record_publish("v3", "candidate", now=at(30))
    # Then the publish record says v2's experiment ended undecided, and v3's began
    assert record is not None and record.experiment_id == "exp:v3"
    assert record.inputs["ended_experiment"] == "exp:v2"
    assert any("experiment exp:v2 ends undecided" in reason for reason in record.reasons)
    assert world.slots().candidate == "v3"
