"""``splitstream trainer``: train on a cron schedule with APScheduler.

The cron expression (``SPLITSTREAM_TRAIN_CRON``, default ``0 3 * * 1``: Mondays at 03:00)
is read in UTC, with crontab's weekday numbers (0 or 7 is Sunday). APScheduler 3's own
``CronTrigger.from_crontab`` counts 0 as Monday (its documented "historical mistake"),
which would train on Tuesdays; ``cron_trigger`` translates the weekdays into names first.
Unlike crontab, a day of month and a weekday both given must both match.

A failed or refused training is logged and the schedule goes on; runs never overlap,
and missed runs collapse into one.
"""

import logging
import signal
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from schemas.errors import SplitstreamError
from trainer.main import train_and_publish
from trainer.settings import TrainerSettings

log = logging.getLogger(__name__)

JOB_ID = "train"
#: A run missed by less than this (the machine slept) still happens when it wakes.
MISFIRE_GRACE_S = 3600


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's 0..6


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field ("1", "1-5", "*/2", "0,6", "mon-fri") as APScheduler names.

    Raises:
        ValueError: a day is not 0-7 or a weekday name, or a range runs backwards.
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            low, high = 0, 6
        elif "-" in spec:
            first, last = spec.split("-", 1)
            low, high = _weekday(first), _weekday(last)
        else:
            low = _weekday(spec)
            high = 7 if step_text else low
        if high < low or step < 1:
            raise ValueError(f"day of week {part!r}: a range must not run backwards")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days, key=lambda day: (day - 1) % 7))


def _weekday(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text[:3] in _WEEKDAYS:
        return _WEEKDAYS.index(text[:3])
    raise ValueError(f"day of week {text!r} is not 0-7 or a weekday name")


def cron_trigger(expression: str) -> CronTrigger:
    """The trigger of a five-field crontab expression, in UTC, weekdays as crontab counts.

    Raises:
        ValueError: the expression does not have five valid fields.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r}: expected 5 fields, got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(weekday),
        timezone=UTC,
    )


def build_scheduler(
    job: Callable[[], object], *, cron: str, scheduler: BlockingScheduler | None = None
) -> BlockingScheduler:
    """A scheduler (blocking unless one is given) running ``job`` on ``cron``."""
    scheduler = scheduler or BlockingScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        cron_trigger(cron),
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE_S,
    )
    return scheduler


def training_job(
    settings: TrainerSettings, *, algorithms: Sequence[str] | None = None
) -> Callable[[], None]:
    """One scheduled training: log what it did; an error is logged, never raised."""

    def run() -> None:
        try:
            result = train_and_publish(settings, algorithms=algorithms)
        except SplitstreamError as error:
            log.error("scheduled training failed: %s", error)
            return
        if result.published:
            log.info(
                "published %s (%s) to the %s slot: test R² %.4f, MAE %.3f",
                result.version,
                result.algorithm,
                result.slot,
                result.metrics["test_r2"],
                result.metrics["test_mae"],
            )
        else:
            log.warning("trained %s but did not publish: %s", result.algorithm, result.gate.reason)

    return run


@dataclass(frozen=True)
class Started:
    """Told to ``on_ready`` once the schedule is set (after the ``run_now`` training)."""

    cron: str
    next_run: datetime


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)


def run(
    settings: TrainerSettings,
    *,
    on_ready: Callable[[Started], None] = lambda started: None,
    cron: str | None = None,
    algorithms: Sequence[str] | None = None,
    run_now: bool = False,
) -> None:
    """Run the scheduled trainer until SIGTERM or SIGINT: its logging, one training now when
    ``run_now``, then one every ``cron`` (default ``train_cron``).

    Raises:
        ValueError: the cron expression is not valid (before anything runs).
    """
    cron = cron or settings.train_cron
    job = training_job(settings, algorithms=algorithms)
    scheduler = build_scheduler(job, cron=cron)
    configure_logging()
    if run_now:
        job()
    upcoming = scheduler.get_job(JOB_ID).trigger.get_next_fire_time(None, datetime.now(UTC))
    on_ready(Started(cron, upcoming))
    # A supervisor stops services with SIGTERM: finish cleanly, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: scheduler.shutdown(wait=False))
    with suppress(KeyboardInterrupt):
        scheduler.start()
