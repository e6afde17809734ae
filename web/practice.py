"""Graded practice on the clinic server: prescribing a program and following it.

* ``GET /participants/CODE/practice``: the participant's prescriptions (program, level with its
  exercises and dose, sessions a week, daily cap, status), the forms to prescribe, adjust the
  dose, pause, resume or end, and override the level (a reason is required); per prescription the
  adherence per week (done against prescribed), the symptom trend of the practice sessions (pain
  and fatigue before and after, effort on Borg's CR10), the level over time with each decision,
  every decision with its plain-language reason and all its stored inputs, the change log and the
  practice sessions;
* ``GET /practice/sessions/ID``: one practice session: its plan, each exercise's sets with their
  trials and criterion values, the ratings and sensations, and the decision that followed;
* ``POST`` forms (CSRF-checked by the app, post-redirect-get): ``.../practice/prescribe``,
  ``.../practice/RX/dose``, ``.../practice/RX/status``, ``.../practice/RX/level``.

Everything is read and written through :mod:`station.store` and computed by
:mod:`station.programs.history` (the same numbers as ``station programs history``). Every page is
audited before it is sent (``practice.view``, ``practice.session_view``) and every change after it
is made (``practice.prescribe``, ``practice.dose``, ``practice.status``, ``practice.level``); the
store's change log records the signed-in user's name as the author. A bad form value is answered
with the page again, status 400, the message beside the form and the values typed kept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from station.programs.history import (
    WeekAdherence,
    adherence,
    session_record,
    symptom_trend,
)
from station.programs.metrics import CRITERION_METRICS, DRILLS, format_value
from station.programs.program import (
    Exercise,
    Level,
    Program,
    ProgramError,
    load_program,
    program_names,
)
from station.protocols import PROTOCOLS
from station.store import (
    DecisionRecord,
    Participant,
    PracticeSessionInfo,
    Prescription,
    PrescriptionChange,
    Rating,
    SessionInfo,
    StoreError,
)
from station.store import schema as sc
from station.store.store import CODE_PATTERN, NOTE_MAX_LEN
from web import charts
from web.auth import login_required
from web.charts import MarkStyle, Point, Series
from web.dashboard import PARTICIPANT_EXPORTS, utc_text
from web.errors import ApiError
from web.params import MAX_ID, check_query
from web.progress import SCALE_STYLES, TIMING_STYLES, protocol_title
from web.state import audit, get_store, state

bp = Blueprint("practice", __name__)

#: App setting: a function returning the current time (UTC), for tests (a virtual clock).
CLOCK_SETTING: Final = "PRACTICE_CLOCK"
STATUS_ACTIONS: Final = {"pause": "paused", "resume": "active", "end": "ended"}
#: Nested stored inputs deeper than this are shown as JSON text.
MAX_DEPTH: Final = 6
_WHOLE: Final = re.compile(r"[0-9]{1,6}")
_BAD_TEXT: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: How each decision (and a clinician's change) is marked on the level chart.
EVENT_STYLES: Final = {
    "prescribed": MarkStyle("square", "#000000", "prescribed", filled=False),
    "advance": MarkStyle("triangle", "#009E73", "advance"),
    "stay": MarkStyle("circle", "#0072B2", "stay", filled=False),
    "regress": MarkStyle("square", "#D55E00", "regress"),
    "stop": MarkStyle("diamond", "#CC79A7", "stop (pain)"),
    "hold": MarkStyle("circle", "#666666", "hold (cap reached)", filled=False),
    "override": MarkStyle("diamond", "#000000", "level set by a clinician", filled=False),
}
SPAN_STYLES: Final = {
    "level": MarkStyle("bar", "#0072B2", "time at the level"),
    "paused": MarkStyle("bar", "#999999", "paused or ended"),
}
EFFORT_STYLE: Final = charts.Style("#009E73", "triangle", "effort (Borg CR10)")


def now_utc() -> datetime:
    clock: Callable[[], datetime] | None = current_app.config.get(CLOCK_SETTING)
    return clock() if clock is not None else datetime.now(UTC)


# -- forms ---------------------------------------------------------------------------------------


class FormError(Exception):
    """A form value is refused: ``form`` names the form on the page, the message what is wrong."""

    def __init__(self, form: str, message: str):
        super().__init__(message)
        self.form = form
        self.message = message


def _raw(form_id: str, name: str, label: str) -> str:
    values = request.form.getlist(name)
    if len(values) > 1:
        raise FormError(form_id, f"{label}: given more than once")
    return values[0] if values else ""


def form_int(form_id: str, name: str, label: str, lo: int, hi: int) -> int:
    raw = _raw(form_id, name, label).strip()
    if not raw:
        raise FormError(form_id, f"{label}: give a whole number from {lo} to {hi}")
    if not _WHOLE.fullmatch(raw):
        raise FormError(
            form_id, f"{label}: {raw[:20]!r} is not a whole number (give one from {lo} to {hi})"
        )
    value = int(raw)
    if not lo <= value <= hi:
        raise FormError(form_id, f"{label}: {value} is outside {lo}-{hi}")
    return value


def form_text(form_id: str, name: str, label: str, *, required: bool = False) -> str:
    raw = _raw(form_id, name, label).replace("\r\n", "\n").strip()
    if required and not raw:
        raise FormError(form_id, f"{label}: required; say why (it is kept in the change log)")
    if len(raw) > NOTE_MAX_LEN:
        raise FormError(form_id, f"{label}: longer than {NOTE_MAX_LEN} characters")
    if _BAD_TEXT.search(raw):
        raise FormError(form_id, f"{label}: contains control characters")
    return raw


def form_choice(form_id: str, name: str, label: str, allowed: Sequence[str]) -> str:
    raw = _raw(form_id, name, label).strip()
    if raw not in allowed:
        shown = repr(raw[:40]) if raw else "nothing"
        raise FormError(form_id, f"{label}: {shown} is not one of {', '.join(allowed)}")
    return raw


def refused(form_id: str, exc: StoreError) -> FormError:
    """The store refused a change: a value it checks (it names the field) is a form error; a
    database failure is not the user's mistake (503, try again)."""
    if exc.field is None:
        raise ApiError(503, f"the change was not saved: {exc}; try again")
    return FormError(form_id, str(exc))


