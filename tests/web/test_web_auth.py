"""Signing in and out, lockout, CSRF, cookies and the secret key."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import PASSWORDS, AuthActions, accounts_of, csrf_of, make_app
from web import close_app
from web.settings import SecretKeyError, ensure_secret_key, read_secret_key, secret_key_path


def audit_actions(app: Flask) -> list[str]:
    entries, _ = accounts_of(app).audit_entries(limit=500)
    return [e.action for e in reversed(entries)]


def test_sign_in_and_out(client: FlaskClient, auth: AuthActions, app: Flask) -> None:
    assert client.get("/auth/sign-in").status_code == 200
    response = auth.sign_in()
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert b"alice" in home.data
    assert client.get("/api/v1/me").json["via"] == "session"
    # the sign-in page sends a signed-in user on
    assert client.get("/auth/sign-in").status_code == 302

    assert client.get("/auth/sign-out").status_code == 200  # a confirmation form, no change
    assert client.get("/api/v1/me").status_code == 200
    response = auth.sign_out()
    assert response.status_code == 303
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/").status_code == 302
    assert "auth.sign_in" in audit_actions(app) and "auth.sign_out" in audit_actions(app)


def test_sign_in_goes_back_to_the_page_asked_for(client: FlaskClient) -> None:
    response = client.get("/admin")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/sign-in?next=/admin"
    page = client.get(response.headers["Location"])
    assert b'name="next" value="/admin"' in page.data
    response = client.post(
        "/auth/sign-in",
        data={
            "name": "root",
            "password": PASSWORDS["root"],
            "next": "/admin",
            "csrf_token": csrf_of(client),
        },
    )
    assert response.headers["Location"] == "/admin"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "x"],
)
def test_no_open_redirect_after_sign_in(client: FlaskClient, target: str) -> None:
    response = client.post(
        "/auth/sign-in",
        data={
            "name": "alice",
            "password": PASSWORDS["alice"],
            "next": target,
            "csrf_token": csrf_of(client),
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: FlaskClient, auth: AuthActions, app: Flask
) -> None:
    wrong = auth.sign_in("alice", "not-her-password")
    unknown = auth.sign_in("nobody", "whatever-password")
    assert wrong.status_code == unknown.status_code == 401
    assert b"wrong name or password" in wrong.data
    assert wrong.data.replace(b"alice", b"") == unknown.data.replace(b"nobody", b"")
    assert client.get("/api/v1/me").status_code == 401
    assert audit_actions(app).count("auth.sign_in_failed") == 2
    entries, _ = accounts_of(app).audit_entries(action="auth.sign_in_failed")
    assert {e.user_name for e in entries} == {"alice", "unknown"}  # never the typed text


def test_missing_fields_are_a_clear_400(client: FlaskClient) -> None:
    response = client.post("/auth/sign-in", data={"name": "alice", "csrf_token": csrf_of(client)})
    assert response.status_code == 400
    assert b"give your user name and password" in response.data


def test_lockout_after_five_failures_for_fifteen_minutes(auth: AuthActions, app: Flask) -> None:
    accounts = accounts_of(app)
    for _ in range(4):
        assert auth.sign_in("alice", "wrong-password-x").status_code == 401
    locked = auth.sign_in("alice", "wrong-password-x")
    assert locked.status_code == 429
    assert b"too many failed sign-ins" in locked.data
    assert b"station user unlock" in locked.data
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    # while locked even the right password is refused
    assert auth.sign_in("alice").status_code == 429
    assert "auth.locked" in audit_actions(app)

    start = accounts.now()
    accounts.now = lambda: start + timedelta(minutes=14)
    assert auth.sign_in("alice").status_code == 429
    accounts.now = lambda: start + timedelta(minutes=15, seconds=1)
    assert auth.sign_in("alice").status_code == 303


def test_lockout_settings_and_unlock(data_dir: Path, filled: object) -> None:
    app = make_app(data_dir, LOGIN_MAX_FAILURES=2, LOGIN_LOCKOUT_MINUTES=1)
    try:
        accounts = accounts_of(app)
        accounts.add_user("bob", "clinician", "bob-password-1")
        client = app.test_client()
        auth = AuthActions(client)
        assert auth.sign_in("bob", "wrong-password-x").status_code == 401
        response = auth.sign_in("bob", "wrong-password-x")
        assert response.status_code == 429 and b"another 1 minute" in response.data
        accounts.unlock("bob")
        assert auth.sign_in("bob", "bob-password-1").status_code == 303
    finally:
        close_app(app)


def test_a_success_resets_the_failure_count(auth: AuthActions, client: FlaskClient) -> None:
    for _ in range(4):
        auth.sign_in("alice", "wrong-password-x")
    assert auth.sign_in("alice").status_code == 303
    auth.sign_out()
    for _ in range(4):
        assert auth.sign_in("alice", "wrong-password-x").status_code == 401


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token-forged-token"])
def test_csrf_refusal_on_sign_in(client: FlaskClient, token: str | None) -> None:
    csrf_of(client)
    data = {"name": "alice", "password": PASSWORDS["alice"]}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/auth/sign-in", data=data)
    assert response.status_code == 400
    assert b"CSRF token" in response.data
    assert client.get("/api/v1/me").status_code == 401


def test_csrf_refusal_on_sign_out_and_admin_forms(
    client: FlaskClient, auth: AuthActions, app: Flask
) -> None:
    auth.sign_in("root")
    token, _ = accounts_of(app).create_token("alice", "to revoke")
    response = client.post(f"/admin/tokens/{token.id}/revoke")
    assert response.status_code == 400
    assert accounts_of(app).get_token(token.id).active  # type: ignore[union-attr]
    assert client.post("/auth/sign-out").status_code == 400
    assert client.get("/api/v1/me").status_code == 200  # still signed in
    # the header works as well as the form field (for scripts of the later dashboard)
    response = client.post(
        f"/admin/tokens/{token.id}/revoke", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert response.status_code == 303
    assert not accounts_of(app).get_token(token.id).active  # type: ignore[union-attr]


def test_the_csrf_token_is_rendered_in_every_form(client: FlaskClient, auth: AuthActions) -> None:
    auth.sign_in("root")
    accounts_of(client.application).create_token("alice", "listed")
    token = csrf_of(client)
    for path in ("/", "/admin", "/auth/sign-out"):
        page = client.get(path).get_data(as_text=True)
        forms = page.count("<form")
        assert forms >= 1, path
        assert page.count(f'name="csrf_token" value="{token}"') == forms, path


def test_session_cookie_flags(client: FlaskClient, auth: AuthActions) -> None:
    response = auth.sign_in()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "station_session=" in cookie


def test_cookies_are_secure_off_loopback(data_dir: Path, filled: object) -> None:
    for overrides, secure in (
        ({}, True),  # production default
        ({"SERVER_HOST": "127.0.0.1"}, False),
        ({"SERVER_HOST": "::1"}, False),
        ({"SERVER_HOST": "192.0.2.10"}, True),
    ):
        app = make_app(data_dir, TESTING=False, **overrides)
        try:
            assert app.config["SESSION_COOKIE_SECURE"] is secure, overrides
            assert app.config["SESSION_COOKIE_HTTPONLY"] is True
            response = app.test_client().get("/auth/sign-in")
            assert ("Secure" in response.headers["Set-Cookie"]) is secure
        finally:
            close_app(app)


def test_sessions_end_on_sign_out_elsewhere_and_password_change(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    AuthActions(first).sign_in()
    AuthActions(second).sign_in()
    AuthActions(first).sign_out()
    assert second.get("/api/v1/me").status_code == 401  # signing out ends every session
    AuthActions(second).sign_in()
    accounts_of(app).set_password("alice", "a-new-password-2")
    assert second.get("/api/v1/me").status_code == 401
    assert AuthActions(second).sign_in("alice", "a-new-password-2").status_code == 303


def test_a_forged_session_cookie_is_ignored(client: FlaskClient) -> None:
    client.set_cookie("station_session", "eyJ1aWQiOjF9.forged.signature")
    assert client.get("/api/v1/me").status_code == 401


def test_security_headers(client: FlaskClient, auth: AuthActions) -> None:
    auth.sign_in()
    for path in ("/", "/api/v1/participants", "/auth/sign-in", "/api/v1/nowhere"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["Cache-Control"] == "no-store", path


# -- the secret key ---------------------------------------------------------------------------


def test_the_app_refuses_to_start_without_a_secret_key(data_dir: Path) -> None:
    with pytest.raises(SecretKeyError) as exc:
        from web import create_app

        create_app({"DATA_DIR": str(data_dir), "TESTING": True})
    message = str(exc.value)
    assert "no secret key" in message and "station serve --init" in message
    assert str(secret_key_path(data_dir)) in message


def test_no_secret_key_in_the_config_either(data_dir: Path) -> None:
    from web import create_app

    with pytest.raises(SecretKeyError, match="at least 32"):
        create_app({"DATA_DIR": str(data_dir), "SECRET_KEY": "dev"})


def test_the_secret_key_is_private(data_dir: Path) -> None:
    path, created = ensure_secret_key(data_dir)
    assert created
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = read_secret_key(data_dir)
    assert len(key) == 64 and int(key, 16) >= 0
    assert ensure_secret_key(data_dir) == (path, False)
    assert read_secret_key(data_dir) == key  # kept, not replaced

    path.chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        read_secret_key(data_dir)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(SecretKeyError, match="too short"):
        read_secret_key(data_dir)


def test_the_umask_does_not_matter(data_dir: Path) -> None:
    old = os.umask(0)
    try:
        path, _ = ensure_secret_key(data_dir)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o600
