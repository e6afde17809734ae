"""A trial's raw record drawn for the session page (numbers prepared here, SVG in
:mod:`web.charts`).

Which drawing a trial gets depends on its protocol (and, for protocols the web side does not
know, on the roles of its channels):

* pegboards (``nine_hole_peg``, ``purdue_pegboard``, any trial with ``hole`` channels): a per-peg
  timeline, one row per hole with each insert (switch closes) and removal (switch opens) and the
  time the peg sat in it, plus the rows of the home and dish pads' contacts;
* tapping (``finger_tapping``, ``sync_continuation``, ``finger_sequence``, or any trial with
  buttons): a raster of the taps (button presses) per button against the cue onsets (metronome
  clicks; go and stop cues as lines);
* reaction time: the reaction time of each stimulus (ms), with anticipations, misses and errors
  marked on the axis (from the trial's stored per-stimulus metrics);
* force (``max_force``, ``force_steadiness``, ``force_tracking``, ``finger_individuation``, or
  any trial with pads): the force trace of each pad against the target the participant saw.
  Long traces are downsampled for drawing (:data:`MAX_TRACE_POINTS` per pad, the minimum and
  maximum of each stretch, so peaks stay visible); the page says so.

Times are seconds from the trial's go cue (from its start when it has none), on the session's
monotonic clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from markupsafe import Markup

from station.protocols import PROTOCOLS
from station.protocols.force_common import go_cues, max_force_or_fallback
from station.protocols.force_tracking import tracking_target_n
from station.records import TrialData
from station.store import TrialInfo
from station.timing import FLAG_CHATTER, FLAG_GAP_BEFORE, FLAG_SHORT
from web import charts
from web.charts import Band, Mark, MarkStyle, OffScale, Point, Series, Span, Trace, VLine, Window

NS_PER_S: Final = 1_000_000_000
#: Points drawn per force trace at most (2 per stretch: its minimum and maximum).
MAX_TRACE_POINTS: Final = 800
#: Points of a computed target curve.
TARGET_POINTS: Final = 400

PEGBOARDS: Final = frozenset({"nine_hole_peg", "purdue_pegboard"})
TAPPING: Final = frozenset({"finger_tapping", "sync_continuation", "finger_sequence"})
FORCE: Final = frozenset(
    {"max_force", "force_steadiness", "force_tracking", "finger_individuation"}
)

GO_LINE: Final = charts.MarkStyle("line", "#009E73", "go cue")
STOP_LINE: Final = charts.MarkStyle("line", "#CC79A7", "stop cue")
LINE_STYLES: Final = {"go": GO_LINE, "stop": STOP_LINE}
EVENT_FLAGS: Final = {
    FLAG_GAP_BEFORE: "after a gap in recording",
    FLAG_SHORT: "short (debounced)",
    FLAG_CHATTER: "chattering switch",
}


@dataclass
class TrialPlot:
    """What the session page shows for one trial's raw data."""

    kind: str  # "pegboard", "raster", "reaction_time", "force", "events" or "none"
    svg: Markup | None
    notes: list[str] = field(default_factory=list)


def flag_names(flags: int) -> list[str]:
    return [name for bit, name in EVENT_FLAGS.items() if flags & bit]


def event_flag_counts(data: TrialData) -> dict[str, int]:
    """How many events carry each flag (gap before, short, chattering)."""
    counts: dict[str, int] = {}
    for e in data.events:
        for name in flag_names(e.flags):
            counts[name] = counts.get(name, 0) + 1
    return counts


def _t0(data: TrialData) -> tuple[int, str]:
    """Time zero of the drawing: the first go cue (the trial's go time when it has no go cue,
    e.g. a reaction-time trial's first stimulus), else the trial's start."""
    gos = go_cues(data)
    if gos:
        return gos[0][0], "time from the (first) go cue (s)" if len(
            gos
        ) > 1 else "time from the go cue (s)"
    if data.go_t_ns is not None:
        return data.go_t_ns, "time from the first cue (s)"
    return data.start_t_ns, "time from the trial start (s)"


def _s(t_ns: int, t0_ns: int) -> float:
    return (t_ns - t0_ns) / NS_PER_S


