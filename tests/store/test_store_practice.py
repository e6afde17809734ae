"""The store's graded-practice tables (migration 0003): session kinds, prescriptions with their
change log, practice sessions and trials, decisions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from station.records import Metric
from station.store import Store, StoreError
from station.store.store import alembic_config, create_sqlite_engine
from tests.store.test_store import new_session, record_trial

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data")
    s.add_participant("P001", 1960, "female", "right", "left")
    s.add_participant("P002")
    yield s
    s.close()


def prescribe(store: Store, code: str = "P001", **kwargs: object) -> int:
    values: dict[str, object] = {
        "program_version": "1.0",
        "program_hash": "ab" * 32,
        "levels": 4,
        "start_level": 2,
        "sessions_per_week": 3,
        "daily_cap": 1,
        "t_utc": T0,
    }
    values.update(kwargs)
    return store.add_prescription(code, "nerve_distal", **values).id  # type: ignore[arg-type]


def practice_session(store: Store, rx: int, code: str = "P001", level: int = 2) -> int:
    sid = new_session(store, code, kind="practice", started_utc=T0 + timedelta(hours=1))
    store.add_practice_session(
        sid,
        rx,
        level=level,
        program_version="1.0",
        program_hash="ab" * 32,
        plan={"blocks": [{"exercise": "pegs", "hand": "right", "sets": 2}]},
    )
    return sid


def test_a_0002_database_is_upgraded_and_its_sessions_become_assessments(
    tmp_path: Path,
) -> None:
    engine = create_sqlite_engine(tmp_path / "station.sqlite")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(
            text(
                "INSERT INTO participants (code, notes, created_utc) "
                "VALUES ('OLD1', '', '2025-01-01 10:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO sessions (participant_id, battery_name, battery_hash, station_id, "
                "status, started_utc, software_version, hardware_backend, timestamp_source, "
                "anchor_mono_ns, anchor_wall_ns, provenance, notes) VALUES (1, 'standard', '', "
                "'s1', 'complete', '2025-01-01 10:00:00', '0.1', 'sim', 'gpio', 0, 0, '{}', '')"
            )
        )
    engine.dispose()
    with Store.open(tmp_path) as store:
        (old,) = store.participant_sessions("OLD1")
        assert old.kind == "assessment" and old.battery_name == "standard"
        names = set(inspect(store.engine).get_table_names())
        assert {"prescriptions", "practice_sessions", "practice_decisions"} <= names
        # The column's CHECK holds on the upgraded table too.
        with pytest.raises(StoreError, match="CHECK constraint failed"), store._write() as conn:
            conn.execute(text("UPDATE sessions SET kind = 'other'"))


def test_downgrading_0003_keeps_the_sessions(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        sid = new_session(store)
        record_trial(store, sid, 1)
    engine = create_sqlite_engine(tmp_path / "station.sqlite")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
        assert "prescriptions" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM trials")).scalar() == 1
        columns = {c["name"] for c in inspect(conn).get_columns("sessions")}
        assert "kind" not in columns
    engine.dispose()


def test_practice_sessions_stay_out_of_the_assessment_history(store: Store) -> None:
    rx = prescribe(store)
    assessment = new_session(store)
    practice = practice_session(store, rx)
    assert [s.id for s in store.participant_sessions("P001")] == [assessment]
    assert [s.id for s in store.participant_sessions("P001", kind="practice")] == [practice]
    assert {s.kind for s in store.participant_sessions("P001", kind=None)} == {
        "assessment",
        "practice",
    }
    assert store.session(practice).kind == "practice"
    with pytest.raises(StoreError, match="kind"):
        new_session(store, kind="training")
    with pytest.raises(StoreError, match="kind"):
        store.participant_sessions("P001", kind="training")


def test_prescription_is_created_with_its_log(store: Store) -> None:
    rx = store.prescription(prescribe(store, note="gently"))
    assert (rx.participant_code, rx.program_name, rx.status) == ("P001", "nerve_distal", "active")
    assert (rx.start_level, rx.current_level, rx.levels) == (2, 2, 4)
    assert (rx.sessions_per_week, rx.daily_cap, rx.note) == (3, 1, "gently")
    assert rx.created_utc == T0
    (created,) = store.prescription_changes(rx.id)
    assert created.kind == "created" and created.after["start_level"] == 2
    assert store.prescriptions("P001") == [rx]
    assert store.prescriptions("P002") == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_level": 5}, "start_level"),
        ({"start_level": 0}, "start_level"),
        ({"levels": 0}, "levels"),
        ({"sessions_per_week": 15}, "sessions_per_week"),
        ({"daily_cap": 0}, "daily_cap"),
        ({"daily_cap": 11}, "daily_cap"),
        ({"program_hash": ""}, "program_hash"),
        ({"t_utc": datetime(2026, 1, 1)}, "t_utc"),
    ],
)
def test_prescription_values_are_checked(store: Store, kwargs: dict, field: str) -> None:
    with pytest.raises(StoreError) as info:
        prescribe(store, **kwargs)
    assert info.value.field == field


def test_one_open_prescription_per_program(store: Store) -> None:
    first = prescribe(store)
    with pytest.raises(StoreError, match="already has a prescription"):
        prescribe(store)
    with pytest.raises(StoreError, match="no participant"):
        prescribe(store, code="P404")
    store.update_prescription(first, status="ended", reason="finished")
    again = prescribe(store)
    assert again != first
    assert [p.id for p in store.prescriptions("P001")] == [again]
    assert [p.id for p in store.prescriptions("P001", include_ended=True)] == [first, again]


def test_changes_are_logged_with_before_and_after(store: Store) -> None:
    rx = prescribe(store)
    t1 = T0 + timedelta(days=3)
    after = store.update_prescription(
        rx, sessions_per_week=5, daily_cap=2, reason="doing well", author="dr_a", t_utc=t1
    )
    assert (after.sessions_per_week, after.daily_cap, after.updated_utc) == (5, 2, t1)
    paused = store.update_prescription(rx, status="paused", reason="flare-up", t_utc=t1)
    assert paused.status == "paused" and paused.ended_utc is None
    store.update_prescription(rx, sessions_per_week=5)  # no change: nothing logged
    moved = store.override_level(rx, 1, reason="too hard in clinic", author="dr_a", t_utc=t1)
    assert moved.current_level == 1
    kinds = [(c.kind, c.before, c.after, c.author) for c in store.prescription_changes(rx)]
    assert kinds[1:] == [
        (
            "dose",
            {"sessions_per_week": 3, "daily_cap": 1},
            {"sessions_per_week": 5, "daily_cap": 2},
            "dr_a",
        ),
        ("status", {"status": "active"}, {"status": "paused"}, "clinician"),
        ("level", {"current_level": 2}, {"current_level": 1}, "dr_a"),
    ]
    ended = store.update_prescription(rx, status="ended", t_utc=t1)
    assert ended.ended_utc == t1
    with pytest.raises(StoreError, match="has ended"):
        store.update_prescription(rx, daily_cap=1)
    with pytest.raises(StoreError, match="has ended"):
        store.override_level(rx, 2, reason="x")


def test_a_level_override_needs_a_reason_and_a_level_that_exists(store: Store) -> None:
    rx = prescribe(store)
    with pytest.raises(StoreError, match="reason"):
        store.override_level(rx, 3, reason="  ")
    with pytest.raises(StoreError, match=r"outside 1\.\.4"):
        store.override_level(rx, 5, reason="skip ahead")
    with pytest.raises(StoreError, match="no prescription 99"):
        store.override_level(99, 1, reason="x")


def test_practice_session_trials_and_ratings_are_read_back(store: Store) -> None:
    rx = prescribe(store)
    sid = practice_session(store, rx)
    trial = record_trial(store, sid, 1, metrics=[Metric("total_time_s", 20.5, "s")])
    store.add_practice_trial(trial, exercise="pegs", hand="right", set_index=1, rep_index=1)
    store.add_rating("P001", "pain", "before", 2, session_id=sid)
    store.add_rating("P001", "borg_cr10", "after", 3.5, session_id=sid)
    store.set_practice_sensations(sid, " tingling in the index ")
    store.end_session(sid, "complete")
    (info,) = store.practice_sessions(rx)
    assert (info.session_id, info.level, info.status, info.sensations) == (
        sid,
        2,
        "complete",
        "tingling in the index",
    )
    assert info.plan["blocks"][0]["exercise"] == "pegs"
    (t,) = info.trials
    assert (t.trial_id, t.exercise, t.hand, t.set_index, t.rep_index) == (
        trial,
        "pegs",
        "right",
        1,
        1,
    )
    assert t.metrics == (Metric("total_time_s", 20.5, "s"),)
    assert [(r.scale, r.value) for r in info.ratings] == [("pain", 2.0), ("borg_cr10", 3.5)]
    assert store.practice_sessions(rx, since_utc=T0 + timedelta(days=1)) == []


def test_practice_rows_are_checked(store: Store) -> None:
    rx = prescribe(store)
    assessment = new_session(store)
    with pytest.raises(StoreError, match="not a practice session"):
        store.add_practice_session(
            assessment, rx, level=1, program_version="1", program_hash="x", plan={}
        )
    other = new_session(store, "P002", kind="practice")
    with pytest.raises(StoreError, match="participant"):
        store.add_practice_session(
            other, rx, level=1, program_version="1", program_hash="x", plan={}
        )
    sid = practice_session(store, rx)
    with pytest.raises(StoreError, match="already"):
        store.add_practice_session(sid, rx, level=1, program_version="1", program_hash="x", plan={})
    with pytest.raises(StoreError, match="outside"):
        store.add_practice_session(
            new_session(store, kind="practice"),
            rx,
            level=9,
            program_version="1",
            program_hash="x",
            plan={},
        )
    trial = record_trial(store, sid, 1)
    with pytest.raises(StoreError, match="count from 1"):
        store.add_practice_trial(trial, exercise="pegs", hand="right", set_index=0, rep_index=1)
    with pytest.raises(StoreError, match="hand"):
        store.add_practice_trial(trial, exercise="pegs", hand="middle", set_index=1, rep_index=1)
    store.add_practice_trial(trial, exercise="pegs", hand="right", set_index=1, rep_index=1)
    with pytest.raises(StoreError, match="in a set already"):
        store.add_practice_trial(trial, exercise="pegs", hand="right", set_index=1, rep_index=2)
    plain = record_trial(store, assessment, 1)
    with pytest.raises(StoreError, match="not in a practice session"):
        store.add_practice_trial(plain, exercise="pegs", hand="right", set_index=1, rep_index=1)
    with pytest.raises(StoreError, match="not a practice session"):
        store.set_practice_sensations(assessment, "x")


def test_a_decision_moves_the_level_in_the_same_transaction(store: Store) -> None:
    rx = prescribe(store)
    sid = practice_session(store, rx)
    inputs = {"sessions": [{"session_id": sid, "criteria": [{"metric": "x", "met": True}]}]}
    d = store.add_decision(
        rx,
        kind="advance",
        level_before=2,
        level_after=3,
        reason="every goal met",
        inputs=inputs,
        rules={"advance_sessions": 3},
        rule_version="1",
        session_id=sid,
        t_utc=T0 + timedelta(hours=2),
    )
    assert store.prescription(rx).current_level == 3
    assert store.decisions(rx) == [d]
    assert (d.kind, d.inputs, d.rules, d.session_id) == (
        "advance",
        inputs,
        {"advance_sessions": 3},
        sid,
    )
    # A decision taken on a level the prescription has left is refused (a clinician moved it).
    with pytest.raises(StoreError, match="at level 3 now, not 2"):
        store.add_decision(
            rx,
            kind="regress",
            level_before=2,
            level_after=1,
            reason="r",
            inputs={},
            rules={},
            rule_version="1",
        )
    assert store.prescription(rx).current_level == 3
    with pytest.raises(StoreError, match="kind"):
        store.add_decision(
            rx,
            kind="jump",
            level_before=3,
            level_after=3,
            reason="r",
            inputs={},
            rules={},
            rule_version="1",
        )
    with pytest.raises(StoreError, match="JSON"):
        store.add_decision(
            rx,
            kind="stay",
            level_before=3,
            level_after=3,
            reason="r",
            inputs={"x": float("nan")},
            rules={},
            rule_version="1",
        )
    other_rx = store.add_prescription(
        "P002", "musician_timing", program_version="1", program_hash="y", levels=2
    ).id
    with pytest.raises(StoreError, match="not a practice session of prescription"):
        store.add_decision(
            other_rx,
            kind="stay",
            level_before=1,
            level_after=1,
            reason="r",
            inputs={},
            rules={},
            rule_version="1",
            session_id=sid,
        )
    hold = store.add_decision(
        rx,
        kind="hold",
        level_before=3,
        level_after=3,
        reason="cap",
        inputs={},
        rules={},
        rule_version="1",
    )
    assert hold.session_id is None and store.prescription(rx).current_level == 3


def test_deleting_a_participant_cascades_to_their_prescriptions(store: Store) -> None:
    rx = prescribe(store, code="P002")
    with store._write() as conn:
        conn.execute(text("DELETE FROM participants WHERE code = 'P002'"))
    with pytest.raises(StoreError, match="no prescription"):
        store.prescription(rx)