def _dose(form_id: str) -> tuple[int, int]:
    per_week = form_int(form_id, "per_week", "sessions a week", 1, sc.MAX_SESSIONS_PER_WEEK)
    cap = form_int(form_id, "daily_cap", "daily cap", 1, sc.MAX_DAILY_CAP)
    if per_week > 7 * cap:
        raise FormError(
            form_id,
            f"sessions a week: {per_week} cannot be done at most {cap} a day "
            f"({7 * cap} a week at most); raise the daily cap or lower the sessions a week",
        )
    return per_week, cap


# -- programs ------------------------------------------------------------------------------------


@dataclass
class ProgramChoice:
    name: str
    program: Program | None
    error: str | None
    clinic: bool  # from <data_dir>/programs (else shipped)


def _program_choices(data_dir: Path) -> list[ProgramChoice]:
    out = []
    for name in program_names(data_dir):
        clinic = (data_dir / "programs" / f"{name}.toml").exists()
        try:
            out.append(ProgramChoice(name, load_program(name, data_dir), None, clinic))
        except ProgramError as exc:
            out.append(ProgramChoice(name, None, str(exc), clinic))
    return out


@dataclass
class CriterionView:
    words: str
    goal: str
    floor: str
    kind: str
    source: str


@dataclass
class ExerciseView:
    title: str
    drill: str
    protocol: str
    hands: str
    sets: int
    reps: int
    reps_text: str
    rest_s: float
    params: list[tuple[str, str]]
    criteria: list[CriterionView]
    instructions: str


def _set_params(e: Exercise) -> list[tuple[str, str]]:
    """The parameters the program sets (those differing from the protocol's defaults)."""
    defaults = e.protocol().params_dict()
    return [(k, str(v)) for k, v in e.make().params_dict().items() if defaults.get(k) != v]


def exercise_view(e: Exercise) -> ExerciseView:
    counted = e.trials_per_set == 1 and e.reps > 1
    unit = "repetitions in one trial" if counted else ("trial" if e.reps == 1 else "trials")
    return ExerciseView(
        title=e.title,
        drill=DRILLS.get(e.drill, e.drill),
        protocol=protocol_title(e.protocol.name),
        hands=", ".join(e.hands),
        sets=e.sets,
        reps=e.reps,
        reps_text=f"{e.reps} {unit}",
        rest_s=e.rest_s,
        params=_set_params(e),
        criteria=[
            CriterionView(
                c.words,
                c.describe(),
                format_value(c.floor, c.unit) if c.floor is not None else "-",
                c.kind,
                c.source,
            )
            for c in e.criteria
        ],
        instructions=e.instructions,
    )


