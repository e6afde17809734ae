"""The store's tables, as SQLAlchemy Core metadata (no ORM).

Portable on purpose: the same schema runs on SQLite (the station) and PostgreSQL (a clinic server
later). Times on the monotonic clock are ``BigInteger`` nanoseconds, sample arrays are
``LargeBinary`` (little-endian int64 times, int16 codes), structured extras are ``JSON`` (text on
SQLite, ``json`` on PostgreSQL), wall-clock times are ``DateTime(timezone=True)`` holding UTC,
allowed values are plain ``CHECK`` constraints. Constraint and index names follow
:data:`NAMING_CONVENTION` so that migrations can refer to them on either database.

The migrations in ``station/store/migrations/versions`` create exactly these tables; a test
compares them with Alembic's autogenerate (``tests/store/test_store.py``). Change a table here
*and* add a migration.

Tables (one line each; columns in the definitions below):

- ``participants``: pseudonymous people: a code, birth year, sex, dominant hand, affected side,
  notes. No names.
- ``sessions``: one sitting of a participant at a station running a battery, with the provenance
  that holds for all its trials (station, software, hardware backend, timestamp source, the
  monotonic <-> wall-clock anchor).
- ``trials``: one administration of a protocol (practice or not) with its parameters, channel
  roles, times, status, faults, gaps and provenance.
- ``events``: the debounced edges of a trial, one row per event (a few hundred per trial).
- ``samples``: a pad's force samples in a trial as compact typed arrays, split into chunks of at
  most :data:`SAMPLES_PER_CHUNK` samples, with what is needed to turn codes into newtons.
- ``cues``: LED/buzzer cues of a trial with scheduled, written and loopback times.
- ``metrics``: a trial's metrics, in the order the scoring function gave them.
- ``session_metrics``: summary metrics of a session per protocol and hand (e.g. the mean of a
  hand's trials): what a participant's history shows. Kept apart from ``metrics`` so that the
  history reads them through their primary key (session_id, ordinal) without a nullable column
  the query planner would misjudge.
- ``self_guided``: a participant's self-guided sign-in (the PIN's salt and scrypt hash, never the
  PIN; wrong tries in a row and the lockout) and settings (the pain rating that stops a session).
- ``assignments``: what a clinician assigned a participant to do on their own: a battery (later
  also a practice program, ``kind``), how many sessions a week, the rest between blocks, a note.
- ``ratings``: self-reported ratings on a named scale (``pain`` and ``fatigue`` 0-10 now; an
  effort scale later), before, during or after a session, with their time.
- ``session_notes``: notes on a session or one of its trials made after the fact, with author and
  time (a trial's own ``notes`` are those stored with it as it was saved).
- ``prescriptions``: a graded practice program a clinician prescribed a participant (the
  program's name, version and file hash), its starting and current level, sessions a week, the
  daily cap and its status (active, paused, ended).
- ``prescription_changes``: every change to a prescription after the fact (a level override, a
  new dose, a pause), with what it was before and after, the reason, who and when.
- ``practice_sessions``: the practice-specific part of a ``sessions`` row of kind ``practice``:
  its prescription, the level practised, the plan (exercises with their dose) and the sensations
  the participant reported.
- ``practice_trials``: which exercise, hand, set and repetition each trial of a practice session
  was.
- ``practice_decisions``: each progression decision (advance, stay, regress, stop, hold) with
  every input it used, the rules, their version and a plain-language reason.
- ``alembic_version`` (made by Alembic): the schema revision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Samples per row of ``samples``: 65536 samples (76 s at 860 samples/s) make 512 KiB of times
#: and 128 KiB of codes, small enough for one blob on either database.
SAMPLES_PER_CHUNK = 65536

HANDS_DOMINANT = ("right", "left")
AFFECTED_SIDES = ("right", "left", "both", "none")
SEXES = ("female", "male", "other")
TRIAL_HANDS = ("right", "left", "both")
SESSION_STATUSES = ("running", "complete", "incomplete", "aborted")
#: Kinds of session: an assessment (a battery) or a graded practice session (a program's level).
SESSION_KINDS = ("assessment", "practice")
TRIAL_STATUSES = ("running", "complete", "incomplete", "invalid", "timeout")

#: Kinds of assignment: a battery now; "program" is kept for the graded practice programs.
ASSIGNMENT_KINDS = ("battery", "program")
#: When a rating was given, relative to its session.
RATING_TIMINGS = ("before", "during", "after")
#: Who gave a rating.
RATING_SOURCES = ("participant", "clinician")
MAX_SESSIONS_PER_WEEK = 14
MAX_REST_S = 600
#: Graded practice: a prescription's status, the most sessions a day, the kinds of decision.
PRESCRIPTION_STATUSES = ("active", "paused", "ended")
MAX_DAILY_CAP = 10
PRESCRIPTION_CHANGE_KINDS = ("created", "level", "dose", "status", "note")
DECISION_KINDS = ("advance", "stay", "regress", "stop", "hold")

CODE_MAX_LEN = 32
NAME_LEN = 64  # protocol, battery, station, channel, pad, output and metric names
HASH_LEN = 128  # "sha256:" + 64 hex digits fits with room
SHORT_LEN = 32


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` in, an aware UTC ``datetime`` out, on any database.

    SQLite keeps no time zone, so the value is stored as naive UTC text there and the zone is put
    back on reading; PostgreSQL gets ``timestamp with time zone``. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give UTC times with a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    test = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {test}" if nullable else test


metadata = MetaData(naming_convention=NAMING_CONVENTION)

participants = Table(
    "participants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(CODE_MAX_LEN), nullable=False),
    Column("birth_year", Integer, nullable=True),
    Column("sex", String(SHORT_LEN), nullable=True),
    Column("dominant_hand", String(SHORT_LEN), nullable=True),
    Column("affected_side", String(SHORT_LEN), nullable=True),
    Column("notes", Text, nullable=False),
    Column("created_utc", UtcDateTime(), nullable=False),
    UniqueConstraint("code"),
    CheckConstraint(_one_of("sex", SEXES, nullable=True), name="sex"),
    CheckConstraint(_one_of("dominant_hand", HANDS_DOMINANT, nullable=True), name="dominant_hand"),
    CheckConstraint(_one_of("affected_side", AFFECTED_SIDES, nullable=True), name="affected_side"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("battery_name", String(NAME_LEN), nullable=False),
    Column("battery_hash", String(HASH_LEN), nullable=False),
    Column("station_id", String(NAME_LEN), nullable=False),
    Column("status", String(SHORT_LEN), nullable=False),
    Column("started_utc", UtcDateTime(), nullable=False),
    Column("ended_utc", UtcDateTime(), nullable=True),
    Column("software_version", String(NAME_LEN), nullable=False),
    Column("hardware_backend", String(SHORT_LEN), nullable=False),
    Column("timestamp_source", String(NAME_LEN), nullable=False),
    Column("anchor_mono_ns", BigInteger, nullable=False),
    Column("anchor_wall_ns", BigInteger, nullable=False),
    Column("provenance", JSON, nullable=False),
    Column("notes", Text, nullable=False),
    # Added by migration 0003; every older session is an assessment.
    Column("kind", String(SHORT_LEN), nullable=False, server_default="assessment"),
    CheckConstraint(_one_of("status", SESSION_STATUSES), name="status"),
    CheckConstraint(_one_of("kind", SESSION_KINDS), name="kind"),
    # A participant's history, in order.
    Index(None, "participant_id", "started_utc"),
    # Recovery looks for status = 'running'.
    Index(None, "status"),
)

trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),  # order within the session
    Column("protocol", String(NAME_LEN), nullable=False),
    Column("protocol_version", String(SHORT_LEN), nullable=False),
    Column("protocol_hash", String(HASH_LEN), nullable=False),
    Column("hand", String(SHORT_LEN), nullable=False),
    Column("practice", Boolean, nullable=False),
    Column("trial_index", Integer, nullable=False),  # per protocol, hand and practice
    Column("status", String(SHORT_LEN), nullable=False),
    Column("invalid_reason", Text, nullable=True),
    Column("params", JSON, nullable=False),
    Column("start_t_ns", BigInteger, nullable=False),
    Column("end_t_ns", BigInteger, nullable=True),
    Column("go_t_ns", BigInteger, nullable=True),
    Column("roles", JSON, nullable=False),
    Column("provenance", JSON, nullable=False),
    Column("faults", JSON, nullable=False),
    Column("gaps", JSON, nullable=False),
    Column("notes", Text, nullable=False),
    UniqueConstraint("session_id", "seq"),
    CheckConstraint(_one_of("status", TRIAL_STATUSES), name="status"),
    CheckConstraint(_one_of("hand", TRIAL_HANDS), name="hand"),
    Index(None, "status"),
    Index(None, "protocol", "hand"),
)

events = Table(
    "events",
    metadata,
    Column(
        "trial_id",
        Integer,
        ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ordinal", Integer, primary_key=True),  # position in TrialData.events
    Column("seq", BigInteger, nullable=False),  # EventRecord.seq (the timing core's counter)
    Column("t_ns", BigInteger, nullable=False),
    Column("channel", String(NAME_LEN), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("flags", Integer, nullable=False),
)

samples = Table(
    "samples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("pad", String(NAME_LEN), nullable=False),
    Column("pad_index", Integer, nullable=False),  # order of the pads in TrialData.samples
    Column("chunk", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    Column("t_ns", LargeBinary, nullable=False),  # n x int64, little-endian
    Column("code", LargeBinary, nullable=False),  # n x int16, little-endian
    Column("gain", Double, nullable=False),
    Column("supply_v", Double, nullable=False),
    Column("divider_ohm", Double, nullable=False),
    Column("slope_n_per_s", Double, nullable=False),
    Column("offset_n", Double, nullable=False),
    Column("calibrated", Boolean, nullable=False),
    Column("gaps", JSON, nullable=False),  # the pad's gaps, on chunk 0 ([] on later chunks)
    UniqueConstraint("trial_id", "pad", "chunk"),
)

cues = Table(
    "cues",
    metadata,
    Column(
        "trial_id",
        Integer,
        ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ordinal", Integer, primary_key=True),  # position in TrialData.cues
    Column("output", String(NAME_LEN), nullable=False),
    Column("kind", String(SHORT_LEN), nullable=False),
    Column("scheduled_on_ns", BigInteger, nullable=False),
    Column("scheduled_off_ns", BigInteger, nullable=False),
    Column("actual_on_ns", BigInteger, nullable=True),
    Column("actual_off_ns", BigInteger, nullable=True),
    Column("loopback_on_ns", BigInteger, nullable=True),
)

metrics = Table(
    "metrics",
    metadata,
    Column(
        "trial_id",
        Integer,
        ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ordinal", Integer, primary_key=True),  # order as the scoring function gave them
    Column("name", String(NAME_LEN), nullable=False),
    Column("value", Double, nullable=True),  # NULL: missing (the detail says why)
    Column("unit", String(SHORT_LEN), nullable=False),
    Column("detail", Text, nullable=False),
)

session_metrics = Table(
    "session_metrics",
    metadata,
    Column(
        "session_id",
        Integer,
        ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("ordinal", Integer, primary_key=True),
    Column("protocol", String(NAME_LEN), nullable=False),
    Column("hand", String(SHORT_LEN), nullable=False),
    Column("name", String(NAME_LEN), nullable=False),
    Column("value", Double, nullable=True),
    Column("unit", String(SHORT_LEN), nullable=False),
    Column("detail", Text, nullable=False),
)

self_guided = Table(
    "self_guided",
    metadata,
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("pin_salt_hex", String(HASH_LEN), nullable=True),  # NULL: no PIN set
    Column("pin_hash_hex", String(HASH_LEN), nullable=True),
    Column("pin_kdf", JSON, nullable=True),  # {"kdf": "scrypt", "n": ..., "r": ..., "p": ...}
    Column("failures", Integer, nullable=False),  # wrong PINs in a row
    Column("locked_until_utc", UtcDateTime(), nullable=True),
    Column("pain_stop_at", SmallInteger, nullable=True),  # NULL: the kiosk's default
    Column("updated_utc", UtcDateTime(), nullable=False),
    CheckConstraint("failures >= 0", name="failures"),
    CheckConstraint(
        "pain_stop_at IS NULL OR (pain_stop_at >= 1 AND pain_stop_at <= 10)", name="pain_stop_at"
    ),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(SHORT_LEN), nullable=False),
    Column("name", String(NAME_LEN), nullable=False),  # the battery's (or program's) name
    Column("sessions_per_week", Integer, nullable=False),
    Column("rest_s", Double, nullable=False),  # between blocks (sets); 0: none
    Column("note", Text, nullable=False),  # shown to the participant
    Column("params", JSON, nullable=False),  # kind-specific options ({} for a battery)
    Column("active", Boolean, nullable=False),
    Column("created_by", String(NAME_LEN), nullable=False),
    Column("created_utc", UtcDateTime(), nullable=False),
    Column("ended_utc", UtcDateTime(), nullable=True),
    CheckConstraint(_one_of("kind", ASSIGNMENT_KINDS), name="kind"),
    CheckConstraint(
        f"sessions_per_week >= 1 AND sessions_per_week <= {MAX_SESSIONS_PER_WEEK}",
        name="sessions_per_week",
    ),
    CheckConstraint(f"rest_s >= 0 AND rest_s <= {MAX_REST_S}", name="rest_s"),
    Index(None, "participant_id", "active"),
)

ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The session (and trial) a rating belongs to; NULL when none ran (e.g. stopped for pain).
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="SET NULL"), nullable=True),
    Column("scale", String(SHORT_LEN), nullable=False),  # "pain", "fatigue", later "borg_cr10"
    Column("timing", String(SHORT_LEN), nullable=False),
    Column("value", Double, nullable=False),
    Column("source", String(SHORT_LEN), nullable=False),
    Column("t_utc", UtcDateTime(), nullable=False),
    CheckConstraint(_one_of("timing", RATING_TIMINGS), name="timing"),
    CheckConstraint(_one_of("source", RATING_SOURCES), name="source"),
    Index(None, "participant_id", "t_utc"),
    Index(None, "session_id"),
)

session_notes = Table(
    "session_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=True),
    Column("author", String(NAME_LEN), nullable=False),
    Column("text", Text, nullable=False),
    Column("t_utc", UtcDateTime(), nullable=False),
    Index(None, "session_id"),
)

prescriptions = Table(
    "prescriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "participant_id",
        Integer,
        ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("program_name", String(NAME_LEN), nullable=False),
    Column("program_version", String(SHORT_LEN), nullable=False),
    Column("program_hash", String(HASH_LEN), nullable=False),  # sha256 of the program file
    Column("levels", Integer, nullable=False),  # how many levels the program had
    Column("start_level", Integer, nullable=False),  # 1-based
    Column("current_level", Integer, nullable=False),
    Column("sessions_per_week", Integer, nullable=False),
    Column("daily_cap", Integer, nullable=False),  # at most this many practice sessions a day
    Column("status", String(SHORT_LEN), nullable=False),
    Column("note", Text, nullable=False),  # shown to the participant
    Column("created_by", String(NAME_LEN), nullable=False),
    Column("created_utc", UtcDateTime(), nullable=False),
    Column("updated_utc", UtcDateTime(), nullable=False),
    Column("ended_utc", UtcDateTime(), nullable=True),
    CheckConstraint(_one_of("status", PRESCRIPTION_STATUSES), name="status"),
    CheckConstraint(
        "levels >= 1 AND start_level >= 1 AND start_level <= levels "
        "AND current_level >= 1 AND current_level <= levels",
        name="levels",
    ),
    CheckConstraint(
        f"sessions_per_week >= 1 AND sessions_per_week <= {MAX_SESSIONS_PER_WEEK}",
        name="sessions_per_week",
    ),
    CheckConstraint(f"daily_cap >= 1 AND daily_cap <= {MAX_DAILY_CAP}", name="daily_cap"),
    Index(None, "participant_id", "status"),
)

prescription_changes = Table(
    "prescription_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "prescription_id",
        Integer,
        ForeignKey("prescriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(SHORT_LEN), nullable=False),
    Column("before", JSON, nullable=False),  # the changed fields as they were
    Column("after", JSON, nullable=False),  # and as they are now
    Column("reason", Text, nullable=False),
    Column("author", String(NAME_LEN), nullable=False),
    Column("t_utc", UtcDateTime(), nullable=False),
    CheckConstraint(_one_of("kind", PRESCRIPTION_CHANGE_KINDS), name="kind"),
    Index(None, "prescription_id", "t_utc"),
)

practice_sessions = Table(
    "practice_sessions",
    metadata,
    Column(
        "session_id",
        Integer,
        ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "prescription_id",
        Integer,
        ForeignKey("prescriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("level", Integer, nullable=False),
    Column("program_version", String(SHORT_LEN), nullable=False),
    Column("program_hash", String(HASH_LEN), nullable=False),
    Column("plan", JSON, nullable=False),  # the exercises of the level with their dose
    Column("sensations", Text, nullable=False),  # what the participant felt, in their words
    Index(None, "prescription_id"),
)

practice_trials = Table(
    "practice_trials",
    metadata,
    Column(
        "trial_id",
        Integer,
        ForeignKey("trials.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("exercise", String(NAME_LEN), nullable=False),  # the exercise's id in the program
    Column("hand", String(SHORT_LEN), nullable=False),
    Column("set_index", Integer, nullable=False),  # 1-based
    Column("rep_index", Integer, nullable=False),  # 1-based within the set
    Index(None, "session_id"),
)

practice_decisions = Table(
    "practice_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "prescription_id",
        Integer,
        ForeignKey("prescriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The practice session it followed; NULL for a decision taken before any session ran (a
    # stop for pain before, a hold for the daily cap).
    Column("session_id", Integer, ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True),
    Column("kind", String(SHORT_LEN), nullable=False),
    Column("level_before", Integer, nullable=False),
    Column("level_after", Integer, nullable=False),
    Column("reason", Text, nullable=False),  # plain language, for the participant and clinician
    Column("inputs", JSON, nullable=False),  # everything the decision used
    Column("rules", JSON, nullable=False),  # the rules' values
    Column("rule_version", String(SHORT_LEN), nullable=False),
    Column("t_utc", UtcDateTime(), nullable=False),
    CheckConstraint(_one_of("kind", DECISION_KINDS), name="kind"),
    Index(None, "prescription_id", "t_utc"),
)
