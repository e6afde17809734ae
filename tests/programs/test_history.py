"""What the clinician sees of a prescription: adherence per week (with a pause and a new dose
replayed from the change log), the symptom trend and the level history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from station.programs.history import adherence, level_history, session_record, symptom_trend
from station.records import Metric
from station.store import Store
from tests.store.test_store import new_session, record_trial

MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data")
    s.add_participant("P001", 1970, "male", "right", "right")
    yield s
    s.close()


def session(store: Store, rx: int, when: datetime, status: str = "complete") -> int:
    sid = new_session(store, kind="practice", started_utc=when)
    plan = {
        "blocks": [{"exercise": "seq", "hand": "right", "protocol": "finger_sequence", "sets": 2}]
    }
    store.add_practice_session(sid, rx, level=1, program_version="1", program_hash="h", plan=plan)
    for k, value in enumerate((90.0, 80.0)):
        trial = record_trial(store, sid, k + 1, metrics=[Metric("accuracy_pct", value, "%")])
        store.add_practice_trial(trial, exercise="seq", hand="right", set_index=k + 1, rep_index=1)
    store.add_rating("P001", "pain", "before", 2, session_id=sid, t_utc=when)
    store.add_rating("P001", "pain", "after", 3, session_id=sid, t_utc=when)
    store.end_session(sid, status)
    return sid


def test_adherence_per_week_with_a_pause_and_a_new_dose(store: Store) -> None:
    rx = store.add_prescription(
        "P001",
        "mini",
        program_version="1",
        program_hash="h",
        levels=2,
        sessions_per_week=3,
        daily_cap=1,
        t_utc=MONDAY + timedelta(days=2),  # a Wednesday: 5 days left in the first week
    ).id
    for day in (2, 3, 4):
        session(store, rx, MONDAY + timedelta(days=day, hours=2))
    session(store, rx, MONDAY + timedelta(days=8), status="aborted")
    store.update_prescription(rx, status="paused", t_utc=MONDAY + timedelta(days=10))
    store.update_prescription(rx, status="active", t_utc=MONDAY + timedelta(days=16))
    store.update_prescription(rx, sessions_per_week=5, t_utc=MONDAY + timedelta(days=20))
    info = store.prescription(rx)
    weeks = adherence(
        info,
        store.practice_sessions(rx),
        store.prescription_changes(rx),
        now_utc=MONDAY + timedelta(days=29),
        tz=UTC,
    )
    rows = [(w.week_start, w.prescribed, w.done, w.started, w.paused) for w in weeks]
    assert rows == [
        (date(2026, 3, 2), 3, 3, 3, False),
        (date(2026, 3, 9), 3, 0, 1, False),  # one session begun, not finished
        (date(2026, 3, 16), 0, 0, 0, True),  # paused on the Monday
        (date(2026, 3, 23), 5, 0, 0, False),  # resumed, then 5 a week from Sunday the 22nd
        (date(2026, 3, 30), 5, 0, 0, False),
    ]


def test_symptoms_levels_and_the_rules_view(store: Store) -> None:
    rx = store.add_prescription(
        "P001", "mini", program_version="1", program_hash="h", levels=2, t_utc=MONDAY
    ).id
    sid = session(store, rx, MONDAY + timedelta(hours=3))
    store.add_decision(
        rx,
        kind="advance",
        level_before=1,
        level_after=2,
        reason="every goal met",
        inputs={},
        rules={},
        rule_version="1",
        session_id=sid,
        t_utc=MONDAY + timedelta(hours=4),
    )
    store.override_level(rx, 1, reason="too fast", t_utc=MONDAY + timedelta(hours=5))
    (trend,) = symptom_trend(store.practice_sessions(rx))
    assert (trend["pain_before"], trend["pain_after"], trend["level"]) == (2, 3, 1)
    events = level_history(
        store.prescription(rx), store.decisions(rx), store.prescription_changes(rx)
    )
    assert [(e["what"], e["level_before"], e["level_after"]) for e in events] == [
        ("prescribed", None, 1),
        ("advance", 1, 2),
        ("changed (level)", 2, 1),
    ]
    assert events[1]["reason"] == "every goal met" and events[2]["reason"] == "too fast"
    (info,) = store.practice_sessions(rx)
    record = session_record(info)
    (block,) = record.blocks
    assert block.planned_sets == 2 and block.session_value("accuracy_pct") == 85.0
    assert [s.values["accuracy_pct"] for s in block.sets] == [90.0, 80.0]
    assert all(s.complete for s in block.sets)
