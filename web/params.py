"""Reading path and query parameters strictly: anything malformed is a 400 naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from flask import request

from station.store.store import CODE_PATTERN
from web.errors import ApiError

#: Largest id (SQLite's INTEGER is 64-bit signed).
MAX_ID: Final = 2**63 - 1
MAX_OFFSET: Final = 2**31 - 1
_DIGITS: Final = re.compile(r"[0-9]{1,19}")


def check_query(allowed: Iterable[str]) -> None:
    """Refuse query parameters this route does not know, and any given twice."""
    allowed = set(allowed)
    for name in request.args:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, f"unknown query parameter {name!r} (this route takes: {known})")
        if len(request.args.getlist(name)) > 1:
            raise ApiError(400, f"query parameter {name!r} is given more than once")


def path_id(value: str, what: str) -> int:
    """A positive integer id from the path; 400 otherwise."""
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_ID:
        raise ApiError(400, f"{what}: {value[:40]!r} is not a valid id (a whole number from 1)")
    return int(value)


def path_code(value: str) -> str:
    """A participant code from the path; 400 when it cannot be one."""
    if not CODE_PATTERN.fullmatch(value):
        raise ApiError(
            400,
            f"participant code: {value[:40]!r} is not valid (1-32 letters, digits, '_' or '-')",
        )
    return value


def query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw):
        raise ApiError(400, f"query parameter {name!r}: {raw[:40]!r} is not a whole number")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ApiError(
            400, f"query parameter {name!r}: must be from {minimum} to {maximum}, got {value}"
        )
    return value


def query_text(name: str, max_len: int, pattern: re.Pattern[str] | None = None) -> str | None:
    """A text parameter (None when absent or empty)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise ApiError(400, f"query parameter {name!r}: longer than {max_len} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise ApiError(400, f"query parameter {name!r}: contains control characters")
    if pattern is not None and not pattern.fullmatch(raw):
        raise ApiError(400, f"query parameter {name!r}: {raw[:40]!r} is not valid")
    return raw
