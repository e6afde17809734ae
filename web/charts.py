"""Charts drawn on the server as inline SVG: pure functions from numbers to SVG markup.

Nothing here reads the store or the request: the dashboard hands over numbers and labels and
gets back :class:`~markupsafe.Markup` to put in a page. So the pages need no JavaScript, no CDN
and no web font (text uses the system font stack), and work with the app's strict
Content-Security-Policy (colours are SVG presentation attributes, never ``style=``).

Every chart is ``<svg class="chart" data-chart="KIND" ...>`` with a ``<title>`` and a ``<desc>``
(referenced by ``aria-labelledby``), axes with ticks and labels that carry units, and a legend.
Drawn elements carry stable classes for tests and style sheets:

* :func:`scatter_chart`: ``.point`` (one per value, ``data-series``, ``data-x``, ``data-y``),
  ``.series-line``, ``.band`` (e.g. a norm range), ``.flag-ring`` (a flagged point, e.g. a
  reliable change), ``.off-scale`` (values that have no number, e.g. a missed stimulus);
* :func:`rows_chart` (events on rows over time): ``.mark`` with ``data-kind`` (e.g. ``insert``,
  ``tap``, ``beat``), ``.span`` (e.g. a peg in its hole), ``.vline`` (e.g. the go cue);
* :func:`trace_chart` (signals): ``.trace`` and ``.target`` polylines (``data-series``,
  ``data-n`` points drawn), ``.band``, ``.window``, ``.vline``.

All text is escaped (``&``, ``<``, ``>``, quotes), so the output is well-formed XML whatever the
labels hold.
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import numpy as np
from markupsafe import Markup

SVG_NS: Final = "http://www.w3.org/2000/svg"
FONT_STACK: Final = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
#: The drawing's width in SVG units (the page scales it to the column width).
WIDTH: Final = 640
MARGIN_LEFT: Final = 72
MARGIN_RIGHT: Final = 18
TITLE_H: Final = 26
LEGEND_LEFT: Final = 12.0
LEGEND_ROW_H: Final = 18
MARGIN_BOTTOM: Final = 46
#: Approximate width of a character of the 11-unit legend font (for wrapping the legend).
CHAR_W: Final = 6.6
INK: Final = "#1b1b1b"
GRID: Final = "#dddddd"
MUTED: Final = "#666666"

#: Colour-blind safe colours (Okabe & Ito 2008) for series without a fixed style.
PALETTE: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS: Final = ("circle", "square", "triangle", "diamond")


@dataclass(frozen=True)
class Style:
    """How a series is drawn: colour, marker shape and its legend label."""

    colour: str
    marker: str
    label: str


#: Hands are told apart by colour and by marker shape.
HAND_STYLES: Final = {
    "right": Style("#0072B2", "circle", "right hand"),
    "left": Style("#D55E00", "square", "left hand"),
    "both": Style("#009E73", "triangle", "both hands"),
}


def hand_style(hand: str) -> Style:
    return HAND_STYLES.get(hand, Style(MUTED, "diamond", f"{hand or 'no'} hand"))


def rank(value: str, order: Sequence[str]) -> tuple[int, str]:
    """A sort key: ``value``'s place in ``order``; values not in it come after, by name."""
    return (order.index(value) if value in order else len(order), value)


def hand_key(hand: str) -> tuple[int, str]:
    """Sort key of hands: right, left, both, then any other by name."""
    return rank(hand, tuple(HAND_STYLES))


# -- data given to the charts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str = ""  #: the point's tooltip (its ``<title>``)
    flagged: bool = False  #: drawn with a ring (e.g. a reliable change)
    data: Mapping[str, str] = field(default_factory=dict)  #: extra ``data-*`` attributes


@dataclass(frozen=True)
class Series:
    key: str  #: ``data-series``, e.g. ``right``
    label: str
    points: Sequence[Point]
    colour: str
    marker: str = "circle"
    line: bool = True  #: join the points in x order
    filled: bool = True  #: open markers (white inside) when False
    dashed: bool = False  #: the joining line dashed


@dataclass(frozen=True)
class Band:
    """A shaded range along x (e.g. a norm's mean +- 1 SD), with an optional middle line."""

    key: str
    label: str
    xs: Sequence[float]
    lows: Sequence[float]
    highs: Sequence[float]
    colour: str
    mids: Sequence[float] | None = None


@dataclass(frozen=True)
class OffScale:
    """A value without a number (e.g. a missed stimulus), drawn as a cross on the x axis."""

    x: float
    tip: str
    kind: str = "excluded"


@dataclass(frozen=True)
class Mark:
    """An event at ``x`` on row ``row`` of a :func:`rows_chart`."""

    x: float
    row: int
    kind: str
    tip: str = ""


@dataclass(frozen=True)
class Span:
    """A bar from ``x0`` to ``x1`` on row ``row`` (e.g. a peg sitting in its hole)."""

    x0: float
    x1: float
    row: int
    kind: str
    tip: str = ""


