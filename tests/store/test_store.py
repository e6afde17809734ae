"""The store: schema and migrations, pragmas, every table's round trip, validation, atomicity,
recovery and exports."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select

from station.errors import StationError
from station.records import CueRecord, EventRecord, Metric, PadSamples, TrialData
from station.store import INTERRUPTED_FAULT, UNSET, Store, StoreError
from station.store import schema as sc
from station.store.export import CSV_COLUMNS, export_csv, export_json
from station.store.store import alembic_config, create_sqlite_engine

ROLES = {"hole1": "hole", "home": "pad:home", "button1": "button:index"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data")
    yield s
    s.close()


def pad(
    name: str, n: int, *, offset: int = 0, gain: float = 1, gaps: list[dict[str, Any]] | None = None
) -> PadSamples:
    t_ns = 1_000_000_000 + offset + np.arange(n, dtype=np.int64) * 1_162_790
    code = ((np.arange(n) * 37) % 40_000 - 7_000).astype(np.int16)
    return PadSamples(name, t_ns, code, gain, 3.3, 10_000.0, 25_000.0, -0.05, True, gaps or [])


def trial_data(
    *,
    protocol: str = "nine_hole_peg",
    hand: str = "right",
    practice: bool = False,
    status: str = "complete",
    n_samples: int = 500,
) -> TrialData:
    events = [
        EventRecord(
            1_000_100_000 + i * 5_000_000, "hole1" if i % 3 else "home", i % 2, i % 4, 100 + i
        )
        for i in range(50)
    ]
    cues = [
        CueRecord(
            "led1", "led", 1_000_000_000, 1_200_000_000, 1_000_050_000, 1_200_040_000, 1_000_060_000
        ),
        CueRecord("buzzer", "tone", 1_500_000_000, 1_600_000_000),
    ]
    return TrialData(
        protocol=protocol,
        version="1.0",
        params={"limit_s": 300.0, "holes": 9, "rule": "lift-off", "nested": {"a": [1, 2]}},
        hand=hand,
        practice=practice,
        start_t_ns=1_000_000_000,
        end_t_ns=21_000_000_000,
        go_t_ns=1_000_050_000,
        events=events,
        samples={
            "home": pad(
                "home",
                n_samples,
                gaps=[{"reason": "i2c_error", "count": 2, "t_first_ns": 5, "t_last_ns": 9}],
            ),
            "dish": pad("dish", n_samples // 2, offset=500, gain=2 / 3),
        },
        cues=cues,
        roles=ROLES,
        status=status,
        notes="peg 4 was slow",
    )


METRICS = [
    Metric("total_time", 18.25, "s"),
    Metric("placement_time", 9.5, "s"),
    Metric("peg_interval_cv", None, "%", "fewer than 3 intervals"),
    Metric("reaction_time", 0.312, "s"),
]


def new_session(store: Store, code: str = "P001", **kwargs: Any) -> int:
    if store.get_participant(code) is None:
        store.add_participant(code, 1960, "female", "right", "left")
    return store.start_session(
        code,
        "standard",
        "sha256:abc",
        "station-1",
        {"config_path": "/etc/station.toml", "calibrations": {"home": True}},
        123_456_789,
        1_700_000_000_000_000_000,
        "0.1.0",
        "sim",
        "gpio-driver",
        **kwargs,
    )


def record_trial(
    store: Store,
    session_id: int,
    seq: int,
    data: TrialData | None = None,
    metrics: list[Metric] | None = None,
    **kwargs: Any,
) -> int:
    data = data or trial_data(**kwargs)
    trial_id = store.start_trial(
        session_id,
        seq,
        data.protocol,
        data.version,
        "sha256:proto",
        data.hand,
        data.practice,
        seq + 1,
        data.params,
        data.roles,
        data.start_t_ns,
    )
    store.finish_trial(
        trial_id,
        data,
        METRICS if metrics is None else metrics,
        {"sim_seed": 7},
        ["pad dish: 2 late samples"],
        [
            {
                "channel": "hole1",
                "reason": "missed_edge",
                "count": 1,
                "t_first_ns": 1,
                "t_last_ns": 2,
            }
        ],
    )
    return trial_id


def row_counts(store: Store, trial_id: int) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t).where(t.c.trial_id == trial_id))
            for t in (sc.events, sc.samples, sc.cues, sc.metrics)
        }


# -- schema, migrations, pragmas ----------------------------------------------------------------


def test_pragmas_are_set_on_every_connection(store: Store, tmp_path: Path) -> None:
    for engine in (store.engine, create_sqlite_engine(tmp_path / "other.sqlite")):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        engine.dispose()
    assert store.path == tmp_path / "data" / "station.sqlite" and store.path.exists()


def test_migrations_create_the_schema_and_match_the_metadata(store: Store) -> None:
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert tables == {t.name for t in sc.metadata.sorted_tables} | {"alembic_version"}
        context = MigrationContext.configure(conn)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert context.get_current_revision() == head == "0003"
        assert compare_metadata(context, sc.metadata) == []
        # Indexes that keep the history fast exist.
        index_names = {i["name"] for i in inspect(conn).get_indexes("sessions")}
        assert "ix_sessions_participant_id_started_utc" in index_names


def test_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    engine = create_sqlite_engine(tmp_path / "m.sqlite")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        command.downgrade(alembic_config(conn), "base")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        command.upgrade(alembic_config(conn), "head")
        assert compare_metadata(MigrationContext.configure(conn), sc.metadata) == []
    engine.dispose()


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    with Store.open(tmp_path) as first:
        first.add_participant("P001")
    with Store.open(tmp_path) as again:
        assert again.get_participant("P001") is not None
        assert again.integrity_check() == "ok"


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "station.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(tmp_path)


# -- participants -------------------------------------------------------------------------------


def test_participant_round_trip_update_and_search(store: Store) -> None:
    before = datetime.now(UTC)
    p = store.add_participant("P_001", 1975, "male", "left", "both", "after stroke")
    assert (p.code, p.birth_year, p.sex, p.dominant_hand, p.affected_side, p.notes) == (
        "P_001",
        1975,
        "male",
        "left",
        "both",
        "after stroke",
    )
    assert p.created_utc.tzinfo is UTC and before <= p.created_utc <= datetime.now(UTC)
    assert store.get_participant("P_001") == p
    assert store.get_participant("nobody") is None

    q = store.update_participant("P_001", birth_year=None, notes="second visit")
    assert (q.birth_year, q.notes, q.sex, q.dominant_hand) == (None, "second visit", "male", "left")
    assert store.update_participant("P_001", sex=UNSET) == q

    store.add_participant("PX01")
    store.add_participant("Q-7", notes="musician")
    assert [x.code for x in store.list_participants()] == ["PX01", "P_001", "Q-7"]
    assert [x.code for x in store.list_participants(search="p_")] == ["P_001"]  # "_" is literal
    assert [x.code for x in store.list_participants(search="MUSIC")] == ["Q-7"]
    assert [x.code for x in store.list_participants(limit=1, offset=1)] == ["P_001"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "Jane Doe"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "x" * 33}, "code"),
        ({"birth_year": 1899}, "birth_year"),
        ({"birth_year": datetime.now(UTC).year + 1}, "birth_year"),
        ({"birth_year": "1980"}, "birth_year"),
        ({"sex": "f"}, "sex"),
        ({"dominant_hand": "both"}, "dominant_hand"),
        ({"affected_side": "up"}, "affected_side"),
    ],
)
def test_participant_validation_names_the_field(
    store: Store, kwargs: dict[str, Any], field: str
) -> None:
    args = {"code": "P001", **kwargs}
    with pytest.raises(StoreError) as err:
        store.add_participant(**args)
    assert err.value.field == field
    assert field.replace("code", "participant code") in str(err.value)
    assert isinstance(err.value, StationError)
    assert store.list_participants() == []


def test_duplicate_and_unknown_participants_are_refused(store: Store) -> None:
    store.add_participant("P001")
    with pytest.raises(StoreError, match="participant code: 'P001' already exists"):
        store.add_participant("P001")
    with pytest.raises(StoreError, match="no participant 'P404'"):
        store.update_participant("P404", notes="x")
    with pytest.raises(StoreError, match="no participant 'P404'"):
        store.start_session("P404", "b", "", "s", {}, 0, 0, "v", "sim", "t")
    with pytest.raises(StoreError, match="no participant"):
        store.participant_sessions("P404")


# -- sessions, trials and their raw data ----------------------------------------------------------


def test_session_round_trip_and_end(store: Store) -> None:
    started = datetime(2025, 3, 4, 10, 15, tzinfo=UTC)
    sid = new_session(store, notes="calm room", started_utc=started)
    s = store.session(sid)
    assert (s.participant_code, s.battery_name, s.battery_hash, s.station_id, s.status) == (
        "P001",
        "standard",
        "sha256:abc",
        "station-1",
        "running",
    )
    assert (s.started_utc, s.ended_utc, s.notes) == (started, None, "calm room")
    assert (s.software_version, s.hardware_backend, s.timestamp_source) == (
        "0.1.0",
        "sim",
        "gpio-driver",
    )
    assert (s.anchor_mono_ns, s.anchor_wall_ns) == (123_456_789, 1_700_000_000_000_000_000)
    assert s.provenance == {"config_path": "/etc/station.toml", "calibrations": {"home": True}}

    store.add_session_metrics(
        sid, [("nine_hole_peg", "right", Metric("mean_total_time", 19.5, "s"))]
    )
    store.add_session_metrics(
        sid, [("nine_hole_peg", "left", Metric("mean_total_time", None, "s", "no valid trial"))]
    )
    assert [(m.protocol, m.hand, m.metric) for m in store.session(sid).metrics] == [
        ("nine_hole_peg", "right", Metric("mean_total_time", 19.5, "s")),
        ("nine_hole_peg", "left", Metric("mean_total_time", None, "s", "no valid trial")),
    ]
    store.replace_session_metrics(sid, [("tapping", "both", Metric("taps", 52.0, "1"))])
    assert [m.metric.name for m in store.session(sid).metrics] == ["taps"]

    running = store.start_trial(sid, 0, "tapping", "1", "h", "right", False, 1, {}, {}, 0)
    store.end_session(sid, "aborted")
    ended = store.session(sid)
    assert ended.status == "aborted" and ended.ended_utc is not None and ended.ended_utc >= started
    assert store.trial(running).status == "incomplete"
    with pytest.raises(StoreError, match="already ended"):
        store.end_session(sid, "complete")
    with pytest.raises(StoreError, match="has ended"):
        store.start_trial(sid, 1, "tapping", "1", "h", "right", False, 1, {}, {}, 0)
    with pytest.raises(StoreError) as err:
        store.end_session(new_session(store), "done")
    assert err.value.field == "status"
    with pytest.raises(StoreError, match="no session 999"):
        store.session(999)
    # a run on a virtual clock gives its own end time; a naive one is refused
    given = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
    other = new_session(store)
    with pytest.raises(StoreError, match="ended_utc"):
        store.end_session(other, "complete", ended_utc=datetime(2026, 3, 4, 10, 30))
    store.end_session(other, "complete", ended_utc=given)
    assert store.session(other).ended_utc == given


def test_trial_round_trip_is_exact(store: Store) -> None:
    sid = new_session(store)
    data = trial_data()
    tid = store.start_trial(
        sid,
        0,
        data.protocol,
        data.version,
        "sha256:proto",
        "right",
        False,
        1,
        {"old": True},
        {},
        5,
        provenance={"from_start": 1},
    )
    info = store.trial(tid)
    assert (info.status, info.params, info.start_t_ns, info.end_t_ns) == (
        "running",
        {"old": True},
        5,
        None,
    )
    empty = store.trial_data(tid)
    assert (empty.events, empty.samples, empty.cues, empty.end_t_ns) == ([], {}, [], 5)

    store.finish_trial(
        tid, data, METRICS, {"sim_seed": 7}, ["a fault"], [{"channel": "hole1", "count": 1}]
    )
    got = store.trial_data(tid)
    assert got.events == data.events
    assert got.cues == data.cues
    assert list(got.samples) == ["home", "dish"]
    for name, want in data.samples.items():
        mine = got.samples[name]
        assert mine.t_ns.dtype == np.int64 and mine.code.dtype == np.int16
        assert np.array_equal(mine.t_ns, want.t_ns) and np.array_equal(mine.code, want.code)
        assert mine.t_ns.flags.writeable
        assert (
            mine.gain,
            mine.supply_v,
            mine.divider_ohm,
            mine.slope_n_per_s,
            mine.offset_n,
            mine.calibrated,
            mine.gaps,
        ) == (
            want.gain,
            want.supply_v,
            want.divider_ohm,
            want.slope_n_per_s,
            want.offset_n,
            want.calibrated,
            want.gaps,
        )
        assert np.array_equal(mine.force_n(), want.force_n())
    for name in (
        "protocol",
        "version",
        "params",
        "hand",
        "practice",
        "start_t_ns",
        "end_t_ns",
        "go_t_ns",
        "roles",
        "status",
        "notes",
    ):
        assert getattr(got, name) == getattr(data, name), name

    info = store.trial(tid)
    assert info.metrics == tuple(METRICS)
    assert info.provenance == {"from_start": 1, "sim_seed": 7}
    assert (info.faults, info.gaps, info.protocol_hash, info.trial_index, info.seq) == (
        ["a fault"],
        [{"channel": "hole1", "count": 1}],
        "sha256:proto",
        1,
        0,
    )
    assert store.session_trials(sid) == [info]


def test_long_recordings_are_chunked_and_empty_pads_kept(store: Store) -> None:
    sid = new_session(store)
    data = trial_data(n_samples=sc.SAMPLES_PER_CHUNK * 2 + 17)
    data.samples["idle"] = PadSamples(
        "idle", np.zeros(0, np.int64), np.zeros(0, np.int16), 1, 3.3, 1e4, 2.5e4, 0.0, False
    )
    tid = record_trial(store, sid, 0, data)
    with store.engine.connect() as conn:
        chunks = conn.execute(
            select(sc.samples.c.pad, sc.samples.c.chunk, sc.samples.c.n).order_by(sc.samples.c.id)
        ).all()
    assert [(r.pad, r.chunk) for r in chunks] == [
        ("home", 0),
        ("home", 1),
        ("home", 2),
        ("dish", 0),
        ("dish", 1),
        ("idle", 0),
    ]
    assert sum(r.n for r in chunks if r.pad == "home") == sc.SAMPLES_PER_CHUNK * 2 + 17
    got = store.trial_data(tid)
    assert list(got.samples) == ["home", "dish", "idle"]
    for name, want in data.samples.items():
        assert np.array_equal(got.samples[name].t_ns, want.t_ns)
        assert np.array_equal(got.samples[name].code, want.code)
    assert got.samples["home"].gaps == data.samples["home"].gaps


def test_finish_trial_is_atomic(store: Store) -> None:
    sid = new_session(store)
    data = trial_data()
    tid = store.start_trial(
        sid, 0, data.protocol, data.version, "h", "right", False, 1, data.params, ROLES, 0
    )

    # Events are inserted first; the second pad's codes cannot become int16 -> all rolled back.
    bad = trial_data()
    bad.samples["dish"].code = np.array(["a", "b"], dtype=object)
    with pytest.raises(StoreError, match="samples of pad 'dish': code"):
        store.finish_trial(tid, bad, METRICS, {}, [], [])
    assert row_counts(store, tid) == {"events": 0, "samples": 0, "cues": 0, "metrics": 0}
    assert store.trial(tid).status == "running"

    # Out of range for int16, and a metric that is not a number (written last): same.
    bad.samples["dish"] = pad("dish", 10)
    bad.samples["dish"].code = np.array([1, 40_000])
    with pytest.raises(StoreError, match="outside the range"):
        store.finish_trial(tid, bad, METRICS, {}, [], [])
    with pytest.raises(StoreError, match="'total_time': value 'fast' is not a number"):
        store.finish_trial(tid, data, [Metric("total_time", "fast", "s")], {}, [], [])  # type: ignore[arg-type]
    assert row_counts(store, tid) == {"events": 0, "samples": 0, "cues": 0, "metrics": 0}
    assert store.trial(tid).status == "running"

    store.finish_trial(tid, data, METRICS, {}, [], [])
    assert row_counts(store, tid) == {"events": 50, "samples": 2, "cues": 2, "metrics": 4}
    with pytest.raises(StoreError, match="already finished"):
        store.finish_trial(tid, data, METRICS, {}, [], [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protocol": "tapping"}, "protocol: trial .* was started with 'nine_hole_peg'"),
        ({"hand": "left"}, "hand: trial"),
        ({"practice": True}, "practice: trial"),
        ({"status": "running"}, "status: 'running' is not one of"),
        ({"status": "invalid"}, "invalid_reason: an invalid trial needs a reason"),
        ({"params": {"x": float("nan")}}, "params: cannot be stored as JSON"),
        ({"params": {"x": object()}}, "params: cannot be stored as JSON"),
    ],
)
def test_finish_trial_refuses_inconsistent_data(
    store: Store, change: dict[str, Any], message: str
) -> None:
    sid = new_session(store)
    tid = store.start_trial(sid, 0, "nine_hole_peg", "1.0", "h", "right", False, 1, {}, ROLES, 0)
    data = trial_data()
    for key, value in change.items():
        setattr(data, key, value)
    with pytest.raises(StoreError, match=message):
        store.finish_trial(tid, data, METRICS, {}, [], [])
    assert store.trial(tid).status == "running"


def test_trial_start_validation(store: Store) -> None:
    sid = new_session(store)
    with pytest.raises(StoreError) as err:
        store.start_trial(sid, 0, "nine_hole_peg", "1", "h", "middle", False, 1, {}, {}, 0)
    assert err.value.field == "hand"
    with pytest.raises(StoreError, match="params: cannot be stored as JSON"):
        store.start_trial(
            sid, 0, "nine_hole_peg", "1", "h", "right", False, 1, {"x": float("inf")}, {}, 0
        )
    store.start_trial(
        sid, 0, "nine_hole_peg", "1", "h", "right", False, 1, {"n": np.int64(3)}, {}, 0
    )
    with pytest.raises(StoreError, match=r"seq: session \d+ already has a trial 0"):
        store.start_trial(sid, 0, "nine_hole_peg", "1", "h", "right", False, 2, {}, {}, 0)
    with pytest.raises(StoreError, match="no session 77"):
        store.start_trial(77, 0, "nine_hole_peg", "1", "h", "right", False, 1, {}, {}, 0)


def test_invalid_trials_and_rescoring(store: Store) -> None:
    sid = new_session(store)
    tid = record_trial(store, sid, 0)
    store.mark_invalid(tid, "dropped peg")
    info = store.trial(tid)
    assert (info.status, info.invalid_reason) == ("invalid", "dropped peg")
    with pytest.raises(StoreError) as err:
        store.mark_invalid(tid, "")
    assert err.value.field == "reason"

    store.replace_metrics(
        tid, [Metric("total_time", 18.0, "s"), Metric("nan_metric", float("nan"), "s")]
    )
    assert store.trial(tid).metrics == (
        Metric("total_time", 18.0, "s"),
        Metric("nan_metric", None, "s"),
    )

    invalid = store.start_trial(
        sid, 1, "nine_hole_peg", "1.0", "h", "right", False, 2, {}, ROLES, 0
    )
    with pytest.raises(StoreError, match="still running"):
        store.mark_invalid(invalid, "dropped peg")
    with pytest.raises(StoreError, match="still running"):
        store.replace_metrics(invalid, [])
    store.finish_trial(
        invalid, trial_data(status="invalid"), [], {}, [], [], invalid_reason="participant stood up"
    )
    assert (store.trial(invalid).status, store.trial(invalid).invalid_reason) == (
        "invalid",
        "participant stood up",
    )


def test_history_and_iteration(store: Store) -> None:
    first = new_session(store, started_utc=datetime(2025, 1, 1, tzinfo=UTC))
    record_trial(store, first, 0, practice=True)
    record_trial(store, first, 1)
    record_trial(store, first, 2, protocol="tapping", hand="left")
    store.add_session_metrics(
        first,
        [
            ("nine_hole_peg", "right", Metric("mean_total_time", 18.25, "s")),
            ("tapping", "left", Metric("mean_taps", 50.0, "1")),
        ],
    )
    store.end_session(first, "complete")
    second = new_session(store, started_utc=datetime(2025, 2, 1, tzinfo=UTC))
    record_trial(store, second, 0, protocol="tapping", hand="left")
    other = new_session(store, "P002")
    record_trial(store, other, 0)

    history = store.participant_sessions("P001")
    assert [s.id for s in history] == [first, second]
    assert [m.metric.name for m in history[0].metrics] == ["mean_total_time", "mean_taps"]
    assert history[0].trials == ()
    nhpt = store.participant_sessions("P001", "nine_hole_peg")
    assert [s.id for s in nhpt] == [first]
    assert [m.metric.name for m in nhpt[0].metrics] == ["mean_total_time"]
    detailed = store.participant_sessions("P001", "tapping", with_trials=True)
    assert [s.id for s in detailed] == [first, second]
    assert [(t.session_id, t.seq, t.protocol) for s in detailed for t in s.trials] == [
        (first, 2, "tapping"),
        (second, 0, "tapping"),
    ]
    assert all(t.metrics == tuple(METRICS) for s in detailed for t in s.trials)

    assert [(t.session_id, t.seq) for t in store.iter_trials()] == [
        (first, 0),
        (first, 1),
        (first, 2),
        (second, 0),
        (other, 0),
    ]
    assert [
        t.seq
        for t in store.iter_trials(
            participant_code="P001", include_practice=False, protocol="nine_hole_peg"
        )
    ] == [1]
    assert [t.session_id for t in store.iter_trials(session_id=second)] == [second]
    assert list(store.iter_trials(statuses=["invalid"])) == []
    with_data = list(store.iter_trials(session_id=other, with_data=True))
    assert with_data[0].data is not None and with_data[0].data.events == trial_data().events

    # Writing while iterating (rescoring) does not deadlock.
    for info in store.iter_trials(participant_code="P001"):
        store.replace_metrics(info.id, [Metric("rescored", 1.0, "1")])
    assert {t.metrics for t in store.iter_trials(participant_code="P001")} == {
        (Metric("rescored", 1.0, "1"),)
    }


def test_the_store_can_be_used_from_another_thread(store: Store) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            sid = new_session(store)
            record_trial(store, sid, 0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert errors == []
    assert len(store.participant_sessions("P001")) == 1


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    s = Store.open(tmp_path)
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.list_participants()


# -- crash recovery -------------------------------------------------------------------------------


def test_recovery_marks_running_sessions_and_trials_incomplete(tmp_path: Path) -> None:
    with Store.open(tmp_path) as s:
        sid = new_session(s)
        done = record_trial(s, sid, 0)
        interrupted = s.start_trial(
            sid, 1, "nine_hole_peg", "1.0", "h", "left", True, 1, {}, ROLES, 0
        )
        idle = new_session(s, "P002")
        ended = new_session(s, "P003")
        s.end_session(ended, "complete")
        # No finish_trial / end_session: as if the process had been killed here.

    with Store.open(tmp_path) as s:
        assert [(i.session_id, i.trial_id) for i in s.recovered] == [
            (sid, interrupted),
            (idle, None),
        ]
        trial_note, idle_note = (i.describe() for i in s.recovered)
        assert (
            f"session {sid} of participant P001" in trial_note
            and "nine_hole_peg (left hand, practice trial 1" in trial_note
        )
        assert f"trial id {interrupted}" in trial_note
        assert "between trials" in idle_note and "P002" in idle_note
        t = s.trial(interrupted)
        assert t.status == "incomplete" and INTERRUPTED_FAULT in t.faults
        assert s.trial(done).status == "complete"
        assert [s.session(x).status for x in (sid, idle, ended)] == [
            "incomplete",
            "incomplete",
            "complete",
        ]

    with Store.open(tmp_path) as s:
        assert s.recovered == []


def test_one_recording_process_at_a_time(tmp_path: Path) -> None:
    with Store.open(tmp_path) as writer:
        sid = new_session(writer)
        tid = writer.start_trial(sid, 0, "tapping", "1", "h", "right", False, 1, {}, {}, 0)
        with pytest.raises(StoreError, match="another station process is recording"):
            Store.open(tmp_path)
        with Store.open(tmp_path, recover=False) as reader:
            assert reader.recovered == []
            assert reader.trial(tid).status == "running"  # a live trial is left alone
    with Store.open(tmp_path) as s:
        assert [i.trial_id for i in s.recovered] == [tid]


# -- exports --------------------------------------------------------------------------------------


@pytest.fixture
def small_store(store: Store) -> tuple[Store, dict[str, int]]:
    sid = new_session(store, started_utc=datetime(2025, 3, 4, 10, 15, 0, 123_000, tzinfo=UTC))
    practice = record_trial(store, sid, 0, practice=True, metrics=[Metric("total_time", 25.5, "s")])
    real = record_trial(
        store,
        sid,
        1,
        metrics=[Metric("total_time", 18.25, "s"), Metric("cv", None, "%", "too few")],
    )
    cut = store.start_trial(sid, 2, "tapping", "2", "h", "left", False, 1, {}, {}, 0)
    store.add_session_metrics(
        sid, [("nine_hole_peg", "right", Metric("mean_total_time", 18.25, "s"))]
    )
    store.end_session(sid, "incomplete")
    store.add_participant("P000")  # no sessions
    return store, {"session": sid, "practice": practice, "real": real, "cut": cut}


def test_export_csv(small_store: tuple[Store, dict[str, int]]) -> None:
    store, ids = small_store
    out = io.StringIO()
    assert export_csv(store, out) == 5
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    sid, when = str(ids["session"]), "2025-03-04T10:15:00.123Z"
    assert rows[1:] == [
        [
            "P001",
            sid,
            when,
            "trial",
            str(ids["practice"]),
            "nine_hole_peg",
            "1.0",
            "right",
            "true",
            "1",
            "complete",
            "total_time",
            "25.5",
            "s",
            "",
            "incomplete",
            "sim",
            "",
        ],
        [
            "P001",
            sid,
            when,
            "trial",
            str(ids["real"]),
            "nine_hole_peg",
            "1.0",
            "right",
            "false",
            "2",
            "complete",
            "total_time",
            "18.25",
            "s",
            "",
            "incomplete",
            "sim",
            "",
        ],
        [
            "P001",
            sid,
            when,
            "trial",
            str(ids["real"]),
            "nine_hole_peg",
            "1.0",
            "right",
            "false",
            "2",
            "complete",
            "cv",
            "",
            "%",
            "too few",
            "incomplete",
            "sim",
            "",
        ],
        [
            "P001",
            sid,
            when,
            "trial",
            str(ids["cut"]),
            "tapping",
            "2",
            "left",
            "false",
            "1",
            "incomplete",
            "",
            "",
            "",
            "",
            "incomplete",
            "sim",
            "",
        ],
        [
            "P001",
            sid,
            when,
            "session",
            "",
            "nine_hole_peg",
            "",
            "right",
            "",
            "",
            "",
            "mean_total_time",
            "18.25",
            "s",
            "",
            "incomplete",
            "sim",
            "",
        ],
    ]
    out = io.StringIO()
    assert (
        export_csv(store, out, participant_code="P001", protocol="tapping", include_practice=False)
        == 1
    )
    with pytest.raises(StoreError, match="no participant"):
        export_csv(store, io.StringIO(), participant_code="P404")


@pytest.mark.parametrize("indent", [None, 2])
def test_export_json(small_store: tuple[Store, dict[str, int]], indent: int | None) -> None:
    store, ids = small_store
    out = io.StringIO()
    assert export_json(store, out, indent=indent) == 3
    doc = json.loads(out.getvalue())
    assert (doc["format"], doc["format_version"], doc["raw"]) == (
        "dexterity-station-export",
        1,
        False,
    )
    assert [p["code"] for p in doc["participants"]] == ["P000", "P001"]
    p = doc["participants"][1]
    assert (p["birth_year"], p["sex"], p["dominant_hand"], p["affected_side"]) == (
        1960,
        "female",
        "right",
        "left",
    )
    (session,) = p["sessions"]
    assert (session["id"], session["status"], session["started_utc"]) == (
        ids["session"],
        "incomplete",
        "2025-03-04T10:15:00.123Z",
    )
    assert session["metrics"] == [
        {
            "protocol": "nine_hole_peg",
            "hand": "right",
            "name": "mean_total_time",
            "value": 18.25,
            "unit": "s",
            "detail": "",
        }
    ]
    assert [t["id"] for t in session["trials"]] == [ids["practice"], ids["real"], ids["cut"]]
    real = session["trials"][1]
    assert real["metrics"] == [
        {"name": "total_time", "value": 18.25, "unit": "s", "detail": ""},
        {"name": "cv", "value": None, "unit": "%", "detail": "too few"},
    ]
    assert real["params"] == trial_data().params and real["go_t_ns"] == 1_000_050_000
    assert "events" not in real and "samples" not in real

    out = io.StringIO()
    assert export_json(store, out, participant_code="P001", raw=True, indent=indent) == 3
    doc = json.loads(out.getvalue())
    real = doc["participants"][0]["sessions"][0]["trials"][1]
    want = trial_data()
    assert real["events"][0] == {
        "t_ns": want.events[0].t_ns,
        "channel": "home",
        "level": 0,
        "flags": 0,
        "seq": 100,
    }
    assert len(real["events"]) == 50 and len(real["cues"]) == 2
    assert [s["pad"] for s in real["samples"]] == ["home", "dish"]
    assert real["samples"][0]["t_ns"] == want.samples["home"].t_ns.tolist()
    assert real["samples"][1]["code"] == want.samples["dish"].code.tolist()
    assert real["samples"][1]["gain"] == 2 / 3
    assert doc["participants"][0]["sessions"][0]["trials"][2]["events"] == []


def test_a_new_data_folder_is_the_owners_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    Store.open(data_dir).close()
    assert data_dir.stat().st_mode & 0o777 == 0o700
