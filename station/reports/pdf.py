"""PDF reports with reportlab (built-in Helvetica only; nothing is downloaded).

Session report (:func:`session_pdf`)
    The participant's code and recorded details, the session (date in UTC, battery, station,
    software, status, backend; a red SIMULATED line for the simulated backend), then per
    protocol, in the order run: the session summary per hand, a table of every trial (hand,
    trial number, practice, status, the protocol's key metrics, flags: the invalid reason,
    faults, timeouts) and a chart: one bar per scored trial of the protocol's main metric
    (blue right hand, orange left, green both; grey for a trial not counted in the summary).
    Force protocols also get the force trace (newtons over seconds) of each hand's first
    complete trial, on the pad that pressed hardest. Self-guided sessions list their pain and
    fatigue ratings (time, scale, before/after, value 0-10, who gave it) and every note added to
    the session or its trials after the fact (time, author, what it is about, the text).

Progress report (:func:`participant_pdf`)
    The participant's details and sessions, then per protocol and key metric (the session
    summary of each of the protocol's key metrics, e.g. ``mean_total_time_s``): a chart of the
    value over the sessions' dates with one line per hand, and a table of the values with the
    change from the participant's baseline and reliable-change flags (from
    :func:`station.results.participant_results`, when the data folder is given).

``compress=False`` writes the page streams uncompressed, so a test can find the text in them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

import numpy as np
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from station import __version__
from station.errors import StationError
from station.records import Metric, TrialData
from station.reports.common import (
    RATING_SCALE_TEXT,
    ReportData,
    as_utc,
    format_value,
    group_summary,
    hand_order,
    is_simulated,
    key_metric_names,
    key_summary_names,
    load_report_data,
    note_subject,
    primary_trial_metric,
    protocol_title,
    protocols_in_order,
    rating_value_text,
    rating_when_text,
)
from station.store import Rating, SessionInfo, SessionNote, Store, StoreError, TrialInfo
from station.store.export import finite_number

#: Protocols whose trials get a force trace in the session report.
FORCE_PROTOCOLS: Final = frozenset(
    {"max_force", "force_steadiness", "force_tracking", "finger_individuation"}
)
HAND_COLORS: Final = {
    "right": colors.HexColor("#1f77b4"),
    "left": colors.HexColor("#ff7f0e"),
    "both": colors.HexColor("#2ca02c"),
}
NOT_COUNTED_COLOR: Final = colors.HexColor("#b0b0b0")
#: Key metrics shown as columns of a trial table (the rest are in the CSV and JSON exports).
MAX_TABLE_METRICS: Final = 4
#: Sessions up to which each gets its own date label on a progress chart.
MAX_DATE_LABELS: Final = 8
#: Points per force trace (min and max of each bucket, so peaks survive).
TRACE_POINTS: Final = 600

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN: Final = 15 * mm
BODY_WIDTH: Final = PAGE_WIDTH - 2 * MARGIN

_styles = getSampleStyleSheet()
TITLE: Final = _styles["Title"]
H2: Final = _styles["Heading2"]
H3: Final = _styles["Heading3"]
BODY: Final = _styles["BodyText"]
SMALL: Final = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9)
WARN: Final = ParagraphStyle(
    "warn", parent=BODY, textColor=colors.HexColor("#b00020"), fontName="Helvetica-Bold"
)
TABLE_STYLE: Final = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa7b4")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
)


def _p(text: str, style: ParagraphStyle = SMALL) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[Any]], widths: Sequence[float] | None = None) -> Table:
    table = Table(rows, colWidths=list(widths) if widths else None, repeatRows=1, hAlign="LEFT")
    table.setStyle(TABLE_STYLE)
    return table


def _date(t: datetime) -> str:
    return as_utc(t).strftime("%Y-%m-%d %H:%M UTC")


def _build(story: list[Flowable], title: str, footer: str, compress: bool) -> bytes:
    out = io.BytesIO()

    def on_page(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(MARGIN, 9 * mm, footer)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=18 * mm,
        title=title,
        author="Dexterity Station",
        creator=f"Dexterity Station {__version__}",
        pageCompression=1 if compress else 0,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


def _participant_lines(data: ReportData) -> list[Flowable]:
    p = data.participant
    details = (
        f"born {p.birth_year or '-'}, sex {p.sex or '-'}, dominant hand "
        f"{p.dominant_hand or '-'}, affected side {p.affected_side or '-'}"
    )
    return [_p(f"Participant {p.code}", H2), _p(details, BODY)]


# -- charts -----------------------------------------------------------------------------------


def _label(drawing: Drawing, x: float, y: float, text: str, size: float = 7) -> None:
    drawing.add(String(x, y, text, fontName="Helvetica", fontSize=size))


def _bar_chart(bars: Sequence[tuple[str, str, float | None, bool]], title: str) -> Drawing | None:
    """One bar per (label, hand, value, counted); None when there is nothing to draw."""
    if not any(v is not None for _, _, v, _ in bars):
        return None
    height = 60 * mm
    drawing = Drawing(BODY_WIDTH, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 14 * mm, 12 * mm
    chart.width, chart.height = BODY_WIDTH - 20 * mm, height - 22 * mm
    chart.data = [tuple(v for _, _, v, _ in bars)]
    chart.barLabelFormat = _bar_label
    chart.barLabels.fontName = "Helvetica"
    chart.barLabels.fontSize = 6.5
    chart.barLabels.nudge = 5
    chart.categoryAxis.categoryNames = [label for label, _, _, _ in bars]
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labelAxisMode = "low"
    chart.valueAxis.labels.fontName = "Helvetica"
    chart.valueAxis.labels.fontSize = 7
    values = [v for _, _, v, _ in bars if v is not None]
    lo, hi = min(0.0, *values), max(0.0, *values)
    if lo == hi:
        hi = 1.0
    chart.valueAxis.valueMin = lo * 1.15
    chart.valueAxis.valueMax = hi * 1.15
    chart.barWidth = 6
    for i, (_, hand, _, counted) in enumerate(bars):
        color = HAND_COLORS.get(hand, colors.grey) if counted else NOT_COUNTED_COLOR
        chart.bars[(0, i)].fillColor = color
        chart.bars[(0, i)].strokeColor = None
    drawing.add(chart)
    _label(drawing, 0, height - 6, title, 8)
    _label(
        drawing,
        14 * mm,
        1,
        "blue: right hand, orange: left, green: both; grey: not counted in the summary",
        6.5,
    )
    return drawing


def _bar_label(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _downsample(t_s: np.ndarray, f: np.ndarray) -> list[tuple[float, float]]:
    """At most :data:`TRACE_POINTS` points: each bucket's minimum and maximum, in time order."""
    n = t_s.size
    if n <= TRACE_POINTS:
        return [(float(a), float(b)) for a, b in zip(t_s, f, strict=True)]
    points: list[tuple[float, float]] = []
    for idx in np.array_split(np.arange(n), TRACE_POINTS // 2):
        lo, hi = idx[np.argmin(f[idx])], idx[np.argmax(f[idx])]
        for i in sorted({int(lo), int(hi)}):
            points.append((float(t_s[i]), float(f[i])))
    return points


def _line_chart(
    lines: Sequence[tuple[str, list[tuple[float, float]]]],
    title: str,
    x_format: Callable[[float], str] | None = None,
    *,
    markers: bool = False,
    x_steps: Sequence[float] | None = None,
) -> Drawing | None:
    """One line per (hand, points); None when there are no points."""
    lines = [(hand, pts) for hand, pts in lines if pts]
    if not lines:
        return None
    height = 60 * mm
    drawing = Drawing(BODY_WIDTH, height)
    plot = LinePlot()
    plot.x, plot.y = 14 * mm, 14 * mm
    plot.width, plot.height = BODY_WIDTH - 20 * mm, height - 24 * mm
    plot.data = [pts for _, pts in lines]
    xs = [x for _, pts in lines for x, _ in pts]
    ys = [y for _, pts in lines for _, y in pts]
    if max(xs) == min(xs):
        plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = min(xs) - 1, max(xs) + 1
    if max(ys) == min(ys):
        plot.yValueAxis.valueMin = min(ys) - max(1.0, abs(min(ys)) * 0.1)
        plot.yValueAxis.valueMax = max(ys) + max(1.0, abs(max(ys)) * 0.1)
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName = "Helvetica"
        axis.labels.fontSize = 7
    if x_steps is not None:
        plot.xValueAxis.valueSteps = list(x_steps)
    if x_format is not None:
        plot.xValueAxis.labelTextFormat = x_format
        plot.xValueAxis.labels.angle = 20
        plot.xValueAxis.labels.dy = -4
    for i, (hand, _) in enumerate(lines):
        plot.lines[i].strokeColor = HAND_COLORS.get(hand, colors.grey)
        plot.lines[i].strokeWidth = 1.2 if markers else 0.7
        if markers:
            plot.lines[i].symbol = makeMarker("FilledCircle", size=3)
    drawing.add(plot)
    _label(drawing, 0, height - 6, title, 8)
    legend = ", ".join(
        f"{hand}: {name}"
        for hand, name in (("right", "blue"), ("left", "orange"), ("both", "green"))
        if any(h == hand for h, _ in lines)
    )
    _label(drawing, 14 * mm, 1, legend, 6.5)
    return drawing


# -- session report ------------------------------------------------------------------------------


def _trial_label(t: TrialInfo) -> str:
    return (
        ("P" if t.practice else "")
        + {"right": "R", "left": "L"}.get(t.hand, "B")
        + str(t.trial_index)
    )


def _flags(t: TrialInfo) -> str:
    flags = []
    if t.status == "invalid":
        flags.append(f"invalid: {t.invalid_reason or 'no reason given'}")
    elif t.status == "timeout":
        flags.append("timeout (time limit reached)")
    elif t.status != "complete":
        flags.append(t.status)
    flags += t.faults
    if t.gaps:
        flags.append(f"{len(t.gaps)} gap(s) in the recording")
    if t.notes:
        flags.append(t.notes)
    return "; ".join(flags)


def _table_metrics(protocol: str, trials: Sequence[TrialInfo]) -> list[tuple[str, str]]:
    """(name, unit) of the metrics shown as columns: the key metrics the trials have."""
    units: dict[str, str] = {}
    for t in trials:
        for m in t.metrics:
            units.setdefault(m.name, m.unit)
    names = [k for k in key_metric_names(protocol) if k in units]
    if not names:
        primaries = [primary_trial_metric(protocol, t.metrics) for t in trials]
        names = list(dict.fromkeys(m.name for m in primaries if m is not None))
    return [(n, units[n]) for n in names[:MAX_TABLE_METRICS]]


def _summary_table(protocol: str, s: SessionInfo) -> Table | None:
    groups = group_summary(s.metrics)
    rows: list[list[Any]] = [["hand", "summary metric", "value", "detail"]]
    for (p, hand), metrics in sorted(groups.items(), key=lambda kv: hand_order(kv[0][1])):
        if p != protocol:
            continue
        for m in metrics:
            rows.append([hand, m.name, format_value(m.value, m.unit), _p(m.detail)])
    if len(rows) == 1:
        return None
    return _table(rows, [16 * mm, 52 * mm, 28 * mm, BODY_WIDTH - 96 * mm])


def _trials_table(protocol: str, trials: Sequence[TrialInfo]) -> Table:
    shown = _table_metrics(protocol, trials)
    header: list[Any] = ["hand", "trial", "status", *(_p(n) for n, _ in shown), "flags"]
    rows: list[list[Any]] = [header]
    for t in trials:
        values = {m.name: m for m in t.metrics}
        cells = []
        for name, _ in shown:
            m = values.get(name)
            cells.append("-" if m is None else format_value(m.value, m.unit))
        kind = f"{t.trial_index} (practice)" if t.practice else str(t.trial_index)
        rows.append([t.hand, kind, t.status, *cells, _p(_flags(t))])
    metric_w = 27 * mm
    fixed = [13 * mm, 17 * mm, 17 * mm]
    flags_w = BODY_WIDTH - sum(fixed) - metric_w * len(shown)
    return _table(rows, [*fixed, *([metric_w] * len(shown)), flags_w])


def _force_trace(data: TrialData) -> tuple[str, list[tuple[float, float]]] | None:
    """(pad, points) of the pad that pressed hardest (home and dish pads excluded)."""
    best: tuple[float, str, np.ndarray, np.ndarray] | None = None
    for name, pad in data.samples.items():
        role = data.roles.get(name, "")
        if role in ("pad:home", "pad:dish") or pad.t_ns.size == 0:
            continue
        force = pad.force_n()
        peak = float(force.max())
        if best is None or peak > best[0]:
            best = (peak, name, pad.t_ns, force)
    if best is None:
        return None
    _, name, t_ns, force = best
    t_s = (t_ns - data.start_t_ns) / 1e9
    return name, _downsample(t_s, force)


def _protocol_section(store: Store, s: SessionInfo, protocol: str) -> list[Flowable]:
    trials = [t for t in s.trials if t.protocol == protocol]
    version = trials[0].protocol_version if trials else ""
    head = f"{protocol_title(protocol)} ({protocol}{' ' + version if version else ''})"
    story: list[Flowable] = [_p(head, H3)]
    summary = _summary_table(protocol, s)
    if summary is not None:
        story += [summary, Spacer(1, 3 * mm)]
    if trials:
        story += [_trials_table(protocol, trials), Spacer(1, 3 * mm)]
    scored = [t for t in trials if not t.practice]
    scored.sort(key=lambda t: (hand_order(t.hand), t.trial_index))
    bars = []
    unit_name = ""
    for t in scored:
        m = primary_trial_metric(protocol, t.metrics)
        if m is not None and not unit_name:
            unit_name = f"{m.name} ({m.unit})" if m.unit and m.unit != "1" else m.name
        bars.append(
            (
                _trial_label(t),
                t.hand,
                None if m is None else finite_number(m.value),
                t.status == "complete",
            )
        )
    chart = _bar_chart(bars, f"{protocol}: {unit_name} per trial")
    if chart is not None:
        story.append(KeepTogether([chart, Spacer(1, 2 * mm)]))
    if protocol in FORCE_PROTOCOLS:
        story += _force_traces(store, protocol, scored)
    return story


def _force_traces(store: Store, protocol: str, scored: Sequence[TrialInfo]) -> list[Flowable]:
    lines = []
    used = []
    for hand in ("right", "left", "both"):
        first = next((t for t in scored if t.hand == hand and t.status == "complete"), None)
        if first is None:
            continue
        try:
            trace = _force_trace(store.trial_data(first.id))
        except StoreError:
            continue
        if trace is not None:
            lines.append((hand, trace[1]))
            used.append(f"{hand} {_trial_label(first)} pad {trace[0]}")
    chart = _line_chart(lines, f"{protocol}: force (N) over time (s) - {', '.join(used)}")
    return [] if chart is None else [KeepTogether([chart, Spacer(1, 2 * mm)])]


def _ratings_block(ratings: Sequence[Rating]) -> list[Flowable]:
    """The session's self-reported ratings (pain, fatigue), in time order."""
    if not ratings:
        return []
    rows: list[list[Any]] = [["time (UTC)", "scale", "when", "value (0-10)", "given by"]]
    for r in ratings:
        when = rating_when_text(r) + (f" (trial {r.trial_id})" if r.trial_id else "")
        rows.append([_date(r.t_utc), r.scale, when, rating_value_text(r), r.source])
    scales = "; ".join(f"{k}: {v}" for k, v in RATING_SCALE_TEXT.items())
    widths = [32 * mm, 20 * mm, 50 * mm, 22 * mm]
    return [
        _p("Pain and fatigue ratings", H3),
        _table(rows, [*widths, BODY_WIDTH - sum(widths)]),
        _p(scales),
        Spacer(1, 3 * mm),
    ]


def _notes_block(s: SessionInfo, notes: Sequence[SessionNote]) -> list[Flowable]:
    """Notes added to the session or its trials after the fact (author and time)."""
    if not notes:
        return []
    rows: list[list[Any]] = [["time (UTC)", "author", "about", "note"]]
    for n in notes:
        rows.append([_date(n.t_utc), _p(n.author), _p(note_subject(s, n)), _p(n.text)])
    widths = [32 * mm, 24 * mm, 44 * mm]
    return [
        _p("Notes added", H3),
        _table(rows, [*widths, BODY_WIDTH - sum(widths)]),
        Spacer(1, 3 * mm),
    ]


def session_pdf(
    store: Store, session_id: int, *, compress: bool = True, now: datetime | None = None
) -> bytes:
    """The session report (module docstring) as PDF bytes. Raises
    :class:`~station.reports.ReportError` (``field="session_id"``) for an unknown session."""
    data = load_report_data(store, session_id=session_id)
    (s,) = data.sessions
    code = data.participant.code
    story: list[Flowable] = [_p(f"Session report: participant {code}", TITLE)]
    if is_simulated(s):
        story.append(
            _p("SIMULATED: recorded on the simulated backend, not a measurement of a person.", WARN)
        )
    story += _participant_lines(data)
    rows = [
        ["session", str(s.id), "date", _date(s.started_utc)],
        ["battery", s.battery_name, "status", s.status],
        ["station", s.station_id, "software", s.software_version],
        ["backend", s.hardware_backend, "ended", _date(s.ended_utc) if s.ended_utc else "-"],
    ]
    table = Table(rows, colWidths=[22 * mm, 60 * mm, 22 * mm, 60 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
                ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 8),
                ("FONT", (2, 0), (2, -1), "Helvetica-Bold", 8),
            ]
        )
    )
    story += [table, Spacer(1, 4 * mm)]
    if s.notes:
        story.append(_p(f"Notes: {s.notes}", BODY))
    story += _ratings_block(data.session_ratings(s.id))
    story += _notes_block(s, data.session_notes(s.id))
    protocols = protocols_in_order(s)
    if not protocols:
        story.append(_p("No trials were recorded in this session.", BODY))
    for protocol in protocols:
        story += _protocol_section(store, s, protocol)
    generated = _date(now or datetime.now(UTC))
    footer = f"Dexterity Station {__version__} - participant {code}, session {s.id} - {generated}"
    return _build(story, f"Session {s.id}, participant {code}", footer, compress)


