"""The pages clinicians see: the participant list (search, pages), a participant's progress
charts and sessions, a session's trials with their raw data drawn, and the station's status.
What self-guided mode records is shown with them: on a participant's page their pain and
fatigue ratings over time (:func:`web.progress.build_symptoms`), their assignments and whether a
self-guided PIN is set or locked (never the PIN or its hash); on a session's page its ratings
and the notes added to it and its trials, with author and time.

Every page needs a signed-in user; every page showing participant data writes the audit log
first, with the same actions as the API (``participants.list``, ``participant.view``,
``session.view``). Charts are inline SVG drawn on the server (:mod:`web.charts`), so the pages
work without JavaScript. An unknown participant or session is a 404 page, a malformed query a
400 page naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from flask import Blueprint, g, render_template
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from station import __version__
from station.errors import StationError
from station.protocols import PROTOCOLS
from station.records import Metric
from station.reports.common import RATING_SCALE_TEXT, rating_when_text
from station.selftest import LAST_REPORT_FILENAME, load_last_report
from station.store import (
    Rating,
    SelfGuidedAccess,
    SessionInfo,
    SessionNote,
    Store,
    StoreError,
    TrialInfo,
)
from station.store import schema as sc
from station.store.store import CODE_PATTERN, DB_FILENAME
from station.ui.selfguided import DEFAULT_PAIN_STOP_AT
from web.api import MAX_SEARCH, count_participants
from web.auth import login_required
from web.charts import hand_key
from web.errors import ApiError
from web.params import MAX_ID, check_query, query_int, query_text
from web.progress import build_progress, build_symptoms, metric_label, protocol_title, unit_label
from web.state import audit, get_store, state
from web.trial_plots import TrialPlot, summary_flags, trial_plot

bp = Blueprint("dashboard", __name__)

#: Participants per page of the list.
PAGE_SIZE: Final = 25
MAX_PAGE: Final = 10**6
PARTICIPANT_EXPORTS: Final = (
    ("CSV", "export.csv"),
    ("JSON", "export.json"),
    ("PDF report", "export.pdf"),
    ("FHIR bundle", "export.fhir.json"),
)


# -- small helpers for the templates -----------------------------------------------------------------


def utc_text(t: datetime | None) -> str:
    if t is None:
        return "-"
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def value_text(m: Metric) -> str:
    if m.value is None or not math.isfinite(m.value):
        return "-"
    unit = unit_label(m.unit, m.name)
    number = f"{m.value:.4g}" if abs(m.value) < 1e6 else f"{m.value:.0f}"
    return number if unit in ("count", "ratio") else f"{number} {unit}"


@bp.app_template_filter("utc")
def _utc_filter(t: datetime | None) -> str:
    return utc_text(t)


@bp.app_template_filter("metric_value")
def _metric_value_filter(m: Metric) -> str:
    return value_text(m)


@bp.app_template_filter("metric_label")
def _metric_label_filter(m: Metric) -> str:
    return metric_label(m.name, m.unit)


@bp.app_template_filter("protocol_title")
def _protocol_title_filter(name: str) -> str:
    return protocol_title(name)


@bp.app_template_filter("rating_when")
def _rating_when_filter(r: Rating) -> str:
    return rating_when_text(r)


def pin_status(access: SelfGuidedAccess, now: datetime) -> tuple[str, bool]:
    """A participant's self-guided sign-in in words, and whether it needs a clinician's eye
    (blocked or locked)."""
    if not access.has_pin:
        return "no PIN set: the participant cannot sign in on their own", False
    if access.blocked:
        return (
            f"blocked after {access.failures} wrong PINs in a row: a clinician sets a new PIN "
            "on the station",
            True,
        )
    until = access.locked_until_utc
    if until is not None and until.replace(tzinfo=until.tzinfo or UTC) > now:
        return f"locked until {utc_text(until)} (too many wrong PINs)", True
    tries = f" ({access.failures} wrong in a row)" if access.failures else ""
    return f"PIN set{tries}", False


def _not_found_participant(code: str) -> ApiError:
    if CODE_PATTERN.fullmatch(code):
        return ApiError(404, f"no participant {code!r}")
    return ApiError(
        404,
        f"no participant {code[:40]!r}: a code is 1-32 letters, digits, '_' or '-'",
    )


def _session_or_404(session_id: int) -> SessionInfo:
    if not 1 <= session_id <= MAX_ID:
        raise ApiError(404, f"no session {session_id}")
    try:
        return get_store().session(session_id)
    except StoreError as exc:
        if exc.field == "session_id":
            raise ApiError(404, f"no session {session_id}") from None
        raise


# -- pages -------------------------------------------------------------------------------------------


@bp.get("/")
@login_required()
def home() -> Any:
    return render_template("home.html", user=g.user)


def _activity(store: Store, codes: list[str]) -> dict[str, tuple[int, datetime | None]]:
    """(number of sessions, latest session start) of each participant in ``codes``."""
    if not codes:
        return {}
    p, s = sc.participants, sc.sessions
    query = (
        select(p.c.code, func.count(s.c.id), func.max(s.c.started_utc))
        .select_from(p.outerjoin(s, s.c.participant_id == p.c.id))
        .where(p.c.code.in_(codes))
        .group_by(p.c.code)
    )
    try:
        with store.reading() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.path}: database error ({exc})") from None
    out: dict[str, tuple[int, datetime | None]] = {}
    for code, n, latest in rows:
        if isinstance(latest, str):  # SQLite's max() of a text column
            latest = datetime.fromisoformat(latest)
        if isinstance(latest, datetime) and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        out[code] = (int(n), latest)
    return out


@bp.get("/participants")
@login_required()
def participants() -> Any:
    check_query(("q", "page"))
    search = query_text("q", MAX_SEARCH)
    page = query_int("page", 1, 1, MAX_PAGE)
    store = get_store()
    total = count_participants(store, search)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    items = store.list_participants(search=search, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    codes = [p.code for p in items]
    activity = _activity(store, codes)
    audit("participants.list", detail={"search": search, "codes": codes, "page": page})
    return render_template(
        "participants.html",
        items=items,
        activity=activity,
        search=search or "",
        page=page,
        pages=pages,
        total=total,
        first=(page - 1) * PAGE_SIZE + 1,
        page_size=PAGE_SIZE,
    )


@bp.get("/participants/<code>")
@login_required()
def participant(code: str) -> Any:
    check_query(())
    store = get_store()
    found = store.get_participant(code) if CODE_PATTERN.fullmatch(code) else None
    if found is None:
        raise _not_found_participant(code)
    sessions = store.participant_sessions(found.code)
    progress = build_progress(store, found.code, state().data_dir, sessions)
    symptoms = build_symptoms(store.ratings(found.code), found.code)
    assignments = store.assignments(found.code, active_only=False)
    access = store.self_guided_access(found.code)
    audit(
        "participant.view",
        participant_code=found.code,
        detail={
            "page": "dashboard",
            "sessions": [s.id for s in sessions],
            "ratings": symptoms.points,
            "assignments": [a.id for a in assignments],
        },
    )
    return render_template(
        "participant.html",
        p=found,
        sessions=sessions,
        progress=progress,
        symptoms=symptoms,
        scale_text=RATING_SCALE_TEXT,
        assignments=assignments,
        access=access,
        pin_status=pin_status(access, datetime.now(UTC)),
        pain_stop_at=access.pain_stop_at or DEFAULT_PAIN_STOP_AT,
        exports=PARTICIPANT_EXPORTS,
    )


@dataclass
class TrialView:
    info: TrialInfo
    key_metrics: list[Metric]
    other_metrics: list[Metric]
    flags: list[str]
    plot: TrialPlot
    added_notes: list[SessionNote]  #: notes on the trial made after it was stored


def _split_metrics(info: TrialInfo) -> tuple[list[Metric], list[Metric]]:
    cls = PROTOCOLS.get(info.protocol)
    keys = cls.key_metrics if cls is not None else ()
    key = sorted((m for m in info.metrics if m.name in keys), key=lambda m: keys.index(m.name))
    if not key:
        key = list(info.metrics[:4])
    chosen = {id(m) for m in key}
    return key, [m for m in info.metrics if id(m) not in chosen]


@dataclass
class SummaryRow:
    protocol: str
    metric: Metric  #: the first hand's (for the name and unit)
    by_hand: dict[str, Metric]


def _summary(s: SessionInfo) -> tuple[list[str], list[SummaryRow]]:
    """The session's summary metrics as one row per protocol and measure, a column per hand."""
    rows: dict[tuple[str, str], SummaryRow] = {}
    hands: list[str] = []
    for sm in s.metrics:
        key = (sm.protocol, sm.metric.name)
        if key not in rows:
            rows[key] = SummaryRow(sm.protocol, sm.metric, {})
        rows[key].by_hand[sm.hand] = sm.metric
        if sm.hand not in hands:
            hands.append(sm.hand)
    hands.sort(key=hand_key)
    return hands, list(rows.values())


