"""The clinic server (Flask). Reads and writes through the station's store; never touches hardware.

``create_app()`` builds the app (see :mod:`web.app`); ``station serve`` runs it on cheroot
(:mod:`web.server`). Blueprints: ``auth`` (sign in/out), ``api`` (JSON, ``/api/v1``), ``admin``
(users, tokens, audit log), ``dashboard`` (pages), ``exports`` (downloads), ``practice``.

The app is imported on first use, so that the ``station`` command's plugins (``web.cli``,
``web.loadbench``) load without Flask and every other ``station`` command starts quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from web.app import close_app, create_app

__all__ = ["close_app", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from web import app

        return getattr(app, name)
    raise AttributeError(f"module 'web' has no attribute {name!r}")
