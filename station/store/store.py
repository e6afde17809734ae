"""Durable storage of participants, sessions, trials, their raw data and metrics.

The database is ``<data_dir>/station.sqlite`` (SQLite through SQLAlchemy 2 Core; the schema is in
:mod:`station.store.schema` and is migrated with Alembic on every :meth:`Store.open`).

Durability and crash safety
    Every connection runs ``journal_mode=WAL``, ``synchronous=FULL`` and ``foreign_keys=ON``: each
    commit is in the WAL and fsynced before the call returns (if the card honours fsync; see
    ``timing-and-hardware.md``). Each public write method is one transaction. A trial is written
    twice: :meth:`Store.start_trial` commits a row with status ``running`` at once, and
    :meth:`Store.finish_trial` writes its events, samples, cues, metrics and final status in one
    transaction. After ``kill -9`` or a power cut a trial is therefore either finished with all of
    its raw data, or still ``running``; the next :meth:`Store.open` marks every ``running`` trial and
    session ``incomplete`` and lists them in :attr:`Store.recovered`.

One recording process
    ``Store.open(data_dir)`` (``recover=True``) takes an exclusive ``flock`` on
    ``station.sqlite.lock`` for as long as the store is open, so that it only recovers ``running``
    rows whose writer is gone (the kernel drops the lock of a killed process). A second recording
    process is refused with a :class:`StoreError`. Programs that run beside a recording station and
    must not touch its running trials (a report, the clinic web server) open with
    ``recover=False``: no lock, no recovery; they may still read and write.

Threads
    A :class:`Store` is meant to be used from the runner thread but may be opened on another one.
    Calls are serialized by a lock. It holds a single :class:`~sqlalchemy.engine.Engine` with a
    :class:`~sqlalchemy.pool.QueuePool` of exactly one connection (``check_same_thread=False``):
    SQLite has one writer at a time anyway, and keeping the connection keeps its pragmas and page
    cache (``NullPool`` would reopen the file and re-run the pragmas on every call). Reads run in
    a ``BEGIN`` (deferred) transaction, so a read of several tables sees one snapshot; writes run
    in ``BEGIN IMMEDIATE`` so that a check followed by a write cannot race another process.

Samples are stored as typed arrays (int64 times, int16 codes, little-endian) in rows of at most
:data:`~station.store.schema.SAMPLES_PER_CHUNK` samples, not one row per sample.

Self-guided mode
    A participant's sign-in PIN is never stored: only a random salt and its ``hashlib.scrypt``
    hash (n=2**14, r=8, p=1, as the kiosk's clinician PIN in ``station.ui.auth``).
    :meth:`Store.verify_participant_pin` counts wrong PINs in a row in the database (so a restart
    does not reset them): after :data:`PIN_LOCK_AFTER` it refuses tries for
    :data:`PIN_LOCKOUT_S`, after :data:`PIN_BLOCK_AFTER` until a clinician sets a new PIN. An
    unknown code costs the same hashing time as a known one. Assignments, ratings (a named scale,
    when, a value, its time) and session notes are plain rows.

Graded practice
    A session has a ``kind``: ``assessment`` (a battery; every session before migration 0003) or
    ``practice`` (a level of a prescribed program, :mod:`station.programs`). The history readers
    (:meth:`Store.participant_sessions`) return assessments unless asked otherwise, so practice
    never becomes a baseline for reliable change. A prescription (:meth:`Store.add_prescription`)
    keeps its current level; every change after the fact is logged (:meth:`Store.
    prescription_changes`), and a progression decision (:meth:`Store.add_decision`) is stored with
    its inputs and moves the level in the same transaction.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Row,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from station.errors import StationError
from station.records import CueRecord, EventRecord, Metric, PadSamples, TrialData
from station.store import schema as sc

if TYPE_CHECKING:
    from alembic.config import Config

DB_FILENAME: Final = "station.sqlite"
LOCK_FILENAME: Final = "station.sqlite.lock"
#: How long a statement waits for another process's write lock before failing.
BUSY_TIMEOUT_S: Final = 10.0
#: The fault added to a trial found ``running`` when the store is opened.
INTERRUPTED_FAULT: Final = "interrupted: the recording stopped before the trial was saved"

CODE_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
MIN_BIRTH_YEAR: Final = 1900
FINISHED_TRIAL_STATUSES: Final = ("complete", "incomplete", "invalid", "timeout")
ENDED_SESSION_STATUSES: Final = ("complete", "incomplete", "aborted")

#: A participant's self-guided PIN: digits, this many.
PIN_MIN_DIGITS: Final = 4
PIN_MAX_DIGITS: Final = 8
#: scrypt parameters of a participant's PIN (those of the clinician PIN in station.ui.auth).
PIN_SCRYPT: Final = {"kdf": "scrypt", "n": 2**14, "r": 8, "p": 1}
PIN_SALT_BYTES: Final = 16
#: Wrong PINs in a row before sign-in is refused for PIN_LOCKOUT_S (again after each further
#: PIN_LOCK_AFTER), and before the PIN is blocked until a clinician sets a new one. Product
#: choices: 10 guesses of a 4-digit PIN find it with a chance of 1 in 1000.
PIN_LOCK_AFTER: Final = 5
PIN_LOCKOUT_S: Final = 300.0
PIN_BLOCK_AFTER: Final = 10
#: Rating scales the store accepts: name -> (lowest, highest, whole numbers only).
#: pain and fatigue: 0-10 numeric rating scales (0 none, 10 the worst imaginable).
RATING_SCALES: Final[dict[str, tuple[float, float, bool]]] = {
    "pain": (0.0, 10.0, True),
    "fatigue": (0.0, 10.0, True),
    # Perceived effort on Borg's CR10 scale (Borg 1982, Med Sci Sports Exerc 14:377): 0 "nothing
    # at all" to 10 "extremely strong"; half steps such as 0.5 are part of the scale.
    "borg_cr10": (0.0, 10.0, False),
}
#: Assignment kinds the store accepts now ("program" comes with the practice programs).
ACCEPTED_ASSIGNMENT_KINDS: Final = ("battery",)
NOTE_MAX_LEN: Final = 4000

_WRITE_OPTION: Final = "station_store_write"
_BATCH: Final = 200  # trials per read in iter_trials


class StoreError(StationError):
    """A store operation was refused or failed; the message names the field or the record."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PinLockedError(StoreError):
    """Sign-in refused without checking the PIN: too many wrong PINs in a row.

    ``until_utc``: when tries are accepted again; None when the PIN is blocked until a clinician
    sets a new one."""

    def __init__(self, message: str, until_utc: datetime | None):
        super().__init__(message, "pin")
        self.until_utc = until_utc

    @property
    def blocked(self) -> bool:
        return self.until_utc is None


class _Unset(Enum):
    UNSET = "unset"


#: "Leave unchanged" for :meth:`Store.update_participant`.
UNSET: Final = _Unset.UNSET


# --------------------------------------------------------------------------------------------
# Records returned by the store


@dataclass(frozen=True)
class Participant:
    id: int
    code: str
    birth_year: int | None
    sex: str | None  # "female" | "male" | "other" | None (not recorded)
    dominant_hand: str | None  # "right" | "left" | None
    affected_side: str | None  # "right" | "left" | "both" | "none" | None
    notes: str
    created_utc: datetime


@dataclass(frozen=True)
class SessionMetric:
    """A session summary metric, e.g. the mean total time of a hand's trials."""

    protocol: str
    hand: str
    metric: Metric


@dataclass(frozen=True)
class TrialInfo:
    """A trial's row and its metrics (raw data in :attr:`data` only when asked for)."""

    id: int
    session_id: int
    participant_code: str
    seq: int
    protocol: str
    protocol_version: str
    protocol_hash: str
    hand: str
    practice: bool
    trial_index: int
    status: str
    invalid_reason: str | None
    params: dict[str, Any]
    start_t_ns: int
    end_t_ns: int | None
    go_t_ns: int | None
    roles: dict[str, str]
    provenance: dict[str, Any]
    faults: list[str]
    gaps: list[dict[str, Any]]
    notes: str
    metrics: tuple[Metric, ...] = ()
    data: TrialData | None = None


@dataclass(frozen=True)
class SessionInfo:
    id: int
    participant_code: str
    battery_name: str  # a practice session: the program's name
    battery_hash: str
    station_id: str
    status: str
    started_utc: datetime
    ended_utc: datetime | None
    software_version: str
    hardware_backend: str
    timestamp_source: str
    anchor_mono_ns: int
    anchor_wall_ns: int
    provenance: dict[str, Any]
    notes: str
    kind: str  # "assessment" | "practice"
    metrics: tuple[SessionMetric, ...] = ()
    trials: tuple[TrialInfo, ...] = ()  # filled only when asked for


@dataclass(frozen=True)
class Interrupted:
    """A session (and, if one was running, its trial) found ``running`` and marked incomplete."""

    session_id: int
    participant_code: str
    trial_id: int | None = None
    seq: int | None = None
    protocol: str | None = None
    hand: str | None = None
    practice: bool | None = None
    trial_index: int | None = None

    def describe(self) -> str:
        who = f"session {self.session_id} of participant {self.participant_code}"
        if self.trial_id is None:
            return f"{who} was interrupted between trials; it is kept as incomplete"
        kind = "practice trial" if self.practice else "trial"
        return (
            f"{who} was interrupted during {self.protocol} ({self.hand} hand, {kind} "
            f"{self.trial_index}, trial id {self.trial_id}); the trial is kept as incomplete"
        )


@dataclass(frozen=True)
class SelfGuidedAccess:
    """A participant's self-guided sign-in state and settings (never the PIN or its hash)."""

    participant_code: str
    has_pin: bool
    failures: int  # wrong PINs in a row
    locked_until_utc: datetime | None
    blocked: bool  # too many wrong PINs: a clinician sets a new PIN
    pain_stop_at: int | None  # None: the kiosk's default
    updated_utc: datetime | None  # None: never set


@dataclass(frozen=True)
class Assignment:
    """What a participant is to do on their own: a battery (``kind``), so often a week."""

    id: int
    participant_code: str
    kind: str
    name: str
    sessions_per_week: int
    rest_s: float  # between blocks (sets)
    note: str
    params: dict[str, Any]
    active: bool
    created_by: str
    created_utc: datetime
    ended_utc: datetime | None


@dataclass(frozen=True)
class Rating:
    """A self-reported rating: ``scale`` (e.g. ``pain``), ``timing`` (before/during/after)."""

    id: int
    participant_code: str
    session_id: int | None
    trial_id: int | None
    scale: str
    timing: str
    value: float
    source: str
    t_utc: datetime


@dataclass(frozen=True)
class SessionNote:
    """A note on a session (``trial_id`` None) or on one of its trials, after the fact."""

    id: int
    session_id: int
    trial_id: int | None
    author: str
    text: str
    t_utc: datetime


@dataclass(frozen=True)
class Prescription:
    """A graded practice program prescribed to a participant (see :mod:`station.programs`)."""

    id: int
    participant_code: str
    program_name: str
    program_version: str
    program_hash: str  # sha256 of the program file when it was prescribed
    levels: int  # how many levels the program had then
    start_level: int  # 1-based
    current_level: int
    sessions_per_week: int
    daily_cap: int
    status: str  # "active" | "paused" | "ended"
    note: str
    created_by: str
    created_utc: datetime
    updated_utc: datetime
    ended_utc: datetime | None


