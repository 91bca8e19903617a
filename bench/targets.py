"""The issue's targets, each checked against the findings as one row of the table."""

from bench.findings import Findings, LoadFindings
from bench.results import FIXED_RATES_PER_S, Row, ms_text

#: The issue's targets.
P50_VS_FLOOR_MAX = 2.0
MAX_RATE_VS_DIRECT_MIN = 0.5
BATCH_VS_FLOOR_MIN = 0.5
PROMOTION_MAX_S = 2.0
RSS_GROWTH_MAX = 0.10
REST_PERCENT_MAX = 5.0
RESTART_MAX_S = 15.0
OVERLOAD_GOODPUT_MIN = 0.9
REFUSAL_MAX_MS = 50.0


def _p50_at(found: LoadFindings | None, rate: float) -> float | None:
    point = found.points.get(rate) if found is not None else None
    return None if point is None or point.errors == point.sent else point.p50_ms


def _target(setting: str, result: str, target: str, met: bool) -> Row:
    return Row("target", setting, result, target, met)


def _speed_targets(f: Findings) -> list[Row]:
    rows = []
    ours = _p50_at(f.request_path.get("v1"), FIXED_RATES_PER_S[0])
    floor = _p50_at(f.floor, FIXED_RATES_PER_S[0])
    if ours is not None and floor is not None:
        rows.append(
            _target(
                "request path p50 vs floor p50 at 100 req/s",
                f"{ours:.1f} vs {floor:.1f} ms = {ours / floor:.2f}x",
                f"<= {P50_VS_FLOOR_MAX:g}x",
                ours <= P50_VS_FLOOR_MAX * floor,
            )
        )
    direct_max = f.direct.max_sustained_per_s if f.direct else None
    for endpoint, found in f.full_system.items():
        if found.max_sustained_per_s is not None and direct_max:
            share = found.max_sustained_per_s / direct_max
            rows.append(
                _target(
                    f"full system {endpoint} max sustained vs direct",
                    f"{found.max_sustained_per_s:g} vs {direct_max:g} req/s = {share:.0%}",
                    f">= {MAX_RATE_VS_DIRECT_MIN:.0%}",
                    share >= MAX_RATE_VS_DIRECT_MIN,
                )
            )
    if f.batch_rows_per_s is not None and f.floor_consume_produce_per_s:
        share = f.batch_rows_per_s / f.floor_consume_produce_per_s
        rows.append(
            _target(
                "batch rows/s vs floor consume+produce",
                f"{f.batch_rows_per_s:.0f} vs {f.floor_consume_produce_per_s:.0f}/s = {share:.0%}",
                f">= {BATCH_VS_FLOOR_MIN:.0%}",
                share >= BATCH_VS_FLOOR_MIN,
            )
        )
    return rows


def _rest_and_restart_targets(f: Findings) -> list[Row]:
    rows = []
    if f.cpu is not None and f.cpu.rest_percent:
        total = sum(f.cpu.rest_percent.values())
        rows.append(
            _target(
                f"full system at rest, all processes, {f.cpu.rest_seconds:.0f} s",
                f"{total:.1f}% of one core",
                f"<= {REST_PERCENT_MAX:g}%",
                total <= REST_PERCENT_MAX,
            )
        )
    if f.restart is not None and f.restart.restarts:
        slowest = max(r.counting_s for r in f.restart.restarts)
        each = ", ".join(f"{r.signal} {r.counting_s:.1f} s" for r in f.restart.restarts)
        rows.append(
            _target(
                f"Faust agent counts again after a restart on {f.restart.requests:,} "
                "past requests (with replies and feedback)",
                each,
                f"<= {RESTART_MAX_S:g} s",
                slowest <= RESTART_MAX_S,
            )
        )
    return rows


def _overload_targets(f: Findings, deadline_ms: float) -> list[Row]:
    o = f.overload
    best = f.full_system.get("v1")
    if o is None or best is None or not best.max_sustained_per_s:
        return []
    share = o.goodput_per_s / best.max_sustained_per_s
    return [
        _target(
            f"overload goodput vs full system max ({o.rate_per_s:g} req/s for {o.duration_s:g} s)",
            f"{o.goodput_per_s:.0f} vs {best.max_sustained_per_s:g} req/s = {share:.0%}",
            f">= {OVERLOAD_GOODPUT_MIN:.0%}",
            share >= OVERLOAD_GOODPUT_MIN,
        ),
        _target(
            "overload: slowest refusal (503)",
            f"{o.refused_max_ms:.1f} ms over {o.refused:,} refusals",
            f"<= {REFUSAL_MAX_MS:g} ms",
            o.refused > 0 and o.refused_max_ms <= REFUSAL_MAX_MS,
        ),
        _target(
            "overload: p99 of the accepted",
            f"{ms_text(o.accepted_p99_ms)} ms; {o.failed} failed otherwise",
            f"< {deadline_ms:g} ms (reply deadline), 0 failed",
            o.accepted_p99_ms < deadline_ms and o.failed == 0,
        ),
        _target(
            "overload: accepted requests stored in ClickHouse",
            f"{o.accepted_stored:,} of {o.accepted:,}",
            "all",
            o.accepted_stored == o.accepted,
        ),
    ]


def _kept_targets(f: Findings) -> list[Row]:
    rows = []
    if f.promotion_ack_s is not None:
        rows.append(
            _target(
                "promote command -> last predictor ack",
                f"{f.promotion_ack_s:.2f} s",
                f"<= {PROMOTION_MAX_S:g} s",
                f.promotion_ack_s <= PROMOTION_MAX_S,
            )
        )
    for service, by_count in sorted(f.rss_kb.items()):
        if len(by_count) >= 2:
            first, last = min(by_count), max(by_count)
            growth = by_count[last] / by_count[first] - 1
            rows.append(
                _target(
                    f"{service} RSS growth {first:,} -> {last:,} requests",
                    f"{by_count[first] / 1024:.1f} -> {by_count[last] / 1024:.1f} MiB "
                    f"({growth:+.1%})",
                    f"<= {RSS_GROWTH_MAX:.0%}",
                    growth <= RSS_GROWTH_MAX,
                )
            )
    return rows


def target_rows(f: Findings, deadline_ms: float) -> list[Row]:
    """One row per target that the findings can judge; ``deadline_ms`` is the reply deadline."""
    return [
        *_speed_targets(f),
        *_rest_and_restart_targets(f),
        *_overload_targets(f, deadline_ms),
        *_kept_targets(f),
    ]
