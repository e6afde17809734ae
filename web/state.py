"""What the app holds for its lifetime (the store, the accounts) and the audit helper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from flask import current_app, g, request

from station.store import Store
from web.accounts import Accounts, User

EXTENSION: Final = "dexterity"


@dataclass
class WebState:
    data_dir: Path
    store: Store
    accounts: Accounts
    #: Requests answered by the last-resort 500 handler (tests assert it stays 0).
    internal_errors: int = 0

    def close(self) -> None:
        self.store.close()
        self.accounts.close()


def state() -> WebState:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def get_store() -> Store:
    return state().store


def get_accounts() -> Accounts:
    return state().accounts


def route_text() -> str:
    query = request.query_string.decode("latin-1")
    return (request.path + (f"?{query}" if query else ""))[:2000]


def audit(
    action: str,
    *,
    participant_code: str | None = None,
    export_kind: str | None = None,
    detail: dict[str, Any] | None = None,
    user: User | None = None,
    user_name: str | None = None,
    via: str | None = None,
) -> None:
    """Record in the audit log who (the signed-in user) did ``action`` on this request.

    Called before the data is sent: if the entry cannot be written, the request fails and
    nothing is shown unrecorded.
    """
    user = user if user is not None else g.get("user")
    token = g.get("token")
    get_accounts().record(
        action,
        user_name=user_name or (user.name if user is not None else "anonymous"),
        user_id=user.id if user is not None else None,
        via=via or g.get("via") or "anonymous",
        token_id=token.id if token is not None else None,
        participant_code=participant_code,
        method=request.method,
        route=route_text(),
        export_kind=export_kind,
        remote_addr=request.remote_addr,
        detail=detail,
    )
