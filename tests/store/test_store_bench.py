"""Store benchmarks (issue 3, point 7). Run once as tests by default (``--benchmark-disable`` in
pyproject); measure with ``pytest tests/store/test_store_bench.py --benchmark-enable``.

- storing a 60 s trial of 4 pads at 860 samples/s plus a few hundred events, cues and metrics
  with ``finish_trial`` (one durable transaction): target < 200 ms;
- loading a participant's history (sessions with their summary metrics) from a store with
  10,000 sessions: target < 50 ms. The store has 200 participants; the one loaded trained often
  and has 500 sessions, the others ~48 each; every session has 4 trials with 5 metrics each and
  6 summary metrics (40,000 trials, 200,000 trial metrics, 60,000 summary metrics).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from crash_writer import make_metrics, make_trial_data, trial_params
from sqlalchemy import Connection, Table

from station.store import Store
from station.store import schema as sc
from station.store.store import dumps_json

N_SESSIONS = 10_000
N_PARTICIPANTS = 200
HEAVY_SESSIONS = 500  # sessions of the participant whose history is loaded
TRIALS_PER_SESSION = 4
METRICS_PER_TRIAL = 5
SESSION_METRICS = 6
PROTOCOLS = ("nine_hole_peg", "finger_tapping")
HANDS = ("right", "left")


def test_bench_store_60s_trial(benchmark: Any, tmp_path: Path) -> None:
    params = trial_params(seed=60, duration_s=60.0)
    params["n_events"] = 300
    data = make_trial_data(params)
    metrics = make_metrics(params)
    assert sum(len(p.t_ns) for p in data.samples.values()) == 4 * 60 * 860
    with Store.open(tmp_path / "data") as store:
        store.add_participant("P001")
        sid = store.start_session("P001", "standard", "h", "s", {}, 0, 0, "0.1.0", "sim", "virtual")
        seqs = iter(range(1_000_000))

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            seq = next(seqs)
            tid = store.start_trial(
                sid,
                seq,
                data.protocol,
                data.version,
                "h",
                data.hand,
                data.practice,
                seq,
                data.params,
                data.roles,
                0,
            )
            return (tid, data, metrics, {"bench": True}, [], []), {}

        benchmark.pedantic(store.finish_trial, setup=setup, rounds=20, warmup_rounds=1)
        last = max(t.id for t in store.session_trials(sid))
        assert store.trial(last).status == "complete"
        assert store.trial_data(last).samples["index"].t_ns.size == 60 * 860


def _utc_text(t: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DATETIME binds it."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _bulk_insert(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """executemany on the driver with values as SQLite stores them (UTC text, JSON text, 0/1),
    in column order: SQLAlchemy's per-row parameter processing would take seconds here."""
    names = list(table.c.keys())
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    conn.exec_driver_sql(sql, rows)


@pytest.fixture(scope="session")
def history_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """10,000 sessions built with bulk inserts in one transaction."""
    store = Store.open(tmp_path_factory.mktemp("history") / "data")
    created = datetime(2024, 1, 1, tzinfo=UTC)
    participants = [
        (
            i + 1,
            f"P{i:04d}",
            1940 + i % 60,
            ("female", "male")[i % 2],
            "right",
            "left",
            "",
            _utc_text(created),
        )
        for i in range(N_PARTICIPANTS)
    ]
    provenance = dumps_json(
        {"config": "/etc/dexterity-station/station.toml", "calibrations": {"index": "2024-01-01"}}
    )
    params, roles = dumps_json({"limit_s": 300.0}), dumps_json({"hole1": "hole"})
    sessions, trials, metrics, session_metrics = [], [], [], []
    for sid in range(1, N_SESSIONS + 1):
        # The first HEAVY_SESSIONS sessions are P0000's, the rest round-robin over the others.
        pid = 1 if sid <= HEAVY_SESSIONS else 2 + sid % (N_PARTICIPANTS - 1)
        started = created + timedelta(hours=sid)
        ended = started + timedelta(minutes=40)
        anchor_mono_ns, anchor_wall_ns = sid * 10**12, 1_700_000_000 * 10**9 + sid * 10**12
        sessions.append(
            (
                sid,
                pid,
                "standard",
                "sha256:0",
                "station-1",
                "complete",
                _utc_text(started),
                _utc_text(ended),
                "0.1.0",
                "sim",
                "gpio-driver",
                anchor_mono_ns,
                anchor_wall_ns,
                provenance,
                "",
                "assessment",
            )
        )
        session_metrics.extend(
            (sid, k, PROTOCOLS[k % 2], HANDS[k // 2 % 2], f"mean_{k}", 20.0 + k, "s", "")
            for k in range(SESSION_METRICS)
        )
        for seq in range(TRIALS_PER_SESSION):
            tid = (sid - 1) * TRIALS_PER_SESSION + seq + 1
            protocol, hand = PROTOCOLS[seq // 2], HANDS[seq % 2]
            trials.append(
                (
                    tid,
                    sid,
                    seq,
                    protocol,
                    "1",
                    "sha256:p",
                    hand,
                    0,
                    1,
                    "complete",
                    None,
                    params,
                    0,
                    20 * 10**9,
                    10**6,
                    roles,
                    "{}",
                    "[]",
                    "[]",
                    "",
                )
            )
            metrics.extend((tid, k, f"m{k}", float(k), "s", "") for k in range(METRICS_PER_TRIAL))
    with store.engine.begin() as conn:
        for table, rows in (
            (sc.participants, participants),
            (sc.sessions, sessions),
            (sc.trials, trials),
            (sc.metrics, metrics),
            (sc.session_metrics, session_metrics),
        ):
            _bulk_insert(conn, table, rows)
    yield store
    store.close()


def test_bench_participant_history(benchmark: Any, history_store: Store) -> None:
    history = benchmark(history_store.participant_sessions, "P0000")
    assert len(history) == HEAVY_SESSIONS
    assert all(len(s.metrics) == SESSION_METRICS for s in history)
    assert history[0].started_utc < history[-1].started_utc


def test_bench_participant_history_one_protocol(benchmark: Any, history_store: Store) -> None:
    history = benchmark(history_store.participant_sessions, "P0000", "nine_hole_peg")
    assert len(history) == HEAVY_SESSIONS
    assert {m.protocol for s in history for m in s.metrics} == {"nine_hole_peg"}


def test_bench_participant_history_with_trials(benchmark: Any, history_store: Store) -> None:
    history = benchmark(history_store.participant_sessions, "P0001", with_trials=True)
    owned = [
        sid for sid in range(HEAVY_SESSIONS + 1, N_SESSIONS + 1) if sid % (N_PARTICIPANTS - 1) == 0
    ]
    assert len(history) == len(owned)
    assert all(len(s.trials) == TRIALS_PER_SESSION for s in history)
    assert all(len(t.metrics) == METRICS_PER_TRIAL for s in history for t in s.trials)
