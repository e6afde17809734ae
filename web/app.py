"""The application factory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, g
from flask.json.provider import DefaultJSONProvider

from station.store import Store
from web import admin, api, auth, dashboard, exports, practice
from web.accounts import Accounts
from web.errors import register_error_handlers
from web.serialize import finite
from web.settings import (
    DEFAULTS,
    MIN_SECRET_KEY_CHARS,
    SecretKeyError,
    is_loopback,
    read_secret_key,
)
from web.state import EXTENSION, WebState


class StrictJSONProvider(DefaultJSONProvider):
    """JSON without NaN or Infinity (invalid JSON): non-finite numbers become null."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        kwargs["allow_nan"] = False
        try:
            return json.dumps(obj, **kwargs)
        except ValueError:
            return json.dumps(finite(obj), **kwargs)


def _data_dir(config: Mapping[str, Any]) -> Path:
    if config.get("DATA_DIR"):
        return Path(config["DATA_DIR"])
    from station.config import load_config

    return load_config(config.get("STATION_CONFIG")).data_dir


def create_app(config_overrides: Mapping[str, Any] | None = None) -> Flask:
    """The clinic server.

    Settings: :data:`web.settings.DEFAULTS`, then ``config_overrides`` (Flask keys, plus
    ``DATA_DIR``, or ``STATION_CONFIG`` naming the station TOML; without either the data folder
    is the station configuration's: ``$STATION_DATA_DIR``, ``$STATION_CONFIG``, ...). The secret
    key is read from ``<data_dir>/secret_key``: the app refuses to start without it
    (:class:`~web.settings.SecretKeyError`, which says how to create it).
    """
    overrides = dict(config_overrides or {})
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.url_map.merge_slashes = False  # "//" is a 404, not a redirect to a guessed route
    app.url_map.strict_slashes = True
    app.config.update(DEFAULTS)
    app.config.update(overrides)
    data_dir = _data_dir(app.config)
    app.config["DATA_DIR"] = str(data_dir)

    key = overrides.get("SECRET_KEY")
    if key is None:
        key = read_secret_key(data_dir)
    elif not isinstance(key, str) or len(key) < MIN_SECRET_KEY_CHARS:
        raise SecretKeyError(f"SECRET_KEY: give at least {MIN_SECRET_KEY_CHARS} characters")
    app.config["SECRET_KEY"] = key

    secure = app.config["SECURE_COOKIES"]
    if secure is None and app.config["SERVER_TLS"] is not None:
        secure = bool(app.config["SERVER_TLS"])  # Secure exactly when served over HTTPS
    if secure is None:
        host = app.config["SERVER_HOST"]
        secure = not (app.config.get("TESTING") or (host is not None and is_loopback(host)))
    app.config.update(
        SESSION_COOKIE_NAME="station_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(secure),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=float(app.config["SESSION_HOURS"])),
        SESSION_REFRESH_EACH_REQUEST=False,
    )

    accounts = Accounts.open(data_dir, hash_method=str(app.config["PASSWORD_HASH_METHOD"]))
    try:
        store = Store.open(data_dir, recover=False, readers=int(app.config["STORE_READERS"]))
    except BaseException:
        accounts.close()
        raise
    app.extensions[EXTENSION] = WebState(data_dir=data_dir, store=store, accounts=accounts)

    register_error_handlers(app)
    app.before_request(auth.check_csrf)
    app.after_request(auth.after_request_headers)
    app.context_processor(lambda: {"csrf_token": auth.csrf_token, "user": g.get("user")})
    for blueprint in (auth.bp, api.bp, admin.bp, dashboard.bp, exports.bp, practice.bp):
        app.register_blueprint(blueprint)
    return app


def close_app(app: Flask) -> None:
    """Close the store and the accounts database the app holds."""
    state = app.extensions.get(EXTENSION)
    if state is not None:
        state.close()
