"""Errors of the trainer, and the exit codes of ``splitstream train``."""

from schemas.errors import SplitstreamError

#: The model was published (or, for the scheduler, the job ran).
EXIT_PUBLISHED = 0
#: Any other error: data, S3, Kafka, MLflow, a lost slot race (the message says which).
EXIT_ERROR = 1
#: The gate refused the model: its test R² is below ``train_r2_floor``.
EXIT_R2_FLOOR = 3
#: The gate refused the model: its test MAE is worse than best's by more than allowed.
EXIT_REGRESSION = 4
#: Not published: the model is the one already in the best or candidate slot (same
#: predictions on every test row, or the same pickled bytes). Nothing changed.
EXIT_UNCHANGED = 8
#: The gate refused the model: it answers a price <= 0 (or not a number) somewhere on
#: the feature domain's grid.
EXIT_NOT_POSITIVE = 9


class TrainerError(SplitstreamError):
    """Root of every trainer error; the CLI maps it to exit code 1."""


class DataError(TrainerError):
    """The data set could not be read, downloaded or stored."""


class DataIntegrityError(DataError):
    """A downloaded data set's sha256 differs from the configured one; it was not used."""


class CleaningError(TrainerError):
    """The data lacks a column the cleaning rules need, or nothing is left after them."""


class SelectionError(TrainerError):
    """An unknown algorithm was asked for, or the candidate set is empty."""


class PublishError(TrainerError):
    """The model could not be placed in a slot (no best yet, or the slot race was lost)."""