def _cue_lines(data: TrialData, t0: int) -> list[VLine]:
    lines: list[VLine] = []
    seen: set[tuple[str, int]] = set()
    for c in data.cues:
        kind = "go" if c.kind == "go" or c.kind.startswith("go:") else c.kind
        if kind not in ("go", "stop"):
            continue
        key = (kind, c.scheduled_on_ns)
        if key in seen:  # the beep and the LED of one go cue
            continue
        seen.add(key)
        lines.append(VLine(_s(c.onset_ns, t0), kind, f"{kind} cue ({c.output})"))
    return lines


def _range(data: TrialData, t0: int) -> tuple[float, float]:
    return _s(data.start_t_ns, t0), _s(max(data.end_t_ns, data.start_t_ns), t0)


def _title(info: TrialInfo) -> str:
    cls = PROTOCOLS.get(info.protocol)
    title = cls.title if cls is not None else info.protocol
    kind = "practice" if info.practice else f"trial {info.trial_index}"
    return f"{title}, {info.hand} hand, {kind}"


def _attrs(info: TrialInfo) -> dict[str, str]:
    return {"trial": str(info.id), "protocol": info.protocol, "hand": info.hand}


def _contacts(
    data: TrialData,
    ch: str,
    row: int,
    t0: int,
    kind_of: Callable[[int, list[str]], str | None],
    styles: Mapping[str, MarkStyle],
    span_kind: str,
    end_s: float | None,
) -> tuple[list[Mark], list[Span]]:
    """One channel's switch events on row ``row``: a mark of kind ``kind_of(level, flags)`` for
    each (none when it gives None), and a span of ``span_kind`` from each close (level 1) to the
    next open, or to ``end_s`` when the switch is still closed at the end (if given)."""
    marks: list[Mark] = []
    spans: list[Span] = []
    closed_at: float | None = None
    for e in data.channel_events(ch):
        x = _s(e.t_ns, t0)
        flags = flag_names(e.flags)
        kind = kind_of(e.level, flags)
        if kind is not None:
            tip = f"{ch}: {styles[kind].label} at {x:.3f} s" + (
                f" ({', '.join(flags)})" if flags else ""
            )
            marks.append(Mark(x, row, kind, tip))
        if e.level == 1:
            closed_at = x
        elif closed_at is not None:
            spans.append(Span(closed_at, x, row, span_kind))
            closed_at = None
    if closed_at is not None and end_s is not None:
        spans.append(Span(closed_at, end_s, row, span_kind))
    return marks, spans


def _rows_plot(
    info: TrialInfo,
    data: TrialData,
    chart_id: str,
    kind: str,
    desc: str,
    rows: list[str],
    contacts: tuple[list[Mark], list[Span]],
    styles: Mapping[str, MarkStyle],
    span_styles: Mapping[str, MarkStyle],
) -> TrialPlot:
    """A rows chart of a trial (pegboard timeline, tap raster) against its go and stop cues."""
    t0, x_label = _t0(data)
    svg = charts.rows_chart(
        chart_id=chart_id,
        kind=kind,
        title=_title(info),
        desc=desc,
        x_label=x_label,
        rows=rows,
        marks=contacts[0],
        styles=styles,
        spans=contacts[1],
        span_styles=span_styles,
        lines=_cue_lines(data, t0),
        line_styles=LINE_STYLES,
        x_range=_range(data, t0),
        attrs=_attrs(info),
    )
    return TrialPlot(kind, svg)


# -- pegboard --------------------------------------------------------------------------------------

PEG_STYLES: Final = {
    "insert": MarkStyle("circle", "#0072B2", "peg in (switch closes)"),
    "remove": MarkStyle("circle", "#D55E00", "peg out (switch opens)", filled=False),
    "contact": MarkStyle("diamond", "#009E73", "pad contact"),
    "release": MarkStyle("diamond", "#009E73", "pad release", filled=False),
}
PEG_SPANS: Final = {
    "in": MarkStyle("bar", "#0072B2", "peg in the hole"),
    "pressed": MarkStyle("bar", "#009E73", "pad pressed"),
}


@dataclass(frozen=True)
class _Kinds:
    """Mark kinds of a switch closing and opening, and of the span between."""

    closes: str
    opens: str
    span: str

    def of(self, level: int, _flags: list[str]) -> str:
        return self.closes if level == 1 else self.opens


