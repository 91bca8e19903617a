"""What dies when: the kill schedule of a chaos run, as plain data."""

from dataclasses import dataclass

#: One of two prod predictors, the sink, the Faust agent and one of two gateways.
VICTIMS = ("predictor-prod", "sink", "windows", "gateway-2")


@dataclass(frozen=True)
class Kill:
    """SIGKILL ``victim`` at ``at_s`` into the load; start it again ``down_s`` later."""

    at_s: float
    victim: str
    down_s: float


@dataclass(frozen=True)
class ChaosPlan:
    """How long and how hard the load runs, and what is killed during it."""

    seconds: float
    rate_per_s: float
    kills: tuple[Kill, ...]
    broker_down_s: float
    promoter_kills: bool = True  # also kill the promoter mid-swap (needs a candidate)


def kill_schedule(
    seconds: float, victims: tuple[str, ...] = VICTIMS, down_s: float = 2.0
) -> tuple[Kill, ...]:
    """One kill per victim, evenly spaced over the first 70% of the run.

    The last 30% is quiet, so the last victim has restarted and caught up before the
    load stops; what is then missing was lost, not merely late.
    """
    spacing = 0.7 * seconds / len(victims)
    return tuple(
        Kill(at_s=round(spacing * (i + 0.5), 1), victim=victim, down_s=down_s)
        for i, victim in enumerate(victims)
    )


def chaos_plan(
    seconds: float, rate_per_s: float, broker_down_s: float = 8.0, *, promoter_kills: bool = True
) -> ChaosPlan:
    return ChaosPlan(seconds, rate_per_s, kill_schedule(seconds), broker_down_s, promoter_kills)
