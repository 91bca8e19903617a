"""Fixed-sample 95 % normal intervals for people to read, from the views' sums.

The promoter decides with its own anytime-valid tests, not with these.
"""

import math
from dataclasses import dataclass

from analysis.cells import count, number
from analysis.rows import Row, VariantStats

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """An estimate with a 95 % interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedResult:
    """|prod error| - |candidate error| on shadow-scored requests (v_paired).

    Positive: the candidate was closer. ``mae_prod`` and ``mae_candidate`` are both
    models' MAEs on those same requests: their difference is minus ``diff_mean``.
    """

    pairs: int
    diff_mean: float
    diff_sd: float | None
    interval: Interval | None
    mae_prod: float | None = None
    mae_candidate: float | None = None


def _mean_and_variance(n: int, total: float, square_total: float) -> tuple[float, float]:
    mean = total / n
    variance = max(0.0, (square_total - n * mean * mean) / (n - 1))
    return mean, variance


def mae_difference(prod: VariantStats, candidate: VariantStats) -> Interval | None:
    """Candidate MAE - prod MAE, with a normal 95 % interval; None under 2 feedbacks per arm."""
    if prod.feedback < 2 or candidate.feedback < 2:
        return None
    prod_mean, prod_var = _mean_and_variance(
        prod.feedback, prod.abs_error_sum, prod.abs_error_sq_sum
    )
    cand_mean, cand_var = _mean_and_variance(
        candidate.feedback, candidate.abs_error_sum, candidate.abs_error_sq_sum
    )
    estimate = cand_mean - prod_mean
    half = Z_95 * math.sqrt(prod_var / prod.feedback + cand_var / candidate.feedback)
    return Interval(estimate, estimate - half, estimate + half)


def mae_interval(
    *, mae: float | None, rmse: float | None, feedback: int
) -> tuple[float | None, float | None]:
    """95 % normal interval of one variant's MAE; (None, None) under two feedbacks.

    The absolute errors' sample variance is (mean square - mean²) · n / (n - 1), and the
    mean square is RMSE².
    """
    if mae is None or rmse is None or feedback < 2:
        return None, None
    variance = max(rmse * rmse - mae * mae, 0.0) * feedback / (feedback - 1)
    half = Z_95 * math.sqrt(variance / feedback)
    return max(mae - half, 0.0), mae + half


def paired_result(row: Row) -> PairedResult | None:
    """Mean paired difference with a normal 95 % interval (from 2 pairs on), and both MAEs
    on the same pairs; None without pairs."""
    pairs = count(row["pairs"])
    if pairs == 0:
        return None
    total, square_total = number(row["diff_sum"]) or 0.0, number(row["diff_sq_sum"]) or 0.0
    maes = {
        name: (
            None if (value := number(row.get(f"{name}_abs_error_sum"))) is None else value / pairs
        )
        for name in ("prod", "candidate")
    }
    if pairs < 2:
        return PairedResult(pairs, total, None, None, maes["prod"], maes["candidate"])
    mean, variance = _mean_and_variance(pairs, total, square_total)
    half = Z_95 * math.sqrt(variance / pairs)
    interval = Interval(mean, mean - half, mean + half)
    return PairedResult(pairs, mean, math.sqrt(variance), interval, maes["prod"], maes["candidate"])
