"""The Faust agent's metrics: counted per batch, windows read from the pane table."""

from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from promoter.agent_metrics import AgentMetrics, batch_summary
from promoter.window_tables import PaneTable
from promoter.windows import Arm, HoppingWindows, WindowCounts

TYPES = {"req": "predict.request", "rep": "predict.reply", "fb": "feedback"}


def _event(topic: str, timestamp_s: float | None) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, timestamp=timestamp_s))


def _samples(metrics: AgentMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_batch_is_summed_by_event_type_with_its_newest_timestamp() -> None:
    events = [_event("req", 100.0), _event("rep", 103.5), _event("req", None), _event("fb", 99.0)]

    read, skipped, newest = batch_summary(events, TYPES, refused_positions=[2, 3])

    assert read == {"predict.request": 2, "predict.reply": 1, "feedback": 1}
    assert skipped == {"predict.request": 1, "feedback": 1}
    assert newest == 103.5


def test_batches_count_events_and_the_lag_of_the_newest_event() -> None:
    windows = HoppingWindows(3600, 600)
    metrics = AgentMetrics(PaneTable({}, windows), TYPES.values(), clock=lambda: 1_000.0)

    metrics.batch(read={"predict.request": 5}, skipped={}, newest_event_s=990.0)
    metrics.batch(
        read={"predict.request": 2, "feedback": 1}, skipped={"feedback": 1}, newest_event_s=998.5
    )

    samples = _samples(metrics)
    assert samples[("splitstream_agent_events_total", (("event_type", "predict.request"),))] == 7
    assert samples[("splitstream_agent_events_skipped_total", (("event_type", "feedback"),))] == 1
    assert samples[("splitstream_agent_batches_total", ())] == 2
    assert samples[("splitstream_agent_window_lag_seconds", ())] == 1.5
    assert samples[("splitstream_agent_last_batch_timestamp_seconds", ())] == 1_000.0


def test_the_trailing_window_of_each_arm_is_read_when_scraped() -> None:
    windows = HoppingWindows(3600, 600)
    panes = PaneTable({}, windows)
    now_s = 36_000.0
    arm = Arm("exp-1", "candidate")
    panes.add(
        arm, {35_400: WindowCounts(requests=3, errors=1, abs_error_sum=12.5, feedback_count=2)}
    )
    panes.add(arm, {30_000: WindowCounts(requests=100)})  # older than the window: not counted
    metrics = AgentMetrics(panes, TYPES.values(), clock=lambda: now_s)

    samples = _samples(metrics)

    labels = (("experiment_id", "exp-1"), ("variant", "candidate"))
    assert samples[("splitstream_agent_window_requests", labels)] == 3
    assert samples[("splitstream_agent_window_errors", labels)] == 1
    assert samples[("splitstream_agent_window_abs_error_sum", labels)] == 12.5
    assert samples[("splitstream_agent_window_feedback_count", labels)] == 2
    assert samples[("splitstream_agent_window_seconds", ())] == 3600
