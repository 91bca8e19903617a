"""Predictor workers and the batch scorer.

Run them with ``splitstream predictor --slot prod|candidate|score`` (one process per
worker; start several per slot to share its partitions) and score a CSV through Kafka
with ``splitstream score --input rows.csv --output results.csv``.

Modules, one idea each:

- ``main``: wiring only; ``run(settings, role, on_ready=..., stop=...)`` is the entry.
- ``loop``: consume → micro-batch → write → commit, idling while the slot is empty.
- ``batching``: the micro-batch buffer (add / flush → one write / clear / commit after).
- ``messages``: bytes → typed requests, or the precise reason they are refused.
- ``dead_letters``: the one skip-or-dead-letter decision, logged as topic[partition]@offset.
- ``model_slot``: a slot's live model; load beside, then switch in one assignment.
- ``reloads``: model.reload broadcasts, the periodic re-read, model.reloaded acks.
- ``inference``: domain check and one predict call per batch.
- ``replies``: predict.reply, score.result and model.reloaded events (pure).
- ``worker`` / ``scoring``: the predictor and batch-scorer handlers.
- ``metrics``: the Prometheus /metrics of a worker.
- ``errors``: the package's errors.
"""
