"""The server-side SVG charts (web.charts): well-formed XML, the points asked for, axes with units
and ticks, accessible titles, escaping, downsampling that keeps peaks."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web import charts
from web.charts import Band, Mark, MarkStyle, OffScale, Point, Series, Span, Trace, VLine, Window
from web.progress import metric_label, unit_label

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = "<script>alert(\"x\")</script> & 'q'"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def with_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{{{NS['svg']}}}text")]


def day(d: int) -> float:
    return datetime(2025, 3, d, 10, 0, tzinfo=UTC).timestamp()


def progress(**kwargs: object) -> str:
    right = Series(
        "right",
        "right hand",
        [Point(day(1), 20.0, "first"), Point(day(15), 15.0, "second", flagged=True)],
        "#0072B2",
        "circle",
    )
    left = Series(
        "left", "left hand", [Point(day(1), 22.0), Point(day(15), 21.0)], "#D55E00", "square"
    )
    args: dict[str, object] = {
        "chart_id": "progress-1",
        "kind": "progress",
        "title": "Nine-Hole Peg Test: total time",
        "desc": "two sessions",
        "x_label": "session date (UTC)",
        "y_label": "total time (s)",
        "series": [right, left],
        "x_dates": True,
        "flag_label": "reliable change vs baseline",
        "attrs": {"metric": "total_time_s"},
    }
    args.update(kwargs)
    return str(charts.scatter_chart(**args))  # type: ignore[arg-type]


def test_a_progress_chart_is_well_formed_with_one_point_per_value() -> None:
    root = parse(progress())
    assert root.tag == f"{{{NS['svg']}}}svg"
    assert "chart" in root.get("class", "").split()
    assert root.get("data-chart") == "progress" and root.get("data-metric") == "total_time_s"
    points = with_class(root, "point")
    assert len(points) == 4
    assert sorted(p.get("data-series") for p in points) == ["left", "left", "right", "right"]
    # hands differ by shape as well as colour: circles for right, squares (rect) for left
    shapes = {p.get("data-series"): p.tag.split("}")[1] for p in points}
    assert shapes == {"right": "circle", "left": "rect"}
    colours = {p.get("data-series"): p.get("fill") for p in points}
    assert colours["right"] != colours["left"]
    assert [float(p.get("data-y", "nan")) for p in points if p.get("data-series") == "right"] == [
        20.0,
        15.0,
    ]
    assert len(with_class(root, "flag-ring")) == 1
    assert len(with_class(root, "series-line")) == 2


def test_axes_have_labels_with_units_ticks_title_and_desc() -> None:
    root = parse(progress())
    title = root.find("svg:title", NS)
    desc = root.find("svg:desc", NS)
    assert title is not None and title.text == "Nine-Hole Peg Test: total time"
    assert desc is not None and desc.text == "two sessions"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    labels = [e.text for e in with_class(root, "axis-label")]
    assert labels == ["session date (UTC)", "total time (s)"]
    ticks = [e.text or "" for e in with_class(root, "tick")]
    dates = [t for t in ticks if t.startswith("2025-03-")]
    assert len(dates) >= 3, ticks
    y_ticks = [float(t) for t in ticks if t.replace(".", "").isdigit()]
    assert min(y_ticks) <= 15.0 and max(y_ticks) >= 22.0
    legend = " ".join(texts(root))
    assert "right hand" in legend and "left hand" in legend
    assert "reliable change vs baseline" in legend


def test_hostile_text_is_escaped_and_the_svg_still_parses() -> None:
    markup = progress(
        title=HOSTILE,
        desc=HOSTILE,
        y_label=HOSTILE,
        attrs={"metric": HOSTILE},
        series=[
            Series(HOSTILE, HOSTILE, [Point(day(1), 1.0, HOSTILE, data={"x": HOSTILE})], "#000")
        ],
    )
    assert "<script>" not in markup
    root = parse(markup)
    assert root.find("svg:title", NS).text == HOSTILE  # type: ignore[union-attr]
    assert root.get("data-metric") == HOSTILE
    (point,) = with_class(root, "point")
    assert point.get("data-series") == HOSTILE and point.get("data-x") is not None
    assert point.find("svg:title", NS).text == HOSTILE  # type: ignore[union-attr]


def test_a_norm_band_and_values_without_a_number() -> None:
    band = Band(
        "norm-right", "norm mean ± 1 SD", [day(1), day(15)], [16, 16], [20, 20], "#00f", [18, 18]
    )
    root = parse(
        progress(bands=[band], off_scale=[OffScale(day(8), "miss: no press in time", "miss")])
    )
    (g,) = with_class(root, "band")
    assert g.get("data-series") == "norm-right"
    assert len(with_class(root, "band-mid")) == 1
    (cross,) = with_class(root, "off-scale")
    assert cross.get("data-kind") == "miss"
    assert "norm mean ± 1 SD" in " ".join(texts(root))


def test_a_lone_value_and_an_empty_chart() -> None:
    one = parse(progress(series=[Series("right", "right hand", [Point(day(3), 5.0)], "#000")]))
    assert len(with_class(one, "point")) == 1
    empty = parse(progress(series=[], empty_text="no values yet"))
    assert with_class(empty, "point") == []
    assert "no values yet" in texts(empty)


def test_a_fixed_y_range_and_series_told_apart_without_colour() -> None:
    before = Series("pain-before", "pain before", [Point(day(1), 3.0), Point(day(8), 4.0)], "#f00")
    after = Series(
        "pain-after",
        "pain after",
        [Point(day(1), 5.0), Point(day(8), 6.0)],
        "#f00",  # the same colour: fill and dash tell them apart
        filled=False,
        dashed=True,
    )
    root = parse(progress(series=[before, after], y_range=(0.0, 10.0)))
    ticks = [float(e.text or "") for e in with_class(root, "tick") if "-" not in (e.text or "")]
    assert min(ticks) == 0.0 and max(ticks) == 10.0  # the whole scale, not the values' range
    points = {p.get("data-series"): p for p in with_class(root, "point")}
    assert points["pain-before"].get("fill") == "#f00"
    assert points["pain-after"].get("fill") == "#ffffff"  # open
    lines = {
        g.get("data-series"): with_class(g, "series-line")[0] for g in with_class(root, "series")
    }
    assert lines["pain-before"].get("stroke-dasharray") is None
    assert lines["pain-after"].get("stroke-dasharray")
    # the legend shows the dashed line with the open marker
    (item,) = [g for g in with_class(root, "legend-item") if "pain after" in texts(g)]
    assert item.find("svg:line", NS) is not None and item.find("svg:circle", NS) is not None


def test_non_finite_values_are_not_drawn() -> None:
    root = parse(
        progress(
            series=[
                Series("right", "r", [Point(day(1), math.nan), Point(day(2), 3.0)], "#000"),
            ]
        )
    )
    assert len(with_class(root, "point")) == 1
    assert "nan" not in ET.tostring(root, encoding="unicode").lower()


def test_rows_chart_draws_every_mark_span_and_line() -> None:
    marks = [Mark(0.5 * i, i % 3, "insert" if i % 2 else "remove", f"event {i}") for i in range(10)]
    root = parse(
        charts.rows_chart(
            chart_id="trial-7",
            kind="pegboard",
            title="9HPT <right>",
            desc="timeline",
            x_label="time from the go cue (s)",
            rows=["hole1", "hole2", HOSTILE],
            marks=marks,
            styles={
                "insert": MarkStyle("circle", "#00f", "peg in"),
                "remove": MarkStyle("circle", "#f00", "peg out", filled=False),
            },
            spans=[Span(0.5, 1.5, 0, "in")],
            span_styles={"in": MarkStyle("bar", "#00f", "peg in the hole")},
            lines=[VLine(0.0, "go", "go cue")],
            line_styles={"go": MarkStyle("line", "#0a0", "go cue")},
        )
    )
    drawn = with_class(root, "mark")
    assert len(drawn) == 10
    assert sum(1 for m in drawn if m.get("data-kind") == "insert") == 5
    assert len(with_class(root, "span")) == 1
    assert [v.get("data-kind") for v in with_class(root, "vline")] == ["go"]
    assert with_class(root, "axis-label")[0].text == "time from the go cue (s)"
    row_labels = [e.text for e in with_class(root, "row-label")]
    assert row_labels[:2] == ["hole1", "hole2"] and row_labels[2] == HOSTILE[:22]
    legend = " ".join(texts(root))
    assert "peg in" in legend and "peg out" in legend and "go cue" in legend


def test_trace_chart_with_target_band_and_window() -> None:
    t = np.linspace(0, 10, 50)
    root = parse(
        charts.trace_chart(
            chart_id="force-1",
            kind="force",
            title="force",
            desc="a force trace",
            x_label="time from the go cue (s)",
            y_label="force (N)",
            traces=[Trace("pad_index", "index pad", t, np.sin(t) + 5, "#00f")],
            targets=[Trace("target", "target 5 N", [0, 10], [5, 5], "#000")],
            bands=[Band("target-band", "band", [0, 10], [4.5, 4.5], [5.5, 5.5], "#000")],
            windows=[Window(2, 8, "scored window")],
            lines=[VLine(0, "go")],
        )
    )
    (trace,) = with_class(root, "trace")
    assert trace.get("data-n") == "50" and len((trace.get("points") or "").split()) == 50
    (target,) = with_class(root, "target")
    assert target.get("stroke-dasharray")
    assert len(with_class(root, "band")) == 1 and len(with_class(root, "window")) == 1
    assert [e.text for e in with_class(root, "axis-label")] == [
        "time from the go cue (s)",
        "force (N)",
    ]


def test_downsampling_keeps_the_extremes_and_the_limit() -> None:
    x = np.arange(100_000, dtype=np.float64)
    y = np.sin(x / 500.0)
    y[12_345] = 9.0  # a spike
    y[77_777] = -9.0
    dx, dy = charts.downsample_minmax(x, y, 800)
    assert dx.size <= 800 and dx.size >= 700
    assert dy.max() == 9.0 and dy.min() == -9.0
    assert np.all(np.diff(dx) > 0)  # still in time order
    short_x, short_y = charts.downsample_minmax(x[:10], y[:10], 800)
    assert short_x.size == 10 and np.array_equal(short_y, y[:10])
    nan_x, _ = charts.downsample_minmax([0, 1, 2], [1.0, math.nan, 2.0], 800)
    assert nan_x.tolist() == [0.0, 2.0]


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0.0, 1.0), (17.03, 17.83), (-3.2, 41.0), (5.0, 5.0), (0.0001, 0.0013), (1e6, 3e6)],
)
def test_nice_ticks_cover_the_range_evenly(lo: float, hi: float) -> None:
    ticks, a, b = charts.nice_ticks(lo, hi)
    assert a <= lo and b >= hi and a < b
    assert ticks[0] == pytest.approx(a) and ticks[-1] == pytest.approx(b)
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0]) and 2 <= len(ticks) <= 12


@pytest.mark.parametrize(
    ("days", "fmt_len"),
    [(0, 11), (2, 11), (30, 10), (400, 7), (3000, 4)],
)
def test_date_ticks_are_readable_utc_dates(days: int, fmt_len: int) -> None:
    lo = datetime(2024, 5, 17, 9, 30, tzinfo=UTC).timestamp()
    ticks, labels, a, b = charts.date_ticks(lo, lo + days * 86_400)
    assert a < lo and b > lo + days * 86_400 - 1
    assert 1 <= len(ticks) <= 8 and all(a <= t <= b for t in ticks)
    assert all(len(label) == fmt_len for label in labels), labels


def test_labels_and_units() -> None:
    assert metric_label("mean_total_time_s", "s") == "mean total time"
    assert metric_label("mean_pegs_per_s", "/s") == "mean pegs per s"
    assert metric_label("rmse_percent_max", "%") == "rmse of max"
    assert unit_label("/s", "pegs_per_s") == "1/s"
    assert unit_label("N2", "tremor_power_n2") == "N²"
    assert unit_label("1", "mean_taps") == "count"
    assert unit_label("1", "mean_iti_cv") == "ratio"
    assert charts.format_number(2.5, 0.5) == "2.5"
    assert charts.format_number(-0.0001, 0.5) == "0"


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_gives_well_formed_svg(text: str) -> None:
    markup = progress(
        title=text,
        desc=text,
        x_label=text,
        series=[Series(text, text, [Point(day(1), 1.0, text, data={text: text})], "#000")],
        flag_label=text,
    )
    root = parse(markup)
    assert len(with_class(root, "point")) == 1
    rows = charts.rows_chart(
        chart_id=text,
        kind=text,
        title=text,
        desc=text,
        x_label=text,
        rows=[text],
        marks=[Mark(1.0, 0, text, text)],
        styles={text: MarkStyle("tick", "#000", text)},
    )
    assert len(with_class(parse(rows), "mark")) == 1
