"""A participant's progress charts: one chart per key metric of each protocol they did, a point
per session and hand, the norm band where a norm set matches, and reliable changes ringed; and
the chart of their self-reported pain and fatigue (self-guided mode, :func:`build_symptoms`).

The numbers come from :func:`station.results.participant_results` (what ``station results`` and
``GET /api/v1/participants/{code}/results`` show): each session's summary metrics, the change
from the participant's baseline (their first complete session with that metric and hand) with
the reliable-change flag (:mod:`station.norms`: the 9HPT's 20%, or a clinic's own thresholds in
``change.toml``), and the matching norm (mean and SD, with its citation).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from markupsafe import Markup

from station.errors import StationError
from station.protocols import PROTOCOLS
from station.records import unit_text
from station.results import participant_results
from station.store import Rating, SessionInfo, Store
from station.store.store import RATING_SCALES
from web import charts
from web.charts import Band, Point, Series

#: Prefixes the battery summaries put before a trial metric's name (``mean_total_time_s``).
SUMMARY_PREFIXES: Final = ("", "mean_", "best_")
#: Charts per protocol when none of its key metrics is in the summaries (unknown protocols).
FALLBACK_CHARTS: Final = 1

UNIT_TEXT: Final = {
    "/s": "1/s",
    "N2": "N\u00b2",
    "ms2": "ms\u00b2",
}
#: Name endings that repeat the unit (left out of labels, the unit is shown in brackets).
_UNIT_SUFFIXES: Final = (
    ("_ms_per_s", "ms/s"),
    ("_percent_max", "%"),
    ("_percent", "%"),
    ("_pct", "%"),
    ("_ms2", "ms2"),
    ("_n2", "N2"),
    ("_ms", "ms"),
    ("_hz", "Hz"),
    ("_s", "s"),
    ("_n", "N"),
)
_RATIO_WORDS: Final = ("cv", "ratio", "correlation", "autocorrelation")


def unit_label(unit: str, metric: str) -> str:
    """The unit for an axis label: UCUM ``1`` (dimensionless) says whether it is a count or a
    ratio; others as written, with superscripts."""
    if unit in ("1", ""):
        words = metric.lower().split("_")
        return "ratio" if any(w in _RATIO_WORDS for w in words) else "count"
    return UNIT_TEXT.get(unit) or unit_text(unit)  # ms/{tap} -> ms per tap


def metric_label(name: str, unit: str | None = None) -> str:
    """``mean_total_time_s`` -> ``mean total time``: an ending that repeats the unit is left out
    (the unit is shown in brackets); with ``unit`` given, only when it is that unit."""
    base = name
    for suffix, suffix_unit in _UNIT_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            if unit is not None and unit != suffix_unit:
                continue
            base = base[: -len(suffix)]
            if suffix == "_percent_max":
                base += "_of_max"
            break
    return base.replace("_", " ")


def protocol_title(protocol: str) -> str:
    cls = PROTOCOLS.get(protocol)
    return cls.title if cls is not None else protocol


def key_metric_names(protocol: str, available: list[str]) -> list[str]:
    """The summary metrics to chart for ``protocol``: its key metrics as summarized (``x``,
    ``mean_x`` or ``best_x``), in the protocol's order; else the first metric with a value."""
    cls = PROTOCOLS.get(protocol)
    chosen: list[str] = []
    for key in cls.key_metrics if cls is not None else ():
        for prefix in SUMMARY_PREFIXES:
            name = prefix + key
            if name in available and name not in chosen:
                chosen.append(name)
                break
    return chosen or available[:FALLBACK_CHARTS]


@dataclass
class ProgressChart:
    protocol: str
    metric: str
    unit: str
    svg: Markup
    citations: list[str] = field(default_factory=list)
    thresholds: list[str] = field(default_factory=list)
    points: int = 0


@dataclass
class ProtocolCharts:
    protocol: str
    title: str
    charts: list[ProgressChart]


@dataclass
class Progress:
    groups: list[ProtocolCharts]
    norms_loaded: int
    warning: str | None = None


def _rows_without_norms(sessions: list[SessionInfo]) -> list[dict[str, Any]]:
    """Sessions and their values as ``participant_results`` gives them, without norms or change
    (used when a norm or threshold file cannot be read)."""
    return [
        {
            "session_id": s.id,
            "started_utc": s.started_utc.isoformat(),
            "status": s.status,
            "backend": s.hardware_backend,
            "metrics": [
                {
                    "protocol": sm.protocol,
                    "hand": sm.hand,
                    "metric": sm.metric.name,
                    "value": sm.metric.value,
                    "unit": sm.metric.unit,
                }
                for sm in s.metrics
            ],
        }
        for s in sessions
    ]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _started(session: dict[str, Any]) -> datetime:
    return _parse_utc(str(session["started_utc"]))


@functools.lru_cache(maxsize=4096)
def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@functools.lru_cache(maxsize=4096)
def _started_minute(text: str) -> str:
    return _minute(_parse_utc(text))


