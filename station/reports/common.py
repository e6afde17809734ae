"""What the reports share: the data they cover, protocol and metric names, the primary measure
of a protocol, times on the session's clock in UTC, and numbers as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from station.errors import StationError
from station.protocols import PROTOCOLS
from station.records import Metric
from station.store import Participant, SessionInfo, SessionMetric, Store, StoreError, TrialInfo
from station.store.export import export_selection, finite_number

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
    """One participant and the sessions a report covers (oldest first, with their trials)."""

    participant: Participant
    sessions: tuple[SessionInfo, ...]


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
    return ReportData(participant, tuple(sessions))


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
    return f"{text} {unit}" if unit and unit != "1" else text


def is_simulated(session: SessionInfo) -> bool:
    return session.hardware_backend == "sim"
