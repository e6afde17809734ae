"""The access matrix: every route of the app, called as anonymous, clinician and admin (with the
session cookie and with an API token). Routes are taken from the app's URL map, so a new route
fails here until it is listed with the access it should have."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.web.conftest import AuthActions, Filled, accounts_of, bearer, csrf_of, state_of

PUBLIC = {"static", "auth.sign_in", "auth.sign_out"}
#: Every other endpoint and who may use it.
ACCESS = {
    "dashboard.home": "any",
    "dashboard.participants": "any",
    "dashboard.participant": "any",
    "dashboard.session": "any",
    "dashboard.status": "any",
    "api.me": "any",
    "api.openapi": "any",
    "api.participants": "any",
    "api.participant": "any",
    "api.participant_sessions": "any",
    "api.participant_results_view": "any",
    "api.session": "any",
    "api.session_trials": "any",
    "api.trial": "any",
    "api.trial_raw": "any",
    "api.batteries": "any",
    "admin.audit_log": "admin",
    "admin.users": "admin",
    "admin.tokens": "admin",
    "admin.page": "admin",
    "admin.revoke_token": "admin",
    "exports.participant_csv": "any",
    "exports.participant_json": "any",
    "exports.participant_pdf": "any",
    "exports.participant_fhir": "any",
    "exports.session_csv": "any",
    "exports.session_json": "any",
    "exports.session_pdf": "any",
    "exports.session_fhir": "any",
    "practice.page": "any",
    "practice.prescribe": "any",
    "practice.dose": "any",
    "practice.status": "any",
    "practice.level": "any",
    "practice.session": "any",
}
#: Form values that make each POST route succeed (so the matrix sees the redirect, not a 400).
FORMS = {
    "practice.prescribe": {
        "program": "musician_timing",
        "level": "1",
        "per_week": "3",
        "daily_cap": "1",
    },
    "practice.dose": {"per_week": "4", "daily_cap": "1", "reason": "matrix"},
    "practice.status": {"action": "pause", "reason": "matrix"},
    "practice.level": {"level": "2", "reason": "matrix"},
}
#: Routes whose answer carries participant data (anonymous answers must not contain it).
SECRET = "P001"


def routes(app: Flask) -> list[tuple[Rule, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule, method))
    return out


def url_for_rule(app: Flask, rule: Rule, filled: Filled) -> str:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        if arg == "code":
            values[arg] = "P001"
        elif arg == "session_id":
            values[arg] = filled.sessions["P001"][0]
        elif arg == "trial_id":
            values[arg] = filled.trials[0]
        elif arg == "token_id":
            values[arg] = accounts_of(app).create_token("alice", "matrix")[0].id
        elif arg == "prescription_id":
            values[arg] = _practice_sample(app)[0]
        elif arg == "practice_session_id":
            values[arg] = _practice_sample(app)[1]
        else:
            raise AssertionError(f"no sample value for <{arg}> in {rule.rule}")
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _practice_sample(app: Flask) -> tuple[int, int]:
    """P001's prescription of nerve_distal and a practice session of it (made on first use)."""
    from station.programs.program import load_program

    store = state_of(app).store
    found = [rx for rx in store.prescriptions("P001") if rx.program_name == "nerve_distal"]
    if found:
        rx = found[0]
    else:
        program = load_program("nerve_distal")
        rx = store.add_prescription(
            "P001",
            program.name,
            program_version=program.version,
            program_hash=program.sha256,
            levels=len(program.levels),
            created_by="matrix",
        )
    sessions = store.practice_sessions(rx.id)
    if sessions:
        return rx.id, sessions[0].session_id
    sid = store.start_session(
        "P001", rx.program_name, rx.program_hash, "station-1", {}, 0, 0, "0.1.0", "sim",
        "gpio-driver", kind="practice",
    )  # fmt: skip
    store.add_practice_session(
        sid, rx.id, level=1, program_version=rx.program_version, program_hash=rx.program_hash,
        plan={"blocks": []},
    )  # fmt: skip
    store.end_session(sid, "complete")
    return rx.id, sid