# -- progress report -----------------------------------------------------------------------------


def _change_rows(
    store: Store, code: str, data_dir: Path | None
) -> tuple[dict[tuple[Any, ...], Any], str | None]:
    """participant_results rows by (session id, protocol, hand, metric), and why there are none
    (a norm or threshold file with a mistake leaves the change out, not the report)."""
    if data_dir is None:
        return {}, None
    from station.results import participant_results

    try:
        report = participant_results(store, code, data_dir)
    except StationError as exc:
        return {}, f"Change from baseline is not shown: {exc}"
    rows = {
        (s["session_id"], r["protocol"], r["hand"], r["metric"]): r
        for s in report["sessions"]
        for r in s["metrics"]
    }
    return rows, None


def _change_text(row: dict[str, Any] | None) -> tuple[str, str]:
    if row is None:
        return "", ""
    if row.get("baseline"):
        return "baseline", ""
    if "change_percent" not in row:
        return "", ""
    flag = "RELIABLE CHANGE" if row.get("reliable_change") else ""
    if flag and row.get("threshold_percent") is not None:
        flag += f" (>= {row['threshold_percent']:g}%)"
    return f"{row['change_percent']:+.1f}%", flag


def participant_pdf(
    store: Store,
    code: str,
    *,
    data_dir: Path | None = None,
    compress: bool = True,
    now: datetime | None = None,
) -> bytes:
    """The progress report (module docstring) as PDF bytes. Raises
    :class:`~station.reports.ReportError` (``field="code"``) for an unknown participant."""
    data = load_report_data(store, participant_code=code)
    sessions = data.sessions
    story: list[Flowable] = [_p(f"Progress report: participant {code}", TITLE)]
    story += _participant_lines(data)
    if any(is_simulated(s) for s in sessions):
        story.append(
            _p(
                "SIMULATED: some sessions were recorded on the simulated backend (marked sim).",
                WARN,
            )
        )
    if not sessions:
        story.append(_p("No sessions recorded yet.", BODY))
    else:
        rows: list[list[Any]] = [["date", "session", "battery", "status", "backend", "protocols"]]
        for s in sessions:
            rows.append(
                [
                    _date(s.started_utc),
                    str(s.id),
                    s.battery_name,
                    s.status,
                    s.hardware_backend,
                    _p(", ".join(protocols_in_order(s))),
                ]
            )
        widths = [32 * mm, 15 * mm, 25 * mm, 20 * mm, 16 * mm]
        story += [_table(rows, [*widths, BODY_WIDTH - sum(widths)]), Spacer(1, 4 * mm)]
    changes, problem = _change_rows(store, code, data_dir) if sessions else ({}, None)
    if problem is not None:
        story.append(_p(problem, WARN))
    first = as_utc(sessions[0].started_utc) if sessions else datetime.now(UTC)
    protocols: dict[str, None] = {}
    for s in sessions:
        for p in protocols_in_order(s):
            protocols.setdefault(p, None)
    for protocol in protocols:
        story.append(_p(f"{protocol_title(protocol)} ({protocol})", H3))
        available: dict[str, str] = {}
        for s in sessions:
            for sm in s.metrics:
                if sm.protocol == protocol:
                    available.setdefault(sm.metric.name, sm.metric.unit)
        names = key_summary_names(protocol, list(available))
        if not names:
            story.append(_p("No summary results (no valid trials).", BODY))
        for name in names:
            story += _progress_block(protocol, name, available[name], sessions, first, changes)
    if data_dir is not None:
        story.append(
            _p(
                "Change is from the participant's first complete session with the measure "
                "(same hand); reliable-change thresholds and their sources are in the data "
                "folder's change.toml or docs/assessments.md.",
                SMALL,
            )
        )
    generated = _date(now or datetime.now(UTC))
    footer = f"Dexterity Station {__version__} - participant {code} - progress - {generated}"
    return _build(story, f"Progress report, participant {code}", footer, compress)


