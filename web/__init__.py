"""The clinic server (Flask). Reads and writes through the station's store; never touches hardware.

``create_app()`` builds the app (see :mod:`web.app`); ``station serve`` runs it on cheroot
(:mod:`web.server`). Blueprints: ``auth`` (sign in/out), ``api`` (JSON, ``/api/v1``), ``admin``
(users, tokens, audit log), ``dashboard`` (pages).
"""

from web.app import close_app, create_app

__all__ = ["close_app", "create_app"]