def call(
    client: FlaskClient,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Any:
    headers = dict(headers or {})
    if method != "GET" and "Authorization" not in headers:
        headers["X-CSRF-Token"] = csrf_of(client)  # so that only authentication is tested
    return client.open(url, method=method, headers=headers, data=form)


def test_every_route_is_listed_with_its_access(app: Flask) -> None:
    endpoints = {rule.endpoint for rule, _ in routes(app)}
    assert endpoints == set(ACCESS), "list new routes in ACCESS (and in the OpenAPI document)"
    for endpoint, role in ACCESS.items():
        view = app.view_functions[endpoint]
        assert getattr(view, "required_role", None) == role, endpoint


def test_anonymous_gets_nothing(app: Flask, client: FlaskClient, filled: Filled) -> None:
    for rule, method in routes(app):
        url = url_for_rule(app, rule, filled)
        response = call(client, method, url)
        if url.startswith("/api/"):
            assert response.status_code == 401, (method, url)
            assert response.json["error"]["status"] == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith("/auth/sign-in")
        assert SECRET not in response.get_data(as_text=True), (method, url)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer dxs_not-a-real-token",
        "Bearer ",
        "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQtMQ==",
        "dxs_token-without-scheme",
    ],
)
def test_bad_credentials_get_nothing(
    app: Flask, client: FlaskClient, filled: Filled, header: str
) -> None:
    for rule, method in routes(app):
        url = url_for_rule(app, rule, filled)
        if not url.startswith("/api/"):
            continue
        response = call(client, method, url, {"Authorization": header})
        assert response.status_code == 401, (header, url)
        assert SECRET not in response.get_data(as_text=True)


def _expected(role: str, needed: str, method: str) -> int:
    if needed == "admin" and role != "admin":
        return 403
    return 303 if method == "POST" else 200


@pytest.mark.parametrize("role", ["clinician", "admin"])
@pytest.mark.parametrize("via", ["session", "token"])
def test_signed_in_users_get_what_their_role_allows(
    app: Flask, client: FlaskClient, auth: AuthActions, filled: Filled, role: str, via: str
) -> None:
    name = "alice" if role == "clinician" else "root"
    headers: dict[str, str] = {}
    if via == "session":
        assert auth.sign_in(name).status_code == 303
    else:
        headers = bearer(accounts_of(app).create_token(name, "matrix")[1])
    for rule, method in routes(app):
        url = url_for_rule(app, rule, filled)
        response = call(client, method, url, headers, FORMS.get(rule.endpoint))
        expected = _expected(role, ACCESS[rule.endpoint], method)
        assert response.status_code == expected, (role, via, method, url, response.data[:200])
        if expected == 403:
            assert "admin role" in response.get_data(as_text=True)


def test_a_revoked_token_gets_nothing(app: Flask, client: FlaskClient) -> None:
    record, token = accounts_of(app).create_token("alice", "soon revoked")
    assert client.get("/api/v1/participants", headers=bearer(token)).status_code == 200
    accounts_of(app).revoke_token(record.id)
    response = client.get("/api/v1/participants", headers=bearer(token))
    assert response.status_code == 401
    assert "unknown or revoked" in response.json["error"]["message"]
    assert accounts_of(app).get_token(record.id).last_used_utc is not None  # type: ignore[union-attr]


def test_a_token_is_not_a_session(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    """With an Authorization header the cookie is ignored: a bad token is refused even for a
    signed-in browser (so the header can never be used to skip CSRF)."""
    auth.sign_in("root")
    assert client.get("/api/v1/me").status_code == 200
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer dxs_wrong"})
    assert response.status_code == 401


def test_tokens_are_stored_hashed(app: Flask) -> None:
    from sqlalchemy import select

    from web.accounts import api_tokens

    _, token = accounts_of(app).create_token("alice", "hashed")
    path = accounts_of(app).path
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            assert token.encode() not in file.read_bytes()
    with accounts_of(app)._engine.connect() as conn:
        stored = list(conn.scalars(select(api_tokens.c.token_sha256)))
    assert all(len(h) == 64 and token not in h for h in stored)