def _minute(t: datetime) -> str:
    """``2025-03-04 10:15 UTC``"""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _tip(session: dict[str, Any], row: dict[str, Any], unit: str) -> str:
    parts = [
        f"{_started_minute(str(session['started_utc']))}, session {session['session_id']}, "
        f"{row['hand']} hand: "
        f"{charts.format_number(float(row['value']))} {unit}"
    ]
    if row.get("baseline"):
        parts.append("baseline")
    if "change_percent" in row:
        text = f"{row['change_percent']:+.1f}% vs baseline"
        if row.get("reliable_change"):
            text += f" (reliable change: threshold {row.get('threshold_percent', '?')}%)"
        parts.append(text)
    if "z" in row:
        parts.append(f"z {row['z']:+.2f}")
    if session.get("status") != "complete":
        parts.append(f"session {session.get('status')}")
    if session.get("backend") == "sim":
        parts.append("SIMULATED")
    return "; ".join(parts)


def build_progress(
    store: Store, code: str, data_dir: Path, sessions: list[SessionInfo]
) -> Progress:
    """The progress charts of participant ``code`` (who must exist)."""
    warning = None
    try:
        report = participant_results(store, code, data_dir, sessions)
        rows_by_session = report["sessions"]
        norms_loaded = int(report.get("norms_loaded", 0))
    except StationError as exc:  # a clinic's norm or change file with a mistake
        warning = f"norms and reliable change are not shown: {exc}"
        rows_by_session = _rows_without_norms(sessions)
        norms_loaded = 0
    # metric names per protocol, in order of first appearance
    names: dict[str, list[str]] = {}
    for s in rows_by_session:
        for r in s["metrics"]:
            listed = names.setdefault(r["protocol"], [])
            if r["metric"] not in listed and _finite(r.get("value")):
                listed.append(r["metric"])
    # each measure's rows, read once (not once per chart)
    rows_by_measure: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for s in rows_by_session:
        for r in s["metrics"]:
            rows_by_measure.setdefault((r["protocol"], r["metric"]), []).append((s, r))
    groups: list[ProtocolCharts] = []
    for protocol, available in names.items():
        group = ProtocolCharts(protocol, protocol_title(protocol), [])
        for metric in key_metric_names(protocol, available):
            rows = rows_by_measure.get((protocol, metric), [])
            group.charts.append(_chart(code, protocol, metric, rows))
        if group.charts:
            groups.append(group)
    return Progress(groups, norms_loaded, warning)


def _chart(
    code: str, protocol: str, metric: str, rows: list[tuple[dict[str, Any], dict[str, Any]]]
) -> ProgressChart:
    """The chart of one measure from its (session, row) pairs in session order."""
    points: dict[str, list[Point]] = {}
    norm_pts: dict[str, list[tuple[float, float, float, float]]] = {}
    citations: list[str] = []
    thresholds: list[str] = []
    unit = ""
    missing = 0
    for s, r in rows:
        unit = unit or str(r.get("unit") or "")
        hand = str(r.get("hand") or "")
        if not _finite(r.get("value")):
            missing += 1
            continue
        x = _started(s).timestamp()
        points.setdefault(hand, []).append(
            Point(
                x,
                float(r["value"]),
                _tip(s, r, unit_label(unit, metric)),
                flagged=bool(r.get("reliable_change")),
                data={"session": str(s["session_id"]), "hand": hand},
            )
        )
        norm = r.get("norm")
        if isinstance(norm, dict) and _finite(norm.get("mean")) and _finite(norm.get("sd")):
            mean, sd = float(norm["mean"]), float(norm["sd"])
            norm_pts.setdefault(hand, []).append((x, mean - sd, mean + sd, mean))
            cite = str(norm.get("citation") or "")
            if cite and cite not in citations:
                citations.append(cite)
        source = r.get("threshold_source")
        if source and "threshold_percent" in r:
            text = f"{r['threshold_percent']:g}% ({source})"
            if text not in thresholds:
                thresholds.append(text)
    series = []
    for hand in sorted(points, key=charts.hand_key):
        st = charts.hand_style(hand)
        series.append(Series(hand or "none", st.label, points[hand], st.colour, st.marker))
    bands = []
    for hand, pts in norm_pts.items():
        st = charts.hand_style(hand)
        xs, lows, highs, mids = zip(*pts, strict=True)
        bands.append(
            Band(
                f"norm-{hand}",
                f"norm mean \u00b1 1 SD ({st.label})",
                list(xs),
                list(lows),
                list(highs),
                st.colour,
                list(mids),
            )
        )
    label = metric_label(metric, unit)
    unit_text = unit_label(unit, metric)
    title = f"{protocol_title(protocol)}: {label}"
    n = sum(len(p) for p in points.values())
    summary = "; ".join(
        f"{charts.hand_style(h).label}: {len(p)} session(s), "
        + ", ".join(f"{charts.format_number(q.y)}" for q in sorted(p, key=lambda q: q.x))
        + f" {unit_text}"
        for h, p in points.items()
    )
    flagged = sum(1 for p in points.values() for q in p if q.flagged)
    desc = (
        f"{label} ({unit_text}) of participant {code} over time, one point per session and hand. "
        f"{summary or 'No values.'}"
        + (f" {flagged} reliable change(s) vs baseline ringed." if flagged else "")
        + (f" Norm band from: {'; '.join(citations)}." if citations else "")
        + (f" {missing} session value(s) missing." if missing else "")
    )
    svg = _over_time(
        chart_id=f"progress-{protocol}-{metric}",
        kind="progress",
        title=title,
        desc=desc,
        x_label="session date (UTC)",
        y_label=f"{label} ({unit_text})",
        series=series,
        bands=bands,
        flag_label="reliable change vs baseline",
        attrs={"protocol": protocol, "metric": metric},
    )
    return ProgressChart(protocol, metric, unit, svg, citations, thresholds, n)


