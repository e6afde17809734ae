"""What the reports share: the data they cover, protocol and metric names, the primary measure
of a protocol, times on the session's clock in UTC, and numbers as text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from station.errors import StationError
from station.protocols import PROTOCOLS
from station.records import Metric, unit_text
from station.store import (
    Participant,
    Rating,
    SessionInfo,
    SessionMetric,
    SessionNote,
    Store,
    StoreError,
    TrialInfo,
)
from station.store.export import export_selection, finite_number, self_reports

#: Prefixes :meth:`~station.protocols.base.Protocol.summarize` puts before a trial metric's name
#: in the session summary (the mean of the trials, or the best trial).
SUMMARY_PREFIXES: Final = ("mean_", "best_")
HANDS: Final = ("right", "left", "both")


class ReportError(StationError):
    """A report cannot be made; ``field`` names the argument at fault (``"code"``,
    ``"session_id"``) as :class:`~station.store.StoreError` does, or is None."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReportData:
    """One participant and the sessions a report covers (oldest first, with their trials), the
    self-reported ratings it covers (time order: a session's, or all of the participant's,
    those linked to no session too) and the notes added to each session and its trials."""

    participant: Participant
    sessions: tuple[SessionInfo, ...]
    ratings: tuple[Rating, ...] = ()
    notes: Mapping[int, tuple[SessionNote, ...]] = field(default_factory=dict)

    def session_ratings(self, session_id: int) -> list[Rating]:
        return [r for r in self.ratings if r.session_id == session_id]

    def session_notes(self, session_id: int) -> tuple[SessionNote, ...]:
        return self.notes.get(session_id, ())


def load_report_data(
    store: Store, *, participant_code: str | None = None, session_id: int | None = None
) -> ReportData:
    """The data of one participant (all sessions) or of one session (and its participant).

    Raises :class:`ReportError` (``field`` ``"code"`` or ``"session_id"``) when there is no such
    participant or session, or when neither is given.
    """
    if participant_code is None and session_id is None:
        raise ReportError("a report needs a participant code or a session id")
    try:
        selection = list(
            export_selection(store, participant_code=participant_code, session_id=session_id)
        )
    except StoreError as exc:
        if exc.field in ("code", "session_id"):
            raise ReportError(str(exc), exc.field) from None
        raise
    participant, sessions = selection[0]
    reports = self_reports(store, participant.code, sessions)
    if session_id is not None:
        ratings = [r for s in sessions for r in reports.ratings.get(s.id, [])]
    else:
        ratings = [r for group in reports.ratings.values() for r in group]
    ratings.sort(key=lambda r: (as_utc(r.t_utc), r.id))
    notes = {sid: tuple(found) for sid, found in reports.notes.items()}
    return ReportData(participant, tuple(sessions), tuple(ratings), notes)


# -- protocols and metrics --------------------------------------------------------------------


def protocol_title(protocol: str) -> str:
    cls = PROTOCOLS.get(protocol)
    return cls.title if cls is not None else protocol


def key_metric_names(protocol: str) -> tuple[str, ...]:
    cls = PROTOCOLS.get(protocol)
    return cls.key_metrics if cls is not None else ()


def summary_names(name: str) -> tuple[str, ...]:
    """The session-summary names a trial metric ``name`` may appear under, best first."""
    return (*(p + name for p in SUMMARY_PREFIXES), name)


def primary_trial_metric(protocol: str, metrics: Sequence[Metric]) -> Metric | None:
    """A trial's main result: the protocol's first key metric, else its first metric."""
    keys = key_metric_names(protocol)
    if keys:
        for m in metrics:
            if m.name == keys[0]:
                return m
    return metrics[0] if metrics else None


def primary_summary_metric(protocol: str, metrics: Sequence[Metric]) -> Metric | None:
    """A hand's main session result: the summary of the protocol's first key metric (e.g.
    ``mean_total_time_s``, ``best_max_force_n``), else the first summary metric."""
    keys = key_metric_names(protocol)
    if keys:
        by_name = {m.name: m for m in metrics}
        for name in summary_names(keys[0]):
            if name in by_name:
                return by_name[name]
    return metrics[0] if metrics else None


