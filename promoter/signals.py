"""What the promoter tells Prometheus and people: its metrics, and the webhook.

The promoter calls it at three points: every ledger record it appends (``recorded``),
every event it sends on model.events (``sent``; alerts are the ones that matter here) and
every evaluation (``evaluated``). From those alone come the decisions by action, the
generation, the acknowledgement time and the predictors that did not acknowledge (both in
a swap's record), the alerts by kind, the split test's gauges, and the notifications.
Nothing here blocks or raises into a decision: the webhook posts from its own thread.
"""

import logging
from typing import Any

from promoter.metrics import PromoterMetrics
from promoter.notify import Notifier, alert_message, decision_message
from schemas.decision_events import ExperimentAlert, LedgerRecord

log = logging.getLogger(__name__)


class Signals:
    """The promoter's metrics and (when a webhook is configured) its notifier."""

    def __init__(self, metrics: PromoterMetrics, notifier: Notifier | None = None) -> None:
        self.metrics = metrics
        self.notifier = notifier

    def recorded(self, record: LedgerRecord) -> None:
        """A ledger record was appended: a decision."""
        metrics = self.metrics
        metrics.decisions.labels(record.action).inc()
        metrics.generation.set(record.slots_after.generation)
        ack_s = record.inputs.get("ack_s")
        if isinstance(ack_s, int | float) and not isinstance(ack_s, bool):  # a swap's record
            metrics.ack_seconds.observe(float(ack_s))
            metrics.missing_acks.set(len(record.missing_acks))
        if self.notifier is not None:
            self.notifier.notify(decision_message(record))

    def sent(self, event: dict[str, Any]) -> None:
        """An event went out on model.events; an alert is counted and notified."""
        if event.get("event_type") != "experiment.alert":
            return
        alert = ExperimentAlert.model_validate(event)
        self.metrics.alerts.labels(alert.kind).inc()
        if self.notifier is not None:
            self.notifier.notify(alert_message(alert))

    def evaluated(
        self, experiment_id: str | None, statistics: dict[str, Any], *, srm_mismatch: bool
    ) -> None:
        """One evaluation done; its split test, when it ran one, goes to the gauges."""
        self.metrics.evaluated()
        if experiment_id is None:
            return
        self.metrics.srm_mismatch.labels(experiment_id).set(1 if srm_mismatch else 0)
        p_value = statistics.get("srm_p_value")
        if isinstance(p_value, int | float) and not isinstance(p_value, bool):
            self.metrics.srm_p_value.labels(experiment_id).set(float(p_value))

    def swapped(self, action: str, seconds: float) -> None:
        """One swap took ``seconds`` from its start to its ledger record."""
        self.metrics.swap_seconds.labels(action).observe(seconds)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
