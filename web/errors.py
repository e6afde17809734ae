"""Errors as responses: JSON ``{"error": {"status": N, "message": "..."}}`` under ``/api`` (and
for clients that ask for JSON), a small HTML page elsewhere. Every refusal says what was wrong."""

from __future__ import annotations

import logging
import secrets
from typing import Final

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("web")

API_PREFIX: Final = "/api/"

#: Messages for HTTP errors raised by Flask/werkzeug itself (routing, methods, sizes).
_MESSAGES: Final = {
    400: "bad request",
    404: "no such page or resource: check the address (the API's routes are in /api/v1/openapi.json)",
    405: "method {method} is not allowed here (allowed: {allowed})",
    413: "the request body is too large",
}


class ApiError(Exception):
    """Refuse a request with ``status`` and a message naming what is wrong."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def wants_json() -> bool:
    if request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if wants_json():
        response = jsonify({"error": {"status": status, "message": message}})
    else:
        response = current_app.response_class(
            render_template("error.html", status=status, message=message), mimetype="text/html"
        )
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    template = _MESSAGES.get(status)
    if status == 405:
        allowed = headers.get("Allow", "")
        message = _MESSAGES[405].format(method=request.method, allowed=allowed or "none")
    elif template is not None:
        message = template
        if status == 400 and exc.description and not exc.description.startswith("The browser"):
            message = f"bad request: {exc.description}"
    else:
        message = (exc.description or exc.name).strip()
    return error_response(status, message, headers)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.headers)


def _unexpected(exc: Exception) -> Response:
    """The last resort: log the traceback, answer 500 with a reference, never the details."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    ref = secrets.token_hex(4)
    log.exception("internal error %s on %s %s", ref, request.method, request.path)
    state = current_app.extensions.get("dexterity")
    if state is not None:
        state.internal_errors += 1
    return error_response(
        500, f"internal error (reference {ref}): the server log has the details; please report it"
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(Exception, _unexpected)