# -- readable stored inputs ----------------------------------------------------------------------


def key_words(key: object) -> str:
    """``level_since_utc`` -> ``level since (UTC)``."""
    text = str(key)
    if text.endswith("_utc"):
        text = text[: -len("_utc")] + " (UTC)"
    text = text.replace("borg_cr10", "(Borg CR10)")
    return text.replace("_", " ")


_ISO_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00")


def _flat(value: object) -> bool:
    """A scalar, or a list of scalars (shown in one table cell)."""
    if isinstance(value, list | tuple):
        return all(not isinstance(v, Mapping | list | tuple) for v in value)
    return not isinstance(value, Mapping)


def _scalar(value: object) -> str:
    if isinstance(value, str) and _ISO_TIME.fullmatch(value):
        return value[:19].replace("T", " ") + " UTC"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def readable(value: Any, depth: int = 0) -> Markup:
    """Stored JSON (a decision's inputs, a change's before and after) as nested tables, every
    text escaped."""
    if depth > MAX_DEPTH:
        return Markup("<code>{}</code>").format(json.dumps(value, default=str))
    if isinstance(value, Mapping):
        if not value:
            return Markup("-")
        rows = Markup("").join(
            Markup('<tr><th scope="row">{}</th><td>{}</td></tr>').format(
                key_words(k), readable(v, depth + 1)
            )
            for k, v in value.items()
        )
        return Markup('<table class="inputs">{}</table>').format(rows)
    if isinstance(value, list | tuple):
        if not value:
            return Markup("none")
        if all(isinstance(v, Mapping) and all(_flat(x) for x in v.values()) for v in value):
            keys: list[str] = []
            for v in value:
                keys += [k for k in v if k not in keys]
            head = Markup("").join(
                Markup('<th scope="col">{}</th>').format(key_words(k)) for k in keys
            )
            body = Markup("").join(
                Markup("<tr>{}</tr>").format(
                    Markup("").join(
                        Markup("<td>{}</td>").format(readable(v.get(k), depth + 1)) for k in keys
                    )
                )
                for v in value
            )
            return Markup(
                '<div class="table-wrap"><table class="inputs"><thead><tr>{}</tr></thead>'
                "<tbody>{}</tbody></table></div>"
            ).format(head, body)
        if all(not isinstance(v, Mapping | list | tuple) for v in value):
            return escape(", ".join(_scalar(v) for v in value))
        return Markup('<ol class="inputs">{}</ol>').format(
            Markup("").join(Markup("<li>{}</li>").format(readable(v, depth + 1)) for v in value)
        )
    return escape(_scalar(value))


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)


@bp.app_template_filter("readable")
def _readable_filter(value: Any) -> Markup:
    return readable(value)


@bp.app_template_filter("as_json")
def _as_json_filter(value: Any) -> str:
    return as_json(value)


