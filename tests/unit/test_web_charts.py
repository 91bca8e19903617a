"""The dashboard's inline SVG charts: well-formed, escaped, gaps and empty data handled."""

import xml.etree.ElementTree as ET

import pytest

from gateway.web.charts import Estimate, Line, interval_chart, line_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [node.text or "" for node in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1.0), (-3, 1.0), (0.7, 1.0), (1.2, 2.0), (23, 25.0), (51, 100.0)]
)
def test_nice_ceiling_rounds_up_to_a_readable_number(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_line_chart_draws_one_polyline_per_series_with_one_point_per_label() -> None:
    root = _parse(
        line_chart(
            title="Requests",
            x_labels=["10:00", "10:01", "10:02"],
            lines=[Line("prod", [1, 2, 3]), Line("candidate", [0, 1, 0])],
            unit="req",
        )
    )
    polylines = list(root.iter(f"{SVG}polyline"))
    assert [len(p.attrib["points"].split()) for p in polylines] == [3, 3]
    texts = _texts(root)
    assert {"Requests", "10:00", "10:02", "prod", "candidate", "5"} <= set(texts)


def test_a_missing_value_breaks_the_line_and_a_lone_point_is_a_dot() -> None:
    root = _parse(
        line_chart(title="t", x_labels=list("abcd"), lines=[Line("p95", [5, None, 7, 8])], unit="")
    )
    assert [len(p.attrib["points"].split()) for p in root.iter(f"{SVG}polyline")] == [2]
    assert len(list(root.iter(f"{SVG}circle"))) == 1


def test_no_data_says_so() -> None:
    assert "no data yet" in _texts(_parse(line_chart(title="t", x_labels=[], lines=[], unit="")))
    only_gaps = line_chart(title="t", x_labels=["a"], lines=[Line("x", [None])], unit="")
    assert "no data yet" in _texts(_parse(only_gaps))
    assert "no data yet" in _texts(_parse(interval_chart(title="t", estimates=[], unit="")))


def test_labels_are_escaped() -> None:
    svg = line_chart(
        title="<script>alert(1)</script>", x_labels=["a&b"], lines=[Line("<v>", [1])], unit=""
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "a&amp;b" in svg and "&lt;v&gt;" in svg
    _parse(svg)


def test_interval_chart_draws_a_dot_per_estimate_and_a_whisker_when_the_interval_is_known() -> None:
    root = _parse(
        interval_chart(
            title="MAE",
            estimates=[Estimate("prod", 20, 15, 25), Estimate("candidate", 30, None, None)],
            unit="lakhs",
        )
    )
    assert len(list(root.iter(f"{SVG}circle"))) == 2
    whiskers = [line for line in root.iter(f"{SVG}line") if "stroke" in line.attrib]
    assert len(whiskers) == 1
    x1, x2 = float(whiskers[0].attrib["x1"]), float(whiskers[0].attrib["x2"])
    assert x1 < x2
    assert {"prod", "candidate", "50 lakhs"} <= set(_texts(root))
