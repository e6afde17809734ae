"""A prescription's practice history from the store, as the rules and the reports need it.

* :func:`session_record`: a stored practice session -> :class:`~station.programs.rules.
  SessionRecord` (per exercise and hand, each set's value of every criterion metric: the median of
  the set's complete trials; the ratings before, during and after);
* :func:`level_since`, :func:`pain_stops`: when the current level was reached, and the stops for
  pain before a session (no session ran);
* :func:`adherence`, :func:`symptom_trend`, :func:`level_history`: what the clinician sees
  (sessions done against those prescribed per week, pain, fatigue and effort over time, every
  level change with its reason).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from station.programs.metrics import CRITERION_METRICS
from station.programs.rules import BlockRecord, SessionRecord, SetValues
from station.store.store import (
    DecisionRecord,
    PracticeSessionInfo,
    Prescription,
    PrescriptionChange,
    Rating,
)


def _last(ratings: Sequence[Rating], scale: str, timing: str) -> float | None:
    found = [r.value for r in ratings if r.scale == scale and r.timing == timing]
    return found[-1] if found else None


def session_record(info: PracticeSessionInfo) -> SessionRecord:
    """The rules' view of a stored practice session (its plan says which blocks and how many
    sets were planned)."""
    blocks: list[BlockRecord] = []
    for b in info.plan.get("blocks", []):
        exercise, hand = str(b["exercise"]), str(b["hand"])
        names = list(CRITERION_METRICS.get(str(b.get("protocol", "")), {}))
        per_set = int(b.get("trials_per_set", 1))
        trials = [t for t in info.trials if t.exercise == exercise and t.hand == hand]
        sets: list[SetValues] = []
        for k in sorted({t.set_index for t in trials}):
            done = [t for t in trials if t.set_index == k and t.status == "complete"]
            values: dict[str, float | None] = {}
            for name in names:
                found = [
                    m.value
                    for t in done
                    for m in t.metrics
                    if m.name == name and m.value is not None
                ]
                values[name] = float(statistics.median(found)) if found else None
            sets.append(SetValues(k, values, len(done) >= per_set))
        blocks.append(BlockRecord(exercise, hand, int(b.get("sets", 0)), tuple(sets)))
    r = info.ratings
    during = [x.value for x in r if x.scale == "pain" and x.timing == "during"]
    return SessionRecord(
        session_id=info.session_id,
        started_utc=info.started_utc,
        level=info.level,
        status=info.status,
        blocks=tuple(blocks),
        pain_before=_last(r, "pain", "before"),
        pain_during=max(during) if during else None,
        pain_after=_last(r, "pain", "after"),
        fatigue_before=_last(r, "fatigue", "before"),
        fatigue_after=_last(r, "fatigue", "after"),
        effort=_last(r, "borg_cr10", "after"),
    )


def level_since(
    rx: Prescription, decisions: Sequence[DecisionRecord], changes: Sequence[PrescriptionChange]
) -> datetime:
    """When the prescription reached its current level: its last level change (a decision that
    moved it, or a clinician's override), else its creation."""
    times = [rx.created_utc]
    times += [d.t_utc for d in decisions if d.level_after != d.level_before]
    times += [c.t_utc for c in changes if c.kind == "level"]
    return max(times)


def pain_stops(decisions: Sequence[DecisionRecord]) -> list[datetime]:
    """When practice was stopped for pain before a session began (no session record)."""
    return [d.t_utc for d in decisions if d.kind == "stop" and d.session_id is None]


def _local_day(t: datetime, tz: tzinfo | None) -> date:
    return t.astimezone(tz).date() if tz is not None else t.astimezone().date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks start on Monday, as in self-guided mode)."""
    return day - timedelta(days=day.weekday())


def sessions_on(
    sessions: Sequence[PracticeSessionInfo], day: date, tz: tzinfo | None
) -> list[PracticeSessionInfo]:
    return [s for s in sessions if _local_day(s.started_utc, tz) == day]


def sessions_in_week(
    sessions: Sequence[PracticeSessionInfo], day: date, tz: tzinfo | None
) -> list[PracticeSessionInfo]:
    start = week_start(day)
    return [
        s for s in sessions if start <= _local_day(s.started_utc, tz) < start + timedelta(days=7)
    ]


@dataclass(frozen=True)
class WeekAdherence:
    week_start: date  # a Monday
    prescribed: int  # sessions the prescription asked for that week
    done: int  # complete practice sessions
    started: int  # practice sessions begun (complete or not)
    paused: bool  # the prescription was paused (or not yet made, or ended) at the week's start

    def as_dict(self) -> dict[str, Any]:
        return {
            "week_start": self.week_start.isoformat(),
            "prescribed": self.prescribed,
            "done": self.done,
            "started": self.started,
            "paused": self.paused,
        }


def _state_at(
    rx: Prescription, changes: Sequence[PrescriptionChange], t: datetime
) -> dict[str, Any]:
    """The prescription's sessions a week, daily cap and status at time ``t`` (replaying its
    changes backwards from now)."""
    state = {
        "sessions_per_week": rx.sessions_per_week,
        "daily_cap": rx.daily_cap,
        "status": rx.status,
    }
    for c in sorted(changes, key=lambda c: c.t_utc, reverse=True):
        if c.t_utc <= t:
            break
        for key, value in c.before.items():
            if key in state:
                state[key] = value
    return state


def adherence(
    rx: Prescription,
    sessions: Sequence[PracticeSessionInfo],
    changes: Sequence[PrescriptionChange],
    *,
    now_utc: datetime | None = None,
    tz: tzinfo | None = None,
) -> list[WeekAdherence]:
    """Per week from the prescription's first week to now: sessions done against prescribed.

    Prescribed = the sessions a week in force at the start of the week (for the first week, at
    the prescription's creation, and no more than its days left times the daily cap); 0 when the
    prescription was paused or ended then."""
    now = now_utc or datetime.now(UTC)
    end_day = _local_day(rx.ended_utc or now, tz)
    first_day = _local_day(rx.created_utc, tz)
    weeks: list[WeekAdherence] = []
    start = week_start(first_day)
    while start <= end_day:
        at_day = max(start, first_day)
        at = datetime.combine(at_day, datetime.min.time(), tzinfo=tz or now.astimezone().tzinfo)
        at = max(at.astimezone(UTC), rx.created_utc)
        state = _state_at(rx, changes, at)
        paused = state["status"] != "active"
        days_left = 7 - at_day.weekday()
        prescribed = (
            0 if paused else min(state["sessions_per_week"], days_left * state["daily_cap"])
        )
        mine = sessions_in_week(sessions, start, tz)
        weeks.append(
            WeekAdherence(
                start,
                prescribed,
                sum(1 for s in mine if s.status == "complete"),
                len(mine),
                paused,
            )
        )
        start += timedelta(days=7)
    return weeks


def symptom_trend(sessions: Sequence[PracticeSessionInfo]) -> list[dict[str, Any]]:
    """Per practice session: the level, pain and fatigue before and after, pain during (the
    highest), perceived effort (Borg CR10)."""
    out = []
    for s in sessions:
        rec = session_record(s)
        out.append(
            {
                "session_id": s.session_id,
                "started_utc": s.started_utc.isoformat(),
                "level": s.level,
                "status": s.status,
                "pain_before": rec.pain_before,
                "pain_during": rec.pain_during,
                "pain_after": rec.pain_after,
                "fatigue_before": rec.fatigue_before,
                "fatigue_after": rec.fatigue_after,
                "effort_borg_cr10": rec.effort,
                "sensations": s.sensations,
            }
        )
    return out


def level_history(
    rx: Prescription,
    decisions: Sequence[DecisionRecord],
    changes: Sequence[PrescriptionChange],
) -> list[dict[str, Any]]:
    """Every event that set or kept the level, oldest first: the prescription, each decision
    (with its reason) and each clinician's change."""
    events: list[dict[str, Any]] = []
    for c in changes:
        events.append(
            {
                "t_utc": c.t_utc.isoformat(),
                "what": "prescribed" if c.kind == "created" else f"changed ({c.kind})",
                "by": c.author,
                "before": c.before,
                "after": c.after,
                "reason": c.reason,
                "level_before": c.before.get("current_level"),
                "level_after": c.after.get("current_level", c.after.get("start_level")),
            }
        )
    for d in decisions:
        events.append(
            {
                "t_utc": d.t_utc.isoformat(),
                "what": d.kind,
                "by": f"rules v{d.rule_version}",
                "session_id": d.session_id,
                "reason": d.reason,
                "level_before": d.level_before,
                "level_after": d.level_after,
                "decision_id": d.id,
            }
        )
    events.sort(key=lambda e: e["t_utc"])
    return events
