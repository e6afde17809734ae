"""Accounts, API tokens and the audit log of the clinic server: ``<data_dir>/web.sqlite``.

Kept apart from the recording store (``station.sqlite``) on purpose: the station's schema holds
measurements only, and the server's accounts can be backed up, reset or moved on their own.
SQLite through SQLAlchemy Core, the same pragmas as the store (WAL, ``synchronous=FULL``, foreign
keys), writes in ``BEGIN IMMEDIATE``.

- ``users``: name, role (``admin`` | ``clinician``), password hash (scrypt through werkzeug, a
  random salt per hash), failed sign-ins in a row, locked until, a session epoch (raised on
  sign-out and password change: every browser session of the user made before ends).
- ``api_tokens``: per-user tokens for programs; only the SHA-256 of a token is stored, the token
  itself is shown once. Revocable; last use recorded.
- ``audit``: who did what and when: every view and export of participant data, sign-ins, account
  changes. Never updated or deleted by the software.

The schema version is kept in ``PRAGMA user_version``; a database from a newer software is refused.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    JSON,
    URL,
    CheckConstraint,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.security import check_password_hash, generate_password_hash

from station.errors import StationError
from station.store.schema import NAMING_CONVENTION, UtcDateTime
from web.settings import ACCOUNTS_FILENAME

SCHEMA_VERSION: Final = 1
ROLES: Final = ("admin", "clinician")
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD_LEN: Final = 10
MAX_PASSWORD_LEN: Final = 1024
MAX_LABEL_LEN: Final = 64
TOKEN_PREFIX: Final = "dxs_"
#: A token's "last used" time is updated at most this often.
TOKEN_USE_RESOLUTION: Final = timedelta(minutes=1)
_BUSY_TIMEOUT_S: Final = 10.0
_WRITE: Final = "web_accounts_write"


class AccountError(StationError):
    """An account operation was refused; the message says why."""


class SignInRefusedError(AccountError):
    """Wrong name or password, or the account is locked (then :attr:`locked_until` is set)."""

    def __init__(self, message: str, locked_until: datetime | None = None):
        super().__init__(message)
        self.locked_until = locked_until


metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_utc", UtcDateTime(), nullable=False),
    Column("password_changed_utc", UtcDateTime(), nullable=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("last_sign_in_utc", UtcDateTime(), nullable=True),
    Column("session_epoch", Integer, nullable=False, default=0),
    UniqueConstraint("name"),
    CheckConstraint("role IN ('admin', 'clinician')", name="role"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(MAX_LABEL_LEN), nullable=False),
    Column("token_sha256", String(64), nullable=False),
    Column("created_utc", UtcDateTime(), nullable=False),
    Column("last_used_utc", UtcDateTime(), nullable=True),
    Column("revoked_utc", UtcDateTime(), nullable=True),
    UniqueConstraint("token_sha256"),
    Index(None, "user_id"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at_utc", UtcDateTime(), nullable=False),
    Column("user_name", String(80), nullable=False),  # a user, "cli:<os user>" or "anonymous"
    Column("user_id", Integer, nullable=True),  # no foreign key: the log outlives accounts
    Column("via", String(16), nullable=False),  # session | token | cli | form
    Column("token_id", Integer, nullable=True),
    Column("action", String(64), nullable=False),  # e.g. participant.view, auth.sign_in
    Column("participant_code", String(32), nullable=True),
    Column("method", String(16), nullable=True),
    Column("route", Text, nullable=True),  # path and query string
    Column("export_kind", String(32), nullable=True),  # raw, csv, json, pdf, fhir
    Column("remote_addr", String(64), nullable=True),
    Column("detail", JSON, nullable=False),
    Index(None, "at_utc"),
    Index(None, "participant_code"),
    Index(None, "user_name"),
)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    created_utc: datetime
    password_changed_utc: datetime
    failed_attempts: int
    locked_until: datetime | None
    last_sign_in_utc: datetime | None
    session_epoch: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    user_name: str
    label: str
    created_utc: datetime
    last_used_utc: datetime | None
    revoked_utc: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_utc is None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at_utc: datetime
    user_name: str
    via: str
    token_id: int | None
    action: str
    participant_code: str | None
    method: str | None
    route: str | None
    export_kind: str | None
    remote_addr: str | None
    detail: dict[str, Any]


def now_utc() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise AccountError(
            f"user name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: object) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return str(role)


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LEN:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LEN} characters")
    return password


def cli_actor() -> str:
    """``cli:<os user>`` for audit entries written by the ``station user`` commands."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"cli:{who}"[:80]


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event emits BEGIN
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _user(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        role=row.role,
        created_utc=row.created_utc,
        password_changed_utc=row.password_changed_utc,
        failed_attempts=row.failed_attempts,
        locked_until=row.locked_until,
        last_sign_in_utc=row.last_sign_in_utc,
        session_epoch=row.session_epoch,
    )


_USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]
_TOKEN_COLUMNS = [
    api_tokens.c.id,
    api_tokens.c.user_id,
    users.c.name.label("user_name"),
    api_tokens.c.label,
    api_tokens.c.created_utc,
    api_tokens.c.last_used_utc,
    api_tokens.c.revoked_utc,
]
_TOKEN_JOIN = api_tokens.join(users)


class Accounts:
    """The accounts database. Open with :meth:`Accounts.open`; thread-safe."""

    def __init__(self, engine: Engine, path: Path, hash_method: str = "scrypt"):
        self._engine = engine
        self._lock = threading.RLock()
        self.path = path
        self.hash_method = hash_method
        #: The clock (UTC, aware); tests replace it to move time on.
        self.now: Callable[[], datetime] = now_utc
        self._dummy_hash: str | None = None

    @classmethod
    def open(cls, data_dir: Path, *, hash_method: str = "scrypt") -> Accounts:
        """Open ``<data_dir>/web.sqlite``, creating it (and the folder) when absent."""
        data_dir = Path(data_dir)
        path = data_dir / ACCOUNTS_FILENAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AccountError(f"{data_dir}: cannot create the data folder ({exc})") from None
        try:  # owner-only, like the secret key: it holds password hashes and the audit log
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise AccountError(f"{path}: cannot create the accounts database ({exc})") from None
        engine = create_engine(
            URL.create("sqlite", database=str(path)),
            connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S},
        )
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        accounts = cls(engine, path, hash_method)
        try:
            accounts._create_schema()
        except SQLAlchemyError as exc:
            engine.dispose()
            raise AccountError(f"{path}: cannot open the accounts database ({exc})") from None
        except BaseException:
            engine.dispose()
            raise
        return accounts

    def _create_schema(self) -> None:
        with self._write() as conn:
            version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
            if version > SCHEMA_VERSION:
                raise AccountError(
                    f"{self.path}: written by a newer station software (schema {version}, "
                    f"this software knows {SCHEMA_VERSION})"
                )
            metadata.create_all(conn)
            if version < SCHEMA_VERSION:
                conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise AccountError(f"{self.path}: database error ({exc})") from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock:
            try:
                with (
                    self._engine.connect().execution_options(**{_WRITE: True}) as conn,
                    conn.begin(),
                ):
                    yield conn
            except SQLAlchemyError as exc:
                raise AccountError(f"{self.path}: database error ({exc})") from None

    # -- users -------------------------------------------------------------------------------

    def _hash(self, password: str) -> str:
        return generate_password_hash(password, method=self.hash_method)

    def add_user(self, name: str, role: str, password: str) -> User:
        check_name(name)
        check_role(role)
        password_hash = self._hash(check_password(password))
        now = self.now()
        with self._write() as conn:
            if conn.scalar(select(users.c.id).where(users.c.name == name)) is not None:
                raise AccountError(f"user {name!r} already exists")
            conn.execute(
                insert(users).values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    created_utc=now,
                    password_changed_utc=now,
                    failed_attempts=0,
                    session_epoch=0,
                )
            )
            return self._get(conn, users.c.name == name)  # type: ignore[return-value]

    @staticmethod
    def _get(conn: Connection, where: Any) -> User | None:
        row = conn.execute(select(*_USER_COLUMNS).where(where)).first()
        return None if row is None else _user(row)

    def get_user(self, name: str) -> User | None:
        with self._read() as conn:
            return self._get(conn, users.c.name == name)

    def user_by_id(self, user_id: int) -> User | None:
        with self._read() as conn:
            return self._get(conn, users.c.id == user_id)

    def require_user(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise AccountError(f"no user {name!r} (see `station user list`)")
        return user

    def list_users(self) -> list[User]:
        with self._read() as conn:
            return [_user(r) for r in conn.execute(select(*_USER_COLUMNS).order_by(users.c.name))]

    def count_users(self) -> int:
        with self._read() as conn:
            return int(conn.scalar(select(func.count()).select_from(users)) or 0)

    def set_password(self, name: str, password: str) -> User:
        """Set a new password; ends the user's browser sessions and clears a lockout."""
        password_hash = self._hash(check_password(password))
        with self._write() as conn:
            user = self._get(conn, users.c.name == name)
            if user is None:
                raise AccountError(f"no user {name!r} (see `station user list`)")
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(
                    password_hash=password_hash,
                    password_changed_utc=self.now(),
                    failed_attempts=0,
                    locked_until=None,
                    session_epoch=users.c.session_epoch + 1,
                )
            )
            return self._get(conn, users.c.id == user.id)  # type: ignore[return-value]

    def unlock(self, name: str) -> User:
        with self._write() as conn:
            user = self._get(conn, users.c.name == name)
            if user is None:
                raise AccountError(f"no user {name!r} (see `station user list`)")
            conn.execute(
                update(users)
                .where(users.c.id == user.id)
                .values(failed_attempts=0, locked_until=None)
            )
            return self._get(conn, users.c.id == user.id)  # type: ignore[return-value]

    def end_sessions(self, user_id: int) -> None:
        """End every browser session of the user (sign-out)."""
        with self._write() as conn:
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(session_epoch=users.c.session_epoch + 1)
            )

    def authenticate(
        self, name: str, password: str, *, max_failures: int, lockout: timedelta
    ) -> User:
        """The user if ``password`` is theirs; else :class:`SignInRefusedError`.

        After ``max_failures`` wrong passwords in a row the account is locked for ``lockout``;
        while locked every attempt is refused without checking the password. An unknown name
        costs the same hashing time as a known one and gets the same message.
        """
        wrong = SignInRefusedError(
            f"wrong name or password (after {max_failures} failed attempts in a row an account "
            f"is locked for {_minutes(lockout)})"
        )
        with self._read() as conn:
            row = conn.execute(
                select(users.c.id, users.c.password_hash, users.c.locked_until).where(
                    users.c.name == name
                )
            ).first()
        now = self.now()
        if row is None:
            check_password_hash(self._dummy(), password)
            raise wrong
        if row.locked_until is not None and row.locked_until > now:
            raise _locked(row.locked_until, now)
        if check_password_hash(row.password_hash, password):
            with self._write() as conn:
                conn.execute(
                    update(users)
                    .where(users.c.id == row.id)
                    .values(failed_attempts=0, locked_until=None, last_sign_in_utc=now)
                )
                return self._get(conn, users.c.id == row.id)  # type: ignore[return-value]
        until: datetime | None = None
        with self._write() as conn:  # commit first: raising inside would roll the count back
            failed = 1 + int(
                conn.scalar(select(users.c.failed_attempts).where(users.c.id == row.id)) or 0
            )
            if failed >= max_failures:
                until = now + lockout
                values: dict[str, Any] = {"failed_attempts": 0, "locked_until": until}
            else:
                values = {"failed_attempts": failed}
            conn.execute(update(users).where(users.c.id == row.id).values(values))
        if until is not None:
            raise _locked(until, now)
        raise wrong

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- API tokens ----------------------------------------------------------------------------

    def create_token(self, name: str, label: str) -> tuple[ApiToken, str]:
        """A new token for user ``name``: (its record, the token text, shown only now)."""
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_LEN:
            raise AccountError(f"the token label must be 1-{MAX_LABEL_LEN} characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as conn:
            user = self._get(conn, users.c.name == name)
            if user is None:
                raise AccountError(f"no user {name!r} (see `station user list`)")
            token_id = conn.execute(
                insert(api_tokens).values(
                    user_id=user.id,
                    label=label.strip(),
                    token_sha256=hash_token(token),
                    created_utc=self.now(),
                )
            ).inserted_primary_key[0]
            return self._token(conn, int(token_id)), token  # type: ignore[return-value]

    @staticmethod
    def _token(conn: Connection, token_id: int) -> ApiToken | None:
        row = conn.execute(
            select(*_TOKEN_COLUMNS).select_from(_TOKEN_JOIN).where(api_tokens.c.id == token_id)
        ).first()
        return None if row is None else ApiToken(*row)

    def token_user(self, token: str) -> tuple[User, ApiToken] | None:
        """The user and token record of an active token (and record its use), else None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        with self._read() as conn:
            row = conn.execute(
                select(
                    api_tokens.c.id,
                    api_tokens.c.user_id,
                    api_tokens.c.revoked_utc,
                    api_tokens.c.last_used_utc,
                ).where(api_tokens.c.token_sha256 == digest)
            ).first()
            if row is None or row.revoked_utc is not None:
                return None
            now = self.now()
            stale = row.last_used_utc is None or now - row.last_used_utc > TOKEN_USE_RESOLUTION
            if not stale:
                user = self._get(conn, users.c.id == row.user_id)
                record = self._token(conn, row.id)
        if stale:  # one write a minute at most per token, not one per request
            with self._write() as conn:
                conn.execute(
                    update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_utc=now)
                )
                user = self._get(conn, users.c.id == row.user_id)
                record = self._token(conn, row.id)
        if user is None or record is None:
            return None
        return user, record

    def revoke_token(self, token_id: int) -> ApiToken:
        with self._write() as conn:
            record = self._token(conn, token_id)
            if record is None:
                raise AccountError(f"no API token {token_id} (see `station user list`)")
            if record.revoked_utc is None:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(revoked_utc=self.now())
                )
            return self._token(conn, token_id)  # type: ignore[return-value]

    def get_token(self, token_id: int) -> ApiToken | None:
        with self._read() as conn:
            return self._token(conn, token_id)

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        query = select(*_TOKEN_COLUMNS).select_from(_TOKEN_JOIN).order_by(api_tokens.c.id)
        if user_name is not None:
            query = query.where(users.c.name == user_name)
        with self._read() as conn:
            return [ApiToken(*r) for r in conn.execute(query)]

    # -- audit ---------------------------------------------------------------------------------

    def record(
        self,
        action: str,
        *,
        user_name: str,
        via: str,
        user_id: int | None = None,
        token_id: int | None = None,
        participant_code: str | None = None,
        method: str | None = None,
        route: str | None = None,
        export_kind: str | None = None,
        remote_addr: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append an entry to the audit log (its own committed transaction)."""
        with self._write() as conn:
            conn.execute(
                insert(audit).values(
                    at_utc=self.now(),
                    user_name=user_name[:80],
                    user_id=user_id,
                    via=via,
                    token_id=token_id,
                    action=action,
                    participant_code=participant_code,
                    method=method,
                    route=route,
                    export_kind=export_kind,
                    remote_addr=(remote_addr or None) and remote_addr[:64],
                    detail=detail or {},
                )
            )

    def audit_entries(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        user_name: str | None = None,
        participant_code: str | None = None,
        action: str | None = None,
    ) -> tuple[list[AuditEntry], int]:
        """Entries newest first, and how many match the filters in all."""
        conditions: list[Any] = []
        if user_name is not None:
            conditions.append(audit.c.user_name == user_name)
        if participant_code is not None:
            conditions.append(audit.c.participant_code == participant_code)
        if action is not None:
            conditions.append(audit.c.action == action)
        columns = [c for c in audit.c if c.name != "user_id"]
        with self._read() as conn:
            total = int(
                conn.scalar(select(func.count()).select_from(audit).where(*conditions)) or 0
            )
            rows = conn.execute(
                select(*columns)
                .where(*conditions)
                .order_by(audit.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [AuditEntry(*r) for r in rows], total


def _minutes(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _locked(until: datetime, now: datetime) -> SignInRefusedError:
    return SignInRefusedError(
        "too many failed sign-ins: this account is locked until "
        f"{until.astimezone(UTC):%H:%M} UTC (another {_minutes(until - now)}); try again then, "
        "or ask an admin to run `station user unlock NAME`",
        locked_until=until,
    )


__all__ = [
    "ROLES",
    "AccountError",
    "Accounts",
    "ApiToken",
    "AuditEntry",
    "SignInRefusedError",
    "User",
    "check_name",
    "check_password",
    "check_role",
    "cli_actor",
]
