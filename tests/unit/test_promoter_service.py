"""``Promoter`` against stand-ins: what the policy decides becomes swaps, events and records.

The policy, the slot transitions, the state and the ledger's records are the real ones;
the evidence, S3, Kafka, the reload broadcast and MLflow's aliases are stand-ins. The
real ones are exercised by tests/integration/test_promoter_decisions.py and
test_promoter_recovery.py.
"""

import io
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cli.settings import load_settings
from clients.split_store import SplitStore
from plumbing.model_store import Slots, SlotStore, SlotsVersion
from promoter.decide import decide, decide_watch
from promoter.evidence import Window
from promoter.experiment import ExperimentStats, VariantStats
from promoter.ledger import Ledger
from promoter.policy import Policy
from promoter.replay import verify
from promoter.service import Promoter
from promoter.state import PromoterState
from promoter.swap import Broadcast
from promoter.transitions import apply_action

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = Policy()
#: Requests per evaluation, both slots together; every one of them gets feedback.
REQUESTS = 20_000


class FakeS3:
    """Objects by key with ETags; ``If-Match`` and ``If-None-Match`` refuse as S3 does."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._writes = 0

    def get_object(self, **request: Any) -> dict[str, Any]:
        key = request["Key"]
        if key not in self.objects:
            raise _client_error(404, "NoSuchKey")
        body, etag = self.objects[key]
        return {"Body": io.BytesIO(body), "ETag": etag}

    def put_object(self, **request: Any) -> dict[str, Any]:
        key, current = request["Key"], self.objects.get(request["Key"])
        if request.get("IfNoneMatch") == "*" and current is not None:
            raise _client_error(412, "PreconditionFailed")
        expected = request.get("IfMatch")
        if expected is not None and (current is None or current[1] != expected):
            raise _client_error(412, "PreconditionFailed")
        self._writes += 1
        etag = f'"etag-{self._writes}"'
        self.objects[key] = (request["Body"], etag)
        return {"ETag": etag}


def _client_error(status: int, code: str) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Object")


class Sent:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    """Every send acknowledged at once, kept in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, topic: str, value: Any = None, **_: Any) -> Sent:
        self.sent.append((topic, value))
        return Sent()


class InMemoryLedger(Ledger):
    """The real ledger's records on the fake producer; no other writer to catch up with."""

    def _catch_up(self) -> None:
        return None


class FakeSlotSwap:
    """The routing write as the real one (conditional, here on the fake S3); every reload
    broadcast is acknowledged at once by one predictor."""

    def __init__(self, slots: SlotStore) -> None:
        self._slots = slots
        self.broadcasts: list[int] = []

    def write(self, before: SlotsVersion, after: Slots) -> SlotsVersion:
        return self._slots.swap(before, after)

    def broadcast(self, after: SlotsVersion, reason: str) -> Broadcast:
        self.broadcasts.append(after.slots.generation)
        return Broadcast(after.slots.generation, ("predictor-1",), (), 0.01)