@bp.get("/sessions/<int:session_id>")
@login_required()
def session(session_id: int) -> Any:
    check_query(())
    found = _session_or_404(session_id)
    store = get_store()
    notes = store.session_notes(found.id)
    by_trial: dict[int, list[SessionNote]] = {}
    for n in notes:
        if n.trial_id is not None:
            by_trial.setdefault(n.trial_id, []).append(n)
    views: list[TrialView] = []
    for info in store.iter_trials(session_id=found.id, with_data=True):
        data = info.data
        assert data is not None
        key, other = _split_metrics(info)
        plot = trial_plot(info, data, f"trial-{info.id}")
        added = by_trial.pop(info.id, [])
        views.append(TrialView(info, key, other, summary_flags(info, data), plot, added))
    ratings = store.ratings(found.participant_code, session_id=found.id)
    audit(
        "session.view",
        participant_code=found.participant_code,
        detail={
            "session_id": found.id,
            "page": "dashboard",
            "trials_drawn": len(views),
            "ratings": len(ratings),
            "notes": len(notes),
        },
    )
    hands, summary = _summary(found)
    return render_template(
        "session.html",
        s=found,
        hands=hands,
        summary=summary,
        trials=views,
        ratings=ratings,
        scale_text=RATING_SCALE_TEXT,
        # the session's own notes (and any of a trial not listed, which cannot happen)
        session_notes=[n for n in notes if n.trial_id is None or n.trial_id in by_trial],
        exports=PARTICIPANT_EXPORTS,
    )


