"""The schedule: crontab weekdays as crontab counts them, in UTC."""

from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from cli.settings import load_settings
from trainer.schedule import JOB_ID, build_scheduler, cron_trigger, crontab_weekdays

WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_default_schedule_is_monday_at_three_utc() -> None:
    trigger = cron_trigger(load_settings().train_cron)
    fire = trigger.get_next_fire_time(None, WEDNESDAY)
    assert fire == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert fire.strftime("%A") == "Monday"


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("*/2", "tue,thu,sat,sun"),
        ("0,6", "sat,sun"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("5-7", "fri,sat,sun"),
    ],
)
def test_crontab_weekday_numbers_count_sunday_as_zero(field: str, names: str) -> None:
    assert crontab_weekdays(field) == names


@pytest.mark.parametrize("expression", ["0 3 * *", "0 3 * * 8", "0 3 * * 5-1", "61 3 * * *"])
def test_a_bad_expression_is_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        cron_trigger(expression)


def test_the_scheduler_runs_one_job_at_a_time_on_the_trigger() -> None:
    scheduler = build_scheduler(lambda: None, cron="*/5 * * * *", scheduler=BackgroundScheduler())
    job = scheduler.get_job(JOB_ID)
    assert job.max_instances == 1 and job.coalesce
    assert job.trigger.get_next_fire_time(None, WEDNESDAY) == WEDNESDAY
