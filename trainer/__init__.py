"""The trainer: load and clean the data, choose a model, track it in MLflow, publish a candidate.

``trainer.main.train_and_publish`` is the pipeline; ``cli/train_commands.py`` runs it once
(``splitstream train``) or on a schedule (``splitstream trainer``).
"""
