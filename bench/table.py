"""The run's one table: rows with targets from the issue, as rich, Markdown and JSON."""

import dataclasses
import json
import math
from typing import Any

from rich.table import Table

from bench.findings import Findings, LoadFindings
from bench.results import FIXED_RATES_PER_S, SUSTAINED_P99_MS, Row

#: The issue's targets.
P50_VS_FLOOR_MAX = 2.0
MAX_RATE_VS_DIRECT_MIN = 0.5
BATCH_VS_FLOOR_MIN = 0.5
PROMOTION_MAX_S = 2.0
RSS_GROWTH_MAX = 0.10


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


def _target_rows(f: Findings) -> list[Row]:
    rows = []
    ours, floor = (
        _p50_at(f.splitstream, FIXED_RATES_PER_S[0]),
        _p50_at(f.floor, FIXED_RATES_PER_S[0]),
    )
    if ours is not None and floor is not None:
        rows.append(
            Row(
                "target",
                "splitstream p50 vs floor p50 at 100 req/s",
                f"{ours:.1f} vs {floor:.1f} ms = {ours / floor:.2f}x",
                f"<= {P50_VS_FLOOR_MAX:g}x",
                ours <= P50_VS_FLOOR_MAX * floor,
            )
        )
    ours_max = f.splitstream.max_sustained_per_s if f.splitstream else None
    direct_max = f.direct.max_sustained_per_s if f.direct else None
    if ours_max is not None and direct_max:
        share = ours_max / direct_max
        rows.append(
            Row(
                "target",
                "splitstream max sustained vs direct",
                f"{ours_max:g} vs {direct_max:g} req/s = {share:.0%}",
                f">= {MAX_RATE_VS_DIRECT_MIN:.0%}",
                share >= MAX_RATE_VS_DIRECT_MIN,
            )
        )
    if f.batch_rows_per_s is not None and f.floor_consume_produce_per_s:
        share = f.batch_rows_per_s / f.floor_consume_produce_per_s
        rows.append(
            Row(
                "target",
                "batch rows/s vs floor consume+produce",
                f"{f.batch_rows_per_s:.0f} vs {f.floor_consume_produce_per_s:.0f}/s = {share:.0%}",
                f">= {BATCH_VS_FLOOR_MIN:.0%}",
                share >= BATCH_VS_FLOOR_MIN,
            )
        )
    if f.promotion_ack_s is not None:
        rows.append(
            Row(
                "target",
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
                Row(
                    "target",
                    f"{service} RSS growth {first:,} -> {last:,} requests",
                    f"{by_count[first] / 1024:.1f} -> {by_count[last] / 1024:.1f} MiB "
                    f"({growth:+.1%})",
                    f"<= {RSS_GROWTH_MAX:.0%}",
                    growth <= RSS_GROWTH_MAX,
                )
            )
    return rows


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


def rows_of(findings: Findings) -> list[Row]:
    """The table's rows: measurements in the issue's order, then the targets, then failures."""
    rows = [
        *_load_rows("splitstream", findings.splitstream),
        *_load_rows("direct", findings.direct),
        *_load_rows("floor", findings.floor),
        *_other_rows(findings),
        *_target_rows(findings),
    ]
    rows += [Row(name, "MISSING", reason) for name, reason in findings.failures.items()]
    return rows


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


def rich_table(rows: list[Row], caption: str) -> Table:
    table = Table(title="make bench", caption=caption, show_lines=False)
    for column in ("measurement", "setting", "result", "target", "met?"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.measurement, row.setting, row.result, row.target, _met(row.met))
    return table


def markdown(rows: list[Row], caption: str) -> str:
    """A GitHub table, the caption under it."""
    lines = [
        "| measurement | setting | result | target | met? |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = (row.measurement, row.setting, row.result, row.target, _met(row.met))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join([*lines, "", caption, ""])


def to_json(findings: Findings, rows: list[Row], caption: str) -> str:
    document: dict[str, Any] = {
        "caption": caption,
        "findings": dataclasses.asdict(findings),
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    return json.dumps(document, indent=2, default=str, allow_nan=True)
