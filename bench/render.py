"""The table as rich tables, GitHub Markdown and JSON, with the CPU budget beside it."""

import dataclasses
import json
from typing import Any

from rich.table import Table

from bench.cpu_budget import CpuBudget
from bench.findings import Findings
from bench.results import Row


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