@dataclass(frozen=True)
class PrescriptionChange:
    """A change to a prescription after the fact: ``before`` and ``after`` hold the changed
    fields (``created``: ``after`` holds the prescription as made)."""

    id: int
    prescription_id: int
    kind: str  # "created" | "level" | "dose" | "status" | "note"
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    author: str
    t_utc: datetime


@dataclass(frozen=True)
class PracticeTrial:
    """A trial of a practice session: which exercise, hand, set and repetition, and its result."""

    trial_id: int
    exercise: str
    hand: str
    set_index: int
    rep_index: int
    protocol: str
    status: str
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class PracticeSessionInfo:
    """A practice session with its trials and the ratings linked to it."""

    session_id: int
    prescription_id: int
    participant_code: str
    level: int
    program_version: str
    program_hash: str
    plan: dict[str, Any]
    sensations: str
    status: str  # the session's: running, complete, incomplete, aborted
    started_utc: datetime
    ended_utc: datetime | None
    trials: tuple[PracticeTrial, ...] = ()
    ratings: tuple[Rating, ...] = ()


@dataclass(frozen=True)
class DecisionRecord:
    """A stored progression decision (see :mod:`station.programs.rules`)."""

    id: int
    prescription_id: int
    session_id: int | None
    kind: str  # "advance" | "stay" | "regress" | "stop" | "hold"
    level_before: int
    level_after: int
    reason: str
    inputs: dict[str, Any]
    rules: dict[str, Any]
    rule_version: str
    t_utc: datetime


# --------------------------------------------------------------------------------------------
# Engine, pragmas and migrations


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps_json(obj: Any) -> str:
    """The store's JSON: strict (no NaN, which PostgreSQL refuses), compact, numpy scalars allowed."""
    return json.dumps(
        obj, default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":")
    )


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _on_begin); the sqlite3 module's legacy transaction
    # control would not begin a transaction before SELECT or DDL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"the database refused write-ahead logging (journal_mode={mode})")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_sqlite_engine(path: Path, connections: int = 1) -> Engine:
    """An engine on the SQLite file ``path`` with the store's pragmas and transaction control,
    holding up to ``connections`` connections."""
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        poolclass=QueuePool,
        pool_size=connections,
        max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        json_serializer=dumps_json,
        json_deserializer=json.loads,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def migrations_folder() -> Path:
    return Path(str(resources.files("station.store").joinpath("migrations")))


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without an ini file, for ``alembic.command`` functions.

    With ``connection`` the migrations run on it (inside its transaction), e.g.
    ``command.revision(alembic_config(conn), autogenerate=True, message="...")``
    to draft a new migration from :mod:`station.store.schema`.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _write_conn(engine: Engine) -> Connection:
    return engine.connect().execution_options(**{_WRITE_OPTION: True})


def _migrate(engine: Engine) -> None:
    from alembic import command
    from alembic.util import CommandError

    with _write_conn(engine) as conn, conn.begin():
        try:
            command.upgrade(alembic_config(conn), "head")
        except CommandError as exc:
            raise StoreError(
                f"cannot migrate the database ({exc}); was it written by a newer station software?"
            ) from None


# --------------------------------------------------------------------------------------------
# Validation and conversion


def _now_utc() -> datetime:
    return datetime.now(UTC)


def _check_code(code: object) -> str:
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise StoreError(
            f"participant code: {code!r} is not valid: use 1-32 letters, digits, '_' or '-' "
            "(a pseudonym, never a name)",
            "code",
        )
    return code


def _check_birth_year(year: object) -> int | None:
    if year is None:
        return None
    current = _now_utc().year
    if isinstance(year, bool) or not isinstance(year, int | np.integer):
        raise StoreError(f"birth_year: {year!r} is not a year", "birth_year")
    if not MIN_BIRTH_YEAR <= int(year) <= current:
        raise StoreError(f"birth_year: {year} is outside {MIN_BIRTH_YEAR}..{current}", "birth_year")
    return int(year)


def _check_choice(
    value: object, allowed: Sequence[str], name: str, *, nullable: bool = True
) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or value not in allowed:
        listed = ", ".join(allowed)
        raise StoreError(f"{name}: {value!r} is not one of {listed}", name)
    return value


def _check_text(
    value: object, name: str, max_len: int | None = None, *, empty: bool = False
) -> str:
    if not isinstance(value, str):
        raise StoreError(f"{name}: expected text, got {type(value).__name__}", name)
    if not empty and not value:
        raise StoreError(f"{name}: must not be empty", name)
    if max_len is not None and len(value) > max_len:
        raise StoreError(f"{name}: {value[:40]!r}... is longer than {max_len} characters", name)
    return value