def _over_time(*, series: list[Series], attrs: dict[str, str], **chart: Any) -> Markup:
    """A chart of values over dates (UTC) with its number of points in ``data-points``."""
    n = sum(len(s.points) for s in series)
    return charts.scatter_chart(
        series=series, x_dates=True, attrs={**attrs, "points": str(n)}, **chart
    )


# -- self-reported symptoms (self-guided mode) -----------------------------------------------

#: The scales' colour and marker: the shape tells pain from fatigue without colour.
SCALE_STYLES: Final = {
    "pain": charts.Style("#D55E00", "circle", "pain"),
    "fatigue": charts.Style("#0072B2", "square", "fatigue"),
}


@dataclass(frozen=True)
class TimingStyle:
    filled: bool  #: filled markers (else open)
    dashed: bool  #: a dashed joining line
    joined: bool  #: the points joined in time order


#: Before: filled markers on a solid line; after: open markers on a dashed line (so they are
#: told apart in grey print too); during: open markers, not joined.
TIMING_STYLES: Final = {
    "before": TimingStyle(filled=True, dashed=False, joined=True),
    "after": TimingStyle(filled=False, dashed=True, joined=True),
    "during": TimingStyle(filled=False, dashed=False, joined=False),
}
SYMPTOM_CHART_ID: Final = "symptoms"


@dataclass
class SymptomChart:
    svg: Markup
    ratings: list[Rating]  #: every rating drawn, in time order (for the table beside it)
    points: int


def _rating_tip(r: Rating) -> str:
    where = (
        "no session ran (the visit stopped)" if r.session_id is None else f"session {r.session_id}"
    )
    top = RATING_SCALES.get(r.scale, (0.0, 10.0, True))[1]
    return f"{_minute(r.t_utc)}: {r.scale} {r.timing}, {where}: {r.value:g} of {top:g}"


def build_symptoms(ratings: list[Rating], code: str) -> SymptomChart:
    """The participant's pain and fatigue ratings (0-10) over time: a series per scale and
    before/after, a point per rating. Other scales (the Borg CR10 effort of practice sessions)
    are drawn on the practice page, not here."""
    scales, timings = tuple(SCALE_STYLES), tuple(TIMING_STYLES)
    ratings = [r for r in ratings if r.scale in SCALE_STYLES]
    by_series: dict[tuple[str, str], list[Point]] = {}
    for r in ratings:
        by_series.setdefault((r.scale, r.timing), []).append(
            Point(
                r.t_utc.timestamp(),
                float(r.value),
                _rating_tip(r),
                data={"scale": r.scale, "timing": r.timing, "session": str(r.session_id or "")},
            )
        )
    series = []
    for scale, timing in sorted(
        by_series, key=lambda k: (charts.rank(k[0], scales), charts.rank(k[1], timings))
    ):
        st = SCALE_STYLES.get(scale, charts.Style(charts.MUTED, "diamond", scale))
        look = TIMING_STYLES.get(timing, TIMING_STYLES["during"])
        series.append(
            Series(
                f"{scale}-{timing}",
                f"{st.label} {timing}",
                by_series[(scale, timing)],
                st.colour,
                st.marker,
                line=look.joined,
                filled=look.filled,
                dashed=look.dashed,
            )
        )
    lows = [RATING_SCALES[r.scale][0] for r in ratings if r.scale in RATING_SCALES]
    highs = [RATING_SCALES[r.scale][1] for r in ratings if r.scale in RATING_SCALES]
    y_range = (min(lows, default=0.0), max(highs, default=10.0))
    summary = "; ".join(f"{s.label}: " + ", ".join(f"{p.y:g}" for p in s.points) for s in series)
    desc = (
        f"Self-reported pain and fatigue of participant {code} (0 = none, 10 = worst), "
        f"before and after self-guided sessions, one point per rating. {summary or 'No ratings.'}"
    )
    svg = _over_time(
        chart_id=SYMPTOM_CHART_ID,
        kind="symptoms",
        title="Pain and fatigue, self-reported (0-10)",
        desc=desc,
        x_label="date (UTC)",
        y_label="rating (0-10)",
        series=series,
        y_range=y_range,
        attrs={},
        empty_text="no ratings yet",
    )
    return SymptomChart(svg, list(ratings), len(ratings))
