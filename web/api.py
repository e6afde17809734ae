"""The JSON API, ``/api/v1``: participants, sessions, trials (metrics and raw data), results,
batteries. Every route needs a signed-in user (session cookie or API token); every view of
participant data is written to the audit log before the data is sent. The routes are described
in :mod:`web.openapi` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, g, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from station.battery import battery_names, load_battery
from station.errors import StationError
from station.results import participant_results
from station.store import SessionInfo, Store, StoreError, TrialInfo
from station.store import schema as sc
from web import serialize
from web.auth import login_required
from web.errors import ApiError
from web.openapi import build_openapi
from web.params import check_query, path_code, path_id, query_int, query_text
from web.state import audit, get_store, state

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 50
MAX_SEARCH: Final = 64


def _participant_exists(code: str) -> None:
    if get_store().get_participant(code) is None:
        raise ApiError(404, f"no participant {code!r}")


def _session(session_id: int) -> SessionInfo:
    try:
        return get_store().session(session_id)
    except StoreError as exc:
        if exc.field == "session_id":
            raise ApiError(404, f"no session {session_id}") from None
        raise


def _trial(trial_id: int) -> TrialInfo:
    try:
        return get_store().trial(trial_id)
    except StoreError as exc:
        if exc.field == "trial_id":
            raise ApiError(404, f"no trial {trial_id}") from None
        raise


def count_participants(store: Store, search: str | None) -> int:
    """How many participants :meth:`Store.list_participants` would list without a limit."""
    p = sc.participants
    query = select(func.count()).select_from(p)
    if search:
        query = query.where(
            p.c.code.icontains(search, autoescape=True)
            | p.c.notes.icontains(search, autoescape=True)
        )
    try:
        with store.reading() as conn:
            return int(conn.scalar(query) or 0)
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.path}: database error ({exc})") from None


@bp.get("/me")
@login_required()
def me() -> Any:
    check_query(())
    user = g.user
    token = g.token
    return jsonify(
        {
            "name": user.name,
            "role": user.role,
            "via": g.via,
            "token": serialize.token(token) if token is not None else None,
        }
    )


@bp.get("/openapi.json")
@login_required()
def openapi() -> Any:
    check_query(())
    return jsonify(build_openapi())


@bp.get("/participants")
@login_required()
def participants() -> Any:
    check_query(("search", "limit", "offset"))
    search = query_text("search", MAX_SEARCH)
    limit = query_int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = query_int("offset", 0, 0, 2**31 - 1)
    store = get_store()
    items = store.list_participants(search=search, limit=limit, offset=offset)
    total = count_participants(store, search)
    codes = [p.code for p in items]
    audit("participants.list", detail={"search": search, "codes": codes})
    return jsonify(
        {
            "items": [serialize.participant(p) for p in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/participants/<code>")
@login_required()
def participant(code: str) -> Any:
    check_query(())
    code = path_code(code)
    found = get_store().get_participant(code)
    if found is None:
        raise ApiError(404, f"no participant {code!r}")
    audit("participant.view", participant_code=code)
    return jsonify(serialize.participant(found))


@bp.get("/participants/<code>/sessions")
@login_required()
def participant_sessions(code: str) -> Any:
    check_query(())
    code = path_code(code)
    _participant_exists(code)
    try:
        sessions = get_store().participant_sessions(code)
    except StoreError as exc:
        if exc.field == "code":
            raise ApiError(404, f"no participant {code!r}") from None
        raise
    audit("participant.sessions", participant_code=code)
    return jsonify({"participant_code": code, "items": [serialize.session(s) for s in sessions]})


@bp.get("/participants/<code>/results")
@login_required()
def participant_results_view(code: str) -> Any:
    check_query(())
    code = path_code(code)
    _participant_exists(code)
    report = participant_results(get_store(), code, state().data_dir)
    audit("participant.results", participant_code=code)
    return jsonify(serialize.finite(report))


@bp.get("/sessions/<session_id>")
@login_required()
def session(session_id: str) -> Any:
    check_query(())
    found = _session(path_id(session_id, "session id"))
    audit("session.view", participant_code=found.participant_code, detail={"session_id": found.id})
    return jsonify(serialize.session(found))


@bp.get("/sessions/<session_id>/trials")
@login_required()
def session_trials(session_id: str) -> Any:
    check_query(())
    found = _session(path_id(session_id, "session id"))
    trials = get_store().session_trials(found.id)
    audit(
        "session.trials", participant_code=found.participant_code, detail={"session_id": found.id}
    )
    return jsonify({"session_id": found.id, "items": [serialize.trial(t) for t in trials]})


@bp.get("/trials/<trial_id>")
@login_required()
def trial(trial_id: str) -> Any:
    check_query(())
    found = _trial(path_id(trial_id, "trial id"))
    audit("trial.view", participant_code=found.participant_code, detail={"trial_id": found.id})
    return jsonify(serialize.trial(found))


@bp.get("/trials/<trial_id>/raw")
@login_required()
def trial_raw(trial_id: str) -> Any:
    check_query(())
    found = _trial(path_id(trial_id, "trial id"))
    store = get_store()
    data = store.trial_data(found.id)
    sess = store.session(found.session_id)
    audit(
        "trial.raw",
        participant_code=found.participant_code,
        export_kind="raw",
        detail={"trial_id": found.id},
    )
    return jsonify(serialize.raw(found, sess, data))


@bp.get("/batteries")
@login_required()
def batteries() -> Any:
    check_query(())
    data_dir = state().data_dir
    items = []
    for name in battery_names(data_dir):
        try:
            items.append(serialize.battery(load_battery(name, data_dir)))
        except StationError as exc:  # a clinic's own file with a mistake: listed, not fatal
            items.append(
                {"name": name, "title": None, "sha256": None, "steps": [], "error": str(exc)}
            )
    return jsonify({"items": items})
