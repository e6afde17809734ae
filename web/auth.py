"""Signing in and out, who is asking (session cookie or API token), roles, and CSRF.

- Browser sessions: Flask's signed cookie holds the user id, the user's session epoch and a CSRF
  token. Signing out (or a password change) raises the epoch, which ends every browser session
  of that user made before.
- API tokens: ``Authorization: Bearer <token>``. A request with an Authorization header is judged
  by it alone (the cookie is ignored), so a token request never needs a CSRF token.
- CSRF: every request with an unsafe method (POST, PUT, PATCH, DELETE) that is not token
  authenticated must carry the session's CSRF token, as the form field ``csrf_token`` or the
  header ``X-CSRF-Token``; otherwise it is refused with 400 before any view runs.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from web.accounts import SignInRefusedError, User
from web.errors import ApiError, wants_json
from web.state import audit, get_accounts

bp = Blueprint("auth", __name__, url_prefix="/auth")

CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
BEARER_CHALLENGE: Final = 'Bearer realm="dexterity-station"'

F = TypeVar("F", bound=Callable[..., Any])


# -- who is asking -------------------------------------------------------------------------------


def current_user() -> User | None:
    """The user of this request (resolved once per request), or None."""
    if "user" in g:
        return g.user  # type: ignore[no-any-return]
    g.user, g.via, g.token, g.auth_error = None, None, None, None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            g.auth_error = "the Authorization header must be 'Bearer <token>'"
        else:
            found = get_accounts().token_user(value)
            if found is None:
                g.auth_error = "the API token is not valid (unknown or revoked)"
            else:
                g.user, g.token = found
                g.via = "token"
        return g.user  # type: ignore[no-any-return]
    uid = session.get("uid")
    if uid is not None:
        user = get_accounts().user_by_id(uid) if isinstance(uid, int) else None
        if user is None or session.get("epoch") != user.session_epoch:
            session.clear()  # the account is gone, or the user signed out elsewhere
        else:
            g.user, g.via = user, "session"
    return g.user  # type: ignore[no-any-return]


def _refuse_anonymous() -> Any:
    if wants_json():
        raise ApiError(
            401,
            g.get("auth_error")
            or "sign in first (the session cookie), or send 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": BEARER_CHALLENGE},
        )
    response = redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    response.set_data(b"")  # werkzeug's body repeats the address, which may name a participant
    return response


def _refuse_role(user: User, role: str) -> None:
    raise ApiError(403, f"this needs the {role} role; {user.name} is a {user.role}")


def login_required(role: str | None = None) -> Callable[[F], F]:
    """Only for signed-in users (and, with ``role``, only that role).

    Anonymous requests get 401 JSON under /api and a redirect to the sign-in page elsewhere;
    the wrong role gets 403.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _refuse_anonymous()
            if role is not None and user.role != role:
                _refuse_role(user, role)
            return view(*args, **kwargs)

        wrapped.required_role = role or "any"  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


# -- CSRF ------------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """before_request: refuse an unsafe cookie request without the session's CSRF token."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return
    if request.headers.get("Authorization") is not None:
        return  # judged by the header alone; browsers never add one cross-site
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if (
        not isinstance(expected, str)
        or not given
        or not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))
    ):
        raise ApiError(
            400,
            "the form's CSRF token is missing or out of date: reload the page and try again",
        )


# -- pages -----------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this server (no open redirects), else None."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith(url_for("auth.sign_in")):
        return None
    return target


def _sign_in_page(message: str | None, status: int, next_url: str | None, name: str = "") -> Any:
    return render_template("sign_in.html", message=message, next=next_url, name=name), status


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url or url_for("dashboard.home"))
        return _sign_in_page(None, 200, next_url)
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    if not name or not password:
        return _sign_in_page("give your user name and password", 400, next_url, name[:64])
    accounts = get_accounts()
    config = current_app.config
    try:
        user = accounts.authenticate(
            name,
            password,
            max_failures=int(config["LOGIN_MAX_FAILURES"]),
            lockout=timedelta(minutes=float(config["LOGIN_LOCKOUT_MINUTES"])),
        )
    except SignInRefusedError as exc:
        known = accounts.get_user(name) if len(name) <= 64 else None
        audit(
            "auth.locked" if exc.locked_until is not None else "auth.sign_in_failed",
            user=known,
            user_name=known.name if known is not None else "unknown",
            via="form",
        )
        if exc.locked_until is not None:
            wait = max(1, int((exc.locked_until - accounts.now()).total_seconds()))
            page, status = _sign_in_page(str(exc), 429, next_url, name[:64])
            return page, status, {"Retry-After": str(wait)}
        return _sign_in_page(str(exc), 401, next_url, name[:64])
    session.clear()
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session.permanent = True
    csrf_token()
    g.user, g.via = user, "session"
    audit("auth.sign_in")
    return redirect(next_url or url_for("dashboard.home"), 303)


@bp.route("/sign-out", methods=["GET", "POST"])
def sign_out() -> Any:
    user = current_user()
    if request.method == "GET":
        if user is None:
            return redirect(url_for("auth.sign_in"))
        return render_template("sign_out.html", user=user)
    if user is not None and g.via == "session":
        get_accounts().end_sessions(user.id)
        audit("auth.sign_out")
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.sign_in"), 303)


def after_request_headers(response: Response) -> Response:
    """Security headers on every response; nothing but static files is cached."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'",
    )
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    return response
