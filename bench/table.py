"""The run's one table as rows: the measurements in the issue's order, the targets, failures."""

from bench.findings import Findings, LoadFindings
from bench.results import SUSTAINED_P99_MS, Row, ms_text
from bench.targets import target_rows


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
                f"p50 {ms_text(p.p50_ms)} / p95 {ms_text(p.p95_ms)} / p99 {ms_text(p.p99_ms)} / "
                f"p99.9 {ms_text(p.p999_ms)} ms; {p.errors} errors; {p.throughput_per_s:.0f} ok/s",
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
        *target_rows(findings, deadline_ms),
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
            f"{o.accepted:,} accepted ({o.goodput_per_s:.0f}/s, "
            f"p99 {ms_text(o.accepted_p99_ms)} ms), "
            f"{o.refused:,} refused (p99 {ms_text(o.refused_p99_ms)} ms, max "
            f"{o.refused_max_ms:.1f} ms), {o.failed} failed otherwise"
            + (f" ({_kinds(o.failed_kinds)})" if o.failed_kinds else ""),
        )
    ]


def _kinds(kinds: tuple[tuple[str, int], ...]) -> str:
    return "; ".join(f"{count:,} {kind}" for kind, count in kinds)
