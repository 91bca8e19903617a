"""Small inline SVG charts for the dashboard: lines over time, and estimates with intervals.

Pure functions from numbers to SVG text: no scripts, no external fonts or styles, every
label escaped, so the page can insert them as they are.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 380
HEIGHT = 190
#: Room for the axis labels (left, right, top, bottom), in pixels.
MARGIN = (48, 12, 40, 24)
COLOURS = {"prod": "#2563eb", "candidate": "#ea580c"}
FALLBACK_COLOUR = "#6b7280"


@dataclass(frozen=True)
class Line:
    """One series of a line chart: one value (or None for a gap) per x label."""

    name: str
    values: Sequence[float | None]
    colour: str = FALLBACK_COLOUR
    dashed: bool = False


@dataclass(frozen=True)
class Estimate:
    """One estimate with its interval (either end None when unknown)."""

    name: str
    value: float
    low: float | None
    high: float | None
    colour: str = FALLBACK_COLOUR


def colour_of(variant: str) -> str:
    return COLOURS.get(variant, FALLBACK_COLOUR)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= ``value`` (1 for <= 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power: float = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _frame(title: str, body: list[str]) -> str:
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" aria-label="{escape(title)}" class="chart">',
            f'<text x="{MARGIN[0]}" y="16" class="chart-title">{escape(title)}</text>',
            *body,
            "</svg>",
        ]
    )


def _empty(title: str) -> str:
    return _frame(
        title,
        [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data yet</text>'],
    )


def _y_axis(top: float, unit: str) -> list[str]:
    left, _right, upper, lower = MARGIN
    bottom = HEIGHT - lower
    return [
        f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - MARGIN[1]}" y2="{bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{upper + 4}" text-anchor="end">{_fmt(top)}</text>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>',
        f'<text x="{left - 4}" y="{upper + 16}" text-anchor="end">{escape(unit)}</text>',
    ]


def _segments(points: list[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Consecutive known points; a None breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def _polyline(run: list[tuple[float, float]], line: Line) -> str:
    dash = ' stroke-dasharray="5 3"' if line.dashed else ""
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
    if len(run) == 1:
        x, y = run[0]
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{line.colour}"/>'
    stroke = f'stroke="{line.colour}" stroke-width="2"{dash}'
    return f'<polyline points="{coords}" fill="none" {stroke}/>'


def _legend(lines: Sequence[Line]) -> list[str]:
    """Series names under the title, right-aligned, each in its line's colour."""
    x = WIDTH - MARGIN[1]
    items = []
    for line in reversed(lines):
        items.append(
            f'<text x="{x}" y="32" text-anchor="end" fill="{line.colour}">'
            f"{escape(line.name)}</text>"
        )
        x -= 12 + 7 * len(line.name)  # about 7 px per character at the page's font size
    return items


def line_chart(*, title: str, x_labels: Sequence[str], lines: Sequence[Line], unit: str) -> str:
    """Lines over shared x labels (oldest first); the first and last labels are printed."""
    known = [v for line in lines for v in line.values if v is not None and math.isfinite(v)]
    if not x_labels or not known:
        return _empty(title)
    left, right, upper, lower = MARGIN
    top = nice_ceiling(max(known))
    span_x = max(len(x_labels) - 1, 1)

    def point(index: int, value: float | None) -> tuple[float, float] | None:
        if value is None or not math.isfinite(value):
            return None
        x = left + (WIDTH - left - right) * index / span_x
        y = HEIGHT - lower - (HEIGHT - upper - lower) * value / top
        return x, y

    body = _y_axis(top, unit)
    for line in lines:
        points = [point(i, v) for i, v in enumerate(line.values)]
        body.extend(_polyline(run, line) for run in _segments(points))
    body.append(f'<text x="{left}" y="{HEIGHT - 6}">{escape(x_labels[0])}</text>')
    if len(x_labels) > 1:
        body.append(
            f'<text x="{WIDTH - right}" y="{HEIGHT - 6}" text-anchor="end">'
            f"{escape(x_labels[-1])}</text>"
        )
    return _frame(title, body + _legend(lines))


def interval_chart(*, title: str, estimates: Sequence[Estimate], unit: str) -> str:
    """One row per estimate: a dot at the value and a whisker over its interval."""
    if not estimates:
        return _empty(title)
    left, right, upper, lower = MARGIN
    label_width = 90
    highest = max(max(e.value, e.high if e.high is not None else e.value) for e in estimates)
    top = nice_ceiling(highest)
    plot_left, plot_width = left + label_width, WIDTH - left - label_width - right
    row_height = (HEIGHT - upper - lower) / len(estimates)

    def x_of(value: float) -> float:
        return plot_left + plot_width * max(value, 0.0) / top

    body = [
        f'<line x1="{plot_left}" y1="{HEIGHT - lower}" x2="{WIDTH - right}" '
        f'y2="{HEIGHT - lower}" class="axis"/>',
        f'<text x="{plot_left}" y="{HEIGHT - 6}">0</text>',
        f'<text x="{WIDTH - right}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{_fmt(top)} {escape(unit)}</text>",
    ]
    for index, estimate in enumerate(estimates):
        y = upper + row_height * (index + 0.5)
        body.append(f'<text x="{left}" y="{y + 4:.1f}">{escape(estimate.name)}</text>')
        if estimate.low is not None and estimate.high is not None:
            body.append(
                f'<line x1="{x_of(estimate.low):.1f}" y1="{y:.1f}" x2="{x_of(estimate.high):.1f}" '
                f'y2="{y:.1f}" stroke="{estimate.colour}" stroke-width="3"/>'
            )
        body.append(
            f'<circle cx="{x_of(estimate.value):.1f}" cy="{y:.1f}" r="5" '
            f'fill="{estimate.colour}"><title>{_fmt(estimate.value)}</title></circle>'
        )
    return _frame(title, body)