# -- station status ------------------------------------------------------------------------------------


@dataclass
class Counts:
    participants: int
    sessions: dict[str, int]
    trials: dict[str, int]


def _counts(store: Store) -> Counts:
    p, s, t = sc.participants, sc.sessions, sc.trials
    try:
        with store.reading() as conn:
            n_participants = int(conn.scalar(select(func.count()).select_from(p)) or 0)
            sessions = {
                str(k): int(n)
                for k, n in conn.execute(select(s.c.status, func.count()).group_by(s.c.status))
            }
            trials = {
                str(k): int(n)
                for k, n in conn.execute(select(t.c.status, func.count()).group_by(t.c.status))
            }
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.path}: database error ({exc})") from None
    return Counts(n_participants, sessions, trials)


@dataclass
class LastActivity:
    session: SessionInfo | None
    trial_id: int | None = None
    trial_protocol: str | None = None
    trial_status: str | None = None
    trial_end_utc: datetime | None = None


def _last_activity(store: Store) -> LastActivity:
    s, t = sc.sessions, sc.trials
    try:
        with store.reading() as conn:
            sid = conn.scalar(
                select(s.c.id).order_by(s.c.started_utc.desc(), s.c.id.desc()).limit(1)
            )
            row = conn.execute(
                select(
                    t.c.id,
                    t.c.protocol,
                    t.c.status,
                    t.c.start_t_ns,
                    t.c.end_t_ns,
                    s.c.anchor_mono_ns,
                    s.c.anchor_wall_ns,
                )
                .select_from(t.join(s, t.c.session_id == s.c.id))
                .order_by(s.c.started_utc.desc(), s.c.id.desc(), t.c.seq.desc())
                .limit(1)
            ).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.path}: database error ({exc})") from None
    activity = LastActivity(store.session(int(sid)) if sid is not None else None)
    if row is not None:
        t_ns = row.end_t_ns if row.end_t_ns is not None else row.start_t_ns
        wall_ns = row.anchor_wall_ns + (t_ns - row.anchor_mono_ns)
        activity.trial_id = int(row.id)
        activity.trial_protocol = str(row.protocol)
        activity.trial_status = str(row.status)
        try:
            activity.trial_end_utc = datetime.fromtimestamp(wall_ns / 1e9, UTC)
        except (OverflowError, OSError, ValueError):
            activity.trial_end_utc = None
    return activity


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


@bp.get("/status")
@login_required()
def status() -> Any:
    check_query(("check",))
    check = query_text("check", 16)
    if check not in (None, "integrity"):
        raise ApiError(
            400, f"query parameter 'check': {check[:40]!r} is not valid (give 'integrity')"
        )
    store = get_store()
    data_dir = state().data_dir
    integrity = store.integrity_check() if check == "integrity" else None
    selftest, selftest_error = None, None
    try:
        selftest = load_last_report(data_dir)
    except StationError as exc:  # unreadable: said on the page
        selftest_error = str(exc)
    db = data_dir / DB_FILENAME
    return render_template(
        "status.html",
        counts=_counts(store),
        activity=_last_activity(store),
        selftest=selftest,
        selftest_error=selftest_error,
        selftest_file=data_dir / LAST_REPORT_FILENAME,
        integrity=integrity,
        db_path=db,
        db_bytes=_file_size(db),
        wal_bytes=_file_size(db.with_name(db.name + "-wal")),
        software_version=__version__,
        now=datetime.now(UTC),
    )