def _progress_block(
    protocol: str,
    name: str,
    unit: str,
    sessions: Sequence[SessionInfo],
    first: datetime,
    changes: dict[tuple[Any, ...], Any],
) -> list[Flowable]:
    by_hand: dict[str, list[tuple[float, float]]] = {}
    rows: list[list[Any]] = [["date", "session", "hand", name, "change", "flag"]]
    for s in sessions:
        day = (as_utc(s.started_utc) - first).total_seconds() / 86400.0
        for sm in sorted(s.metrics, key=lambda x: hand_order(x.hand)):
            if sm.protocol != protocol or sm.metric.name != name:
                continue
            m: Metric = sm.metric
            value = finite_number(m.value)
            if value is not None:
                by_hand.setdefault(sm.hand, []).append((day, value))
            change, flag = _change_text(changes.get((s.id, protocol, sm.hand, name)))
            rows.append(
                [
                    _date(s.started_utc),
                    str(s.id),
                    sm.hand,
                    format_value(m.value, m.unit),
                    change,
                    flag,
                ]
            )

    days = sorted({x for pts in by_hand.values() for x, _ in pts})
    short = bool(days) and days[-1] - days[0] < 3
    pattern = "%m-%d %H:%M" if short else "%Y-%m-%d"

    def day_label(day: float) -> str:
        return (first + timedelta(days=day)).strftime(pattern)

    unit_text = f" ({unit})" if unit and unit != "1" else ""
    lines = sorted(by_hand.items(), key=lambda kv: hand_order(kv[0]))
    chart = _line_chart(
        lines,
        f"{name}{unit_text} by session date (UTC)",
        day_label,
        markers=True,
        x_steps=days if 1 < len(days) <= MAX_DATE_LABELS else None,
    )
    out: list[Flowable] = []
    if chart is not None:
        out.append(KeepTogether([chart, Spacer(1, 2 * mm)]))
    widths = [30 * mm, 14 * mm, 12 * mm, 42 * mm, 18 * mm]
    out += [_table(rows, [*widths, BODY_WIDTH - sum(widths)]), Spacer(1, 4 * mm)]
    return out
