"""The run's one table: rows with targets from the issue, as rich, Markdown and JSON."""

import dataclasses
import json
import math
from typing import Any

from rich.table import Table

from bench.cpu_budget import CpuBudget
from bench.findings import Findings, LoadFindings
from bench.results import FIXED_RATES_PER_S, SUSTAINED_P99_MS, Row

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


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _load_rows(name: str, found: LoadFindings | None) -> list[Row]:
    if found is None:
        return []
    rows = []
    for rate in sorted(found.points):
        p = found.points[rate]
        rows.append(
            Row(
                name,
                f"{rate:g} req/s open loop, {p.sent} sent",
                f"p50 {_ms(p.p50_ms)} / p95 {_ms(p.p95_ms)} / p99 {_ms(p.p99_ms)} / "
                f"p99.9 {_ms(p.p999_ms)} ms; {p.errors} errors; {p.throughput_per_s:.0f} ok/s",
            )
        )
    if found.max_sustained_per_s is not None:
        rows.append(
            Row(
                name,
                f"max sustained (p99 < {SUSTAINED_P99_MS:g} ms, 0 errors)",
                f"{found.max_sustained_per_s:g} req/s",
            )
        )
    return rows


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
            f"{_ms(o.accepted_p99_ms)} ms; {o.failed} failed otherwise",
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


def _target_rows(f: Findings, deadline_ms: float) -> list[Row]:
    return [
        *_speed_targets(f),
        *_rest_and_restart_targets(f),
        *_overload_targets(f, deadline_ms),
        *_kept_targets(f),
    ]


def _other_rows(f: Findings) -> list[Row]:
    rows = []
    if f.floor_max_throughput_per_s is not None:
        rows.append(
            Row(
                "floor",
                "max throughput (as fast as it can send)",
                f"{f.floor_max_throughput_per_s:.0f} replies/s",
            )
        )
    if f.batch_rows_per_s is not None:
        rows.append(
            Row(
                "batch",
                f"{f.batch_rows:,} rows written first, then score.requests -> score.results",
                f"{f.batch_rows_per_s:.0f} rows/s",
            )
        )
    if f.floor_consume_produce_per_s is not None:
        rows.append(
            Row(
                "floor",
                f"kafka-python consume + produce of {f.batch_rows:,} messages",
                f"{f.floor_consume_produce_per_s:.0f} messages/s",
            )
        )
    if f.memory_errors is not None:
        rows.append(Row("memory", "failed requests during the memory run", f"{f.memory_errors}"))
    for service, by_count in sorted(f.rss_kb.items()):
        for count, kb in sorted(by_count.items()):
            rows.append(
                Row("memory", f"{service} VmRSS after {count:,} requests", f"{kb / 1024:.1f} MiB")
            )
    if f.promotion_ack_s is not None:
        rows.append(Row("promotion", "ack_s from the ledger", f"{f.promotion_ack_s:.3f} s"))
    if f.promotion_round_trip_s is not None:
        rows.append(
            Row("promotion", "send_command round trip", f"{f.promotion_round_trip_s:.3f} s")
        )
    return rows


def rows_of(findings: Findings, *, deadline_ms: float = 2000.0) -> list[Row]:
    """The table's rows: measurements in the issue's order, then the targets, then failures."""
    rows = [
        *(
            r
            for e, found in findings.request_path.items()
            for r in _load_rows(f"request path {e}", found)
        ),
        *(
            r
            for e, found in findings.full_system.items()
            for r in _load_rows(f"full system {e}", found)
        ),
        *(
            r
            for n, found in findings.full_system_workers.items()
            for r in _load_rows(f"full system v1, {n} gateway workers", found)
        ),
        *_load_rows("direct", findings.direct),
        *_load_rows("floor", findings.floor),
        *_overload_rows(findings),
        *_restart_rows(findings),
        *_other_rows(findings),
        *_target_rows(findings, deadline_ms),
    ]
    rows += [Row(name, "MISSING", reason) for name, reason in findings.failures.items()]
    return rows


