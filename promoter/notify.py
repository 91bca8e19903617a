"""Notifications: every decision and every alert, posted as JSON to a webhook.

With ``SPLITSTREAM_NOTIFY_WEBHOOK_URL`` set, the promoter posts each ledger record and
each ``experiment.alert`` it sends, as ``{"text": ..., "kind": ..., "event": ...}``:
``text`` is one line a person reads (Slack's incoming webhooks show it as the message;
most chat tools accept the same body), ``event`` is the record or alert itself.

A decision never waits for a webhook: ``notify`` puts the message on a bounded queue and
returns; one background thread posts them in order. A post that fails (no connection, a
timeout, a 5xx or a 429) is tried again after 0.5, 1, 2, 4 ... s (up to
``max_attempts``); a 4xx otherwise is final. A full queue drops the newest message and
counts it. Every outcome is counted in ``splitstream_promoter_notifications``.
"""

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter

from schemas.decision_events import ExperimentAlert, LedgerRecord

log = logging.getLogger(__name__)

#: Answers worth trying again: the receiver is overloaded or failing, not refusing.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Delivery:
    """How hard to try: attempts, the first pause (doubled each time, capped), the timeout."""

    max_attempts: int = 6
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 5.0
    queue_size: int = 1000

    def pause_s(self, attempt: int) -> float:
        """The pause after failed attempt ``attempt`` (1-based)."""
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))


# --------------------------------------------------------------------------- what is said


def decision_text(record: LedgerRecord) -> str:
    """One line on a ledger record, e.g. ``promote m-2 (was best: m-1), generation 7, by
    policy/promoter: the candidate's MAE is lower``."""
    before, after = record.slots_before, record.slots_after
    change = {
        "promote": f"promote {after.best} (was best: {before.best})",
        "rollback": f"roll back to {after.best} (from {before.best})",
        "reject": f"reject candidate {before.candidate}",
        "publish": f"publish {after.candidate or after.best}",
    }.get(record.action, record.action)
    actor = f"{record.actor.kind}/{record.actor.name}"
    reasons = "; ".join(record.reasons) or "no reason given"
    where = f" in {record.experiment_id}" if record.experiment_id else ""
    missing = (
        f" ({len(record.missing_acks)} predictor(s) did not acknowledge)"
        if record.missing_acks
        else ""
    )
    return (
        f"Splitstream decision #{record.sequence}{where}: {change}, generation "
        f"{after.generation}, by {actor}: {reasons}{missing}"
    )


def alert_text(alert: ExperimentAlert) -> str:
    p_value = f" (p = {alert.p_value:.2g})" if alert.p_value is not None else ""
    return f"Splitstream alert ({alert.kind}) in {alert.experiment_id}: {alert.message}{p_value}"


def decision_message(record: LedgerRecord) -> dict[str, Any]:
    return {
        "text": decision_text(record),
        "kind": "decision",
        "event": record.model_dump(mode="json"),
    }


def alert_message(alert: ExperimentAlert) -> dict[str, Any]:
    return {"text": alert_text(alert), "kind": "alert", "event": alert.model_dump(mode="json")}


# --------------------------------------------------------------------------- delivery


class Notifier:
    """Posts messages to one webhook from a background thread; ``notify`` never blocks."""

    def __init__(
        self,
        url: str,
        *,
        outcomes: Counter | None = None,
        delivery: Delivery | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.delivery = delivery or Delivery()
        self._outcomes = outcomes
        self._sleep = sleep
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(self.delivery.queue_size)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)

    def start(self) -> "Notifier":
        self._thread.start()
        return self

    def notify(self, message: dict[str, Any]) -> None:
        """Queue ``message`` for the webhook; a full queue drops it (counted, logged)."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            log.warning("webhook queue full: dropped %r", message.get("text", "")[:200])
            self._count("dropped")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Post what is queued (within ``timeout_s``), then stop the thread."""
        self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        with httpx.Client(timeout=self.delivery.timeout_s) as http:
            while True:
                message = self._queue.get()
                if message is None:
                    return
                self._count("delivered" if self._post(http, message) else "failed")

    def _post(self, http: httpx.Client, message: dict[str, Any]) -> bool:
        """True once the webhook answered 2xx; False when it refused or every try failed."""
        for attempt in range(1, self.delivery.max_attempts + 1):
            try:
                answer = http.post(self.url, json=message)
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if answer.is_success:
                    return True
                problem = f"HTTP {answer.status_code}"
                if answer.status_code not in RETRY_STATUSES:
                    log.warning("webhook refused %r: %s", message.get("text", "")[:200], problem)
                    return False
            if attempt == self.delivery.max_attempts or self._stopping.is_set():
                break
            pause_s = self.delivery.pause_s(attempt)
            log.info("webhook attempt %d failed (%s); again in %.1f s", attempt, problem, pause_s)
            self._sleep(pause_s)
        log.warning("webhook gave up on %r: %s", message.get("text", "")[:200], problem)
        return False

    def _count(self, outcome: str) -> None:
        if self._outcomes is not None:
            self._outcomes.labels(outcome).inc()