@dataclass(frozen=True)
class VLine:
    """A vertical line across the plot (e.g. the go cue)."""

    x: float
    kind: str
    label: str = ""


@dataclass(frozen=True)
class Window:
    """A shaded stretch of x (e.g. the scored window of a trial)."""

    x0: float
    x1: float
    label: str


@dataclass(frozen=True)
class Trace:
    key: str
    label: str
    xs: Sequence[float] | np.ndarray
    ys: Sequence[float] | np.ndarray
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class MarkStyle:
    marker: str
    colour: str
    label: str
    filled: bool = True


# -- helpers ----------------------------------------------------------------------------------------


#: Characters XML 1.0 does not allow even escaped (control characters, surrogates, non-characters).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


#: Anything :func:`esc` changes: most texts (numbers, colours, words) have none of these.
_ESCAPED: Final = re.compile("[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def esc(value: object) -> str:
    """Text for SVG/XML content or attribute values: escaped, and characters XML cannot carry
    replaced by U+FFFD."""
    text = str(value)
    if _ESCAPED.search(text) is None:  # the common case, without building a new string
        return text
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def _f(v: float) -> str:
    """A coordinate: short, and never NaN."""
    return f"{v:.1f}" if math.isfinite(v) else "0"


def _finite(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _points(pairs: Iterable[tuple[float, float]]) -> str:
    """An SVG ``points`` attribute value from (x, y) pairs in drawing units."""
    return " ".join(f"{_f(x)},{_f(y)}" for x, y in pairs)


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, cls: str = "") -> str:
    """A ``<line>`` (``stroke`` is one of this module's colours, not user text)."""
    head = f'<line class="{cls}"' if cls else "<line"
    return f'{head} x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{stroke}"/>'


def _text(
    x: float, y: float, text: str, cls: str, anchor: str, extra: str = "", fill: str = INK
) -> str:
    """A ``<text>`` of class ``cls`` at (x, y), its content escaped; ``extra`` attributes."""
    more = f" {extra}" if extra else ""
    return (
        f'<text class="{cls}" x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" fill="{fill}"{more}>'
        f"{esc(text)}</text>"
    )


def format_number(v: float, step: float | None = None) -> str:
    """A tick or value label: as many decimals as the tick step (or 3 significant digits) need."""
    if not math.isfinite(v):
        return "-"
    if step is not None and step > 0:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
            decimals += 1  # a step like 2.5
        text = f"{v:.{decimals}f}"
    else:
        text = f"{v:.3g}" if abs(v) < 1e5 else f"{v:.0f}"
    return "0" if text in ("-0", "-0.0", "-0.00", "-0.000") else text


def nice_step(span: float, target: int = 5) -> float:
    """A tick step of 1, 2, 2.5 or 5 times a power of ten giving about ``target`` ticks."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(1, target)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * power * (1 + 1e-9):
            return m * power
    return 10.0 * power


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels of evenly spaced ticks, with as many decimals as their step needs."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else None
    return [format_number(t, step) for t in ticks]


def nice_ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], float, float]:
    """Ticks for ``[lo, hi]`` and the domain widened to the outer ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = abs(lo) * 0.1 if lo != 0 else 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    count = round((stop - start) / step)
    ticks = [start + i * step for i in range(count + 1)]
    return ticks, start, stop


_DAY_S: Final = 86_400.0
_HOUR_STEPS: Final = (1, 2, 3, 6, 12)
_DAY_STEPS: Final = (1, 2, 3, 5, 7, 14)
_MONTH_STEPS: Final = (1, 2, 3, 6, 12, 24, 60)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _add_months(d: datetime, months: int) -> datetime:
    total = d.year * 12 + (d.month - 1) + months
    return d.replace(year=total // 12, month=total % 12 + 1, day=1)


def date_ticks(lo: float, hi: float) -> tuple[list[float], list[str], float, float]:
    """Ticks for a time axis in POSIX seconds: (positions, labels, lo, hi) at whole hours, days
    or month starts (UTC), with the domain padded so single dates are not on the frame."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    span = hi - lo
    if span < _DAY_S:
        lo, hi = lo - _DAY_S / 2, hi + _DAY_S / 2
    else:
        lo, hi = lo - span * 0.06, hi + span * 0.06
    span = hi - lo
    ticks: list[float] = []
    if span <= 3 * _DAY_S:
        hours = next((h for h in _HOUR_STEPS if span / (h * 3600) <= 7), 24)
        step = hours * 3600.0
        t = math.ceil(lo / step) * step
        while t <= hi:
            ticks.append(t)
            t += step
        fmt = "%m-%d %H:%M"
    elif span <= 100 * _DAY_S:
        days = next((d for d in _DAY_STEPS if span / (d * _DAY_S) <= 7), 28)
        step = days * _DAY_S
        t = math.ceil(lo / step) * step
        while t <= hi:
            ticks.append(t)
            t += step
        fmt = "%Y-%m-%d"
    else:
        months_span = span / (30.44 * _DAY_S)
        months = next((m for m in _MONTH_STEPS if months_span / m <= 7), 120)
        start = _utc(lo).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = _add_months(start, -((start.year * 12 + start.month - 1) % months))
        d = start
        while d.timestamp() <= hi:
            if d.timestamp() >= lo:
                ticks.append(d.timestamp())
            d = _add_months(d, months)
        fmt = "%Y-%m" if months < 12 else "%Y"
    return ticks, [_utc(t).strftime(fmt) for t in ticks], lo, hi


def downsample_minmax(
    xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of a trace for drawing: the samples split into
    ``max_points // 2`` buckets, each kept as its minimum and maximum (in time order), so peaks
    and dips survive. Shorter traces come back unchanged. Non-finite values are dropped."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size <= max_points or max_points < 4:
        return x, y
    buckets = max_points // 2
    edges = np.linspace(0, x.size, buckets + 1).astype(np.int64)
    idx: list[int] = []
    for a, b in itertools.pairwise(edges.tolist()):
        if b <= a:
            continue
        seg = y[a:b]
        i_min, i_max = a + int(np.argmin(seg)), a + int(np.argmax(seg))
        idx.extend(sorted({i_min, i_max}))
    sel = np.asarray(idx, dtype=np.int64)
    return x[sel], y[sel]


class _Scale:
    def __init__(self, d0: float, d1: float, r0: float, r1: float):
        self.d0, self.d1, self.r0, self.r1 = d0, d1, r0, r1

    def __call__(self, v: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (v - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def marker(shape: str, x: float, y: float, size: float, attrs: str) -> str:
    """A marker element (circle, square, triangle or diamond) centred on (x, y)."""
    if shape == "square":
        s = size * 1.7
        return (
            f'<rect x="{_f(x - s / 2)}" y="{_f(y - s / 2)}" width="{_f(s)}" height="{_f(s)}" '
            f"{attrs}"
        )
    if shape == "triangle":
        h = size * 1.2
        d = f"M{_f(x)},{_f(y - h)} L{_f(x + h)},{_f(y + h * 0.8)} L{_f(x - h)},{_f(y + h * 0.8)} Z"
        return f'<path d="{d}" {attrs}'
    if shape == "diamond":
        h = size * 1.25
        d = f"M{_f(x)},{_f(y - h)} L{_f(x + h)},{_f(y)} L{_f(x)},{_f(y + h)} L{_f(x - h)},{_f(y)} Z"
        return f'<path d="{d}" {attrs}'
    if shape == "tick":
        return (
            f'<line x1="{_f(x)}" y1="{_f(y - size)}" x2="{_f(x)}" y2="{_f(y + size)}" '
            f'stroke-width="2" {attrs}'
        )
    if shape == "cross":
        s = size * 0.9
        d = f"M{_f(x - s)},{_f(y - s)} L{_f(x + s)},{_f(y + s)} M{_f(x - s)},{_f(y + s)} L{_f(x + s)},{_f(y - s)}"
        return f'<path d="{d}" {attrs}'
    return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(size)}" {attrs}'


def _element(shape: str, x: float, y: float, size: float, attrs: str, tip: str) -> str:
    """A marker with its tooltip (a child ``<title>``)."""
    head = marker(shape, x, y, size, attrs)
    tag = {"square": "rect", "triangle": "path", "diamond": "path", "cross": "path"}.get(
        shape, "line" if shape == "tick" else "circle"
    )
    if tip:
        return f"{head}><title>{esc(tip)}</title></{tag}>"
    return f"{head}/>"


def _paint(colour: str, filled: bool = True, shape: str = "circle") -> str:
    """Fill and stroke attributes of a marker (line-like shapes only get a stroke)."""
    if shape in ("tick", "cross"):
        width = "" if shape == "tick" else ' stroke-width="2"'
        return f'fill="none" stroke="{esc(colour)}"{width}'
    if filled:
        return f'fill="{esc(colour)}" stroke="{esc(colour)}"'
    return f'fill="#ffffff" stroke="{esc(colour)}" stroke-width="1.6"'


def _data_attrs(data: Mapping[str, str], reserved: Iterable[str] = ()) -> str:
    """``data-*`` attributes from ``data``, leaving out names the caller sets itself and names
    that are not plain words."""
    taken = set(reserved)
    return "".join(
        f' data-{esc(k)}="{esc(v)}"'
        for k, v in data.items()
        if k.replace("-", "").isalnum() and k.isascii() and k.lower() not in taken
    )


class _Canvas:
    """The frame shared by every chart: title, legend, plot area, axes, svg root."""

    def __init__(
        self,
        *,
        chart_id: str,
        kind: str,
        title: str,
        desc: str,
        plot_height: float,
        legend: Sequence[tuple[str, str]],
        attrs: Mapping[str, str] | None = None,
        margin_left: float = MARGIN_LEFT,
    ):
        self.chart_id = "".join(c if c.isalnum() or c in "-_" else "-" for c in chart_id)
        self.kind = kind
        self.title = title
        self.desc = desc
        self.attrs = dict(attrs or {})
        self.legend_rows = self._layout_legend(legend)
        self.left = margin_left
        self.right = WIDTH - MARGIN_RIGHT
        self.top = TITLE_H + LEGEND_ROW_H * len(self.legend_rows) + 10
        self.bottom = self.top + plot_height
        self.height = self.bottom + MARGIN_BOTTOM
        self.body: list[str] = []

    @staticmethod
    def _layout_legend(items: Sequence[tuple[str, str]]) -> list[list[tuple[str, str, float]]]:
        rows: list[list[tuple[str, str, float]]] = []
        x = LEGEND_LEFT
        for symbol, label in items:
            w = 22 + len(label) * CHAR_W + 14
            if not rows or x + w > WIDTH - MARGIN_RIGHT:
                rows.append([])
                x = LEGEND_LEFT
            rows[-1].append((symbol, label, x))
            x += w
        return rows

    def legend_svg(self) -> str:
        out = ['<g class="legend" font-size="12">']
        for i, row in enumerate(self.legend_rows):
            y = TITLE_H + 4 + i * LEGEND_ROW_H + LEGEND_ROW_H / 2
            for symbol, label, x in row:
                out.append(
                    f'<g class="legend-item" transform="translate({_f(x)},{_f(y)})">{symbol}'
                    f'<text x="20" y="4" fill="{INK}">{esc(label)}</text></g>'
                )
        out.append("</g>")
        return "".join(out)

    def x_axis(self, ticks: Sequence[float], labels: Sequence[str], sx: _Scale, label: str) -> None:
        b = self.body
        b.append('<g class="axis x-axis" font-size="12">')
        b.append(_line(self.left, self.bottom, self.right, self.bottom, INK))
        for t, text in zip(ticks, labels, strict=True):
            x = sx(t)
            b.append(
                _line(x, self.top, x, self.bottom, GRID, "grid")
                + _line(x, self.bottom, x, self.bottom + 5, INK)
                + _text(x, self.bottom + 18, text, "tick", "middle")
            )
        mid = (self.left + self.right) / 2
        b.append(_text(mid, self.bottom + 38, label, "axis-label", "middle", 'font-size="13"'))
        b.append("</g>")

    def y_axis(self, ticks: Sequence[float], labels: Sequence[str], sy: _Scale, label: str) -> None:
        b = self.body
        b.append('<g class="axis y-axis" font-size="12">')
        b.append(_line(self.left, self.top, self.left, self.bottom, INK))
        for t, text in zip(ticks, labels, strict=True):
            y = sy(t)
            b.append(
                _line(self.left, y, self.right, y, GRID, "grid")
                + _line(self.left - 5, y, self.left, y, INK)
                + _text(self.left - 8, y + 4, text, "tick", "end")
            )
        if label:
            cy = (self.top + self.bottom) / 2
            turn = f'transform="rotate(-90 14 {_f(cy)})" font-size="13"'
            b.append(_text(14, cy, label, "axis-label", "middle", turn))
        b.append("</g>")

    def note(self, text: str) -> None:
        mid_x, mid_y = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        self.body.append(_text(mid_x, mid_y, text, "empty", "middle", 'font-size="13"', MUTED))

    def empty(self, x_label: str, y_label: str | None, text: str) -> Markup:
        """The finished chart when there is nothing to draw: bare axes and ``text``."""
        self.x_axis([], [], _Scale(0, 1, self.left, self.right), x_label)
        if y_label is not None:
            self.y_axis([], [], _Scale(0, 1, self.bottom, self.top), y_label)
        self.note(text)
        return self.render()

    def numeric_axes(
        self,
        x_ticks: Sequence[float],
        sx: _Scale,
        x_label: str,
        y_ticks: Sequence[float] | None = None,
        sy: _Scale | None = None,
        y_label: str = "",
    ) -> None:
        """Axes with numeric tick labels (the y axis only when its ticks are given)."""
        self.x_axis(x_ticks, tick_labels(x_ticks), sx, x_label)
        if y_ticks is not None and sy is not None:
            self.y_axis(y_ticks, tick_labels(y_ticks), sy, y_label)

    def vlines(
        self, lines: Sequence[VLine], styles: Mapping[str, MarkStyle], sx: _Scale, width: float
    ) -> None:
        """Vertical dashed lines across the plot (cues), each with its tooltip."""
        for v in lines:
            st = styles.get(v.kind, MarkStyle("line", MUTED, v.kind))
            x = sx(v.x)
            self.body.append(
                f'<line class="vline" data-kind="{esc(v.kind)}" x1="{_f(x)}" y1="{_f(self.top)}" '
                f'x2="{_f(x)}" y2="{_f(self.bottom)}" stroke="{esc(st.colour)}" '
                f'stroke-width="{width:g}" stroke-dasharray="5 3">'
                f"<title>{esc(v.label or st.label)}</title></line>"
            )

    def render(self) -> Markup:
        cid = self.chart_id
        attrs = _data_attrs(self.attrs, reserved=("chart",))
        head = (
            f'<svg xmlns="{SVG_NS}" class="chart chart-{esc(self.kind)}" data-chart="{esc(self.kind)}"'
            f'{attrs} id="{esc(cid)}" viewBox="0 0 {WIDTH} {_f(self.height)}" role="img" '
            f'aria-labelledby="{esc(cid)}-title {esc(cid)}-desc" font-family="{esc(FONT_STACK)}" '
            f'font-size="12">'
            f'<title id="{esc(cid)}-title">{esc(self.title)}</title>'
            f'<desc id="{esc(cid)}-desc">{esc(self.desc)}</desc>'
            f'<rect class="background" x="0" y="0" width="{WIDTH}" height="{_f(self.height)}" '
            f'fill="#ffffff"/>'
            f'<text class="chart-title" x="12" y="17" fill="{INK}" font-size="15" '
            f'font-weight="bold">{esc(self.title)}</text>'
        )
        clip = (
            f'<clipPath id="{esc(cid)}-clip"><rect x="{_f(self.left)}" y="{_f(self.top)}" '
            f'width="{_f(self.right - self.left)}" height="{_f(self.bottom - self.top)}"/>'
            "</clipPath>"
        )
        return Markup(head + clip + self.legend_svg() + "".join(self.body) + "</svg>")

    def clip_attr(self) -> str:
        return f'clip-path="url(#{esc(self.chart_id)}-clip)"'


def legend_symbol(shape: str, colour: str, filled: bool = True) -> str:
    return marker(shape, 8, 0, 4.5, _paint(colour, filled, shape)) + "/>"


def _band_symbol(colour: str) -> str:
    return (
        f'<rect x="0" y="-6" width="16" height="12" fill="{esc(colour)}" fill-opacity="0.18" '
        f'stroke="{esc(colour)}" stroke-dasharray="3 2"/>'
    )


def _line_symbol(colour: str, dashed: bool = False, width: float = 2) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    return (
        f'<line x1="0" y1="0" x2="16" y2="0" stroke="{esc(colour)}" stroke-width="{width}"{dash}/>'
    )


def _series_symbol(s: Series) -> str:
    """A series' legend symbol: its marker, on a short dashed line when its line is dashed."""
    line = _line_symbol(s.colour, dashed=True, width=1.5) if s.dashed and s.line else ""
    return line + legend_symbol(s.marker, s.colour, s.filled)


def _line_legend(
    lines: Sequence[VLine], styles: Mapping[str, MarkStyle], width: float
) -> list[tuple[str, str]]:
    """Legend items of the kinds of vertical line drawn (dashed, as drawn)."""
    out = []
    for k in dict.fromkeys(v.kind for v in lines):
        st = styles.get(k, MarkStyle("line", MUTED, k))
        out.append((_line_symbol(st.colour, dashed=True, width=width), st.label))
    return out


# -- scatter (progress over time, values per stimulus) -------------------------------------------


def scatter_chart(
    *,
    chart_id: str,
    kind: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    bands: Sequence[Band] = (),
    off_scale: Sequence[OffScale] = (),
    x_dates: bool = False,
    x_integer: bool = False,
    y_range: tuple[float, float] | None = None,
    flag_label: str = "",
    attrs: Mapping[str, str] | None = None,
    empty_text: str = "no values to draw",
) -> Markup:
    """Points per series (joined in x order), shaded bands, flagged points ringed.

    ``x_dates``: x values are POSIX seconds, labelled as UTC dates. ``x_integer``: x ticks at
    whole numbers only (e.g. stimulus numbers). ``y_range``: a fixed y axis (e.g. a 0-10 rating
    scale) instead of one fitted to the values.
    """
    legend: list[tuple[str, str]] = [(_series_symbol(s), s.label) for s in series if s.points]
    legend += [(_band_symbol(b.colour), b.label) for b in bands if len(b.xs)]
    flagged = any(p.flagged for s in series for p in s.points)
    if flagged and flag_label:
        ring = f'<circle cx="8" cy="0" r="7" fill="none" stroke="{INK}" stroke-width="2"/>'
        legend.append((ring, flag_label))
    if off_scale:
        kinds = sorted({o.kind for o in off_scale})
        legend.append((legend_symbol("cross", MUTED), f"no value ({', '.join(kinds)})"))
    c = _Canvas(
        chart_id=chart_id,
        kind=kind,
        title=title,
        desc=desc,
        plot_height=200,
        legend=legend,
        attrs=attrs,
    )
    xs = _finite(p.x for s in series for p in s.points) + _finite(o.x for o in off_scale)
    ys = _finite(p.y for s in series for p in s.points)
    for b in bands:
        xs += _finite(b.xs)
        ys += _finite(b.lows) + _finite(b.highs)
    if not xs:
        return c.empty(x_label, y_label, empty_text)
    x_ticks, x_labels, x0, x1 = _scatter_x_ticks(min(xs), max(xs), x_dates, x_integer)
    if y_range is not None:
        y_ticks, y0, y1 = nice_ticks(*y_range, 5)
    elif ys:
        pad = (max(ys) - min(ys)) * 0.06  # no point on the frame
        y_ticks, y0, y1 = nice_ticks(min(ys) - pad, max(ys) + pad, 5)
    else:
        y_ticks, y0, y1 = [0.0, 1.0], 0.0, 1.0
    sx = _Scale(x0, x1, c.left + 8, c.right - 8)
    sy = _Scale(y0, y1, c.bottom, c.top)
    c.x_axis(x_ticks, x_labels, sx, x_label)
    c.y_axis(y_ticks, tick_labels(y_ticks), sy, y_label)
    for band in bands:
        _scatter_band(c.body, band, sx, sy)
    for s in series:
        _scatter_series(c.body, s, sx, sy)
    if off_scale:
        c.body.append('<g class="off-scale-marks">')
        for o in off_scale:
            attrs_o = f'class="off-scale" data-kind="{esc(o.kind)}" {_paint(MUTED, shape="cross")}'
            c.body.append(_element("cross", sx(o.x), c.bottom - 8, 5, attrs_o, o.tip))
        c.body.append("</g>")
    return c.render()


def _scatter_x_ticks(
    lo: float, hi: float, x_dates: bool, x_integer: bool
) -> tuple[list[float], list[str], float, float]:
    """(ticks, labels, domain start, domain end) of a scatter chart's x axis."""
    if x_dates:
        return date_ticks(lo, hi)
    if x_integer:
        lo, hi = math.floor(lo) - 0.5, math.ceil(hi) + 0.5
        step = max(1.0, math.ceil(nice_step(hi - lo, 8)))
        ticks = [float(v) for v in range(math.ceil(lo), math.floor(hi) + 1) if v % step == 0]
    else:
        ticks, lo, hi = nice_ticks(lo, hi, 6)
    return ticks, tick_labels(ticks), lo, hi


def _scatter_band(b: list[str], band: Band, sx: _Scale, sy: _Scale) -> None:
    """A band as a shaded polygon, with its middle line when it has one."""
    mids_in = band.mids if band.mids is not None else [math.nan] * len(band.xs)
    pts = sorted(
        (x, lo, hi, mid)
        for x, lo, hi, mid in zip(band.xs, band.lows, band.highs, mids_in, strict=True)
        if math.isfinite(x) and math.isfinite(lo) and math.isfinite(hi)
    )
    if not pts:
        return
    if len(pts) == 1:
        pts = [pts[0], pts[0]]
    offsets = [0.0] * len(pts)
    if sx(pts[-1][0]) - sx(pts[0][0]) < 20:  # one date, or dates close together: widen
        offsets[0], offsets[-1] = -10.0, 10.0
    at = [sx(x) + o for (x, _lo, _hi, _m), o in zip(pts, offsets, strict=True)]
    upper = [(x, sy(hi)) for x, (_x, _lo, hi, _m) in zip(at, pts, strict=True)]
    lower = [(x, sy(lo)) for x, (_x, lo, _hi, _m) in zip(at, pts, strict=True)]
    b.append(
        f'<g class="band" data-series="{esc(band.key)}"><polygon points="{_points(upper + lower[::-1])}" '
        f'fill="{esc(band.colour)}" fill-opacity="0.15" stroke="{esc(band.colour)}" '
        f'stroke-opacity="0.6" stroke-dasharray="3 2"><title>{esc(band.label)}</title></polygon>'
    )
    mids = [(x, sy(m)) for x, (_x, _l, _h, m) in zip(at, pts, strict=True) if math.isfinite(m)]
    if len(mids) >= 2:
        b.append(
            f'<polyline class="band-mid" points="{_points(mids)}" fill="none" '
            f'stroke="{esc(band.colour)}" stroke-opacity="0.7" stroke-dasharray="6 3"/>'
        )
    b.append("</g>")


def _scatter_series(b: list[str], s: Series, sx: _Scale, sy: _Scale) -> None:
    """A series' points (flagged ones ringed), joined by a line in x order."""
    pts = sorted(
        (p for p in s.points if math.isfinite(p.x) and math.isfinite(p.y)), key=lambda p: p.x
    )
    if not pts:
        return
    b.append(f'<g class="series" data-series="{esc(s.key)}">')
    if s.line and len(pts) >= 2:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        b.append(
            f'<polyline class="series-line" points="{_points((sx(p.x), sy(p.y)) for p in pts)}" '
            f'fill="none" stroke="{esc(s.colour)}" stroke-width="1.5" stroke-opacity="0.8"{dash}/>'
        )
    for p in pts:
        px, py = sx(p.x), sy(p.y)
        if p.flagged:
            b.append(
                f'<circle class="flag-ring" cx="{_f(px)}" cy="{_f(py)}" r="10" fill="none" '
                f'stroke="{INK}" stroke-width="2"/>'
            )
        attrs_p = (
            f'class="point{" flagged" if p.flagged else ""}" data-series="{esc(s.key)}" '
            f'data-x="{float(p.x)!r}" data-y="{float(p.y)!r}"'
            f"{_data_attrs(p.data, reserved=('series', 'x', 'y'))} "
            f"{_paint(s.colour, s.filled, s.marker)}"
        )
        b.append(_element(s.marker, px, py, 5, attrs_p, p.tip))
    b.append("</g>")


# -- rows of events over time (pegboard timeline, tap raster) ------------------------------------


def rows_chart(
    *,
    chart_id: str,
    kind: str,
    title: str,
    desc: str,
    x_label: str,
    rows: Sequence[str],
    marks: Sequence[Mark],
    styles: Mapping[str, MarkStyle],
    spans: Sequence[Span] = (),
    span_styles: Mapping[str, MarkStyle] | None = None,
    lines: Sequence[VLine] = (),
    line_styles: Mapping[str, MarkStyle] | None = None,
    x_range: tuple[float, float] | None = None,
    attrs: Mapping[str, str] | None = None,
) -> Markup:
    """Events as markers on labelled rows over time, with bars (``spans``) and vertical lines.

    ``styles[kind]`` says how a mark kind is drawn and named in the legend; span and line kinds
    get their colour and legend label from ``span_styles`` / ``line_styles``."""
    span_styles = span_styles or {}
    line_styles = line_styles or {}
    used = []
    for k in dict.fromkeys(m.kind for m in marks):
        st = styles.get(k, MarkStyle("diamond", MUTED, k))
        used.append((legend_symbol(st.marker, st.colour, st.filled), st.label))
    for k in dict.fromkeys(s.kind for s in spans):
        sst = span_styles.get(k, MarkStyle("bar", MUTED, k))
        used.append(
            (
                f'<rect x="0" y="-3" width="16" height="6" fill="{esc(sst.colour)}" '
                'fill-opacity="0.35"/>',
                sst.label,
            )
        )
    used += _line_legend(lines, line_styles, 2)
    row_h = 24.0
    label_w = min(140.0, max(60.0, 12 + max((len(r) for r in rows), default=4) * 6.4))
    c = _Canvas(
        chart_id=chart_id,
        kind=kind,
        title=title,
        desc=desc,
        plot_height=max(1, len(rows)) * row_h,
        legend=used,
        attrs=attrs,
        margin_left=label_w,
    )
    xs = _finite(m.x for m in marks) + _finite(v.x for v in lines)
    xs += _finite(s.x0 for s in spans) + _finite(s.x1 for s in spans)
    if x_range is not None:
        xs += list(x_range)
    if not xs or not rows:
        return c.empty(x_label, None, "no events recorded")
    lo, hi = x_range if x_range is not None else (min(xs), max(xs))
    lo, hi = min(lo, min(xs)), max(hi, max(xs))
    x_ticks, x0, x1 = nice_ticks(lo, hi, 8)
    sx = _Scale(x0, x1, c.left + 4, c.right - 4)
    c.numeric_axes(x_ticks, sx, x_label)
    b = c.body

    def row_y(i: int) -> float:
        return c.top + (i + 0.5) * row_h

    b.append('<g class="rows" font-size="12">')
    for i, name in enumerate(rows):
        y = row_y(i)
        b.append(
            _line(c.left, y, c.right, y, GRID, "row-line")
            + _text(c.left - 8, y + 4, name[:22], "row-label", "end")
        )
    b.append("</g>")
    b.append(f'<g class="spans" {c.clip_attr()}>')
    for s in spans:
        if not 0 <= s.row < len(rows):
            continue
        colour = span_styles.get(s.kind, MarkStyle("bar", MUTED, s.kind)).colour
        xa, xb = sx(s.x0), sx(max(s.x0, s.x1))
        attrs_s = (
            f'class="span" data-kind="{esc(s.kind)}" x="{_f(xa)}" y="{_f(row_y(s.row) - 5)}" '
            f'width="{_f(max(1.0, xb - xa))}" height="10" fill="{esc(colour)}" fill-opacity="0.3"'
        )
        tip = f"<title>{esc(s.tip)}</title>" if s.tip else ""
        b.append(f"<rect {attrs_s}>{tip}</rect>")
    b.append("</g>")
    c.vlines(lines, line_styles, sx, 1.5)
    b.append('<g class="marks">')
    # open markers first, so a filled one at the same place stays visible
    order = sorted(marks, key=lambda m: styles.get(m.kind, MarkStyle("", "", "")).filled)
    for m in order:
        if not 0 <= m.row < len(rows) or not math.isfinite(m.x):
            continue
        st = styles.get(m.kind, MarkStyle("diamond", MUTED, m.kind))
        attrs_m = (
            f'class="mark" data-kind="{esc(m.kind)}" data-x="{float(m.x)!r}" '
            f"{_paint(st.colour, st.filled, st.marker)}"
        )
        b.append(
            _element(
                st.marker, sx(m.x), row_y(m.row), 4.5 if st.marker != "tick" else 7, attrs_m, m.tip
            )
        )
    b.append("</g>")
    return c.render()


# -- traces (force against target) --------------------------------------------------------------


def _finite_xy(t: Trace) -> tuple[np.ndarray, np.ndarray]:
    """A trace's points where both coordinates are finite."""
    xa, ya = np.asarray(t.xs, dtype=np.float64), np.asarray(t.ys, dtype=np.float64)
    ok = np.isfinite(xa) & np.isfinite(ya)
    return xa[ok], ya[ok]


def trace_chart(
    *,
    chart_id: str,
    kind: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    traces: Sequence[Trace],
    targets: Sequence[Trace] = (),
    bands: Sequence[Band] = (),
    windows: Sequence[Window] = (),
    lines: Sequence[VLine] = (),
    line_styles: Mapping[str, MarkStyle] | None = None,
    attrs: Mapping[str, str] | None = None,
    y_floor: float | None = 0.0,
) -> Markup:
    """Signals as polylines (draw them downsampled: :func:`downsample_minmax`), targets dashed,
    bands shaded, windows as grey stretches, and vertical lines for cues."""
    line_styles = line_styles or {}
    legend: list[tuple[str, str]] = [(_line_symbol(t.colour), t.label) for t in traces]
    legend += [(_line_symbol(t.colour, dashed=True, width=2.5), t.label) for t in targets]
    legend += [(_band_symbol(b.colour), b.label) for b in bands]
    legend += [
        (f'<rect x="0" y="-6" width="16" height="12" fill="{MUTED}" fill-opacity="0.12"/>', w.label)
        for w in {w.label: w for w in windows}.values()
    ]
    legend += _line_legend(lines, line_styles, 1.5)
    c = _Canvas(
        chart_id=chart_id,
        kind=kind,
        title=title,
        desc=desc,
        plot_height=220,
        legend=legend,
        attrs=attrs,
    )
    xs: list[float] = []
    ys: list[float] = []
    for t in (*traces, *targets):
        xa, ya = _finite_xy(t)
        if xa.size:
            xs += [float(xa.min()), float(xa.max())]
            ys += [float(ya.min()), float(ya.max())]
    for band in bands:
        xs += _finite(band.xs)
        ys += _finite(band.lows) + _finite(band.highs)
    xs += _finite(w.x0 for w in windows) + _finite(w.x1 for w in windows)
    xs += _finite(v.x for v in lines)
    if not xs or not ys:
        return c.empty(x_label, y_label, "no samples recorded")
    if y_floor is not None:
        ys.append(y_floor)
    x_ticks, x0, x1 = nice_ticks(min(xs), max(xs), 8)
    y_ticks, y0, y1 = nice_ticks(min(ys), max(ys), 5)
    sx = _Scale(x0, x1, c.left, c.right)
    sy = _Scale(y0, y1, c.bottom, c.top)
    c.numeric_axes(x_ticks, sx, x_label, y_ticks, sy, y_label)
    b = c.body
    for w in windows:
        xa, xb = sx(w.x0), sx(w.x1)
        b.append(
            f'<rect class="window" x="{_f(min(xa, xb))}" y="{_f(c.top)}" width="{_f(abs(xb - xa))}" '
            f'height="{_f(c.bottom - c.top)}" fill="{MUTED}" fill-opacity="0.12">'
            f"<title>{esc(w.label)}</title></rect>"
        )
    b.append(f'<g class="plot" {c.clip_attr()}>')
    for band in bands:
        up = [(sx(x), sy(h)) for x, h in zip(band.xs, band.highs, strict=True)]
        dn = [(sx(x), sy(lo)) for x, lo in zip(band.xs, band.lows, strict=True)]
        if len(up) >= 2:
            b.append(
                f'<polygon class="band" data-series="{esc(band.key)}" points="{_points(up + dn[::-1])}" '
                f'fill="{esc(band.colour)}" fill-opacity="0.15" stroke="none">'
                f"<title>{esc(band.label)}</title></polygon>"
            )
    for cls, group in (("trace", traces), ("target", targets)):
        for t in group:
            xa, ya = _finite_xy(t)
            if xa.size == 0:
                continue
            pts = _points((sx(x), sy(y)) for x, y in zip(xa.tolist(), ya.tolist(), strict=True))
            dash = ' stroke-dasharray="7 4"' if (t.dashed or cls == "target") else ""
            width = "2.5" if cls == "target" else "1.3"
            b.append(
                f'<polyline class="{cls}" data-series="{esc(t.key)}" data-n="{xa.size}" '
                f'points="{pts}" fill="none" stroke="{esc(t.colour)}" stroke-width="{width}"'
                f'{dash} stroke-linejoin="round"><title>{esc(t.label)}</title></polyline>'
            )
    b.append("</g>")
    c.vlines(lines, line_styles, sx, 1.2)
    return c.render()