HOLE_KINDS: Final = _Kinds("insert", "remove", "in")
PAD_KINDS: Final = _Kinds("contact", "release", "pressed")


def pegboard_plot(info: TrialInfo, data: TrialData, chart_id: str) -> TrialPlot:
    t0, _ = _t0(data)
    holes = [ch for ch, role in data.roles.items() if role == "hole" or role.startswith("hole:")]
    pads = [ch for ch, role in data.roles.items() if role.startswith("pad")]
    channels = holes + [p for p in pads if data.channel_events(p)]
    rows = [
        (f"{ch} ({data.roles[ch].split(':', 1)[1]})" if ":" in data.roles[ch] else ch)
        if ch in holes
        else data.roles[ch].split(":", 1)[-1] + " pad"
        for ch in channels
    ]
    marks: list[Mark] = []
    spans: list[Span] = []
    start_s, end_s = _range(data, t0)
    for row, ch in enumerate(channels):
        kinds = HOLE_KINDS if ch in holes else PAD_KINDS
        m, sp = _contacts(data, ch, row, t0, kinds.of, PEG_STYLES, kinds.span, end_s)
        marks += m
        spans += sp
    inserts = sum(1 for m in marks if m.kind == "insert")
    removals = sum(1 for m in marks if m.kind == "remove")
    desc = (
        f"Per-peg timeline: {len(holes)} holes, {inserts} inserts and {removals} removals "
        f"over {end_s - start_s:.1f} s."
    )
    return _rows_plot(
        info, data, chart_id, "pegboard", desc, rows, (marks, spans), PEG_STYLES, PEG_SPANS
    )


# -- tapping ---------------------------------------------------------------------------------------

TAP_STYLES: Final = {
    "beat": MarkStyle("tick", "#555555", "cue onset (metronome click or cue light)"),
    "tap": MarkStyle("tick", "#0072B2", "tap (button pressed)"),
    "flagged-tap": MarkStyle("tick", "#D55E00", "tap with a flag (see its tooltip)"),
}
TAP_SPANS: Final = {"held": MarkStyle("bar", "#0072B2", "button held down")}


def _tap_kind(level: int, flags: list[str]) -> str | None:
    if level != 1:
        return None
    return "flagged-tap" if flags else "tap"


def raster_plot(info: TrialInfo, data: TrialData, chart_id: str) -> TrialPlot:
    t0, _ = _t0(data)
    buttons = [ch for ch, role in data.roles.items() if role.startswith("button")]
    others = sorted({e.channel for e in data.events} - set(buttons))
    beats = [c for c in data.cues if not (c.kind in ("go", "stop") or c.kind.startswith("go:"))]
    rows: list[str] = []
    marks: list[Mark] = []
    spans: list[Span] = []
    if beats:
        rows.append("cues")
        for c in beats:
            x = _s(c.onset_ns, t0)
            marks.append(Mark(x, 0, "beat", f"{c.kind} cue on {c.output} at {x:.3f} s"))
    for ch in buttons + others:
        role = data.roles.get(ch, "")
        m, sp = _contacts(data, ch, len(rows), t0, _tap_kind, TAP_STYLES, "held", None)
        rows.append(f"{role.split(':', 1)[1]} ({ch})" if ":" in role else ch)
        marks += m
        spans += sp
    taps = sum(1 for m in marks if m.kind != "beat")
    desc = f"Tap raster: {taps} taps on {len(rows) - (1 if beats else 0)} buttons" + (
        f" against {len(beats)} cue onsets." if beats else "."
    )
    return _rows_plot(
        info, data, chart_id, "raster", desc, rows, (marks, spans), TAP_STYLES, TAP_SPANS
    )


# -- reaction time ---------------------------------------------------------------------------------


