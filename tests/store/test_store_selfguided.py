"""The store's self-guided tables (migration 0002): participants' PINs with lockout, assignments,
ratings, and session and trial notes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from station.store import PinLockedError, Store, StoreError
from station.store import schema as sc
from station.store.store import (
    PIN_BLOCK_AFTER,
    PIN_LOCK_AFTER,
    PIN_LOCKOUT_S,
    alembic_config,
    create_sqlite_engine,
)
from tests.store.test_store import new_session, record_trial

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data")
    s.add_participant("P001", 1960, "female", "right", "left")
    s.add_participant("P002")
    yield s
    s.close()


def test_an_existing_0001_database_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    engine = create_sqlite_engine(tmp_path / "station.sqlite")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            text(
                "INSERT INTO participants (code, notes, created_utc) "
                "VALUES ('OLD1', 'kept', '2025-01-01 10:00:00')"
            )
        )
        assert "ratings" not in inspect(conn).get_table_names()
    engine.dispose()
    with Store.open(tmp_path) as store:
        assert store.get_participant("OLD1").notes == "kept"
        assert store.self_guided_access("OLD1").has_pin is False
        store.set_participant_pin("OLD1", "2468")
        assert store.verify_participant_pin("OLD1", "2468")
        names = set(inspect(store.engine).get_table_names())
        assert {"self_guided", "assignments", "ratings", "session_notes"} <= names


def test_pin_is_stored_hashed_and_salted(store: Store) -> None:
    assert store.self_guided_access("P001").has_pin is False
    assert not store.verify_participant_pin("P001", "1234")  # no PIN yet: no sign-in
    store.set_participant_pin("P001", "1234")
    store.set_participant_pin("P002", "1234")
    with store.engine.connect() as conn:
        rows = conn.execute(select(sc.self_guided)).all()
    dump = json.dumps([[str(v) for v in r] for r in rows])
    assert "1234" not in dump
    assert len({r.pin_salt_hex for r in rows}) == 2 and len({r.pin_hash_hex for r in rows}) == 2
    assert rows[0].pin_kdf == {"kdf": "scrypt", "n": 16384, "r": 8, "p": 1}
    assert store.verify_participant_pin("P001", "1234")
    assert not store.verify_participant_pin("P001", "1235")
    assert not store.verify_participant_pin("P001", "abcd")
    assert not store.verify_participant_pin("NOBODY", "1234")
    access = store.self_guided_access("P001")
    assert access.has_pin and access.failures == 2 and not access.blocked


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", " 1234"])
def test_a_badly_formed_pin_is_refused(store: Store, pin: str) -> None:
    with pytest.raises(StoreError, match="4 to 8 digits"):
        store.set_participant_pin("P001", pin)


def test_lockout_after_wrong_pins_then_block_until_a_new_pin(store: Store) -> None:
    store.set_participant_pin("P001", "2580")
    now = T0
    for _ in range(PIN_LOCK_AFTER):
        assert not store.verify_participant_pin("P001", "0000", now_utc=now)
    with pytest.raises(PinLockedError, match="try again in 5 min") as locked:
        store.verify_participant_pin("P001", "2580", now_utc=now)  # even the right PIN
    assert locked.value.until_utc == now + timedelta(seconds=PIN_LOCKOUT_S)
    assert not locked.value.blocked
    now += timedelta(seconds=PIN_LOCKOUT_S - 1)
    with pytest.raises(PinLockedError):
        store.verify_participant_pin("P001", "2580", now_utc=now)
    now += timedelta(seconds=2)
    # the lock has passed, the count goes on: five more wrong PINs block the PIN
    for _ in range(PIN_BLOCK_AFTER - PIN_LOCK_AFTER):
        assert not store.verify_participant_pin("P001", "1111", now_utc=now)
    with pytest.raises(PinLockedError, match="blocked until a clinician") as blocked:
        store.verify_participant_pin("P001", "2580", now_utc=now + timedelta(days=30))
    assert blocked.value.blocked and store.self_guided_access("P001").blocked
    store.set_participant_pin("P001", "2580")  # a clinician sets it again
    assert store.verify_participant_pin("P001", "2580", now_utc=now)
    assert store.self_guided_access("P001").failures == 0


def test_a_right_pin_resets_the_count(store: Store) -> None:
    store.set_participant_pin("P001", "2580")
    for _ in range(PIN_LOCK_AFTER - 1):
        assert not store.verify_participant_pin("P001", "0000", now_utc=T0)
    assert store.verify_participant_pin("P001", "2580", now_utc=T0)
    assert store.self_guided_access("P001").failures == 0
    assert not store.verify_participant_pin("P001", "0000", now_utc=T0)  # no lock: 1 of 5


def test_the_count_survives_reopening(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        s.add_participant("P001")
        s.set_participant_pin("P001", "2580")
        for _ in range(PIN_LOCK_AFTER):
            s.verify_participant_pin("P001", "0000", now_utc=T0)
    with Store.open(tmp_path) as s, pytest.raises(PinLockedError):
        s.verify_participant_pin("P001", "2580", now_utc=T0 + timedelta(seconds=10))


def test_clear_pin_and_pain_stop_setting(store: Store) -> None:
    store.set_participant_pin("P001", "2580")
    store.clear_participant_pin("P001")
    assert not store.self_guided_access("P001").has_pin
    assert not store.verify_participant_pin("P001", "2580")
    assert store.self_guided_access("P001").pain_stop_at is None
    store.set_pain_stop_at("P001", 6)
    assert store.self_guided_access("P001").pain_stop_at == 6
    store.set_pain_stop_at("P001", None)
    assert store.self_guided_access("P001").pain_stop_at is None
    for bad in (0, 11, 5.5, True, "7"):
        with pytest.raises(StoreError, match="pain_stop_at"):
            store.set_pain_stop_at("P001", bad)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no participant"):
        store.set_participant_pin("NOBODY", "2580")


def test_assignments_round_trip_and_end(store: Store) -> None:
    a = store.add_assignment(
        "P001", "nine_hole_peg", sessions_per_week=3, rest_s=30, note="left hand slowly"
    )
    b = store.add_assignment("P001", "tapping", sessions_per_week=1)
    store.add_assignment("P002", "tapping")
    assert a.kind == "battery" and a.active and a.created_by == "clinician" and a.params == {}
    assert a.rest_s == 30.0 and a.note == "left hand slowly" and a.participant_code == "P001"
    assert [x.name for x in store.assignments("P001")] == ["nine_hole_peg", "tapping"]
    store.end_assignment(a.id)
    store.end_assignment(a.id)  # ending twice is harmless
    assert [x.id for x in store.assignments("P001")] == [b.id]
    everything = store.assignments("P001", active_only=False)
    assert [x.active for x in everything] == [False, True] and everything[0].ended_utc is not None
    with pytest.raises(StoreError, match="no assignment"):
        store.end_assignment(9999)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sessions_per_week": 0}, "sessions_per_week"),
        ({"sessions_per_week": 15}, "sessions_per_week"),
        ({"rest_s": -1}, "rest_s"),
        ({"rest_s": 601}, "rest_s"),
        ({"kind": "program"}, "kind"),  # the practice programs come later
        ({"name": "no spaces"}, "name"),
        ({"params": {"x": float("nan")}}, "params"),
    ],
)
def test_assignment_validation(store: Store, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    args = {"name": "tapping", **kwargs}
    name = args.pop("name")
    with pytest.raises(StoreError) as err:
        store.add_assignment("P001", name, **args)
    assert err.value.field == field


def test_ratings_before_and_after_a_session(store: Store) -> None:
    before = [
        store.add_rating("P001", "pain", "before", 3, t_utc=T0),
        store.add_rating("P001", "fatigue", "before", 2, t_utc=T0),
    ]
    assert before[0].session_id is None and before[0].value == 3.0
    session_id = new_session(store)
    store.attach_ratings([r.id for r in before], session_id)
    trial_id = record_trial(store, session_id, 1)
    store.add_rating("P001", "pain", "after", 4, session_id=session_id, t_utc=T0 + timedelta(1))
    store.add_rating("P001", "fatigue", "during", 5, trial_id=trial_id, t_utc=T0 + timedelta(1))
    mine = store.ratings("P001", session_id=session_id)
    assert [(r.scale, r.timing, r.value) for r in mine] == [
        ("pain", "before", 3.0),
        ("fatigue", "before", 2.0),
        ("pain", "after", 4.0),
    ]
    assert [r.value for r in store.ratings("P001", scale="pain")] == [3.0, 4.0]
    during = store.ratings("P001", scale="fatigue")[-1]
    assert during.trial_id == trial_id and during.session_id is None  # linked by its trial
    assert len(store.ratings("P001", since_utc=T0 + timedelta(hours=1))) == 2


def test_rating_validation(store: Store) -> None:
    for value in (-1, 11, 2.5, float("nan"), "3", True):
        with pytest.raises(StoreError, match="pain rating"):
            store.add_rating("P001", "pain", "before", value)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="scale"):
        store.add_rating("P001", "rpe_6_20", "after", 13)  # not a known scale
    for value in (-0.5, 10.5, float("nan")):
        with pytest.raises(StoreError, match="borg_cr10 rating"):
            store.add_rating("P001", "borg_cr10", "after", value)
    assert store.add_rating("P001", "borg_cr10", "after", 2.5).value == 2.5  # half steps
    with pytest.raises(StoreError, match="timing"):
        store.add_rating("P001", "pain", "later", 3)
    with pytest.raises(StoreError, match="aware UTC"):
        store.add_rating("P001", "pain", "before", 3, t_utc=datetime(2026, 1, 1))
    other = new_session(store, "P002")
    with pytest.raises(StoreError, match="another participant"):
        store.add_rating("P001", "pain", "after", 3, session_id=other)
    r = store.add_rating("P001", "pain", "before", 3)
    with pytest.raises(StoreError, match="participant"):
        store.attach_ratings([r.id], other)
    mine = new_session(store, "P001")
    store.attach_ratings([r.id], mine)
    with pytest.raises(StoreError, match="belongs to session"):
        store.attach_ratings([r.id], new_session(store, "P001"))


def test_session_and_trial_notes(store: Store) -> None:
    session_id = new_session(store)
    trial_id = record_trial(store, session_id, 1)
    store.end_session(session_id, "complete")
    n1 = store.add_session_note(session_id, "  wore a splint ", "clinician", t_utc=T0)
    n2 = store.add_trial_note(trial_id, "peg dropped, kept anyway", "clinician")
    assert n1.text == "wore a splint" and n1.trial_id is None
    assert n2.session_id == session_id and n2.trial_id == trial_id
    notes = store.session_notes(session_id)
    assert [(n.author, n.text, n.trial_id) for n in notes] == [
        ("clinician", "wore a splint", None),
        ("clinician", "peg dropped, kept anyway", trial_id),
    ]
    assert store.trial(trial_id).notes == "peg 4 was slow"  # its own notes are untouched
    with pytest.raises(StoreError, match="empty"):
        store.add_session_note(session_id, "   ", "clinician")
    with pytest.raises(StoreError, match="no session"):
        store.add_session_note(9999, "x", "clinician")
    with pytest.raises(StoreError, match="no trial"):
        store.add_trial_note(9999, "x", "clinician")
    with pytest.raises(StoreError, match="author"):
        store.add_session_note(session_id, "x", "")
