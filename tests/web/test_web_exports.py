"""Downloads of participant and session data (web/exports.py): signed-in users only, audited
before they are sent, attachments with safe names, the store's values in every format, and a
clear 4xx for anything wrong."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask import Flask
from flask.testing import FlaskClient

from station.reports.fhir import LOINC, METRIC_SYSTEM, SNOMED, UCUM
from station.store.export import CSV_COLUMNS
from tests.web.conftest import AuthActions, Filled, accounts_of, bearer, csrf_of, state_of

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "pdf": "application/pdf",
    "fhir.json": "application/fhir+json",
}
KINDS = {"csv": "csv", "json": "json", "pdf": "pdf", "fhir.json": "fhir"}


def _audit_total(app: Flask) -> int:
    return accounts_of(app).audit_entries(limit=1)[1]


@pytest.mark.parametrize("ending", list(FORMATS))
def test_a_participant_download(
    app: Flask, client: FlaskClient, auth: AuthActions, filled: Filled, ending: str
) -> None:
    auth.sign_in("alice")
    before = _audit_total(app)
    response = client.get(f"/participants/P001/export.{ending}")
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == FORMATS[ending]
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=dexterity-P001.{ending}"
    )
    assert response.headers["Cache-Control"] == "no-store"
    # written to the audit log: who, what, which participant, which export
    entries, total = accounts_of(app).audit_entries(limit=1)
    assert total == before + 1
    entry = entries[0]
    assert (entry.action, entry.participant_code, entry.export_kind) == (
        "participant.export",
        "P001",
        KINDS[ending],
    )
    assert entry.user_name == "alice" and entry.via == "session" and entry.method == "GET"
    assert entry.route == f"/participants/P001/export.{ending}"
    assert entry.detail["filename"] == f"dexterity-P001.{ending}"
    body = response.data
    if ending == "csv":
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert {r["participant"] for r in rows} == {"P001"}
        assert {int(r["session_id"]) for r in rows} == set(filled.sessions["P001"])
    elif ending == "json":
        doc = json.loads(body)
        assert [p["code"] for p in doc["participants"]] == ["P001"]
        assert len(doc["participants"][0]["sessions"]) == 2
    elif ending == "pdf":
        assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    else:
        bundle = Bundle.model_validate_json(body)
        assert bundle.type == "collection"
        assert bundle.entry[0].resource.identifier[0].value == "P001"


@pytest.mark.parametrize("ending", list(FORMATS))
def test_a_session_download_by_token(
    app: Flask, client: FlaskClient, filled: Filled, admin_token: str, ending: str
) -> None:
    sid = filled.sessions["P002"][0]
    response = client.get(f"/sessions/{sid}/export.{ending}", headers=bearer(admin_token))
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"] == FORMATS[ending]
    name = f"dexterity-P002-session-{sid}.{ending}"
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    entry = accounts_of(app).audit_entries(limit=1)[0][0]
    assert (entry.action, entry.participant_code, entry.export_kind) == (
        "session.export",
        "P002",
        KINDS[ending],
    )
    assert entry.user_name == "root" and entry.via == "token"
    assert entry.detail == {"session_id": sid, "format": KINDS[ending], "filename": name}
    if ending == "csv":
        rows = list(csv.DictReader(io.StringIO(response.data.decode())))
        assert {(r["participant"], r["session_id"]) for r in rows} == {("P002", str(sid))}


def test_the_fhir_observations_hold_the_store_values(
    app: Flask, client: FlaskClient, filled: Filled, clinician_token: str
) -> None:
    sid = filled.sessions["P001"][1]
    with app.app_context():
        session = state_of(app).store.session(sid)
    stored = {(sm.hand, sm.metric.name): sm.metric.value for sm in session.metrics}
    response = client.get(f"/sessions/{sid}/export.fhir.json", headers=bearer(clinician_token))
    doc = json.loads(response.data)
    summaries = {
        o["identifier"][0]["value"].rsplit("/", 1)[1]: o
        for o in (e["resource"] for e in doc["entry"])
        if o["resourceType"] == "Observation" and "/session/" in o["identifier"][0]["value"]
    }
    assert set(summaries) == {"right", "left"}
    for hand, laterality in (("right", "24028007"), ("left", "7771000")):
        o = summaries[hand]
        assert o["valueQuantity"] == {
            "value": stored[(hand, "total_time")],
            "unit": "s",
            "system": UCUM,
            "code": "s",
        }
        assert {(c["system"], c["code"]) for c in o["bodySite"]["coding"]} == {(SNOMED, laterality)}
        assert o["code"]["coding"][-1] == {
            "system": METRIC_SYSTEM,
            "code": "nine_hole_peg/total_time",
            "display": "total_time",
        }
        assert not any(c["system"] == LOINC for c in o["code"]["coding"])  # not the 9HPT time
    assert stored[("right", "total_time")] == 16.0


def test_anonymous_users_get_nothing_and_nothing_is_audited(
    app: Flask, client: FlaskClient, filled: Filled
) -> None:
    before = _audit_total(app)
    sid = filled.sessions["P001"][0]
    for url in (f"/participants/P001/export.{e}" for e in FORMATS):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith(
            "/auth/sign-in"
        )
        assert b"%PDF" not in response.data and b"total_time" not in response.data
    for url in (f"/sessions/{sid}/export.{e}" for e in FORMATS):
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 401
        assert response.json["error"]["status"] == 401
        response = client.get(url, headers=bearer("dxs_not-a-token"))
        assert response.status_code == 302  # a browser address: to the sign-in page
        assert b"total_time" not in response.data
    assert _audit_total(app) == before


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/participants/P999/export.csv", 404, "no participant 'P999'"),
        ("/participants/P999/export.fhir.json", 404, "no participant 'P999'"),
        ("/sessions/999/export.pdf", 404, "no session 999"),
        ("/sessions/0/export.json", 404, "no session 0"),
        ("/sessions/99999999999999999999999/export.csv", 404, "no session"),
        ("/sessions/-1/export.csv", 404, "no such page"),
        ("/sessions/abc/export.csv", 404, "no such page"),
        ("/participants/P001/export.xml", 404, "no such page"),
        ("/participants/P.1/export.csv", 400, "participant code: 'P.1' is not valid"),
        ("/participants/P001/export.csv?raw=1", 400, "unknown query parameter 'raw'"),
        ("/sessions/1/export.pdf?x=1&x=2", 400, "unknown query parameter 'x'"),
    ],
)
def test_wrong_addresses_get_a_clear_answer(
    app: Flask, client: FlaskClient, clinician_token: str, url: str, status: int, message: str
) -> None:
    before = _audit_total(app)
    response = client.get(url, headers={**bearer(clinician_token), "Accept": "application/json"})
    assert response.status_code == status, response.data[:300]
    assert response.json["error"]["status"] == status
    assert message in response.json["error"]["message"]
    html = client.get(url, headers={**bearer(clinician_token), "Accept": "text/html"})
    assert html.status_code == status and html.mimetype == "text/html"
    assert _audit_total(app) == before


def test_only_get(client: FlaskClient, auth: AuthActions, filled: Filled) -> None:
    auth.sign_in("alice")
    response = client.post(
        "/participants/P001/export.csv",
        headers={"X-CSRF-Token": csrf_of(client), "Accept": "application/json"},
    )
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_the_pdf_report_is_the_participants(
    client: FlaskClient, auth: AuthActions, filled: Filled
) -> None:
    """The progress report over the web is built with the data folder (change flags)."""
    auth.sign_in("root")
    response = client.get("/participants/P001/export.pdf")
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF-") and len(response.data) > 2000


def test_head_gets_the_headers(client: FlaskClient, clinician_token: str) -> None:
    response = client.head("/participants/P002/export.csv", headers=bearer(clinician_token))
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Disposition"] == "attachment; filename=dexterity-P002.csv"