def reaction_time_plot(info: TrialInfo, data: TrialData, chart_id: str) -> TrialPlot:
    stimuli = sorted(
        (c.onset_ns, c.kind.split(":", 1)[1]) for c in data.cues if c.kind.startswith("stimulus:")
    )
    per_stimulus = {}
    for m in info.metrics:
        parts = m.name.split("_")
        if len(parts) == 3 and parts[0] == "rt" and parts[1].isdigit() and parts[2] == "ms":
            per_stimulus[int(parts[1])] = m
    points: list[Point] = []
    off: list[OffScale] = []
    for i in sorted(per_stimulus):
        m = per_stimulus[i]
        finger = stimuli[i - 1][1] if 0 < i <= len(stimuli) else "?"
        if m.value is None:
            reason = m.detail or "no value"
            off.append(
                OffScale(float(i), f"stimulus {i} ({finger}): {reason}", reason.split(":")[0])
            )
        else:
            points.append(
                Point(
                    float(i),
                    m.value,
                    f"stimulus {i} ({finger}): {m.value:.0f} ms",
                    data={"stimulus": str(i)},
                )
            )
    notes = []
    if not per_stimulus:
        notes.append("this trial has no per-stimulus reaction times (not scored)")
    desc = (
        f"Reaction time of each of {len(per_stimulus)} stimuli: {len(points)} valid, "
        f"{len(off)} without a value (anticipation, miss or error)."
    )
    svg = charts.scatter_chart(
        chart_id=chart_id,
        kind="reaction_time",
        title=_title(info),
        desc=desc,
        x_label="stimulus number",
        y_label="reaction time (ms)",
        series=[Series("rt", "reaction time", points, "#0072B2", "circle")],
        off_scale=off,
        x_integer=True,
        attrs=_attrs(info),
    )
    return TrialPlot("reaction_time", svg, notes)


# -- force -----------------------------------------------------------------------------------------


def _target_n(params: dict[str, Any]) -> float:
    """The force target (N) shown: ``target_percent`` of the participant's maximal force."""
    return float(params.get("target_percent", 25.0)) / 100.0 * max_force_or_fallback(params)


def _target_traces(
    info: TrialInfo, data: TrialData, t0: int, pads: dict[str, str]
) -> tuple[list[Trace], list[Band], list[Window]]:
    """The target the participant saw, per protocol (none for maximal force)."""
    p = data.params
    gos = go_cues(data)
    if not gos:
        return [], [], []
    go = gos[0][0]
    targets: list[Trace] = []
    bands: list[Band] = []
    windows: list[Window] = []
    try:
        if info.protocol == "force_steadiness":
            target = _target_n(p)
            hold_s = float(p.get("hold_s", 8.0))
            settle_s = float(p.get("settle_s", 2.0))
            x0, x1 = _s(go, t0), _s(go, t0) + hold_s
            targets.append(
                Trace("target", f"target {target:.2f} N", [x0, x1], [target, target], "#000000")
            )
            half = target * float(p.get("band_percent", 5.0)) / 100.0
            bands.append(
                Band(
                    "target-band",
                    f"band shown: target \u00b1 {float(p.get('band_percent', 5.0)):g}%",
                    [x0, x1],
                    [target - half] * 2,
                    [target + half] * 2,
                    "#000000",
                )
            )
            windows.append(Window(x0 + settle_s, x1, "scored window"))
        elif info.protocol == "force_tracking":
            lead_s = float(p.get("lead_in_s", 2.0))
            dur_s = float(p.get("duration_s", 12.0))
            t_end = go + round((lead_s + dur_s) * NS_PER_S)
            grid = np.linspace(go, t_end, TARGET_POINTS).astype(np.int64)
            values = tracking_target_n(p, go, grid)
            xs = (grid - t0) / NS_PER_S
            targets.append(Trace("target", "target", xs, values, "#000000"))
            windows.append(
                Window(_s(go, t0) + lead_s, _s(go, t0) + lead_s + dur_s, "scored window")
            )
        elif info.protocol == "finger_individuation":
            target = _target_n(p)
            press_s = float(p.get("press_s", 4.0))
            settle_s = float(p.get("settle_s", 1.0))
            for onset, finger in gos:
                x0 = _s(onset, t0)
                colour = pads.get(finger or "", "#000000")
                label = f"target {target:.2f} N ({finger or '?'})"
                targets.append(
                    Trace(f"target-{finger}", label, [x0, x0 + press_s], [target, target], colour)
                )
                windows.append(Window(x0 + settle_s, x0 + press_s, "scored window"))
    except (TypeError, ValueError):  # parameters the web side cannot read: draw no target
        return [], [], []
    return targets, bands, windows


