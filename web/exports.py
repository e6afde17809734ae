"""Downloads of a participant's or a session's data: tidy CSV, JSON, a PDF report and a FHIR
R4B bundle (:mod:`station.store.export`, :mod:`station.reports`).

``/participants/<code>/export.{csv,json,pdf,fhir.json}`` and
``/sessions/<id>/export.{csv,json,pdf,fhir.json}``: for signed-in users (clinicians and admins,
by browser session or API token). Each download is written to the audit log (``participant.export``
or ``session.export``, export kind ``csv``, ``json``, ``pdf`` or ``fhir``) before it is sent, and
comes as an attachment with a file name made of the participant code and session id only.
An unknown participant or session is a 404 (JSON or HTML, as the client prefers).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Final

from flask import Blueprint, Response, current_app

from station.reports import ReportError, load_report_data
from station.reports import pdf as pdf_reports
from station.reports.fhir import build_bundle, bundle_json
from station.store import SessionInfo, StoreError
from station.store.export import export_csv, export_json
from web.auth import login_required
from web.errors import ApiError
from web.params import MAX_ID, check_query, path_code
from web.state import audit, get_store, state

bp = Blueprint("exports", __name__)

#: format -> (content type, file name ending, audit export kind)
FORMATS: Final = {
    "csv": ("text/csv; charset=utf-8", "csv", "csv"),
    "json": ("application/json", "json", "json"),
    "pdf": ("application/pdf", "pdf", "pdf"),
    "fhir": ("application/fhir+json", "fhir.json", "fhir"),
}


def _text(write: Callable[[io.StringIO], object]) -> bytes:
    out = io.StringIO()
    write(out)
    return out.getvalue().encode("utf-8")


def _not_found(exc: StoreError | ReportError, what: str) -> ApiError:
    """A 404 for a participant or session gone since it was looked up; other errors go on."""
    if exc.field in ("code", "session_id"):
        return ApiError(404, f"no {what}")
    raise exc


def _download(body: bytes, fmt: str, stem: str) -> Response:
    content_type, ending, _ = FORMATS[fmt]
    response = current_app.response_class(body, content_type=content_type)
    response.headers.set("Content-Disposition", "attachment", filename=f"{stem}.{ending}")
    return response


# -- participants --------------------------------------------------------------------------------


def _participant_body(code: str, fmt: str) -> bytes:
    store = get_store()
    if fmt == "csv":
        return _text(lambda out: export_csv(store, out, participant_code=code))
    if fmt == "json":
        return _text(lambda out: export_json(store, out, participant_code=code, indent=2))
    if fmt == "pdf":
        return pdf_reports.participant_pdf(store, code, data_dir=state().data_dir)
    bundle = build_bundle(load_report_data(store, participant_code=code))
    return (bundle_json(bundle) + "\n").encode("utf-8")


def _participant_export(code: str, fmt: str) -> Response:
    check_query(())
    code = path_code(code)
    if get_store().get_participant(code) is None:
        raise ApiError(404, f"no participant {code!r}")
    try:
        body = _participant_body(code, fmt)
    except (StoreError, ReportError) as exc:
        raise _not_found(exc, f"participant {code!r}") from None
    stem = f"dexterity-{code}"
    audit(
        "participant.export",
        participant_code=code,
        export_kind=FORMATS[fmt][2],
        detail={"format": fmt, "filename": f"{stem}.{FORMATS[fmt][1]}"},
    )
    return _download(body, fmt, stem)


@bp.get("/participants/<code>/export.csv")
@login_required()
def participant_csv(code: str) -> Response:
    return _participant_export(code, "csv")


@bp.get("/participants/<code>/export.json")
@login_required()
def participant_json(code: str) -> Response:
    return _participant_export(code, "json")


@bp.get("/participants/<code>/export.pdf")
@login_required()
def participant_pdf(code: str) -> Response:
    return _participant_export(code, "pdf")


@bp.get("/participants/<code>/export.fhir.json")
@login_required()
def participant_fhir(code: str) -> Response:
    return _participant_export(code, "fhir")


# -- sessions ------------------------------------------------------------------------------------


def _session(session_id: int) -> SessionInfo:
    if not 1 <= session_id <= MAX_ID:
        raise ApiError(404, f"no session {session_id}")
    try:
        return get_store().session(session_id)
    except StoreError as exc:
        raise _not_found(exc, f"session {session_id}") from None


def _session_body(session_id: int, fmt: str) -> bytes:
    store = get_store()
    if fmt == "csv":
        return _text(lambda out: export_csv(store, out, session_id=session_id))
    if fmt == "json":
        return _text(lambda out: export_json(store, out, session_id=session_id, indent=2))
    if fmt == "pdf":
        return pdf_reports.session_pdf(store, session_id)
    bundle = build_bundle(load_report_data(store, session_id=session_id))
    return (bundle_json(bundle) + "\n").encode("utf-8")


def _session_export(session_id: int, fmt: str) -> Response:
    check_query(())
    found = _session(session_id)
    try:
        body = _session_body(found.id, fmt)
    except (StoreError, ReportError) as exc:
        raise _not_found(exc, f"session {session_id}") from None
    stem = f"dexterity-{found.participant_code}-session-{found.id}"
    audit(
        "session.export",
        participant_code=found.participant_code,
        export_kind=FORMATS[fmt][2],
        detail={"session_id": found.id, "format": fmt, "filename": f"{stem}.{FORMATS[fmt][1]}"},
    )
    return _download(body, fmt, stem)


@bp.get("/sessions/<int:session_id>/export.csv")
@login_required()
def session_csv(session_id: int) -> Response:
    return _session_export(session_id, "csv")


@bp.get("/sessions/<int:session_id>/export.json")
@login_required()
def session_json(session_id: int) -> Response:
    return _session_export(session_id, "json")


@bp.get("/sessions/<int:session_id>/export.pdf")
@login_required()
def session_pdf(session_id: int) -> Response:
    return _session_export(session_id, "pdf")


@bp.get("/sessions/<int:session_id>/export.fhir.json")
@login_required()
def session_fhir(session_id: int) -> Response:
    return _session_export(session_id, "fhir")
