"""Administration (admin role only): users, API tokens and the audit log, as JSON under
``/api/v1`` and as one minimal page, ``/admin``, with a form to revoke a token.

Accounts are created on the station itself (``station user add``); the web side reads them and
revokes tokens. Every read of the audit log is itself audited."""

from __future__ import annotations

import re
from typing import Any, Final

from flask import Blueprint, flash, g, jsonify, redirect, render_template, url_for

from web import serialize
from web.accounts import AccountError
from web.auth import login_required
from web.errors import ApiError
from web.params import check_query, path_id, query_int, query_text
from web.state import audit, get_accounts

bp = Blueprint("admin", __name__)

MAX_LIMIT: Final = 500
_USER_FILTER: Final = re.compile(r"[A-Za-z0-9:._-]{1,80}")
_CODE_FILTER: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ACTION_FILTER: Final = re.compile(r"[a-z_]{1,32}(\.[a-z_]{1,32}){0,3}")
PAGE_AUDIT_ENTRIES: Final = 100


@bp.get("/api/v1/audit")
@login_required("admin")
def audit_log() -> Any:
    check_query(("limit", "offset", "user", "participant", "action"))
    limit = query_int("limit", 100, 1, MAX_LIMIT)
    offset = query_int("offset", 0, 0, 2**31 - 1)
    user = query_text("user", 80, _USER_FILTER)
    code = query_text("participant", 32, _CODE_FILTER)
    action = query_text("action", 64, _ACTION_FILTER)
    entries, total = get_accounts().audit_entries(
        limit=limit, offset=offset, user_name=user, participant_code=code, action=action
    )
    audit("audit.read", detail={"user": user, "participant": code, "action": action})
    return jsonify(
        {
            "items": [serialize.audit_entry(e) for e in entries],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/api/v1/users")
@login_required("admin")
def users() -> Any:
    check_query(())
    return jsonify({"items": [serialize.user(u) for u in get_accounts().list_users()]})


@bp.get("/api/v1/tokens")
@login_required("admin")
def tokens() -> Any:
    check_query(())
    return jsonify({"items": [serialize.token(t) for t in get_accounts().list_tokens()]})


@bp.get("/admin")
@login_required("admin")
def page() -> Any:
    accounts = get_accounts()
    entries, total = accounts.audit_entries(limit=PAGE_AUDIT_ENTRIES)
    audit("audit.read", detail={"page": "admin"})
    return render_template(
        "admin.html",
        user=g.user,
        users=accounts.list_users(),
        tokens=accounts.list_tokens(),
        entries=entries,
        total=total,
        now=accounts.now(),
    )


@bp.post("/admin/tokens/<token_id>/revoke")
@login_required("admin")
def revoke_token(token_id: str) -> Any:
    tid = path_id(token_id, "token id")
    accounts = get_accounts()
    if accounts.get_token(tid) is None:
        raise ApiError(404, f"no API token {tid}")
    try:
        record = accounts.revoke_token(tid)
    except AccountError as exc:
        raise ApiError(404, str(exc)) from None
    audit("token.revoke", detail={"token_id": tid, "owner": record.user_name})
    flash(f"Token {tid} ({record.label}, of {record.user_name}) is revoked.")
    return redirect(url_for("admin.page"), 303)
