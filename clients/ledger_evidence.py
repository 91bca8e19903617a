"""How a ledger record's evidence reads, wherever a decision is shown.

The dashboard, ``splitstream report``, the demo and the ledger itself show one line: the
MAEs the decision compared, then their difference and its interval. For a paired
decision both MAEs are on the same requests, so the candidate never looks worse in the
line that promotes it: ``candidate - prod`` is the difference the interval is about.
"""

import math
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def evidence_line(statistics: dict[str, Any]) -> str:
    """The MAE comparison of a record's ``statistics``; empty when it has none.

    Paired: "paired, 412 requests: MAE prod 24.80, candidate 22.10 on the same requests;
    difference -2.70, 95% CS [-4.10, -1.30]". Unpaired: each MAE with its own count. A
    watch's record names its arms "previous" and "new" (``statistics.arms``).
    """
    mae = statistics.get("mae")
    if not isinstance(mae, dict):
        return ""
    prod, candidate = _number(mae.get("mae_prod")), _number(mae.get("mae_candidate"))
    difference = _number(mae.get("difference"))
    lower, upper = _number(mae.get("lower")), _number(mae.get("upper"))
    alpha = _number(mae.get("alpha"))
    level = f"{1 - alpha:.0%}" if alpha is not None else "?"
    bounds = f"[{_fmt(lower, '+.2f')}, {_fmt(upper, '+.2f')}]"
    tail = f"difference {_fmt(difference, '+.2f')}, {level} CS {bounds}"
    n_prod, n_candidate = mae.get("n_prod"), mae.get("n_candidate")
    arms = statistics.get("arms")
    if not isinstance(arms, dict):
        arms = {}
    incumbent, challenger = str(arms.get("prod", "prod")), str(arms.get("candidate", "candidate"))
    if mae.get("method") == "paired":
        return (
            f"paired, {n_prod} requests: MAE {incumbent} {_fmt(prod)}, {challenger} "
            f"{_fmt(candidate)} on the same requests; {tail}"
        )
    return (
        f"unpaired: MAE {incumbent} {_fmt(prod)} ({n_prod} requests), {challenger} "
        f"{_fmt(candidate)} ({n_candidate}); {tail}"
    )
