"""Durable storage: SQLite through SQLAlchemy 2 Core, migrated with Alembic.

See :mod:`station.store.store` for the guarantees (WAL, ``synchronous=FULL``, one transaction per
write, recovery of interrupted trials), :mod:`station.store.schema` for the tables and
:mod:`station.store.export` for CSV and JSON exports.
"""

from station.store.store import (
    DB_FILENAME,
    INTERRUPTED_FAULT,
    RATING_SCALES,
    UNSET,
    Assignment,
    DecisionRecord,
    Interrupted,
    Participant,
    PinLockedError,
    PracticeSessionInfo,
    PracticeTrial,
    Prescription,
    PrescriptionChange,
    Rating,
    SelfGuidedAccess,
    SessionInfo,
    SessionMetric,
    SessionNote,
    Store,
    StoreError,
    TrialInfo,
)

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
]
