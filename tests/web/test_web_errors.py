"""Malformed requests get a clear JSON message and the right 4xx (never a 500); unexpected
exceptions become a logged 500 that shows no details."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import Filled, accounts_of, bearer, make_app
from web import close_app
from web.state import state

# (url, status, words the message must contain)
BAD_REQUESTS = [
    ("/api/v1/sessions/abc", 400, "session id"),
    ("/api/v1/sessions/-1", 400, "session id"),
    ("/api/v1/sessions/0", 400, "session id"),
    ("/api/v1/sessions/1.5", 400, "session id"),
    ("/api/v1/sessions/1e3", 400, "session id"),
    ("/api/v1/sessions/%20%201", 400, "session id"),
    ("/api/v1/sessions/99999999999999999999", 400, "session id"),
    (f"/api/v1/sessions/{2**63}", 400, "session id"),
    ("/api/v1/sessions/%E2%91%A0", 400, "session id"),  # a circled digit one
    ("/api/v1/sessions/%D9%A1%D9%A2", 400, "session id"),  # Arabic-Indic digits
    ("/api/v1/sessions/abc/trials", 400, "session id"),
    ("/api/v1/trials/x/raw", 400, "trial id"),
    ("/api/v1/trials/%00", 400, "trial id"),
    ("/api/v1/participants/bad%20code", 400, "participant code"),
    ("/api/v1/participants/" + "A" * 33, 400, "participant code"),
    ("/api/v1/participants/%00", 400, "participant code"),
    ("/api/v1/participants/%FF", 400, "participant code"),
    ("/api/v1/participants/%ZZ", 400, "participant code"),
    ("/api/v1/participants/P%C3%A9/results", 400, "participant code"),
    ("/api/v1/participants?limit=-1", 400, "'limit'"),
    ("/api/v1/participants?limit=abc", 400, "'limit'"),
    ("/api/v1/participants?limit=0", 400, "'limit'"),
    ("/api/v1/participants?limit=501", 400, "'limit'"),
    ("/api/v1/participants?limit=1e3", 400, "'limit'"),
    ("/api/v1/participants?limit=", 400, "'limit'"),
    ("/api/v1/participants?limit=%2B5", 400, "'limit'"),
    ("/api/v1/participants?offset=-1", 400, "'offset'"),
    ("/api/v1/participants?offset=99999999999999999999999", 400, "'offset'"),
    ("/api/v1/participants?search=" + "x" * 65, 400, "'search'"),
    ("/api/v1/participants?search=a%00b", 400, "'search'"),
    ("/api/v1/participants?limit=1&limit=2", 400, "more than once"),
    ("/api/v1/participants?foo=1", 400, "unknown query parameter 'foo'"),
    ("/api/v1/participants/P001?limit=1", 400, "unknown query parameter 'limit'"),
    ("/api/v1/batteries?x", 400, "unknown query parameter 'x'"),
    ("/api/v1/audit", 403, "admin role"),
    ("/api/v1/nope", 404, "no such page"),
    ("/api/v2/participants", 404, "no such page"),
    ("/api/v1/participants/", 404, "no such page"),
    ("/api/v1/participants/P001/extra", 404, "no such page"),
    ("/api/v1/sessions//trials", 404, "no such page"),
    ("/api", 404, "no such page"),
    ("/api/v1/participants/P999", 404, "no participant 'P999'"),
    ("/api/v1/sessions/424242", 404, "no session 424242"),
    ("/api/v1/trials/424242/raw", 404, "no trial 424242"),
]

ADMIN_BAD_REQUESTS = [
    ("/api/v1/audit?participant=bad%20code", 400, "'participant'"),
    ("/api/v1/audit?user=%3Cscript%3E", 400, "'user'"),
    ("/api/v1/audit?action=DROP%20TABLE", 400, "'action'"),
    ("/api/v1/audit?limit=9999", 400, "'limit'"),
    ("/api/v1/users?limit=1", 400, "unknown query parameter"),
]


def check_error(response: object, status: int, words: str) -> None:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.mimetype == "application/json"  # type: ignore[attr-defined]
    body = response.json  # type: ignore[attr-defined]
    assert body["error"]["status"] == status
    assert words in body["error"]["message"], body
    text = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize(("url", "status", "words"), BAD_REQUESTS)
def test_malformed_requests(
    client: FlaskClient, clinician_token: str, url: str, status: int, words: str
) -> None:
    check_error(client.get(url, headers=bearer(clinician_token)), status, words)


@pytest.mark.parametrize(("url", "status", "words"), ADMIN_BAD_REQUESTS)
def test_malformed_admin_requests(
    client: FlaskClient, admin_token: str, url: str, status: int, words: str
) -> None:
    check_error(client.get(url, headers=bearer(admin_token)), status, words)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "url", ["/api/v1/participants", "/api/v1/sessions/1", "/api/v1/audit", "/api/v1/openapi.json"]
)
def test_wrong_methods(client: FlaskClient, clinician_token: str, method: str, url: str) -> None:
    response = client.open(url, method=method, headers=bearer(clinician_token), data=b"{")
    check_error(response, 405, f"method {method} is not allowed")
    assert "GET" in response.headers["Allow"]


def test_wrong_method_is_405_even_without_credentials_or_csrf(client: FlaskClient) -> None:
    check_error(client.delete("/api/v1/participants"), 405, "not allowed")


def test_a_get_with_a_body_is_just_a_get(client: FlaskClient, clinician_token: str) -> None:
    response = client.get(
        "/api/v1/participants",
        headers={**bearer(clinician_token), "Content-Type": "application/json"},
        data=b"{not json",
    )
    assert response.status_code == 200


def test_too_large_a_form(client: FlaskClient) -> None:
    response = client.post(
        "/auth/sign-in",
        data={"name": "x" * 100_000, "password": "y"},
        headers={"Accept": "application/json"},
    )
    check_error(response, 413, "too large")


def test_pages_answer_errors_in_html(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert b"no such page" in response.data
    response = client.post("/auth/sign-in", data={"name": "alice"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert b"CSRF" in response.data


def test_head_and_options(client: FlaskClient, clinician_token: str) -> None:
    head = client.head("/api/v1/participants", headers=bearer(clinician_token))
    assert head.status_code == 200 and head.data == b""
    assert client.head("/api/v1/participants").status_code == 401
    options = client.options("/api/v1/participants")
    assert options.status_code == 200 and options.data == b""  # no data, only the methods


# -- the last resort ----------------------------------------------------------------------------


@pytest.fixture
def fragile_app(data_dir: Path, filled: Filled) -> Flask:
    app = make_app(data_dir)

    def boom() -> str:
        raise RuntimeError("secret detail: /etc/station/internal")

    app.add_url_rule("/api/v1/boom", "boom", boom)
    app.add_url_rule("/boom", "page_boom", boom)
    accounts_of(app).add_user("carol", "clinician", "carol-password-1")
    yield app
    close_app(app)


def test_unexpected_errors_are_a_logged_500_without_details(
    fragile_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = fragile_app.test_client()
    with caplog.at_level(logging.ERROR, logger="web"):
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    message = response.json["error"]["message"]
    assert message.startswith("internal error (reference ")
    assert "secret detail" not in response.get_data(as_text=True)
    ref = message.split("reference ")[1].split(")")[0]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)

    page = client.get("/boom")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert b"secret detail" not in page.data and b"Traceback" not in page.data
    with fragile_app.app_context():
        assert state().internal_errors == 2


def test_a_store_failure_is_a_500_not_a_crash(fragile_app: Flask) -> None:
    client = fragile_app.test_client()
    token = accounts_of(fragile_app).create_token("carol", "t")[1]
    with fragile_app.app_context():
        state().store.close()
    response = client.get("/api/v1/participants", headers=bearer(token))
    assert response.status_code == 500
    assert "the store is closed" not in response.get_data(as_text=True)