class World:
    """One promoter and every stand-in around it. The evidence reports each model
    version's mean absolute error (``mae``), whichever slot serves it."""

    def __init__(self, policy: Policy = POLICY) -> None:
        self.settings = load_settings()
        self.policy = policy
        self.s3 = FakeS3()
        self.producer = FakeProducer()
        self.routing = SlotStore(self.s3, self.settings.s3_bucket)
        self.split = SplitStore(self.s3, self.settings.s3_bucket)
        self.slot_swap = FakeSlotSwap(self.routing)
        self.ledger = InMemoryLedger(self.settings, self.producer, [])
        self.aliases: list[Slots] = []
        self.windows: list[Window] = []
        #: What each evaluation read, in order.
        self.read: list[ExperimentStats] = []
        self.mae: dict[str, float] = {}
        self.promoter = self.start()

    def start(self) -> Promoter:
        """A promoter becoming active: its state read back from the ledger."""
        state = PromoterState.from_ledger(
            self.ledger.records, default_share=self.settings.candidate_share
        )
        self.promoter = Promoter(
            self.settings,
            clickhouse=None,  # the evidence stand-in reads none
            s3=self.s3,
            producer=self.producer,
            policy=self.policy,
            ledger=self.ledger,
            state=state,
            evidence=self.evidence,
            slot_swap=self.slot_swap,
            mirror_aliases=self.aliases.append,
        )
        return self.promoter

    def evidence(self, window: Window) -> ExperimentStats:
        """The split exactly as planned; each slot's errors those of the version it serves."""
        self.windows.append(window)
        current = self.routing.read()
        assert current is not None
        share = self.promoter.state.shares.share_at(window.until)
        candidate = round(REQUESTS * share)
        stats = ExperimentStats(
            experiment_id=window.experiment_id,
            prod=self._variant(current.slots.best, REQUESTS - candidate),
            candidate=self._variant(current.slots.candidate, candidate),
            expected_candidate_share=share,
            started_at=window.until - timedelta(hours=1),
            now=window.until,
        )
        self.read.append(stats)
        return stats

    def _variant(self, version: str | None, requests: int) -> VariantStats:
        mae, sd = self.mae[str(version)], 5.0
        return VariantStats(
            requests=requests,
            errors=0,
            latency_p95_ms=50.0,
            feedback_count=requests,
            abs_error_sum=requests * mae,
            abs_error_sq_sum=(requests - 1) * sd**2 + requests * mae**2,
        )

    # ------------------------------------------------------------------ the trainer

    def publish_best(self, version: str) -> None:
        self.routing.create(Slots(best=version))
        self.promoter.record_publish(version, "best", now=NOW - timedelta(hours=2))

    def publish_candidate(self, version: str) -> None:
        current = self.routing.read()
        assert current is not None
        self.routing.swap(current, current.slots.next(candidate=version))
        self.promoter.record_publish(version, "candidate", now=NOW - timedelta(hours=1))

    # ------------------------------------------------------------------ what it sent

    def events(self) -> list[dict[str, Any]]:
        topic = self.settings.topic("model_events").name
        return [value for sent_to, value in self.producer.sent if sent_to == topic]

    def ledger_messages(self) -> list[dict[str, Any]]:
        topic = self.settings.topic("promoter_ledger").name
        return [value for sent_to, value in self.producer.sent if sent_to == topic]


def _experiment(candidate_mae: float, prod_mae: float = 30.0) -> World:
    """v1 serves as best, v2 runs as the candidate."""
    world = World()
    world.mae = {"v1": prod_mae, "v2": candidate_mae}
    world.publish_best("v1")
    world.publish_candidate("v2")
    return world


def _read(world: World) -> SlotsVersion:
    current = world.routing.read()
    assert current is not None
    return current


# --------------------------------------------------------------------------- evaluating


def test_it_promotes_when_the_policy_says_promote() -> None:
    world = _experiment(candidate_mae=20.0)
    before, records_before = _read(world), len(world.ledger.records)

    decision = world.promoter.evaluate(now=NOW)

    assert decision is not None
    assert decision.action == decide(world.read[0], POLICY).action == "promote"
    after = _read(world)
    assert after.slots == apply_action("promote", before.slots, holdback=POLICY.holdback_share > 0)
    assert world.ledger.records[records_before:] == [world.ledger.records[-1]]
    record = world.ledger.records[-1]
    assert (record.action, record.actor.kind) == ("promote", "policy")
    assert record.reasons[: len(decision.reasons)] == decision.reasons
    assert (record.etag_before, record.etag_after) == (before.etag, after.etag)
    assert record.statistics == decision.statistics
    assert record.inputs["acked"] == ["predictor-1"]
    assert world.slot_swap.broadcasts == [after.slots.generation]
    assert world.aliases == [after.slots]
    promoted = world.events()[-1]
    assert promoted["event_type"] == "model.promoted"
    assert (promoted["model_version"], promoted["previous_best"]) == ("v2", "v1")
    split = world.split.read()
    assert split is not None and split.candidate_share == POLICY.holdback_share
    watch = world.promoter.state.watch
    assert watch is not None and (watch.new_best, watch.holdback) == ("v2", "v1")


def test_it_rolls_back_when_the_watch_says_the_new_version_errs_more() -> None:
    world = _experiment(candidate_mae=20.0)
    world.promoter.evaluate(now=NOW)
    watching = _read(world)
    world.mae["v2"] = 40.0  # the new best turns out worse than the one it replaced

    decision = world.promoter.evaluate(now=NOW + timedelta(hours=1))

    assert decision is not None
    watch = world.windows[-1]
    assert watch.since == NOW  # the watch's evidence starts where the promotion's share did
    read = replace(world.read[-1].swapped(), started_at=watch.since)
    assert decision.action == decide_watch(read, POLICY).action == "rollback"
    after = _read(world)
    assert after.slots == apply_action("rollback", watching.slots)
    assert after.slots.best == "v1"
    record = world.ledger.records[-1]
    assert (record.action, record.actor.kind) == ("rollback", "policy")
    assert record.slots_before.model_dump() == asdict(watching.slots)
    rolled_back = world.events()[-1]
    assert rolled_back["event_type"] == "model.rolled_back"
    assert (rolled_back["model_version"], rolled_back["from_version"]) == ("v1", "v2")
    assert world.slot_swap.broadcasts[-1] == after.slots.generation
    assert world.aliases[-1] == after.slots
    assert world.promoter.state.watch is None


