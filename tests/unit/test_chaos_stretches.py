"""Failure stretches and failed shares around broker kills, from recorded answers."""

from chaos.broker_schedule import RollingRestart, RollStep
from chaos.broker_verdicts import failed_by_phase
from chaos.load import Answer
from chaos.stretches import Stretch, failed_share, failure_stretches, longest_stretch


def _predict(sent_at: float, status: int) -> Answer:
    return Answer("predict", 0, sent_at, 0.01, "g", status, True, None if status == 200 else "x")


def _feedback(sent_at: float, status: int) -> Answer:
    return Answer("feedback", 0, sent_at, 0.01, "g", status, True, None)


def test_failures_within_the_gap_make_one_stretch_even_with_successes_between() -> None:
    answers = [
        _predict(10.0, 200),
        _predict(10.5, 503),
        _predict(10.6, 200),  # another partition's leader is fine: still one outage
        _predict(11.2, 504),
        _predict(12.0, 503),
        _predict(14.0, 503),  # 2 s later: a new stretch
        _predict(15.0, 200),
    ]
    assert failure_stretches(answers, start=0.0, end=100.0) == [
        Stretch(10.5, 12.0, 3),
        Stretch(14.0, 14.0, 1),
    ]
    assert longest_stretch(answers, start=0.0, end=100.0) == Stretch(10.5, 12.0, 3)


def test_only_predictions_in_the_window_count() -> None:
    answers = [_predict(1.0, 503), _predict(5.0, 503), _feedback(5.5, 503), _predict(9.0, 503)]
    assert failure_stretches(answers, start=4.0, end=9.0) == [Stretch(5.0, 5.0, 1)]


def test_no_failure_is_an_empty_stretch_at_the_start() -> None:
    answers = [_predict(3.0, 200)]
    stretch = longest_stretch(answers, start=2.0, end=4.0)
    assert (stretch.seconds, stretch.failed) == (0.0, 0)


def test_failed_share_counts_predictions_sent_in_the_window() -> None:
    answers = [_predict(float(t), 503 if t == 3 else 200) for t in range(10)]
    answers.append(_feedback(3.5, 503))
    assert failed_share(answers, start=2.0, end=6.0) == (1, 4)


def test_the_rolling_restart_names_the_node_and_phase_each_failure_fell_in() -> None:
    first = RollStep(1, 10.0, exited_at=12.0, ready_at=20.0, in_sync_at=21.0, moving_at=23.0,
                     leading_at=25.0)  # fmt: skip
    second = RollStep(2, 30.0, exited_at=32.0, ready_at=40.0, in_sync_at=41.0, moving_at=43.0,
                      leading_at=45.0)  # fmt: skip
    rolling = RollingRestart(started_at=10.0, ended_at=50.0, steps=(first, second))
    answers = [
        _predict(11.0, 504),  # node 1 stopping
        _predict(11.5, 504),
        _predict(22.0, 200),
        _predict(22.5, 504),  # node 1 warming, in sync but leading nothing
        _predict(24.0, 503),  # node 1's leaders moving back
        _predict(27.0, 504),  # settling before node 2
        _predict(42.0, 200),
        _predict(46.0, 504),  # settling after the last node, until the end of the roll
        _feedback(33.0, 503),  # feedback is not a prediction
    ]
    assert failed_by_phase(rolling, answers) == (
        "; failed while node 1 stopping: 2, node 1 warming: 1, node 1 leaders back: 1, "
        "node 1 settling: 1, node 2 settling: 1"
    )
    assert failed_by_phase(rolling, [_predict(11.0, 200)]) == ""