def _check_int(value: object, name: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise StoreError(f"{name}: expected an integer, got {value!r}", name)
    return int(value)


def _check_json(value: Any, name: str, kind: type) -> Any:
    if not isinstance(value, kind):
        raise StoreError(f"{name}: expected a {kind.__name__}, got {type(value).__name__}", name)
    try:
        dumps_json(value)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{name}: cannot be stored as JSON ({exc})", name) from None
    return value


def _check_name(value: object, name: str) -> str:
    """A program, battery or exercise name: 1-64 letters, digits, '_' or '-'."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise StoreError(f"{name}: {value!r} is not a name (letters, digits, '_', '-')", name)
    return value


def _check_per_week(value: object) -> int:
    per_week = _check_int(value, "sessions_per_week")
    assert per_week is not None
    if not 1 <= per_week <= sc.MAX_SESSIONS_PER_WEEK:
        raise StoreError(
            f"sessions_per_week: {per_week} is outside 1..{sc.MAX_SESSIONS_PER_WEEK}",
            "sessions_per_week",
        )
    return per_week


def _check_daily_cap(value: object) -> int:
    cap = _check_int(value, "daily_cap")
    assert cap is not None
    if not 1 <= cap <= sc.MAX_DAILY_CAP:
        raise StoreError(f"daily_cap: {cap} is outside 1..{sc.MAX_DAILY_CAP}", "daily_cap")
    return cap


def check_pin(pin: object) -> str:
    """A participant PIN's form: 4-8 digits."""
    if (
        not isinstance(pin, str)
        or not pin.isdigit()
        or not (PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS)
    ):
        raise StoreError(f"PIN: a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits", "pin")
    return pin


def _hash_pin(pin: str, salt: bytes, kdf: dict[str, Any]) -> bytes:
    return hashlib.scrypt(
        pin.encode(),
        salt=salt,
        n=int(kdf["n"]),
        r=int(kdf["r"]),
        p=int(kdf["p"]),
        maxmem=64 * 1024 * 1024,
    )


def _check_utc(value: datetime | None, name: str) -> datetime:
    if value is None:
        return _now_utc()
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise StoreError(f"{name}: give an aware UTC datetime", name)
    return value.astimezone(UTC)


def _metric_value(value: object, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StoreError(f"metric {name!r}: value {value!r} is not a number", "metrics") from None
    return None if math.isnan(number) else number  # SQLite stores NaN as NULL anyway


def _metric_rows(
    metrics: Iterable[Metric], first_ordinal: int = 0, **common: Any
) -> list[dict[str, Any]]:
    """Rows for ``metrics`` (numbered from ``first_ordinal``), each with the ``common`` keys."""
    rows = []
    for i, m in enumerate(metrics, start=first_ordinal):
        if not isinstance(m, Metric):
            raise StoreError(f"metrics[{i}]: expected a Metric, got {type(m).__name__}", "metrics")
        rows.append(
            {
                **common,
                "ordinal": i,
                "name": _check_text(m.name, "metric name", sc.NAME_LEN),
                "value": _metric_value(m.value, m.name),
                "unit": _check_text(m.unit, f"metric {m.name!r} unit", sc.SHORT_LEN, empty=True),
                "detail": _check_text(m.detail, f"metric {m.name!r} detail", empty=True),
            }
        )
    return rows


def _as_array(values: Any, dtype: str, what: str) -> np.ndarray:
    """``values`` as a 1-D little-endian integer array of ``dtype``, refusing lossy conversions."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what}: not an array ({exc})", "samples") from None
    target = np.dtype(dtype)
    if arr.ndim != 1:
        raise StoreError(f"{what}: expected a 1-D array, got shape {arr.shape}", "samples")
    if arr.size == 0:
        return np.zeros(0, dtype=target)
    if arr.dtype.kind not in "iu":
        raise StoreError(f"{what}: expected integers, got {arr.dtype}", "samples")
    info = np.iinfo(target)
    if int(arr.min()) < info.min or int(arr.max()) > info.max:
        raise StoreError(f"{what}: values outside the range of {target}", "samples")
    return arr.astype(target, copy=False)


def _sample_rows(trial_id: int, pad_index: int, key: str, pad: PadSamples) -> list[dict[str, Any]]:
    what = f"samples of pad {key!r}"
    if not isinstance(pad, PadSamples):
        raise StoreError(f"{what}: expected PadSamples, got {type(pad).__name__}", "samples")
    if pad.pad != key:
        raise StoreError(f"{what}: the entry holds pad {pad.pad!r}", "samples")
    t_ns = _as_array(pad.t_ns, "<i8", f"{what}: t_ns")
    code = _as_array(pad.code, "<i2", f"{what}: code")
    if len(t_ns) != len(code):
        raise StoreError(f"{what}: {len(t_ns)} times but {len(code)} codes", "samples")
    common = {
        "trial_id": trial_id,
        "pad": key,
        "pad_index": pad_index,
        "gain": float(pad.gain),
        "supply_v": float(pad.supply_v),
        "divider_ohm": float(pad.divider_ohm),
        "slope_n_per_s": float(pad.slope_n_per_s),
        "offset_n": float(pad.offset_n),
        "calibrated": bool(pad.calibrated),
    }
    rows = []
    n_chunks = max(1, -(-len(t_ns) // sc.SAMPLES_PER_CHUNK))
    for chunk in range(n_chunks):
        lo, hi = chunk * sc.SAMPLES_PER_CHUNK, (chunk + 1) * sc.SAMPLES_PER_CHUNK
        rows.append(
            {
                **common,
                "chunk": chunk,
                "n": len(t_ns[lo:hi]),
                "t_ns": t_ns[lo:hi].tobytes(),
                "code": code[lo:hi].tobytes(),
                "gaps": pad.gaps if chunk == 0 else [],
            }
        )
    return rows


def _event_rows(trial_id: int, records: Sequence[EventRecord]) -> list[dict[str, Any]]:
    rows = []
    for i, e in enumerate(records):
        try:
            rows.append(
                {
                    "trial_id": trial_id,
                    "ordinal": i,
                    "seq": int(e.seq),
                    "t_ns": int(e.t_ns),
                    "channel": _check_text(e.channel, f"events[{i}].channel", sc.NAME_LEN),
                    "level": int(e.level),
                    "flags": int(e.flags),
                }
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise StoreError(f"events[{i}]: cannot be stored ({exc})", "events") from None
    return rows


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _cue_rows(trial_id: int, records: Sequence[CueRecord]) -> list[dict[str, Any]]:
    rows = []
    for i, c in enumerate(records):
        try:
            rows.append(
                {
                    "trial_id": trial_id,
                    "ordinal": i,
                    "output": _check_text(c.output, f"cues[{i}].output", sc.NAME_LEN),
                    "kind": _check_text(c.kind, f"cues[{i}].kind", sc.SHORT_LEN),
                    "scheduled_on_ns": int(c.scheduled_on_ns),
                    "scheduled_off_ns": int(c.scheduled_off_ns),
                    "actual_on_ns": _opt_int(c.actual_on_ns),
                    "actual_off_ns": _opt_int(c.actual_off_ns),
                    "loopback_on_ns": _opt_int(c.loopback_on_ns),
                }
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise StoreError(f"cues[{i}]: cannot be stored ({exc})", "cues") from None
    return rows


def _participant(row: Row[Any]) -> Participant:
    return Participant(
        id=row.id,
        code=row.code,
        birth_year=row.birth_year,
        sex=row.sex,
        dominant_hand=row.dominant_hand,
        affected_side=row.affected_side,
        notes=row.notes,
        created_utc=row.created_utc,
    )


# Columns in the order of the dataclass fields: rows become records by position (fast).
_SESSION_COLUMNS = (
    sc.sessions.c.id,
    sc.participants.c.code.label("participant_code"),
    *(sc.sessions.c[f.name] for f in fields(SessionInfo)[2:16]),
)
_TRIAL_COLUMNS = (
    sc.trials.c.id,
    sc.trials.c.session_id,
    sc.participants.c.code.label("participant_code"),
    *(sc.trials.c[f.name] for f in fields(TrialInfo)[3:21]),
)
_SESSION_JOIN = sc.sessions.join(sc.participants)
_TRIAL_JOIN = sc.trials.join(sc.sessions).join(sc.participants)
_SESSION_METRIC_JOIN = sc.session_metrics.join(_SESSION_JOIN)
_TRIAL_METRIC_JOIN = sc.metrics.join(_TRIAL_JOIN)


def _session(
    row: Row[Any], metrics: Sequence[SessionMetric] = (), trials: Sequence[TrialInfo] = ()
) -> SessionInfo:
    return SessionInfo(*row, metrics=tuple(metrics), trials=tuple(trials))


def _trial(
    row: Row[Any], metrics: Sequence[Metric] = (), data: TrialData | None = None
) -> TrialInfo:
    return TrialInfo(*row, metrics=tuple(metrics), data=data)


# --------------------------------------------------------------------------------------------
# The store


class Store:
    """The station's database. Open with :meth:`Store.open`; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        lock_fd: int | None,
        read_engine: Engine | None = None,
    ):
        self._engine = engine
        #: reads on their own connections, side by side (see :meth:`open`'s ``readers``)
        self._read_engine = read_engine
        self._lock = threading.RLock()
        self._lock_fd = lock_fd
        self._closed = False
        self.data_dir = data_dir
        self.path = data_dir / DB_FILENAME
        #: Sessions and trials left ``running`` by a previous process, now ``incomplete``.
        self.recovered: list[Interrupted] = []

    # -- opening and closing ---------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path, *, recover: bool = True, readers: int = 1) -> Store:
        """Open (creating folder and database if needed) and migrate to the current schema.

        With ``recover`` (the recording station), take the store's writer lock and mark every
        session and trial left ``running`` as ``incomplete``, listing them in :attr:`recovered`.

        ``readers`` above 1 (a server's threads): reads run on up to that many connections of
        their own at once (each a consistent snapshot, as WAL gives), instead of one after
        another on the single connection that writes go through.
        """
        data_dir = Path(data_dir)
        try:
            created = not data_dir.exists()
            data_dir.mkdir(parents=True, exist_ok=True)
            if created:
                data_dir.chmod(0o700)  # patient data: the owner only (the files follow the folder)
        except OSError as exc:
            raise StoreError(f"{data_dir}: cannot create the data folder ({exc})") from None
        lock_fd = _take_writer_lock(data_dir) if recover else None
        path = data_dir / DB_FILENAME
        engine = create_sqlite_engine(path)
        read_engine = create_sqlite_engine(path, readers) if readers > 1 else None
        store = cls(engine, data_dir, lock_fd, read_engine)
        try:
            _migrate(engine)
            if recover:
                store.recovered = store._recover()
        except SQLAlchemyError as exc:
            store.close()
            raise StoreError(f"{path}: cannot open the database ({_reason(exc)})") from None
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection and release the writer lock; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._engine.dispose()
            if self._read_engine is not None:
                self._read_engine.dispose()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The engine, for bulk tools and tests; use the methods for anything else."""
        return self._engine

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # reads of their own connections need no lock; the single shared one does
        engine = self._read_engine or self._engine
        with nullcontext() if self._read_engine is not None else self._lock:
            self._check_open()
            try:
                with engine.connect() as conn:
                    self._check_open()  # closed meanwhile (a reader takes no lock)
                    yield conn
            except SQLAlchemyError as exc:
                raise StoreError(f"{self.path}: database error ({_reason(exc)})") from None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for read queries the methods do not offer (the web server's counts):
        one consistent snapshot, on a reader of its own when opened with ``readers``. Database
        errors become :class:`StoreError`."""
        with self._read() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock:
            self._check_open()
            try:
                with _write_conn(self._engine) as conn, conn.begin():
                    yield conn
            except SQLAlchemyError as exc:
                raise StoreError(f"{self.path}: database error ({_reason(exc)})") from None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")

    def _recover(self) -> list[Interrupted]:
        t, s, p = sc.trials, sc.sessions, sc.participants
        found: list[Interrupted] = []
        with self._write() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.session_id, t.c.seq, t.c.protocol, t.c.hand, t.c.practice)
                .add_columns(t.c.trial_index, t.c.faults, p.c.code)
                .select_from(_TRIAL_JOIN)
                .where(t.c.status == "running")
                .order_by(t.c.id)
            ).all()
            for r in rows:
                conn.execute(
                    update(t)
                    .where(t.c.id == r.id)
                    .values(status="incomplete", faults=[*r.faults, INTERRUPTED_FAULT])
                )
                found.append(
                    Interrupted(
                        r.session_id,
                        r.code,
                        r.id,
                        r.seq,
                        r.protocol,
                        r.hand,
                        r.practice,
                        r.trial_index,
                    )
                )
            with_trial = {i.session_id for i in found}
            sessions = conn.execute(
                select(s.c.id, p.c.code)
                .select_from(_SESSION_JOIN)
                .where(s.c.status == "running")
                .order_by(s.c.id)
            ).all()
            conn.execute(update(s).where(s.c.status == "running").values(status="incomplete"))
            found.extend(Interrupted(r.id, r.code) for r in sessions if r.id not in with_trial)
        found.sort(key=lambda i: (i.session_id, i.trial_id or 0))
        return found

    # -- participants ----------------------------------------------------------------------

    def add_participant(
        self,
        code: str,
        birth_year: int | None = None,
        sex: str | None = None,
        dominant_hand: str | None = None,
        affected_side: str | None = None,
        notes: str = "",
    ) -> Participant:
        values = {
            "code": _check_code(code),
            "birth_year": _check_birth_year(birth_year),
            "sex": _check_choice(sex, sc.SEXES, "sex"),
            "dominant_hand": _check_choice(dominant_hand, sc.HANDS_DOMINANT, "dominant_hand"),
            "affected_side": _check_choice(affected_side, sc.AFFECTED_SIDES, "affected_side"),
            "notes": _check_text(notes, "notes", empty=True),
            "created_utc": _now_utc(),
        }
        with self._write() as conn:
            if conn.scalar(select(sc.participants.c.id).where(sc.participants.c.code == code)):
                raise StoreError(f"participant code: {code!r} already exists", "code")
            conn.execute(insert(sc.participants).values(values))
            return self._get_participant(conn, code)  # type: ignore[return-value]

    def get_participant(self, code: str) -> Participant | None:
        with self._read() as conn:
            return self._get_participant(conn, code)

    @staticmethod
    def _get_participant(conn: Connection, code: str) -> Participant | None:
        row = conn.execute(select(sc.participants).where(sc.participants.c.code == code)).first()
        return None if row is None else _participant(row)

    def _participant_id(self, conn: Connection, code: str) -> int:
        pid = conn.scalar(select(sc.participants.c.id).where(sc.participants.c.code == code))
        if pid is None:
            raise StoreError(f"participant code: no participant {code!r}", "code")
        return int(pid)

    def list_participants(
        self, search: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Participant]:
        """Participants by code; ``search`` matches part of the code or notes, any case."""
        p = sc.participants
        query = select(p).order_by(p.c.code).limit(limit).offset(offset)
        if search:
            query = query.where(
                p.c.code.icontains(search, autoescape=True)
                | p.c.notes.icontains(search, autoescape=True)
            )
        with self._read() as conn:
            return [_participant(r) for r in conn.execute(query)]

    def update_participant(
        self,
        code: str,
        *,
        birth_year: int | _Unset | None = UNSET,
        sex: str | _Unset | None = UNSET,
        dominant_hand: str | _Unset | None = UNSET,
        affected_side: str | _Unset | None = UNSET,
        notes: str | _Unset = UNSET,
    ) -> Participant:
        """Change the given fields (``None`` clears one; :data:`UNSET` leaves it)."""
        values: dict[str, Any] = {}
        if birth_year is not UNSET:
            values["birth_year"] = _check_birth_year(birth_year)
        if sex is not UNSET:
            values["sex"] = _check_choice(sex, sc.SEXES, "sex")
        if dominant_hand is not UNSET:
            values["dominant_hand"] = _check_choice(
                dominant_hand, sc.HANDS_DOMINANT, "dominant_hand"
            )
        if affected_side is not UNSET:
            values["affected_side"] = _check_choice(
                affected_side, sc.AFFECTED_SIDES, "affected_side"
            )
        if notes is not UNSET:
            values["notes"] = _check_text(notes, "notes", empty=True)
        with self._write() as conn:
            pid = self._participant_id(conn, code)
            if values:
                conn.execute(
                    update(sc.participants).where(sc.participants.c.id == pid).values(values)
                )
            return self._get_participant(conn, code)  # type: ignore[return-value]

    # -- sessions --------------------------------------------------------------------------

    def start_session(
        self,
        participant_code: str,
        battery_name: str,
        battery_hash: str,
        station_id: str,
        provenance: dict[str, Any],
        anchor_mono_ns: int,
        anchor_wall_ns: int,
        software_version: str,
        hardware_backend: str,
        timestamp_source: str,
        *,
        notes: str = "",
        started_utc: datetime | None = None,
        kind: str = "assessment",
    ) -> int:
        """Begin a session (status ``running``), committed at once; returns its id.

        ``kind``: ``assessment`` (a battery) or ``practice`` (a program's level)."""
        if started_utc is not None and started_utc.tzinfo is None:
            raise StoreError("started_utc: give a time zone (UTC)", "started_utc")
        values = {
            "kind": _check_choice(kind, sc.SESSION_KINDS, "kind", nullable=False),
            "battery_name": _check_text(battery_name, "battery_name", sc.NAME_LEN),
            "battery_hash": _check_text(battery_hash, "battery_hash", sc.HASH_LEN, empty=True),
            "station_id": _check_text(station_id, "station_id", sc.NAME_LEN),
            "status": "running",
            "started_utc": started_utc or _now_utc(),
            "ended_utc": None,
            "software_version": _check_text(software_version, "software_version", sc.NAME_LEN),
            "hardware_backend": _check_text(hardware_backend, "hardware_backend", sc.SHORT_LEN),
            "timestamp_source": _check_text(timestamp_source, "timestamp_source", sc.NAME_LEN),
            "anchor_mono_ns": _check_int(anchor_mono_ns, "anchor_mono_ns"),
            "anchor_wall_ns": _check_int(anchor_wall_ns, "anchor_wall_ns"),
            "provenance": _check_json(provenance, "provenance", dict),
            "notes": _check_text(notes, "notes", empty=True),
        }
        with self._write() as conn:
            values["participant_id"] = self._participant_id(conn, participant_code)
            return int(conn.execute(insert(sc.sessions).values(values)).inserted_primary_key[0])

    def end_session(
        self, session_id: int, status: str, *, ended_utc: datetime | None = None
    ) -> None:
        """End a running session; trials of it still ``running`` become ``incomplete``.
        ``ended_utc``: its end time (default now; a run on a virtual clock passes its own)."""
        _check_choice(status, ENDED_SESSION_STATUSES, "status", nullable=False)
        if ended_utc is not None and ended_utc.tzinfo is None:
            raise StoreError("ended_utc: give a time zone (UTC)", "ended_utc")
        with self._write() as conn:
            current = self._session_status(conn, session_id)
            if current != "running":
                raise StoreError(f"session {session_id} has already ended ({current})", "status")
            conn.execute(
                update(sc.trials)
                .where(sc.trials.c.session_id == session_id, sc.trials.c.status == "running")
                .values(status="incomplete")
            )
            conn.execute(
                update(sc.sessions)
                .where(sc.sessions.c.id == session_id)
                .values(status=status, ended_utc=ended_utc or _now_utc())
            )

    @staticmethod
    def _session_status(conn: Connection, session_id: int) -> str:
        status = conn.scalar(select(sc.sessions.c.status).where(sc.sessions.c.id == session_id))
        if status is None:
            raise StoreError(f"session: no session {session_id}", "session_id")
        return str(status)

    def add_session_metrics(
        self, session_id: int, metrics: Iterable[tuple[str, str, Metric]]
    ) -> None:
        """Add session summary metrics, each as ``(protocol, hand, metric)``."""
        self._session_metrics(session_id, metrics, replace=False)

    def replace_session_metrics(
        self, session_id: int, metrics: Iterable[tuple[str, str, Metric]]
    ) -> None:
        """Replace all of a session's summary metrics (after rescoring)."""
        self._session_metrics(session_id, metrics, replace=True)

    def _session_metrics(
        self, session_id: int, items: Iterable[tuple[str, str, Metric]], *, replace: bool
    ) -> None:
        items = list(items)
        sm = sc.session_metrics
        with self._write() as conn:
            self._session_status(conn, session_id)
            if replace:
                conn.execute(delete(sm).where(sm.c.session_id == session_id))
                first = 0
            else:
                first = int(
                    conn.scalar(
                        select(func.coalesce(func.max(sm.c.ordinal) + 1, 0)).where(
                            sm.c.session_id == session_id
                        )
                    )
                )
            rows = []
            for i, item in enumerate(items, start=first):
                try:
                    protocol, hand, metric = item
                except (TypeError, ValueError):
                    raise StoreError(
                        f"metrics[{i - first}]: expected (protocol, hand, Metric)", "metrics"
                    ) from None
                rows += _metric_rows(
                    [metric],
                    i,
                    session_id=session_id,
                    protocol=_check_text(protocol, "protocol", sc.NAME_LEN),
                    hand=_check_text(hand, "hand", sc.SHORT_LEN, empty=True),
                )
            if rows:
                conn.execute(insert(sm), rows)

    def session(self, session_id: int) -> SessionInfo:
        s = sc.sessions
        with self._read() as conn:
            row = conn.execute(
                select(*_SESSION_COLUMNS).select_from(_SESSION_JOIN).where(s.c.id == session_id)
            ).first()
            if row is None:
                raise StoreError(f"session: no session {session_id}", "session_id")
            metrics = self._session_metric_rows(conn, sc.sessions.c.id == session_id)
            return _session(row, metrics.get(session_id, ()))

    @staticmethod
    def _session_metric_rows(conn: Connection, where: Any) -> dict[int, list[SessionMetric]]:
        """Session metrics by session id; ``where`` may name sessions and participants."""
        sm = sc.session_metrics
        query = (
            select(sm.c.session_id, sm.c.protocol, sm.c.hand, sm.c.name, sm.c.value)
            .add_columns(sm.c.unit, sm.c.detail)
            .select_from(_SESSION_METRIC_JOIN)
            .where(where)
            .order_by(sm.c.session_id, sm.c.ordinal)
        )
        out: dict[int, list[SessionMetric]] = {}
        for session_id, protocol, hand, name, value, unit, detail in conn.execute(query).all():
            metric = SessionMetric(protocol, hand, Metric(name, value, unit, detail))
            out.setdefault(session_id, []).append(metric)
        return out

    @staticmethod
    def _trial_metric_rows(conn: Connection, where: Any) -> dict[int, list[Metric]]:
        """Trial metrics by trial id; ``where`` may name trials, sessions and participants."""
        m = sc.metrics
        query = (
            select(m.c.trial_id, m.c.name, m.c.value, m.c.unit, m.c.detail)
            .select_from(_TRIAL_METRIC_JOIN)
            .where(where)
            .order_by(m.c.trial_id, m.c.ordinal)
        )
        out: dict[int, list[Metric]] = {}
        for trial_id, name, value, unit, detail in conn.execute(query).all():
            out.setdefault(trial_id, []).append(Metric(name, value, unit, detail))
        return out

    def participant_sessions(
        self,
        code: str,
        protocol: str | None = None,
        *,
        with_trials: bool = False,
        kind: str | None = "assessment",
    ) -> list[SessionInfo]:
        """A participant's sessions, oldest first, with their summary metrics: the history.

        With ``protocol``: only sessions with a trial of it, and only its metrics. With
        ``with_trials``: each session's trials (with their metrics) too. ``kind``: assessments
        only (the default, so practice never counts as a baseline), ``"practice"``, or None: all.
        """
        s, t, sm = sc.sessions, sc.trials, sc.session_metrics
        if kind is not None:
            _check_choice(kind, sc.SESSION_KINDS, "kind", nullable=False)
        with self._read() as conn:
            pid = self._participant_id(conn, code)
            mine = s.c.participant_id == pid
            if kind is not None:
                mine = mine & (s.c.kind == kind)
            query = (
                select(*_SESSION_COLUMNS)
                .select_from(_SESSION_JOIN)
                .where(mine)
                .order_by(s.c.started_utc, s.c.id)
            )
            if protocol is not None:
                query = query.where(
                    exists().where(t.c.session_id == s.c.id, t.c.protocol == protocol)
                )
                mine = mine & (sm.c.protocol == protocol)
            rows = conn.execute(query).all()
            metrics = self._session_metric_rows(conn, mine)
            trials: dict[int, list[TrialInfo]] = {}
            if with_trials:
                where = s.c.participant_id == pid
                if kind is not None:
                    where = where & (s.c.kind == kind)
                if protocol is not None:
                    where = where & (t.c.protocol == protocol)
                for info in self._trial_infos(conn, where):
                    trials.setdefault(info.session_id, []).append(info)
        return [_session(r, metrics.get(r.id, ()), trials.get(r.id, ())) for r in rows]

    # -- trials ----------------------------------------------------------------------------

    def start_trial(
        self,
        session_id: int,
        seq: int,
        protocol: str,
        version: str,
        protocol_hash: str,
        hand: str,
        practice: bool,
        trial_index: int,
        params: dict[str, Any],
        roles: dict[str, str],
        start_t_ns: int,
        *,
        provenance: dict[str, Any] | None = None,
    ) -> int:
        """Record that a trial began (status ``running``), committed at once; returns its id."""
        values = {
            "session_id": _check_int(session_id, "session_id"),
            "seq": _check_int(seq, "seq"),
            "protocol": _check_text(protocol, "protocol", sc.NAME_LEN),
            "protocol_version": _check_text(version, "version", sc.SHORT_LEN),
            "protocol_hash": _check_text(protocol_hash, "protocol_hash", sc.HASH_LEN, empty=True),
            "hand": _check_choice(hand, sc.TRIAL_HANDS, "hand", nullable=False),
            "practice": bool(practice),
            "trial_index": _check_int(trial_index, "trial_index"),
            "status": "running",
            "invalid_reason": None,
            "params": _check_json(params, "params", dict),
            "start_t_ns": _check_int(start_t_ns, "start_t_ns"),
            "end_t_ns": None,
            "go_t_ns": None,
            "roles": _check_json(roles, "roles", dict),
            "provenance": _check_json(provenance or {}, "provenance", dict),
            "faults": [],
            "gaps": [],
            "notes": "",
        }
        t = sc.trials
        with self._write() as conn:
            status = self._session_status(conn, session_id)
            if status != "running":
                raise StoreError(f"session {session_id} has ended ({status})", "session_id")
            if conn.scalar(select(t.c.id).where(t.c.session_id == session_id, t.c.seq == seq)):
                raise StoreError(f"seq: session {session_id} already has a trial {seq}", "seq")
            return int(conn.execute(insert(t).values(values)).inserted_primary_key[0])

    def finish_trial(
        self,
        trial_id: int,
        data: TrialData,
        metrics: Sequence[Metric],
        provenance: dict[str, Any],
        faults: Sequence[str],
        gaps: Sequence[dict[str, Any]],
        *,
        invalid_reason: str | None = None,
    ) -> None:
        """Store a running trial's raw data, metrics and final status in one transaction.

        The status is ``data.status`` (``complete``, ``incomplete``, ``invalid`` with an
        ``invalid_reason``, or ``timeout``). ``data``'s parameters, roles, times and notes
        replace those given at :meth:`start_trial`; ``provenance`` keys are added to those given
        there. On any error nothing is written and the trial stays ``running``.
        """
        status = _check_choice(data.status, FINISHED_TRIAL_STATUSES, "status", nullable=False)
        if status == "invalid" and not invalid_reason:
            raise StoreError("invalid_reason: an invalid trial needs a reason", "invalid_reason")
        if invalid_reason is not None and status != "invalid":
            raise StoreError(
                f"invalid_reason: given for a trial whose status is {status!r}", "invalid_reason"
            )
        _check_json(data.params, "params", dict)
        _check_json(data.roles, "roles", dict)
        _check_json(provenance, "provenance", dict)
        faults = list(_check_json(list(faults), "faults", list))
        gaps = list(_check_json(list(gaps), "gaps", list))
        for key, pad in data.samples.items():
            _check_json(getattr(pad, "gaps", None), f"gaps of pad {key!r}", list)
        event_rows = _event_rows(trial_id, data.events)
        cue_rows = _cue_rows(trial_id, data.cues)
        final = {
            "status": status,
            "invalid_reason": invalid_reason,
            "params": data.params,
            "roles": data.roles,
            "start_t_ns": _check_int(data.start_t_ns, "start_t_ns"),
            "end_t_ns": _check_int(data.end_t_ns, "end_t_ns"),
            "go_t_ns": _check_int(data.go_t_ns, "go_t_ns", nullable=True),
            "faults": faults,
            "gaps": gaps,
            "notes": _check_text(data.notes, "notes", empty=True),
        }
        t = sc.trials
        with self._write() as conn:
            row = self._trial_row(conn, trial_id)
            if row.status != "running":
                raise StoreError(f"trial {trial_id} is already finished ({row.status})", "status")
            for name, mine, theirs in (
                ("protocol", row.protocol, data.protocol),
                ("version", row.protocol_version, data.version),
                ("hand", row.hand, data.hand),
                ("practice", row.practice, bool(data.practice)),
            ):
                if mine != theirs:
                    raise StoreError(
                        f"{name}: trial {trial_id} was started with {mine!r}, the data says {theirs!r}",
                        name,
                    )
            if event_rows:
                conn.execute(insert(sc.events), event_rows)
            for pad_index, (key, pad) in enumerate(data.samples.items()):
                conn.execute(insert(sc.samples), _sample_rows(trial_id, pad_index, key, pad))
            if cue_rows:
                conn.execute(insert(sc.cues), cue_rows)
            metric_rows = _metric_rows(metrics, trial_id=trial_id)
            if metric_rows:
                conn.execute(insert(sc.metrics), metric_rows)
            final["provenance"] = {**row.provenance, **provenance}
            conn.execute(update(t).where(t.c.id == trial_id).values(final))

    @staticmethod
    def _trial_row(conn: Connection, trial_id: int) -> Row[Any]:
        row = conn.execute(
            select(*_TRIAL_COLUMNS).select_from(_TRIAL_JOIN).where(sc.trials.c.id == trial_id)
        ).first()
        if row is None:
            raise StoreError(f"trial: no trial {trial_id}", "trial_id")
        return row

    def mark_invalid(self, trial_id: int, reason: str) -> None:
        """Mark a finished trial invalid (e.g. a dropped peg), with the clinician's reason."""
        reason = _check_text(reason, "reason")
        with self._write() as conn:
            row = self._trial_row(conn, trial_id)
            if row.status == "running":
                raise StoreError(
                    f"trial {trial_id} is still running: finish it with status 'invalid' instead",
                    "status",
                )
            conn.execute(
                update(sc.trials)
                .where(sc.trials.c.id == trial_id)
                .values(status="invalid", invalid_reason=reason)
            )

    def replace_metrics(self, trial_id: int, metrics: Sequence[Metric]) -> None:
        """Replace a finished trial's metrics (rescoring)."""
        m = sc.metrics
        with self._write() as conn:
            row = self._trial_row(conn, trial_id)
            if row.status == "running":
                raise StoreError(f"trial {trial_id} is still running: nothing to rescore", "status")
            rows = _metric_rows(metrics, trial_id=trial_id)
            conn.execute(delete(m).where(m.c.trial_id == trial_id))
            if rows:
                conn.execute(insert(m), rows)

    # -- reading trials --------------------------------------------------------------------

    def trial(self, trial_id: int) -> TrialInfo:
        with self._read() as conn:
            row = self._trial_row(conn, trial_id)
            metrics = self._trial_metric_rows(conn, sc.trials.c.id == trial_id)
            return _trial(row, metrics.get(trial_id, ()))

    def trial_data(self, trial_id: int) -> TrialData:
        """The trial's raw record as :meth:`finish_trial` got it.

        A trial whose raw data was never stored (``running``, or ``incomplete`` after a crash)
        comes back with no events, samples or cues and ``end_t_ns`` equal to ``start_t_ns``.
        """
        with self._read() as conn:
            return self._trial_data(conn, self._trial_row(conn, trial_id))

    @staticmethod
    def _trial_data(conn: Connection, row: Row[Any]) -> TrialData:
        e, smp, c = sc.events, sc.samples, sc.cues
        records = [
            EventRecord(*r)  # the columns in EventRecord's order
            for r in conn.execute(
                select(e.c.t_ns, e.c.channel, e.c.level, e.c.flags, e.c.seq)
                .where(e.c.trial_id == row.id)
                .order_by(e.c.ordinal)
            ).all()  # fetched at once: row by row costs twice as much on a tapping trial
        ]
        chunks: dict[str, list[Row[Any]]] = {}
        for r in conn.execute(
            select(smp).where(smp.c.trial_id == row.id).order_by(smp.c.pad_index, smp.c.chunk)
        ).all():
            chunks.setdefault(r.pad, []).append(r)
        pads = {name: _pad_samples(name, rows) for name, rows in chunks.items()}
        cue_records = [
            CueRecord(
                r.output,
                r.kind,
                r.scheduled_on_ns,
                r.scheduled_off_ns,
                r.actual_on_ns,
                r.actual_off_ns,
                r.loopback_on_ns,
            )
            for r in conn.execute(
                select(c).where(c.c.trial_id == row.id).order_by(c.c.ordinal)
            ).all()
        ]
        return TrialData(
            protocol=row.protocol,
            version=row.protocol_version,
            params=row.params,
            hand=row.hand,
            practice=row.practice,
            start_t_ns=row.start_t_ns,
            end_t_ns=row.end_t_ns if row.end_t_ns is not None else row.start_t_ns,
            go_t_ns=row.go_t_ns,
            events=records,
            samples=pads,
            cues=cue_records,
            roles=row.roles,
            status=row.status,
            notes=row.notes,
        )

    def _trial_infos(
        self, conn: Connection, where: Any, *, with_data: bool = False
    ) -> list[TrialInfo]:
        t = sc.trials
        rows = conn.execute(
            select(*_TRIAL_COLUMNS)
            .select_from(_TRIAL_JOIN)
            .where(where)
            .order_by(t.c.session_id, t.c.seq)
        ).all()
        if not rows:
            return []
        metrics = self._trial_metric_rows(conn, where)
        return [
            _trial(r, metrics.get(r.id, ()), self._trial_data(conn, r) if with_data else None)
            for r in rows
        ]

    def session_trials(self, session_id: int) -> list[TrialInfo]:
        """A session's trials in order, with their metrics."""
        with self._read() as conn:
            self._session_status(conn, session_id)
            return self._trial_infos(conn, sc.trials.c.session_id == session_id)

    def iter_trials(
        self,
        *,
        participant_code: str | None = None,
        session_id: int | None = None,
        protocol: str | None = None,
        statuses: Iterable[str] | None = None,
        include_practice: bool = True,
        with_data: bool = False,
    ) -> Iterator[TrialInfo]:
        """Trials matching all the filters, by session and seq, with metrics (and raw data).

        Reads :data:`_BATCH` trials at a time and holds no transaction or lock between them, so
        the caller may write (e.g. :meth:`replace_metrics`) while iterating.
        """
        t, s, p = sc.trials, sc.sessions, sc.participants
        conditions: list[Any] = []
        if participant_code is not None:
            conditions.append(p.c.code == participant_code)
        if session_id is not None:
            conditions.append(t.c.session_id == session_id)
        if protocol is not None:
            conditions.append(t.c.protocol == protocol)
        if statuses is not None:
            conditions.append(t.c.status.in_(list(statuses)))
        if not include_practice:
            conditions.append(t.c.practice.is_(False))
        with self._read() as conn:
            ids = list(
                conn.scalars(
                    select(t.c.id)
                    .select_from(_TRIAL_JOIN)
                    .where(*conditions)
                    .order_by(s.c.started_utc, t.c.session_id, t.c.seq)
                )
            )
        for lo in range(0, len(ids), _BATCH):
            batch = ids[lo : lo + _BATCH]
            with self._read() as conn:
                infos = {
                    i.id: i for i in self._trial_infos(conn, t.c.id.in_(batch), with_data=with_data)
                }
            yield from (infos[i] for i in batch if i in infos)

    # -- self-guided: PINs and settings ----------------------------------------------------

    def self_guided_access(self, code: str) -> SelfGuidedAccess:
        """A participant's sign-in state and settings (defaults when nothing was set)."""
        with self._read() as conn:
            pid = self._participant_id(conn, code)
            row = conn.execute(
                select(sc.self_guided).where(sc.self_guided.c.participant_id == pid)
            ).first()
        if row is None:
            return SelfGuidedAccess(code, False, 0, None, False, None, None)
        return SelfGuidedAccess(
            code,
            row.pin_hash_hex is not None,
            row.failures,
            row.locked_until_utc,
            row.failures >= PIN_BLOCK_AFTER,
            row.pain_stop_at,
            row.updated_utc,
        )

    def _upsert_self_guided(self, conn: Connection, pid: int, values: dict[str, Any]) -> None:
        t = sc.self_guided
        values = {**values, "updated_utc": _now_utc()}
        if conn.scalar(select(t.c.participant_id).where(t.c.participant_id == pid)) is None:
            row = {
                "participant_id": pid,
                "pin_salt_hex": None,
                "pin_hash_hex": None,
                "pin_kdf": None,
                "failures": 0,
                "locked_until_utc": None,
                "pain_stop_at": None,
            }
            conn.execute(insert(t).values({**row, **values}))
        else:
            conn.execute(update(t).where(t.c.participant_id == pid).values(values))

    def set_participant_pin(self, code: str, pin: str) -> None:
        """Set (or replace) a participant's self-guided PIN; clears wrong tries and any lock."""
        check_pin(pin)
        salt = secrets.token_bytes(PIN_SALT_BYTES)
        digest = _hash_pin(pin, salt, PIN_SCRYPT)
        with self._write() as conn:
            pid = self._participant_id(conn, code)
            self._upsert_self_guided(
                conn,
                pid,
                {
                    "pin_salt_hex": salt.hex(),
                    "pin_hash_hex": digest.hex(),
                    "pin_kdf": dict(PIN_SCRYPT),
                    "failures": 0,
                    "locked_until_utc": None,
                },
            )

    def clear_participant_pin(self, code: str) -> None:
        """Remove a participant's PIN: they cannot sign in until a new one is set."""
        with self._write() as conn:
            pid = self._participant_id(conn, code)
            self._upsert_self_guided(
                conn,
                pid,
                {
                    "pin_salt_hex": None,
                    "pin_hash_hex": None,
                    "pin_kdf": None,
                    "failures": 0,
                    "locked_until_utc": None,
                },
            )

    def verify_participant_pin(
        self, code: str, pin: str, *, now_utc: datetime | None = None
    ) -> bool:
        """True when ``pin`` is participant ``code``'s PIN. False for a wrong PIN, an unknown
        code or a participant without a PIN (the same hashing time each, so a guess does not
        tell which). Raises :class:`PinLockedError` after too many wrong PINs in a row."""
        now = _check_utc(now_utc, "now_utc")
        t = sc.self_guided
        with self._write() as conn:
            pid = conn.scalar(select(sc.participants.c.id).where(sc.participants.c.code == code))
            row = (
                None
                if pid is None
                else conn.execute(select(t).where(t.c.participant_id == pid)).first()
            )
            if row is None or row.pin_hash_hex is None:
                _hash_pin("0000", b"\0" * PIN_SALT_BYTES, PIN_SCRYPT)  # the same cost
                return False
            if row.failures >= PIN_BLOCK_AFTER:
                raise PinLockedError(
                    f"{row.failures} wrong PINs in a row: the PIN is blocked until a clinician "
                    "sets a new one",
                    None,
                )
            if row.locked_until_utc is not None and now < row.locked_until_utc:
                wait_s = (row.locked_until_utc - now).total_seconds()
                raise PinLockedError(
                    f"too many wrong PINs: try again in {max(1, round(wait_s / 60))} min",
                    row.locked_until_utc,
                )
            ok = isinstance(pin, str) and pin.isdigit()
            digest = _hash_pin(pin if ok else "0000", bytes.fromhex(row.pin_salt_hex), row.pin_kdf)
            ok = ok and hmac.compare_digest(digest, bytes.fromhex(row.pin_hash_hex))
            if ok:
                if row.failures or row.locked_until_utc is not None:
                    conn.execute(
                        update(t)
                        .where(t.c.participant_id == pid)
                        .values(failures=0, locked_until_utc=None)
                    )
                return True
            failures = row.failures + 1
            locked = row.locked_until_utc
            if failures < PIN_BLOCK_AFTER and failures % PIN_LOCK_AFTER == 0:
                locked = now + timedelta(seconds=PIN_LOCKOUT_S)
            conn.execute(
                update(t)
                .where(t.c.participant_id == pid)
                .values(failures=failures, locked_until_utc=locked)
            )
            return False

    def set_pain_stop_at(self, code: str, value: int | None) -> None:
        """The pain rating (1-10) at or above which a self-guided session does not start for
        this participant; None: the kiosk's default."""
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10
        ):
            raise StoreError(f"pain_stop_at: {value!r} is not a whole number 1-10", "pain_stop_at")
        with self._write() as conn:
            pid = self._participant_id(conn, code)
            self._upsert_self_guided(conn, pid, {"pain_stop_at": value})

    # -- self-guided: assignments ----------------------------------------------------------

    def add_assignment(
        self,
        code: str,
        name: str,
        *,
        kind: str = "battery",
        sessions_per_week: int = 3,
        rest_s: float = 0.0,
        note: str = "",
        params: dict[str, Any] | None = None,
        created_by: str = "clinician",
    ) -> Assignment:
        """Assign a participant a battery (by name; the caller checks that it exists)."""
        if kind not in ACCEPTED_ASSIGNMENT_KINDS:
            raise StoreError(
                f"kind: {kind!r} is not one of {', '.join(ACCEPTED_ASSIGNMENT_KINDS)}", "kind"
            )
        per_week = _check_int(sessions_per_week, "sessions_per_week")
        assert per_week is not None
        if not 1 <= per_week <= sc.MAX_SESSIONS_PER_WEEK:
            raise StoreError(
                f"sessions_per_week: {per_week} is outside 1..{sc.MAX_SESSIONS_PER_WEEK}",
                "sessions_per_week",
            )
        if isinstance(rest_s, bool) or not isinstance(rest_s, int | float):
            raise StoreError(f"rest_s: {rest_s!r} is not a number of seconds", "rest_s")
        if not 0 <= float(rest_s) <= sc.MAX_REST_S:
            raise StoreError(f"rest_s: {rest_s} is outside 0..{sc.MAX_REST_S} s", "rest_s")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise StoreError(f"name: {name!r} is not a battery name", "name")
        values = {
            "kind": kind,
            "name": name,
            "sessions_per_week": per_week,
            "rest_s": float(rest_s),
            "note": _check_text(note, "note", NOTE_MAX_LEN, empty=True),
            "params": _check_json(params or {}, "params", dict),
            "active": True,
            "created_by": _check_text(created_by, "created_by", sc.NAME_LEN),
            "created_utc": _now_utc(),
            "ended_utc": None,
        }
        with self._write() as conn:
            values["participant_id"] = self._participant_id(conn, code)
            new_id = int(
                conn.execute(insert(sc.assignments).values(values)).inserted_primary_key[0]
            )
            return self._assignments(conn, sc.assignments.c.id == new_id)[0]

    @staticmethod
    def _assignments(conn: Connection, where: Any) -> list[Assignment]:
        a, p = sc.assignments, sc.participants
        rows = conn.execute(
            select(a, p.c.code.label("participant_code"))
            .select_from(a.join(p))
            .where(where)
            .order_by(a.c.created_utc, a.c.id)
        ).all()
        return [
            Assignment(
                r.id,
                r.participant_code,
                r.kind,
                r.name,
                r.sessions_per_week,
                r.rest_s,
                r.note,
                r.params,
                bool(r.active),
                r.created_by,
                r.created_utc,
                r.ended_utc,
            )
            for r in rows
        ]

    def assignments(self, code: str, *, active_only: bool = True) -> list[Assignment]:
        """A participant's assignments, oldest first (only the active ones unless told)."""
        a = sc.assignments
        with self._read() as conn:
            where = a.c.participant_id == self._participant_id(conn, code)
            if active_only:
                where = where & a.c.active.is_(True)
            return self._assignments(conn, where)

    def end_assignment(self, assignment_id: int) -> None:
        """End an assignment (kept, inactive, with the time it ended)."""
        a = sc.assignments
        with self._write() as conn:
            active = conn.scalar(select(a.c.active).where(a.c.id == assignment_id))
            if active is None:
                raise StoreError(f"assignment: no assignment {assignment_id}", "assignment_id")
            if active:
                conn.execute(
                    update(a)
                    .where(a.c.id == assignment_id)
                    .values(active=False, ended_utc=_now_utc())
                )

    # -- ratings ---------------------------------------------------------------------------

    def add_rating(
        self,
        code: str,
        scale: str,
        timing: str,
        value: float,
        *,
        session_id: int | None = None,
        trial_id: int | None = None,
        source: str = "participant",
        t_utc: datetime | None = None,
    ) -> Rating:
        """Store a rating on a known scale (:data:`RATING_SCALES`)."""
        if scale not in RATING_SCALES:
            raise StoreError(f"scale: {scale!r} is not one of {', '.join(RATING_SCALES)}", "scale")
        low, high, whole = RATING_SCALES[scale]
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise StoreError(f"{scale} rating: {value!r} is not a number", "value")
        number = float(value)
        if math.isnan(number) or not low <= number <= high or (whole and not number.is_integer()):
            kind = "a whole number " if whole else ""
            raise StoreError(f"{scale} rating: {value!r} is not {kind}{low:g}-{high:g}", "value")
        values = {
            "scale": scale,
            "timing": _check_choice(timing, sc.RATING_TIMINGS, "timing", nullable=False),
            "value": number,
            "source": _check_choice(source, sc.RATING_SOURCES, "source", nullable=False),
            "session_id": _check_int(session_id, "session_id", nullable=True),
            "trial_id": _check_int(trial_id, "trial_id", nullable=True),
            "t_utc": _check_utc(t_utc, "t_utc"),
        }
        with self._write() as conn:
            pid = self._participant_id(conn, code)
            values["participant_id"] = pid
            self._check_rating_links(conn, pid, session_id, trial_id)
            new_id = int(conn.execute(insert(sc.ratings).values(values)).inserted_primary_key[0])
            return self._ratings(conn, sc.ratings.c.id == new_id)[0]

    def _check_rating_links(
        self, conn: Connection, pid: int, session_id: int | None, trial_id: int | None
    ) -> None:
        s = sc.sessions
        if session_id is not None:
            owner = conn.scalar(select(s.c.participant_id).where(s.c.id == session_id))
            if owner is None:
                raise StoreError(f"session: no session {session_id}", "session_id")
            if owner != pid:
                raise StoreError(
                    f"session: session {session_id} is another participant's", "session_id"
                )
        if trial_id is not None:
            row = self._trial_row(conn, trial_id)
            if session_id is not None and row.session_id != session_id:
                raise StoreError(
                    f"trial: trial {trial_id} is not in session {session_id}", "trial_id"
                )
            if session_id is None:
                self._check_rating_links(conn, pid, row.session_id, None)

    def attach_ratings(self, rating_ids: Iterable[int], session_id: int) -> None:
        """Link ratings given before a session began (e.g. pain before) to that session; they
        must be the session's participant's and not linked to another session yet."""
        ids = [_check_int(i, "rating_id") for i in rating_ids]
        r = sc.ratings
        with self._write() as conn:
            owner = conn.scalar(
                select(sc.sessions.c.participant_id).where(sc.sessions.c.id == session_id)
            )
            if owner is None:
                raise StoreError(f"session: no session {session_id}", "session_id")
            for rid in ids:
                row = conn.execute(
                    select(r.c.participant_id, r.c.session_id).where(r.c.id == rid)
                ).first()
                if row is None:
                    raise StoreError(f"rating: no rating {rid}", "rating_id")
                if row.participant_id != owner:
                    raise StoreError(
                        f"rating {rid} is not session {session_id}'s participant's", "rating_id"
                    )
                if row.session_id not in (None, session_id):
                    raise StoreError(
                        f"rating {rid} belongs to session {row.session_id} already", "rating_id"
                    )
            if ids:
                conn.execute(update(r).where(r.c.id.in_(ids)).values(session_id=session_id))

    @staticmethod
    def _ratings(conn: Connection, where: Any) -> list[Rating]:
        r, p = sc.ratings, sc.participants
        rows = conn.execute(
            select(r, p.c.code.label("participant_code"))
            .select_from(r.join(p))
            .where(where)
            .order_by(r.c.t_utc, r.c.id)
        ).all()
        return [
            Rating(
                x.id,
                x.participant_code,
                x.session_id,
                x.trial_id,
                x.scale,
                x.timing,
                x.value,
                x.source,
                x.t_utc,
            )
            for x in rows
        ]

    def ratings(
        self,
        code: str,
        *,
        session_id: int | None = None,
        scale: str | None = None,
        since_utc: datetime | None = None,
    ) -> list[Rating]:
        """A participant's ratings in time order, optionally of one session, scale, or since."""
        r = sc.ratings
        with self._read() as conn:
            where = r.c.participant_id == self._participant_id(conn, code)
            if session_id is not None:
                where = where & (r.c.session_id == session_id)
            if scale is not None:
                where = where & (r.c.scale == scale)
            if since_utc is not None:
                where = where & (r.c.t_utc >= _check_utc(since_utc, "since_utc"))
            return self._ratings(conn, where)

    # -- session notes ---------------------------------------------------------------------

    def add_session_note(
        self, session_id: int, text: str, author: str, *, t_utc: datetime | None = None
    ) -> SessionNote:
        """A note on a session (running or ended), with its author (e.g. "clinician")."""
        return self._add_note(session_id, None, text, author, t_utc)

    def add_trial_note(
        self, trial_id: int, text: str, author: str, *, t_utc: datetime | None = None
    ) -> SessionNote:
        """A note on a trial after it was stored (kept beside the notes stored with it)."""
        with self._read() as conn:
            session_id = int(self._trial_row(conn, trial_id).session_id)
        return self._add_note(session_id, trial_id, text, author, t_utc)

    def _add_note(
        self,
        session_id: int,
        trial_id: int | None,
        text: str,
        author: str,
        t_utc: datetime | None,
    ) -> SessionNote:
        text = _check_text(text, "note", NOTE_MAX_LEN).strip()
        if not text:
            raise StoreError("note: must not be empty", "note")
        values = {
            "session_id": _check_int(session_id, "session_id"),
            "trial_id": trial_id,
            "author": _check_text(author, "author", sc.NAME_LEN),
            "text": text,
            "t_utc": _check_utc(t_utc, "t_utc"),
        }
        n = sc.session_notes
        with self._write() as conn:
            self._session_status(conn, session_id)
            new_id = int(conn.execute(insert(n).values(values)).inserted_primary_key[0])
            row = conn.execute(select(n).where(n.c.id == new_id)).one()
        return SessionNote(row.id, row.session_id, row.trial_id, row.author, row.text, row.t_utc)

    def session_notes(self, session_id: int) -> list[SessionNote]:
        """A session's notes (and its trials' notes made after the fact), oldest first."""
        n = sc.session_notes
        with self._read() as conn:
            self._session_status(conn, session_id)
            rows = conn.execute(
                select(n).where(n.c.session_id == session_id).order_by(n.c.t_utc, n.c.id)
            ).all()
        return [
            SessionNote(r.id, r.session_id, r.trial_id, r.author, r.text, r.t_utc) for r in rows
        ]

    # -- graded practice: prescriptions ----------------------------------------------------

    def add_prescription(
        self,
        code: str,
        program_name: str,
        *,
        program_version: str,
        program_hash: str,
        levels: int,
        start_level: int = 1,
        sessions_per_week: int = 3,
        daily_cap: int = 1,
        note: str = "",
        created_by: str = "clinician",
        t_utc: datetime | None = None,
    ) -> Prescription:
        """Prescribe a program (by name; the caller has loaded and checked it) to a participant.

        A participant has at most one prescription of a program that is not ended."""
        levels_n = _check_int(levels, "levels")
        assert levels_n is not None
        if levels_n < 1:
            raise StoreError(f"levels: {levels_n} is not a number of levels", "levels")
        start = self._check_level(start_level, levels_n, "start_level")
        now = _check_utc(t_utc, "t_utc")
        values = {
            "program_name": _check_name(program_name, "program_name"),
            "program_version": _check_text(program_version, "program_version", sc.SHORT_LEN),
            "program_hash": _check_text(program_hash, "program_hash", sc.HASH_LEN),
            "levels": levels_n,
            "start_level": start,
            "current_level": start,
            "sessions_per_week": _check_per_week(sessions_per_week),
            "daily_cap": _check_daily_cap(daily_cap),
            "status": "active",
            "note": _check_text(note, "note", NOTE_MAX_LEN, empty=True),
            "created_by": _check_text(created_by, "created_by", sc.NAME_LEN),
            "created_utc": now,
            "updated_utc": now,
            "ended_utc": None,
        }
        rx = sc.prescriptions
        with self._write() as conn:
            pid = self._participant_id(conn, code)
            other = conn.scalar(
                select(rx.c.id).where(
                    rx.c.participant_id == pid,
                    rx.c.program_name == program_name,
                    rx.c.status != "ended",
                )
            )
            if other is not None:
                raise StoreError(
                    f"program: {code} already has a prescription of {program_name!r} "
                    f"(id {other}); change it or end it first",
                    "program_name",
                )
            values["participant_id"] = pid
            new_id = int(conn.execute(insert(rx).values(values)).inserted_primary_key[0])
            made = {
                k: values[k]
                for k in (
                    "program_name",
                    "program_version",
                    "start_level",
                    "sessions_per_week",
                    "daily_cap",
                    "note",
                )
            }
            self._log_change(conn, new_id, "created", {}, made, "prescribed", created_by, now)
            return self._prescriptions(conn, rx.c.id == new_id)[0]

    @staticmethod
    def _check_level(level: object, levels: int, name: str) -> int:
        value = _check_int(level, name)
        assert value is not None
        if not 1 <= value <= levels:
            raise StoreError(f"{name}: level {value} is outside 1..{levels}", name)
        return value

    @staticmethod
    def _log_change(
        conn: Connection,
        prescription_id: int,
        kind: str,
        before: dict[str, Any],
        after: dict[str, Any],
        reason: str,
        author: str,
        t_utc: datetime,
    ) -> None:
        conn.execute(
            insert(sc.prescription_changes).values(
                prescription_id=prescription_id,
                kind=kind,
                before=_check_json(before, "before", dict),
                after=_check_json(after, "after", dict),
                reason=_check_text(reason, "reason", NOTE_MAX_LEN, empty=True),
                author=_check_text(author, "author", sc.NAME_LEN),
                t_utc=t_utc,
            )
        )

    @staticmethod
    def _prescriptions(conn: Connection, where: Any) -> list[Prescription]:
        rx, p = sc.prescriptions, sc.participants
        rows = conn.execute(
            select(rx, p.c.code.label("participant_code"))
            .select_from(rx.join(p))
            .where(where)
            .order_by(rx.c.created_utc, rx.c.id)
        ).all()
        return [
            Prescription(
                r.id,
                r.participant_code,
                r.program_name,
                r.program_version,
                r.program_hash,
                r.levels,
                r.start_level,
                r.current_level,
                r.sessions_per_week,
                r.daily_cap,
                r.status,
                r.note,
                r.created_by,
                r.created_utc,
                r.updated_utc,
                r.ended_utc,
            )
            for r in rows
        ]

    def _prescription(self, conn: Connection, prescription_id: int) -> Prescription:
        _check_int(prescription_id, "prescription_id")
        found = self._prescriptions(conn, sc.prescriptions.c.id == prescription_id)
        if not found:
            raise StoreError(f"prescription: no prescription {prescription_id}", "prescription_id")
        return found[0]

    def prescription(self, prescription_id: int) -> Prescription:
        with self._read() as conn:
            return self._prescription(conn, prescription_id)

    def prescriptions(self, code: str, *, include_ended: bool = False) -> list[Prescription]:
        """A participant's prescriptions, oldest first (ended ones only when asked for)."""
        rx = sc.prescriptions
        with self._read() as conn:
            where = rx.c.participant_id == self._participant_id(conn, code)
            if not include_ended:
                where = where & (rx.c.status != "ended")
            return self._prescriptions(conn, where)

    def update_prescription(
        self,
        prescription_id: int,
        *,
        sessions_per_week: int | _Unset = UNSET,
        daily_cap: int | _Unset = UNSET,
        status: str | _Unset = UNSET,
        note: str | _Unset = UNSET,
        reason: str = "",
        author: str = "clinician",
        t_utc: datetime | None = None,
    ) -> Prescription:
        """Change a prescription's dose (sessions a week, daily cap), status (``active``,
        ``paused``, ``ended``) or note; each kind of change is logged with its reason."""
        changes: dict[str, dict[str, Any]] = {}
        if sessions_per_week is not UNSET:
            changes.setdefault("dose", {})["sessions_per_week"] = _check_per_week(sessions_per_week)
        if daily_cap is not UNSET:
            changes.setdefault("dose", {})["daily_cap"] = _check_daily_cap(daily_cap)
        if status is not UNSET:
            changes["status"] = {
                "status": _check_choice(status, sc.PRESCRIPTION_STATUSES, "status", nullable=False)
            }
        if note is not UNSET:
            changes["note"] = {"note": _check_text(note, "note", NOTE_MAX_LEN, empty=True)}
        now = _check_utc(t_utc, "t_utc")
        rx = sc.prescriptions
        with self._write() as conn:
            current = self._prescription(conn, prescription_id)
            if current.status == "ended":
                raise StoreError(
                    f"prescription {prescription_id} has ended; prescribe the program again",
                    "status",
                )
            values: dict[str, Any] = {}
            for kind, after in changes.items():
                before = {k: getattr(current, k) for k in after}
                if before == after:
                    continue
                values.update(after)
                self._log_change(conn, prescription_id, kind, before, after, reason, author, now)
            if values:
                values["updated_utc"] = now
                if values.get("status") == "ended":
                    values["ended_utc"] = now
                conn.execute(update(rx).where(rx.c.id == prescription_id).values(values))
            return self._prescription(conn, prescription_id)

    def override_level(
        self,
        prescription_id: int,
        level: int,
        *,
        reason: str,
        author: str = "clinician",
        t_utc: datetime | None = None,
    ) -> Prescription:
        """A clinician sets the current level (logged with the reason, which is required)."""
        reason = _check_text(reason, "reason", NOTE_MAX_LEN).strip()
        if not reason:
            raise StoreError("reason: say why the level is changed", "reason")
        now = _check_utc(t_utc, "t_utc")
        rx = sc.prescriptions
        with self._write() as conn:
            current = self._prescription(conn, prescription_id)
            if current.status == "ended":
                raise StoreError(f"prescription {prescription_id} has ended", "status")
            new = self._check_level(level, current.levels, "level")
            self._log_change(
                conn,
                prescription_id,
                "level",
                {"current_level": current.current_level},
                {"current_level": new},
                reason,
                author,
                now,
            )
            conn.execute(
                update(rx)
                .where(rx.c.id == prescription_id)
                .values(current_level=new, updated_utc=now)
            )
            return self._prescription(conn, prescription_id)

    def prescription_changes(self, prescription_id: int) -> list[PrescriptionChange]:
        """Every change to a prescription, oldest first (its creation first)."""
        c = sc.prescription_changes
        with self._read() as conn:
            self._prescription(conn, prescription_id)
            rows = conn.execute(
                select(c).where(c.c.prescription_id == prescription_id).order_by(c.c.t_utc, c.c.id)
            ).all()
        return [
            PrescriptionChange(
                r.id, r.prescription_id, r.kind, r.before, r.after, r.reason, r.author, r.t_utc
            )
            for r in rows
        ]

    # -- graded practice: sessions, trials, decisions --------------------------------------

    def add_practice_session(
        self,
        session_id: int,
        prescription_id: int,
        *,
        level: int,
        program_version: str,
        program_hash: str,
        plan: dict[str, Any],
    ) -> None:
        """Mark a session (started with ``kind="practice"``) as a practice session of a
        prescription at ``level`` with its ``plan``."""
        values = {
            "session_id": _check_int(session_id, "session_id"),
            "prescription_id": _check_int(prescription_id, "prescription_id"),
            "program_version": _check_text(program_version, "program_version", sc.SHORT_LEN),
            "program_hash": _check_text(program_hash, "program_hash", sc.HASH_LEN),
            "plan": _check_json(plan, "plan", dict),
            "sensations": "",
        }
        s = sc.sessions
        with self._write() as conn:
            rx = self._prescription(conn, prescription_id)
            values["level"] = self._check_level(level, rx.levels, "level")
            row = conn.execute(
                select(s.c.kind, sc.participants.c.code)
                .select_from(_SESSION_JOIN)
                .where(s.c.id == session_id)
            ).first()
            if row is None:
                raise StoreError(f"session: no session {session_id}", "session_id")
            if row.kind != "practice":
                raise StoreError(
                    f"session {session_id} is an {row.kind}, not a practice session", "session_id"
                )
            if row.code != rx.participant_code:
                raise StoreError(
                    f"session {session_id} is not prescription {prescription_id}'s participant's",
                    "session_id",
                )
            ps = sc.practice_sessions
            if conn.scalar(select(ps.c.session_id).where(ps.c.session_id == session_id)):
                raise StoreError(
                    f"session {session_id} is a practice session already", "session_id"
                )
            conn.execute(insert(ps).values(values))

    def set_practice_sensations(self, session_id: int, text: str) -> None:
        """What the participant felt during a practice session, in their words (replaces)."""
        text = _check_text(text, "sensations", NOTE_MAX_LEN, empty=True).strip()
        ps = sc.practice_sessions
        with self._write() as conn:
            done = conn.execute(
                update(ps).where(ps.c.session_id == session_id).values(sensations=text)
            )
            if done.rowcount != 1:
                raise StoreError(f"session {session_id} is not a practice session", "session_id")

    def add_practice_trial(
        self, trial_id: int, *, exercise: str, hand: str, set_index: int, rep_index: int
    ) -> None:
        """Say which exercise, hand, set and repetition a practice session's trial was."""
        values = {
            "trial_id": _check_int(trial_id, "trial_id"),
            "exercise": _check_name(exercise, "exercise"),
            "hand": _check_choice(hand, sc.TRIAL_HANDS, "hand", nullable=False),
            "set_index": _check_int(set_index, "set_index"),
            "rep_index": _check_int(rep_index, "rep_index"),
        }
        if values["set_index"] < 1 or values["rep_index"] < 1:
            raise StoreError("set_index and rep_index count from 1", "set_index")
        ps, pt = sc.practice_sessions, sc.practice_trials
        with self._write() as conn:
            row = self._trial_row(conn, trial_id)
            if (
                conn.scalar(select(ps.c.session_id).where(ps.c.session_id == row.session_id))
                is None
            ):
                raise StoreError(f"trial {trial_id} is not in a practice session", "trial_id")
            if conn.scalar(select(pt.c.trial_id).where(pt.c.trial_id == trial_id)) is not None:
                raise StoreError(f"trial {trial_id} is placed in a set already", "trial_id")
            values["session_id"] = row.session_id
            conn.execute(insert(pt).values(values))

    def practice_sessions(
        self, prescription_id: int, *, since_utc: datetime | None = None
    ) -> list[PracticeSessionInfo]:
        """A prescription's practice sessions, oldest first, with their trials (exercise, set,
        status, metrics) and the ratings linked to them."""
        ps, s, pt, t = sc.practice_sessions, sc.sessions, sc.practice_trials, sc.trials
        with self._read() as conn:
            self._prescription(conn, prescription_id)
            where = ps.c.prescription_id == prescription_id
            if since_utc is not None:
                where = where & (s.c.started_utc >= _check_utc(since_utc, "since_utc"))
            rows = conn.execute(
                select(ps, s.c.status, s.c.started_utc, s.c.ended_utc, sc.participants.c.code)
                .select_from(ps.join(s).join(sc.participants))
                .where(where)
                .order_by(s.c.started_utc, s.c.id)
            ).all()
            ids = [r.session_id for r in rows]
            trials: dict[int, list[PracticeTrial]] = {}
            ratings: dict[int, list[Rating]] = {}
            if ids:
                metrics = self._trial_metric_rows(conn, t.c.session_id.in_(ids))
                for r in conn.execute(
                    select(pt, t.c.protocol, t.c.status)
                    .select_from(pt.join(t, pt.c.trial_id == t.c.id))
                    .where(pt.c.session_id.in_(ids))
                    .order_by(pt.c.session_id, t.c.seq)
                ):
                    trials.setdefault(r.session_id, []).append(
                        PracticeTrial(
                            r.trial_id,
                            r.exercise,
                            r.hand,
                            r.set_index,
                            r.rep_index,
                            r.protocol,
                            r.status,
                            tuple(metrics.get(r.trial_id, ())),
                        )
                    )
                for rating in self._ratings(conn, sc.ratings.c.session_id.in_(ids)):
                    assert rating.session_id is not None
                    ratings.setdefault(rating.session_id, []).append(rating)
        return [
            PracticeSessionInfo(
                r.session_id,
                r.prescription_id,
                r.code,
                r.level,
                r.program_version,
                r.program_hash,
                r.plan,
                r.sensations,
                r.status,
                r.started_utc,
                r.ended_utc,
                tuple(trials.get(r.session_id, ())),
                tuple(ratings.get(r.session_id, ())),
            )
            for r in rows
        ]

    def add_decision(
        self,
        prescription_id: int,
        *,
        kind: str,
        level_before: int,
        level_after: int,
        reason: str,
        inputs: dict[str, Any],
        rules: dict[str, Any],
        rule_version: str,
        session_id: int | None = None,
        t_utc: datetime | None = None,
    ) -> DecisionRecord:
        """Store a progression decision and, in the same transaction, move the prescription to
        ``level_after``. Refused when the prescription's level is no longer ``level_before``
        (a clinician changed it meanwhile) or the prescription has ended."""
        values = {
            "prescription_id": _check_int(prescription_id, "prescription_id"),
            "session_id": _check_int(session_id, "session_id", nullable=True),
            "kind": _check_choice(kind, sc.DECISION_KINDS, "kind", nullable=False),
            "reason": _check_text(reason, "reason", NOTE_MAX_LEN),
            "inputs": _check_json(inputs, "inputs", dict),
            "rules": _check_json(rules, "rules", dict),
            "rule_version": _check_text(rule_version, "rule_version", sc.SHORT_LEN),
            "t_utc": _check_utc(t_utc, "t_utc"),
        }
        pd, rx = sc.practice_decisions, sc.prescriptions
        with self._write() as conn:
            current = self._prescription(conn, prescription_id)
            if current.status == "ended":
                raise StoreError(f"prescription {prescription_id} has ended", "status")
            values["level_before"] = self._check_level(level_before, current.levels, "level_before")
            values["level_after"] = self._check_level(level_after, current.levels, "level_after")
            if current.current_level != values["level_before"]:
                raise StoreError(
                    f"level_before: prescription {prescription_id} is at level "
                    f"{current.current_level} now, not {level_before}",
                    "level_before",
                )
            if session_id is not None:
                owner = conn.scalar(
                    select(sc.practice_sessions.c.prescription_id).where(
                        sc.practice_sessions.c.session_id == session_id
                    )
                )
                if owner != prescription_id:
                    raise StoreError(
                        f"session {session_id} is not a practice session of prescription "
                        f"{prescription_id}",
                        "session_id",
                    )
            new_id = int(conn.execute(insert(pd).values(values)).inserted_primary_key[0])
            if values["level_after"] != current.current_level:
                conn.execute(
                    update(rx)
                    .where(rx.c.id == prescription_id)
                    .values(current_level=values["level_after"], updated_utc=values["t_utc"])
                )
            return self._decisions(conn, pd.c.id == new_id)[0]

    @staticmethod
    def _decisions(conn: Connection, where: Any) -> list[DecisionRecord]:
        pd = sc.practice_decisions
        rows = conn.execute(select(pd).where(where).order_by(pd.c.t_utc, pd.c.id)).all()
        return [
            DecisionRecord(
                r.id,
                r.prescription_id,
                r.session_id,
                r.kind,
                r.level_before,
                r.level_after,
                r.reason,
                r.inputs,
                r.rules,
                r.rule_version,
                r.t_utc,
            )
            for r in rows
        ]

    def decisions(self, prescription_id: int) -> list[DecisionRecord]:
        """A prescription's progression decisions, oldest first."""
        with self._read() as conn:
            self._prescription(conn, prescription_id)
            return self._decisions(conn, sc.practice_decisions.c.prescription_id == prescription_id)

    # -- maintenance -----------------------------------------------------------------------

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"``, or the problems found, one a line."""
        with self._read() as conn:
            return "\n".join(str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check"))


def _pad_samples(name: str, rows: Sequence[Row[Any]]) -> PadSamples:
    for r in rows:
        if len(r.t_ns) != 8 * r.n or len(r.code) != 2 * r.n:
            raise StoreError(
                f"samples of pad {name!r}, chunk {r.chunk}: stored arrays do not hold {r.n} samples"
            )
    first = rows[0]
    t_ns = np.concatenate([np.frombuffer(r.t_ns, dtype="<i8") for r in rows]).astype(
        np.int64, copy=False
    )
    code = np.concatenate([np.frombuffer(r.code, dtype="<i2") for r in rows]).astype(
        np.int16, copy=False
    )
    return PadSamples(
        pad=name,
        t_ns=t_ns,
        code=code,
        gain=first.gain,
        supply_v=first.supply_v,
        divider_ohm=first.divider_ohm,
        slope_n_per_s=first.slope_n_per_s,
        offset_n=first.offset_n,
        calibrated=first.calibrated,
        gaps=first.gaps,
    )


def _take_writer_lock(data_dir: Path) -> int:
    path = data_dir / LOCK_FILENAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"{data_dir / DB_FILENAME}: another station process is recording into this store; "
            "stop it first (or open with recover=False to read beside it)"
        ) from None
    with suppress(OSError):
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return fd