@bp.app_template_filter("num")
def _num_filter(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


@bp.app_template_global("practice_prescriptions")
def practice_prescriptions(code: str) -> list[Prescription]:
    """The participant's prescriptions that have not ended (for the participant page)."""
    return get_store().prescriptions(code)


# -- charts --------------------------------------------------------------------------------------


def _day_ts(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _count_top(values: Sequence[int]) -> float:
    """A y axis top giving whole-number ticks (5, 10, then multiples of 5)."""
    top = max(values, default=0)
    if top <= 5:
        return 5.0
    if top <= 10:
        return 10.0
    return float(math.ceil(top / 5) * 5)


def adherence_chart(rx: Prescription, weeks: Sequence[WeekAdherence]) -> Markup:
    prescribed, done = [], []
    for w in weeks:
        x = _day_ts(w.week_start)
        data = {"week": w.week_start.isoformat()}
        paused = " (paused)" if w.paused else ""
        tip = f"week of {w.week_start.isoformat()}: {w.done} done of {w.prescribed}{paused}"
        prescribed.append(Point(x, float(w.prescribed), tip, data=data))
        done.append(Point(x, float(w.done), tip, data=data))
    series = [
        Series("prescribed", "prescribed", prescribed, "#000000", "square", filled=False,
               dashed=True),
        Series("done", "done (complete sessions)", done, "#0072B2", "circle"),
    ]  # fmt: skip
    summary = "; ".join(f"{w.week_start.isoformat()}: {w.done} of {w.prescribed}" for w in weeks)
    return charts.scatter_chart(
        chart_id=f"adherence-{rx.id}",
        kind="adherence",
        title="Sessions per week: done and prescribed",
        desc=f"Practice sessions done against prescribed, per week (Monday to Sunday). {summary}",
        x_label="week starting (Monday)",
        y_label="sessions (count)",
        series=series,
        x_dates=True,
        y_range=(0.0, _count_top([w.prescribed for w in weeks] + [w.done for w in weeks])),
        attrs={"prescription": str(rx.id), "weeks": str(len(weeks))},
        empty_text="no weeks yet",
    )


def symptoms_chart(rx: Prescription, rows: Sequence[dict[str, Any]]) -> Markup:
    series = []
    for scale in ("pain", "fatigue"):
        st = SCALE_STYLES[scale]
        for timing in ("before", "during", "after"):
            key = f"{scale}_{timing}"
            points = [
                Point(
                    datetime.fromisoformat(r["started_utc"]).timestamp(),
                    float(r[key]),
                    f"session {r['session_id']} ({r['started_utc'][:16].replace('T', ' ')} "
                    f"UTC): {scale} {timing} {r[key]:g} of 10",
                    data={"session": str(r["session_id"])},
                )
                for r in rows
                if r.get(key) is not None
            ]
            if not points:
                continue
            look = TIMING_STYLES[timing]
            series.append(
                Series(
                    f"{scale}-{timing}",
                    f"{st.label} {timing}",
                    points,
                    st.colour,
                    st.marker,
                    line=look.joined,
                    filled=look.filled,
                    dashed=look.dashed,
                )
            )
    effort = [
        Point(
            datetime.fromisoformat(r["started_utc"]).timestamp(),
            float(r["effort_borg_cr10"]),
            f"session {r['session_id']}: effort {r['effort_borg_cr10']:g} (Borg CR10)",
            data={"session": str(r["session_id"])},
        )
        for r in rows
        if r.get("effort_borg_cr10") is not None
    ]
    if effort:
        series.append(
            Series("effort", EFFORT_STYLE.label, effort, EFFORT_STYLE.colour, EFFORT_STYLE.marker)
        )
    return charts.scatter_chart(
        chart_id=f"practice-symptoms-{rx.id}",
        kind="practice-symptoms",
        title="Pain, fatigue and effort per practice session (0-10)",
        desc=(
            "Self-reported pain and fatigue (0 none, 10 worst) before, during (the highest) and "
            "after each practice session, and the effort felt on Borg's CR10 scale."
        ),
        x_label="session date (UTC)",
        y_label="rating (0-10)",
        series=series,
        x_dates=True,
        y_range=(0.0, 10.0),
        attrs={"prescription": str(rx.id), "sessions": str(len(rows))},
        empty_text="no practice sessions yet",
    )


def _status_spans(
    rx: Prescription, changes: Sequence[PrescriptionChange], end: datetime
) -> list[tuple[datetime, datetime]]:
    """The stretches of time the prescription was paused (or ended)."""
    spans, since = [], None
    for c in changes:
        if c.kind != "status":
            continue
        after = c.after.get("status")
        if after != "active" and since is None:
            since = c.t_utc
        elif after == "active" and since is not None:
            spans.append((since, c.t_utc))
            since = None
    if since is not None:
        spans.append((since, max(end, since)))
    return spans


def level_chart(
    rx: Prescription,
    decisions: Sequence[DecisionRecord],
    changes: Sequence[PrescriptionChange],
    titles: Mapping[int, str],
    now: datetime,
) -> Markup:
    """Levels as rows (the highest on top), a bar for each stretch at a level, a marker for each
    decision (by kind) and each level set by a clinician."""
    t0 = rx.created_utc
    end = rx.ended_utc or max(now, t0)

    def days(t: datetime) -> float:
        return (t - t0).total_seconds() / 86_400

    rows = [f"{n}: {titles.get(n, '')}".strip().rstrip(":") for n in range(rx.levels, 0, -1)]

    def row(level: int) -> int:
        return rx.levels - level

    events: list[tuple[datetime, str, int, int, str]] = [
        (t0, "prescribed", rx.start_level, rx.start_level, f"prescribed by {rx.created_by}")
    ]
    events += [
        (c.t_utc, "override", int(c.before.get("current_level", 0)),
         int(c.after.get("current_level", 0)), f"{c.author}: {c.reason}")
        for c in changes
        if c.kind == "level"
    ]  # fmt: skip
    events += [(d.t_utc, d.kind, d.level_before, d.level_after, d.reason) for d in decisions]
    events.sort(key=lambda e: e[0])
    marks, spans = [], []
    level, since = rx.start_level, t0
    for t, kind, before, after, reason in events:
        if 1 <= after <= rx.levels and after != level:
            spans.append(charts.Span(days(since), days(t), row(level), "level",
                                     f"level {level} from {utc_text(since)} to {utc_text(t)}"))  # fmt: skip
            level, since = after, t
        moved = f" {before} -> {after}" if before != after else f" (level {after})"
        marks.append(
            charts.Mark(
                days(t),
                row(min(max(after, 1), rx.levels)),
                kind,
                f"{utc_text(t)}: {EVENT_STYLES.get(kind, MarkStyle('', '', kind)).label}"
                f"{moved}: {reason}",
            )
        )
    spans.append(
        charts.Span(
            days(since), days(end), row(level), "level", f"level {level} since {utc_text(since)}"
        )
    )
    paused = _status_spans(rx, changes, end)
    if paused:
        rows.append("paused")
        spans += [
            charts.Span(
                days(a), days(b), len(rows) - 1, "paused", f"paused {utc_text(a)} to {utc_text(b)}"
            )
            for a, b in paused
        ]
    return charts.rows_chart(
        chart_id=f"levels-{rx.id}",
        kind="levels",
        title="Level over time, with every decision",
        desc=(
            f"The level of prescription {rx.id} ({rx.program_name}) from its start on "
            f"{utc_text(t0)}: a bar for each stretch at a level and a marker for each decision "
            f"({len(decisions)}) and each level set by a clinician."
        ),
        x_label=f"days since prescribed ({t0.astimezone(UTC).date().isoformat()})",
        rows=rows,
        marks=marks,
        styles=EVENT_STYLES,
        spans=spans,
        span_styles=SPAN_STYLES,
        x_range=(0.0, max(1.0, days(end))),
        attrs={"prescription": str(rx.id), "decisions": str(len(decisions))},
    )


# -- what a prescription shows -------------------------------------------------------------------


@dataclass
class DecisionView:
    d: DecisionRecord
    inputs: Markup
    rules: Markup


@dataclass
class SessionRow:
    info: PracticeSessionInfo
    symptoms: dict[str, Any]  # symptom_trend's row
    decision: DecisionRecord | None


@dataclass
class RxView:
    rx: Prescription
    program: Program | None
    program_error: str | None
    program_notice: str | None
    level: Level | None
    exercises: list[ExerciseView]
    level_titles: dict[int, str]
    sessions: list[PracticeSessionInfo]
    symptoms: list[dict[str, Any]]
    session_rows: list[SessionRow]
    decisions: list[DecisionView]
    changes: list[PrescriptionChange]
    weeks: list[WeekAdherence]
    done: int
    prescribed: int
    adherence_svg: Markup
    symptoms_svg: Markup
    levels_svg: Markup

    @property
    def open(self) -> bool:
        return self.rx.status != "ended"


def rx_view(rx: Prescription, data_dir: Path, now: datetime) -> RxView:
    store = get_store()
    program, error, notice = None, None, None
    try:
        program = load_program(rx.program_name, data_dir)
    except ProgramError as exc:
        error = f"the program file cannot be read now: {exc}"
    level: Level | None = None
    titles: dict[int, str] = {}
    if program is not None:
        titles = {lv.number: lv.title for lv in program.levels}
        if program.sha256 != rx.program_hash:
            notice = (
                f"the program file changed since it was prescribed (version "
                f"{rx.program_version} -> {program.version}); the next session uses the new one"
            )
        if rx.current_level <= len(program.levels):
            level = program.level(rx.current_level)
        else:
            error = (
                f"{rx.program_name} has {len(program.levels)} levels now but the prescription is "
                f"at level {rx.current_level}: set the level below"
            )
    sessions = store.practice_sessions(rx.id)
    changes = store.prescription_changes(rx.id)
    decisions = store.decisions(rx.id)
    weeks = adherence(rx, sessions, changes, now_utc=now)
    trend = symptom_trend(sessions)
    after = {d.session_id: d for d in decisions if d.session_id is not None}
    return RxView(
        rx=rx,
        program=program,
        program_error=error,
        program_notice=notice,
        level=level,
        exercises=[exercise_view(e) for e in level.exercises] if level is not None else [],
        level_titles=titles,
        sessions=sessions,
        symptoms=trend,
        session_rows=[
            SessionRow(s, row, after.get(s.session_id))
            for s, row in zip(sessions, trend, strict=True)
        ],
        decisions=[DecisionView(d, readable(d.inputs), readable(d.rules)) for d in decisions],
        changes=changes,
        weeks=weeks,
        done=sum(w.done for w in weeks),
        prescribed=sum(w.prescribed for w in weeks),
        adherence_svg=adherence_chart(rx, weeks),
        symptoms_svg=symptoms_chart(rx, trend),
        levels_svg=level_chart(rx, decisions, changes, titles, now),
    )


# -- pages ---------------------------------------------------------------------------------------


def _participant_or_404(code: str) -> Participant:
    found = get_store().get_participant(code) if CODE_PATTERN.fullmatch(code) else None
    if found is None:
        shown = code[:40]
        hint = (
            "" if CODE_PATTERN.fullmatch(code) else ": a code is 1-32 letters, digits, '_' or '-'"
        )
        raise ApiError(404, f"no participant {shown!r}{hint}")
    return found


def _prescription_or_404(p: Participant, prescription_id: int) -> Prescription:
    if not 1 <= prescription_id <= MAX_ID:
        raise ApiError(404, f"no prescription {prescription_id}")
    try:
        rx = get_store().prescription(prescription_id)
    except StoreError as exc:
        if exc.field == "prescription_id":
            raise ApiError(404, f"no prescription {prescription_id}") from None
        raise
    if rx.participant_code != p.code:
        raise ApiError(404, f"no prescription {prescription_id} of {p.code}")
    return rx


def _render(p: Participant, status: int = 200, error: FormError | None = None) -> Any:
    data_dir = state().data_dir
    now = now_utc()
    store = get_store()
    all_rx = store.prescriptions(p.code, include_ended=True)
    order = sorted(all_rx, key=lambda r: (r.status == "ended", -r.created_utc.timestamp(), -r.id))
    views = [rx_view(rx, data_dir, now) for rx in order]
    choices = _program_choices(data_dir)
    audit(
        "practice.view",
        participant_code=p.code,
        detail={
            "page": "practice",
            "prescriptions": [v.rx.id for v in views],
            "sessions": [s.session_id for v in views for s in v.sessions],
            "decisions": sum(len(v.decisions) for v in views),
            **({"refused": error.message, "form": error.form} if error is not None else {}),
        },
    )
    return (
        render_template(
            "practice.html",
            p=p,
            views=views,
            choices=choices,
            error=error,
            form=request.form if error is not None else {},
            max_per_week=sc.MAX_SESSIONS_PER_WEEK,
            max_daily_cap=sc.MAX_DAILY_CAP,
            note_max=NOTE_MAX_LEN,
            now=now,
        ),
        status,
    )


@bp.get("/participants/<code>/practice")
@login_required()
def page(code: str) -> Any:
    check_query(())
    return _render(_participant_or_404(code))


def _back(p: Participant, rx_id: int | None = None) -> Any:
    anchor = f"#rx-{rx_id}" if rx_id is not None else ""
    return redirect(url_for("practice.page", code=p.code) + anchor, 303)


def _author() -> str:
    return str(g.user.name)


@bp.post("/participants/<code>/practice/prescribe")
@login_required()
def prescribe(code: str) -> Any:
    p = _participant_or_404(code)
    try:
        choices = {c.name: c for c in _program_choices(state().data_dir)}
        name = form_choice("prescribe", "program", "program", sorted(choices))
        program = choices[name].program
        if program is None:
            raise FormError("prescribe", f"program {name!r} cannot be used: {choices[name].error}")
        levels = len(program.levels)
        start = form_int("prescribe", "level", "start level", 1, levels)
        per_week, cap = _dose("prescribe")
        note = form_text("prescribe", "note", "note")
        try:
            rx = get_store().add_prescription(
                p.code,
                program.name,
                program_version=program.version,
                program_hash=program.sha256,
                levels=levels,
                start_level=start,
                sessions_per_week=per_week,
                daily_cap=cap,
                note=note,
                created_by=_author(),
                t_utc=now_utc(),
            )
        except StoreError as exc:
            raise refused("prescribe", exc) from None
    except FormError as exc:
        return _render(p, 400, exc)
    audit(
        "practice.prescribe",
        participant_code=p.code,
        detail={
            "prescription_id": rx.id,
            "program": rx.program_name,
            "version": rx.program_version,
            "start_level": rx.start_level,
            "sessions_per_week": rx.sessions_per_week,
            "daily_cap": rx.daily_cap,
        },
    )
    flash(
        f"Prescribed {rx.program_name} v{rx.program_version}: level {rx.current_level} of "
        f"{rx.levels}, {rx.sessions_per_week} sessions a week, at most {rx.daily_cap} a day."
    )
    return _back(p, rx.id)


def _changed(before: Prescription, after: Prescription, keys: Sequence[str]) -> dict[str, Any]:
    return {
        k: {"before": getattr(before, k), "after": getattr(after, k)}
        for k in keys
        if getattr(before, k) != getattr(after, k)
    }


@bp.post("/participants/<code>/practice/<int:prescription_id>/dose")
@login_required()
def dose(code: str, prescription_id: int) -> Any:
    p = _participant_or_404(code)
    rx = _prescription_or_404(p, prescription_id)
    form_id = f"dose-{rx.id}"
    try:
        per_week, cap = _dose(form_id)
        note = form_text(form_id, "note", "note")
        reason = form_text(form_id, "reason", "reason")
        try:
            new = get_store().update_prescription(
                rx.id,
                sessions_per_week=per_week,
                daily_cap=cap,
                note=note,
                reason=reason,
                author=_author(),
                t_utc=now_utc(),
            )
        except StoreError as exc:
            raise refused(form_id, exc) from None
    except FormError as exc:
        return _render(p, 400, exc)
    changed = _changed(rx, new, ("sessions_per_week", "daily_cap", "note"))
    if changed:
        audit(
            "practice.dose",
            participant_code=p.code,
            detail={"prescription_id": rx.id, "changed": changed, "reason": reason},
        )
        flash(
            f"{rx.program_name}: {new.sessions_per_week} sessions a week, at most "
            f"{new.daily_cap} a day{' (note changed)' if 'note' in changed else ''}."
        )
    else:
        flash(f"{rx.program_name}: nothing changed.")
    return _back(p, rx.id)


@bp.post("/participants/<code>/practice/<int:prescription_id>/status")
@login_required()
def status(code: str, prescription_id: int) -> Any:
    p = _participant_or_404(code)
    rx = _prescription_or_404(p, prescription_id)
    form_id = f"status-{rx.id}"
    try:
        action = form_choice(form_id, "action", "action", tuple(STATUS_ACTIONS))
        reason = form_text(form_id, "reason", "reason")
        try:
            new = get_store().update_prescription(
                rx.id,
                status=STATUS_ACTIONS[action],
                reason=reason,
                author=_author(),
                t_utc=now_utc(),
            )
        except StoreError as exc:
            raise refused(form_id, exc) from None
    except FormError as exc:
        return _render(p, 400, exc)
    if new.status != rx.status:
        audit(
            "practice.status",
            participant_code=p.code,
            detail={
                "prescription_id": rx.id,
                "before": rx.status,
                "after": new.status,
                "reason": reason,
            },
        )
        flash(f"{rx.program_name}: {new.status}.")
    else:
        flash(f"{rx.program_name}: already {rx.status}, nothing changed.")
    return _back(p, rx.id)


@bp.post("/participants/<code>/practice/<int:prescription_id>/level")
@login_required()
def level(code: str, prescription_id: int) -> Any:
    p = _participant_or_404(code)
    rx = _prescription_or_404(p, prescription_id)
    form_id = f"level-{rx.id}"
    try:
        new_level = form_int(form_id, "level", "level", 1, rx.levels)
        reason = form_text(form_id, "reason", "reason", required=True)
        try:
            new = get_store().override_level(
                rx.id, new_level, reason=reason, author=_author(), t_utc=now_utc()
            )
        except StoreError as exc:
            raise refused(form_id, exc) from None
    except FormError as exc:
        return _render(p, 400, exc)
    audit(
        "practice.level",
        participant_code=p.code,
        detail={
            "prescription_id": rx.id,
            "before": rx.current_level,
            "after": new.current_level,
            "reason": reason,
        },
    )
    flash(f"{rx.program_name}: level {rx.current_level} -> {new.current_level}.")
    return _back(p, rx.id)


# -- a practice session ----------------------------------------------------------------------------


@dataclass
class SetRow:
    index: int
    trials: list[Any]  # PracticeTrial
    values: list[str]  # one per criterion metric
    counted: bool  # enough complete trials to count


@dataclass
class BlockView:
    title: str
    exercise: str
    hand: str
    protocol: str
    dose: str
    metrics: list[tuple[str, str]]  # (metric words, goal)
    sets: list[SetRow]
    medians: list[str]


def _block_views(info: PracticeSessionInfo) -> list[BlockView]:
    record = session_record(info)
    out = []
    for b, rec in zip(info.plan.get("blocks", []), record.blocks, strict=False):
        protocol = str(b.get("protocol", ""))
        known = CRITERION_METRICS.get(protocol, {})
        criteria = [c for c in b.get("criteria", []) if isinstance(c, Mapping)]
        names = [str(c.get("metric")) for c in criteria]
        units = {n: (known[n].unit if n in known else "") for n in names}
        metrics = [
            (known[n].words if n in known else n, str(c.get("goal", "")))
            for n, c in zip(names, criteria, strict=True)
        ]
        trials = [t for t in info.trials if t.exercise == rec.exercise and t.hand == rec.hand]
        sets = [
            SetRow(
                s.set_index,
                [t for t in trials if t.set_index == s.set_index],
                [format_value(s.values.get(n), units[n]) for n in names],
                s.complete,
            )
            for s in rec.sets
        ]
        medians = [format_value(rec.session_value(n), units[n]) for n in names]
        rest = b.get("rest_s", 0)
        out.append(
            BlockView(
                title=str(b.get("title", rec.exercise)),
                exercise=rec.exercise,
                hand=rec.hand,
                protocol=protocol_title(protocol) if protocol in PROTOCOLS else protocol,
                dose=f"{b.get('sets')} sets x {b.get('reps')} reps, rest {rest:g} s",
                metrics=metrics,
                sets=sets,
                medians=medians,
            )
        )
    return out


def _find_practice_session(
    s: SessionInfo,
) -> tuple[Prescription, PracticeSessionInfo] | None:
    store = get_store()
    for rx in store.prescriptions(s.participant_code, include_ended=True):
        for info in store.practice_sessions(rx.id, since_utc=s.started_utc - timedelta(seconds=1)):
            if info.session_id == s.id:
                return rx, info
    return None


@bp.get("/practice/sessions/<int:practice_session_id>")
@login_required()
def session(practice_session_id: int) -> Any:
    check_query(())
    sid = practice_session_id
    if not 1 <= sid <= MAX_ID:
        raise ApiError(404, f"no session {sid}")
    store = get_store()
    try:
        s = store.session(sid)
    except StoreError as exc:
        if exc.field == "session_id":
            raise ApiError(404, f"no session {sid}") from None
        raise
    found = _find_practice_session(s) if s.kind == "practice" else None
    if found is None:
        raise ApiError(404, f"session {sid} is not a practice session (see /sessions/{sid})")
    rx, info = found
    decisions = [d for d in store.decisions(rx.id) if d.session_id == sid]
    ratings: list[Rating] = list(info.ratings)
    audit(
        "practice.session_view",
        participant_code=s.participant_code,
        detail={
            "session_id": sid,
            "prescription_id": rx.id,
            "trials": len(info.trials),
            "ratings": len(ratings),
            "decisions": [d.id for d in decisions],
        },
    )
    return render_template(
        "practice_session.html",
        s=s,
        rx=rx,
        info=info,
        blocks=_block_views(info),
        ratings=ratings,
        decisions=[DecisionView(d, readable(d.inputs), readable(d.rules)) for d in decisions],
        exports=PARTICIPANT_EXPORTS,
    )