def force_plot(info: TrialInfo, data: TrialData, chart_id: str) -> TrialPlot:
    t0, x_label = _t0(data)
    traces: list[Trace] = []
    notes: list[str] = []
    colours: dict[str, str] = {}
    downsampled: list[str] = []
    for i, (name, pad) in enumerate(data.samples.items()):
        colour = charts.PALETTE[i % len(charts.PALETTE)]
        role = data.roles.get(name, "")
        finger = role.split(":", 1)[1] if role.startswith("pad:") else name
        colours[finger] = colour
        try:
            with np.errstate(all="ignore"):
                force = pad.force_n()
        except (KeyError, ValueError, ZeroDivisionError):
            notes.append(f"{name}: the force cannot be computed (unknown ADC gain {pad.gain!r})")
            continue
        xs = (np.asarray(pad.t_ns, dtype=np.int64) - t0) / NS_PER_S
        dx, dy = charts.downsample_minmax(xs, force, MAX_TRACE_POINTS)
        if dx.size < xs.size:
            downsampled.append(f"{name}: {dx.size} of {xs.size} samples")
        cal = "" if pad.calibrated else ", uncalibrated"
        traces.append(Trace(name, f"{finger} pad{cal}", dx, dy, colour))
        if pad.gaps:
            notes.append(f"{name}: {len(pad.gaps)} gap(s) in the samples")
    if downsampled:
        notes.insert(
            0,
            "Traces downsampled for drawing (the minimum and maximum of each stretch are kept): "
            + "; ".join(downsampled)
            + ". The exports hold every sample.",
        )
    targets, bands, windows = _target_traces(info, data, t0, colours)
    n_samples = sum(len(p.t_ns) for p in data.samples.values())
    desc = f"Force of {len(traces)} pad(s), {n_samples} samples" + (
        ", against the target." if targets else "."
    )
    svg = charts.trace_chart(
        chart_id=chart_id,
        kind="force",
        title=_title(info),
        desc=desc,
        x_label=x_label,
        y_label="force (N)",
        traces=traces,
        targets=targets,
        bands=bands,
        windows=windows,
        lines=_cue_lines(data, t0),
        line_styles=LINE_STYLES,
        attrs=_attrs(info),
    )
    return TrialPlot("force", svg, notes)


# -- choosing ----------------------------------------------------------------------------------------


def plot_kind(protocol: str, data: TrialData) -> str:
    if protocol in PEGBOARDS:
        return "pegboard"
    if protocol == "reaction_time":
        return "reaction_time"
    if protocol in TAPPING:
        return "raster"
    if protocol in FORCE:
        return "force"
    roles = set(data.roles.values())
    if any(r == "hole" or r.startswith("hole:") for r in roles):
        return "pegboard"
    if data.samples:
        return "force"
    if data.events or data.cues:
        return "raster"
    return "none"


PLOTTERS: Final[dict[str, Callable[[TrialInfo, TrialData, str], TrialPlot]]] = {
    "pegboard": pegboard_plot,
    "raster": raster_plot,
    "reaction_time": reaction_time_plot,
    "force": force_plot,
}


def trial_plot(info: TrialInfo, data: TrialData, chart_id: str) -> TrialPlot:
    """The drawing of one trial's raw data (see the module docstring)."""
    if not data.events and not data.samples and not data.cues:
        why = "no raw data stored"
        if info.status == "incomplete":
            why += " (the recording stopped before the trial was saved)"
        return TrialPlot("none", None, [why])
    kind = plot_kind(info.protocol, data)
    if kind == "none":
        return TrialPlot("none", None, ["nothing to draw"])
    return PLOTTERS[kind](info, data, chart_id)


def summary_flags(info: TrialInfo, data: TrialData | Any) -> list[str]:
    """Everything worth a flag on a trial: faults, gaps, flagged events, sample gaps."""
    flags = list(info.faults)
    if info.gaps:
        flags.append(f"{len(info.gaps)} gap(s) in the event stream")
    if data is not None:
        for name, count in event_flag_counts(data).items():
            flags.append(f"{count} event(s) {name}")
        for pad in data.samples.values():
            if pad.gaps:
                flags.append(f"{pad.pad}: {len(pad.gaps)} gap(s) in the samples")
            if not pad.calibrated:
                flags.append(f"{pad.pad}: uncalibrated (forces approximate)")
    return flags