def test_it_changes_nothing_while_the_policy_waits() -> None:
    world = _experiment(candidate_mae=30.0)  # no difference to find
    before = _read(world)
    records, sent = list(world.ledger.records), list(world.producer.sent)

    decision = world.promoter.evaluate(now=NOW)

    assert decision is not None
    assert decision.action == decide(world.read[0], POLICY).action == "wait"
    assert _read(world) == before
    assert world.ledger.records == records
    assert world.producer.sent == sent
    assert world.slot_swap.broadcasts == []
    assert world.aliases == []


def test_a_paused_promoter_reads_no_evidence_and_decides_nothing() -> None:
    world = _experiment(candidate_mae=20.0)
    world.promoter.state.paused = True
    before = _read(world)

    assert world.promoter.evaluate(now=NOW) is None

    assert world.windows == []
    assert _read(world) == before


def test_every_action_is_a_ledger_record_and_the_ledger_explains_s3() -> None:
    world = _experiment(candidate_mae=20.0)
    world.promoter.evaluate(now=NOW)
    world.mae["v2"] = 40.0
    world.promoter.evaluate(now=NOW + timedelta(hours=1))

    records = world.ledger.records
    assert [r.action for r in records] == ["bootstrap", "publish", "promote", "rollback"]
    assert [r.sequence for r in records] == list(range(len(records)))
    assert verify(records, world.routing.read()).problems == []
    # each record went to the ledger topic, as written
    assert world.ledger_messages() == [r.model_dump(mode="json") for r in records]


def test_a_swap_from_stale_slots_loses_the_race_and_records_nothing() -> None:
    world = _experiment(candidate_mae=20.0)
    stale = _read(world)
    world.publish_candidate("v3")  # the trainer got in first
    records = list(world.ledger.records)

    outcome = world.promoter.swap(
        "promote", stale, {"kind": "operator", "name": "alice"}, None, "exp-1:v2", {}, NOW
    )

    assert outcome.outcome == "conflict"
    assert outcome.record is None
    assert outcome.slots == _read(world)
    assert world.ledger.records == records
    assert world.slot_swap.broadcasts == []


# --------------------------------------------------------------------------- recovering


def _crash_after_the_routing_write(world: World) -> SlotsVersion:
    """What a promoter killed at ``promoter.after_routing_write`` leaves: S3 one swap
    ahead of the ledger."""
    before = _read(world)
    after = apply_action("promote", before.slots, holdback=POLICY.holdback_share > 0)
    return world.routing.swap(before, after)


def test_recovery_finishes_a_swap_a_crash_interrupted() -> None:
    world = _experiment(candidate_mae=20.0)
    recorded = world.ledger.records[-1]
    written = _crash_after_the_routing_write(world)
    assert verify(world.ledger.records, written).problems  # the ledger no longer explains S3

    restarted = world.start()
    record = restarted.recover()

    assert record is not None
    assert (record.action, record.actor.kind) == ("promote", "recovery")
    assert record.slots_before == recorded.slots_after
    assert (record.slots_after.model_dump(), record.etag_after) == (
        asdict(written.slots),
        written.etag,
    )
    assert record.inputs["interrupted_generation"] == written.slots.generation
    assert world.slot_swap.broadcasts == [written.slots.generation]
    assert world.aliases == [written.slots]
    assert world.events()[-1]["event_type"] == "model.promoted"
    assert verify(world.ledger.records, _read(world)).problems == []
    watch = restarted.state.watch
    assert watch is not None and watch.new_best == written.slots.best
    # done once: a second recovery finds the ledger and S3 agreeing
    assert restarted.recover() is None
    assert world.ledger.records[-1] == record


def test_recovery_leaves_alone_what_is_not_one_swap() -> None:
    world = _experiment(candidate_mae=20.0)
    _crash_after_the_routing_write(world)
    _crash_after_the_routing_write_of_a_rollback(world)
    records = list(world.ledger.records)

    assert world.start().recover() is None

    assert world.ledger.records == records
    assert world.slot_swap.broadcasts == []


def _crash_after_the_routing_write_of_a_rollback(world: World) -> None:
    before = _read(world)
    world.routing.swap(before, apply_action("rollback", before.slots))