#: SQLite's primary result codes for a full disk and an I/O error (sqlite3.SQLITE_FULL, _IOERR).
_DISK_ERROR_CODES: Final = (13, 10)
#: ... and for a damaged file (sqlite3.SQLITE_CORRUPT, SQLITE_NOTADB).
_DAMAGED_CODES: Final = (11, 26)


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    reason = str(orig) if orig is not None else str(exc).splitlines()[0]
    code = getattr(orig, "sqlite_errorcode", None)  # extended code; its low byte is the primary
    if isinstance(code, int) and code & 0xFF in _DISK_ERROR_CODES:
        reason += (
            "; the disk may be full or failing: free space on the data folder's disk "
            "(check with df -h) and try again"
        )
    elif isinstance(code, int) and code & 0xFF in _DAMAGED_CODES:
        reason += (
            "; the database file is damaged: check it with `station doctor` and restore the "
            "newest good backup with `station restore` (docs/operator.md)"
        )
    return reason


__all__ = [
    "DB_FILENAME",
    "INTERRUPTED_FAULT",
    "RATING_SCALES",
    "UNSET",
    "Assignment",
    "DecisionRecord",
    "Interrupted",
    "Participant",
    "PinLockedError",
    "PracticeSessionInfo",
    "PracticeTrial",
    "Prescription",
    "PrescriptionChange",
    "Rating",
    "SelfGuidedAccess",
    "SessionInfo",
    "SessionMetric",
    "SessionNote",
    "Store",
    "StoreError",
    "TrialInfo",
    "alembic_config",
    "check_pin",
    "create_sqlite_engine",
    "dumps_json",
]
