"""The JSON API's answers on a small store, and the audit log they write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from station.store import Store
from tests.web.conftest import Filled, accounts_of, bearer


@pytest.fixture
def get(client: FlaskClient, clinician_token: str) -> Any:
    def get(url: str, status: int = 200, token: str | None = None) -> Any:
        response = client.get(url, headers=bearer(token or clinician_token))
        assert response.status_code == status, (url, response.data[:300])
        assert response.mimetype == "application/json"
        return response.json

    return get


def test_participants_search_and_pagination(get: Any) -> None:
    page = get("/api/v1/participants")
    assert [p["code"] for p in page["items"]] == ["P001", "P002", "P003"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    first = page["items"][0]
    assert first == {
        "code": "P001",
        "birth_year": 1960,
        "sex": "female",
        "dominant_hand": "right",
        "affected_side": "left",
        "notes": "stroke, left side",
        "created_utc": first["created_utc"],
    }
    assert first["created_utc"].endswith("Z")

    page = get("/api/v1/participants?limit=2&offset=1")
    assert [p["code"] for p in page["items"]] == ["P002", "P003"]
    assert page["total"] == 3
    page = get("/api/v1/participants?limit=1&offset=5")
    assert page["items"] == [] and page["total"] == 3

    assert [p["code"] for p in get("/api/v1/participants?search=p00")["items"]] == [
        "P001",
        "P002",
        "P003",
    ]
    page = get("/api/v1/participants?search=STROKE")  # notes too, any case
    assert [p["code"] for p in page["items"]] == ["P001"] and page["total"] == 1
    page = get("/api/v1/participants?search=%25")  # a literal %, not a wildcard
    assert page["items"] == [] and page["total"] == 0
    assert get("/api/v1/participants?search=")["total"] == 3


def test_participant_sessions_and_results(get: Any, filled: Filled) -> None:
    assert get("/api/v1/participants/P003")["notes"] == "no sessions yet"
    sessions = get("/api/v1/participants/P001/sessions")
    assert sessions["participant_code"] == "P001"
    assert [s["id"] for s in sessions["items"]] == filled.sessions["P001"]
    first = sessions["items"][0]
    assert first["status"] == "complete" and first["simulated"] is True
    assert first["started_utc"] == "2025-03-04T10:00:00.000Z"
    assert {(m["hand"], m["name"], m["value"]) for m in first["metrics"]} == {
        ("right", "total_time", 20.0),
        ("left", "total_time", 21.0),
    }
    assert get("/api/v1/participants/P003/sessions")["items"] == []

    results = get("/api/v1/participants/P001/results")
    assert results["participant"]["code"] == "P001"
    later = results["sessions"][1]["metrics"]
    right = next(r for r in later if r["hand"] == "right")
    assert right["value"] == 16.0 and right["change_percent"] == -20.0
    assert results["norms_loaded"] == 0


def test_session_trials_and_raw_data(get: Any, filled: Filled, data_dir: Path) -> None:
    sid = filled.sessions["P002"][0]
    session = get(f"/api/v1/sessions/{sid}")
    assert session["participant_code"] == "P002" and session["battery_name"] == "standard"
    trials = get(f"/api/v1/sessions/{sid}/trials")
    assert trials["session_id"] == sid
    assert [t["hand"] for t in trials["items"]] == ["right", "left"]
    tid = trials["items"][0]["id"]
    trial = get(f"/api/v1/trials/{tid}")
    assert trial["session_id"] == sid and trial["protocol"] == "nine_hole_peg"
    assert trial["metrics"] == [
        {"name": "total_time", "value": 18.0, "unit": "s", "detail": ""},
        {"name": "peg_interval_cv", "value": None, "unit": "%", "detail": "fewer than 3 intervals"},
    ]

    raw = get(f"/api/v1/trials/{tid}/raw")
    assert raw["trial_id"] == tid and raw["participant_code"] == "P002"
    assert raw["anchor_wall_ns"] == 1_700_000_000_000_000_000
    assert len(raw["events"]) == 12
    assert set(raw["events"][0]) == {"t_ns", "channel", "level", "flags", "seq"}
    assert raw["cues"][0]["output"] == "led1"
    pads = {p["pad"]: p for p in raw["samples"]}
    assert set(pads) == {"home", "dish"}
    home = pads["home"]
    assert home["n"] == len(home["t_ns"]) == len(home["force_n"]) == len(home["code"]) == 40
    assert home["t_ns"][1] - home["t_ns"][0] == 1_162_790
    assert all(isinstance(f, float) and f >= 0 for f in home["force_n"])
    with Store.open(data_dir, recover=False) as store:
        expected = store.trial_data(tid).samples["home"].force_n()
    assert home["force_n"] == pytest.approx(expected.tolist(), abs=1e-4)


def test_batteries(get: Any) -> None:
    items = get("/api/v1/batteries")["items"]
    names = {b["name"] for b in items}
    assert "standard" in names
    standard = next(b for b in items if b["name"] == "standard")
    assert standard["error"] is None and standard["steps"]
    assert all(s["protocol"] and s["trials"] >= 1 for s in standard["steps"])


def test_a_broken_clinic_battery_is_listed_with_its_error(get: Any, data_dir: Path) -> None:
    folder = data_dir / "batteries"
    folder.mkdir()
    (folder / "broken.toml").write_text('name = "broken"\n[[step]]\nprotocol = "no_such"\n')
    broken = next(b for b in get("/api/v1/batteries")["items"] if b["name"] == "broken")
    assert broken["steps"] == [] and "no_such" in broken["error"]


def test_not_found_records(get: Any) -> None:
    assert "no participant 'P999'" in get("/api/v1/participants/P999", 404)["error"]["message"]
    for url in (
        "/api/v1/participants/P999/sessions",
        "/api/v1/participants/P999/results",
        "/api/v1/sessions/999",
        "/api/v1/sessions/999/trials",
        "/api/v1/trials/999",
        "/api/v1/trials/999/raw",
        f"/api/v1/trials/{2**63 - 1}",
    ):
        body = get(url, 404)
        assert body["error"]["status"] == 404 and body["error"]["message"].startswith("no ")


def test_me(get: Any, app: Flask) -> None:
    me = get("/api/v1/me")
    assert me["name"] == "alice" and me["role"] == "clinician" and me["via"] == "token"
    assert me["token"]["label"] == "tests" and me["token"]["active"] is True


# -- audit ------------------------------------------------------------------------------------


AUDITED = [
    ("/api/v1/participants?search=P0", "participants.list", None),
    ("/api/v1/participants/P001", "participant.view", "P001"),
    ("/api/v1/participants/P001/sessions", "participant.sessions", "P001"),
    ("/api/v1/participants/P001/results", "participant.results", "P001"),
    ("/api/v1/sessions/{sid}", "session.view", "P002"),
    ("/api/v1/sessions/{sid}/trials", "session.trials", "P002"),
    ("/api/v1/trials/{tid}", "trial.view", "P002"),
    ("/api/v1/trials/{tid}/raw", "trial.raw", "P002"),
]


def test_every_view_of_participant_data_is_audited(
    app: Flask, get: Any, filled: Filled, client: FlaskClient
) -> None:
    accounts = accounts_of(app)
    sid = filled.sessions["P002"][0]
    tid = filled.trials[-1]
    token_id = accounts.list_tokens("alice")[0].id
    for template, action, code in AUDITED:
        url = template.format(sid=sid, tid=tid)
        before = accounts.audit_entries(limit=1)[1]
        get(url)
        entries, total = accounts.audit_entries(limit=1)
        assert total == before + 1, url
        entry = entries[0]
        assert (entry.action, entry.participant_code) == (action, code), url
        assert entry.user_name == "alice" and entry.via == "token" and entry.token_id == token_id
        assert entry.method == "GET" and entry.route == url
        assert entry.remote_addr == "127.0.0.1"
        assert entry.export_kind == ("raw" if action == "trial.raw" else None)
    listed = accounts.audit_entries(action="participants.list")[0][0]
    assert listed.detail == {"search": "P0", "codes": ["P001", "P002", "P003"]}

    # refusals and not-found answers show no data and write no entry
    before = accounts.audit_entries(limit=1)[1]
    get("/api/v1/participants/P999", 404)
    get("/api/v1/trials/abc", 400)
    assert client.get("/api/v1/participants/P001").status_code == 401
    assert accounts.audit_entries(limit=1)[1] == before


def test_admins_read_the_audit_log(app: Flask, get: Any, admin_token: str) -> None:
    get("/api/v1/participants/P001")
    get("/api/v1/participants/P002")
    log = get("/api/v1/audit", token=admin_token)
    assert log["total"] >= 2
    assert log["items"][0]["action"] == "participant.view"  # newest first
    assert log["items"][0]["participant_code"] == "P002"
    only = get("/api/v1/audit?participant=P001&action=participant.view", token=admin_token)
    assert [e["participant_code"] for e in only["items"]] == ["P001"] and only["total"] == 1
    by_user = get("/api/v1/audit?user=alice&limit=1", token=admin_token)
    assert len(by_user["items"]) == 1 and by_user["total"] >= 2
    # reading the log is itself recorded
    assert get("/api/v1/audit?action=audit.read", token=admin_token)["total"] >= 3
    # clinicians may not read it
    assert get("/api/v1/audit", 403)["error"]["message"].startswith("this needs the admin role")


def test_admin_lists_users_and_tokens(get: Any, admin_token: str) -> None:
    users = get("/api/v1/users", token=admin_token)["items"]
    assert [(u["name"], u["role"]) for u in users] == [("alice", "clinician"), ("root", "admin")]
    assert all("password" not in key for u in users for key in u)
    tokens = get("/api/v1/tokens", token=admin_token)["items"]
    assert {t["user"] for t in tokens} == {"alice", "root"}
    assert all(set(t) >= {"id", "label", "active"} and "token" not in t for t in tokens)


def test_admin_page_and_revoking_a_token(app: Flask, client: FlaskClient) -> None:
    from tests.web.conftest import AuthActions, csrf_of

    record, token = accounts_of(app).create_token("alice", "laptop")
    AuthActions(client).sign_in("root")
    page = client.get("/admin").get_data(as_text=True)
    assert "alice" in page and "laptop" in page and "Revoke" in page
    response = client.post(
        f"/admin/tokens/{record.id}/revoke", data={"csrf_token": csrf_of(client)}
    )
    assert response.status_code == 303
    assert "is revoked" in client.get("/admin").get_data(as_text=True)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    missing = client.post("/admin/tokens/999/revoke", data={"csrf_token": csrf_of(client)})
    assert missing.status_code == 404
    entry = accounts_of(app).audit_entries(action="token.revoke")[0][0]
    assert entry.user_name == "root" and entry.detail["token_id"] == record.id


def test_non_finite_numbers_are_null_never_invalid_json(
    get: Any, data_dir: Path, client: FlaskClient, clinician_token: str
) -> None:
    from datetime import UTC, datetime

    from station.records import Metric

    with Store.open(data_dir) as store:
        sid = store.start_session(
            "P003", "standard", "", "station-1", {}, 0, 0, "0.1.0", "sim", "gpio-driver",
            started_utc=datetime(2025, 5, 1, tzinfo=UTC),
        )  # fmt: skip
        store.add_session_metrics(
            sid,
            [
                ("nine_hole_peg", "right", Metric("total_time", float("inf"), "s")),
                ("nine_hole_peg", "left", Metric("total_time", float("-inf"), "s")),
            ],
        )
        store.end_session(sid, "complete")
    for url in (f"/api/v1/sessions/{sid}", "/api/v1/participants/P003/results"):
        text = client.get(url, headers=bearer(clinician_token)).get_data(as_text=True)
        assert "Infinity" not in text and "NaN" not in text, url
    assert [m["value"] for m in get(f"/api/v1/sessions/{sid}")["metrics"]] == [None, None]
    rows = get("/api/v1/participants/P003/results")["sessions"][0]["metrics"]
    assert [r["value"] for r in rows] == [None, None]