def _restart_rows(f: Findings) -> list[Row]:
    r = f.restart
    if r is None:
        return []
    rows = [
        Row(
            "restart",
            f"Faust agent catch-up on {r.requests:,} requests ({r.events:,} events)",
            f"{_number(r.catch_up_s)} s, {_number(r.catch_up_events_per_s)} events/s, "
            f"{_number(r.catch_up_cpu_ms_per_request, 2)} CPU ms per request",
        )
    ]
    rows += [
        Row(
            "restart",
            f"after {one.signal}",
            f"stopped in {one.stop_s:.1f} s; web view after {one.web_s:.1f} s; "
            f"counting after {one.counting_s:.1f} s",
        )
        for one in r.restarts
    ]
    return rows


def _number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _overload_rows(f: Findings) -> list[Row]:
    o = f.overload
    if o is None:
        return []
    return [
        Row(
            "overload",
            f"{o.rate_per_s:g} req/s for {o.duration_s:g} s, {o.sent:,} sent",
            f"{o.accepted:,} accepted ({o.goodput_per_s:.0f}/s, p99 {_ms(o.accepted_p99_ms)} ms), "
            f"{o.refused:,} refused (p99 {_ms(o.refused_p99_ms)} ms, max "
            f"{o.refused_max_ms:.1f} ms), {o.failed} failed otherwise"
            + (f" ({_kinds(o.failed_kinds)})" if o.failed_kinds else ""),
        )
    ]


def _kinds(kinds: tuple[tuple[str, int], ...]) -> str:
    return "; ".join(f"{count:,} {kind}" for kind, count in kinds)


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def cpu_budget_table(budget: CpuBudget) -> tuple[list[str], list[list[str]]]:
    """Header and rows: each process at rest (% of one core) and in CPU ms per request at
    each budget rate, then the total."""
    rates = sorted(budget.ms_per_request)
    header = [
        "process",
        f"at rest, % of one core ({budget.rest_seconds:.0f} s)",
        *(f"CPU ms per request at {rate} req/s" for rate in rates),
    ]
    names = sorted({*budget.rest_percent, *(n for r in rates for n in budget.ms_per_request[r])})
    rows = [
        [
            name,
            _cell(budget.rest_percent.get(name), 1),
            *(_cell(budget.ms_per_request[r].get(name), 2) for r in rates),
        ]
        for name in names
    ]
    rows.append(
        [
            "total",
            _cell(sum(budget.rest_percent.values()), 1),
            *(_cell(sum(budget.ms_per_request[r].values()), 2) for r in rates),
        ]
    )
    return header, rows


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


COLUMNS = ["measurement", "setting", "result", "target", "met?"]


def _cells(row: Row) -> list[str]:
    return [row.measurement, row.setting, row.result, row.target, _met(row.met)]


def _rich(title: str, header: list[str], rows: list[list[str]], caption: str = "") -> Table:
    table = Table(title=title, caption=caption or None, show_lines=False)
    for column in header:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return lines


def rich_tables(rows: list[Row], budget: CpuBudget | None, caption: str) -> list[Table]:
    """The results table, and the CPU budget table when it was measured."""
    tables = [_rich("make bench", COLUMNS, [_cells(r) for r in rows], caption)]
    if budget is not None and budget.rest_percent:
        tables.append(_rich("CPU budget (full system)", *cpu_budget_table(budget)))
    return tables


def markdown(rows: list[Row], caption: str, budget: CpuBudget | None = None) -> str:
    """GitHub tables: the results, then the CPU budget; the caption under them."""
    lines = _markdown(COLUMNS, [_cells(r) for r in rows])
    if budget is not None and budget.rest_percent:
        lines += ["", *_markdown(*cpu_budget_table(budget))]
    return "\n".join([*lines, "", caption, ""])


def to_json(findings: Findings, rows: list[Row], caption: str) -> str:
    document: dict[str, Any] = {
        "caption": caption,
        "findings": dataclasses.asdict(findings),
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    return json.dumps(document, indent=2, default=str, allow_nan=True)