def key_summary_names(protocol: str, available: Sequence[str]) -> list[str]:
    """The session-summary names of the protocol's key metrics that are in ``available``
    (in key-metric order); the first available name when none of them is."""
    out: list[str] = []
    present = set(available)
    for key in key_metric_names(protocol):
        for name in summary_names(key):
            if name in present:
                out.append(name)
                break
    if not out and available:
        out.append(available[0])
    return out


def group_summary(metrics: Sequence[SessionMetric]) -> dict[tuple[str, str], list[Metric]]:
    """Session metrics by (protocol, hand), in the order they were stored."""
    out: dict[tuple[str, str], list[Metric]] = {}
    for sm in metrics:
        out.setdefault((sm.protocol, sm.hand), []).append(sm.metric)
    return out


def protocols_in_order(session: SessionInfo) -> list[str]:
    """The session's protocols in the order they were run (then any only in the summary)."""
    seen: dict[str, None] = {}
    for t in session.trials:
        seen.setdefault(t.protocol, None)
    for sm in session.metrics:
        seen.setdefault(sm.protocol, None)
    return list(seen)


def hand_order(hand: str) -> int:
    return HANDS.index(hand) if hand in HANDS else len(HANDS)


# -- self-reported ratings and added notes ---------------------------------------------------

#: When a rating was given, in words (the store's ``timing``).
RATING_TIMING_TEXT: Final = {
    "before": "before the session",
    "during": "during the session",
    "after": "after the session",
}
#: What the ends of each 0-10 scale mean, as the kiosk shows them (docs/kiosk.md).
RATING_SCALE_TEXT: Final = {
    "pain": "0 = no pain, 10 = worst pain imaginable",
    "fatigue": "0 = not tired, 10 = as tired as it could be",
}


def rating_value_text(r: Rating) -> str:
    """``3`` for a whole number, else the number as stored (``2.5``)."""
    return f"{r.value:g}"


def rating_when_text(r: Rating) -> str:
    """``before the session``, or for a rating linked to no session (a self-guided visit
    stopped by the pain rating) ``before (no session ran)``."""
    if r.session_id is None:
        return f"{r.timing} (no session ran)"
    return RATING_TIMING_TEXT.get(r.timing, r.timing)


def note_subject(session: SessionInfo, note: SessionNote) -> str:
    """What an added note is about: ``session``, or the trial: ``Nine-Hole Peg Test, right
    hand, trial 1``."""
    if note.trial_id is None:
        return "session"
    trial = next((t for t in session.trials if t.id == note.trial_id), None)
    if trial is None:
        return f"trial {note.trial_id}"
    kind = "practice" if trial.practice else f"trial {trial.trial_index}"
    return f"{protocol_title(trial.protocol)}, {trial.hand} hand, {kind}"


# -- times and numbers --------------------------------------------------------------------------


def as_utc(t: datetime) -> datetime:
    """A time as aware UTC (SQLite returns naive UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def trial_start_utc(session: SessionInfo, trial: TrialInfo) -> datetime:
    """When a trial started, in UTC, from the session's clock anchor:
    ``utc_ns = anchor_wall_ns + (t_ns - anchor_mono_ns)``."""
    utc_ns = session.anchor_wall_ns + (trial.start_t_ns - session.anchor_mono_ns)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_ns // 1000)


def format_value(value: float | None, unit: str = "", *, digits: int = 4) -> str:
    """A metric value as text (``-`` when missing), with its unit unless it is ``1``."""
    number = finite_number(value)
    if number is None:
        return "-"
    text = f"{number:.{digits}g}"
    return f"{text} {unit_text(unit)}" if unit and unit != "1" else text


def is_simulated(session: SessionInfo) -> bool:
    return session.hardware_backend == "sim"
