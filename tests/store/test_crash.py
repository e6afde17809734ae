"""Crash safety: kill a real writer process with SIGKILL at random moments, then check the store.

After each kill: ``PRAGMA integrity_check`` is ok; every complete trial holds all its events,
samples, cues and metrics (counts from its parameters; trials completed since the last kill are
compared value by value with what the writer built); trials that were ``running`` at the kill
are ``incomplete`` after reopening, hold no partial raw data, and ``Store.recovered`` names
exactly them; no committed trial is lost.

Most kills come at a random delay after the writer's latest trial started, so they land inside a
trial or between two depending on the machine's speed. The kills in ``HELD_KILLS`` land inside a
trial for certain: the writer says when it holds after committing a trial's start.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_writer import PARTICIPANT, assert_same_trial, make_metrics, make_trial_data

from station.store import INTERRUPTED_FAULT, Store

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 15
SEED = 20240611
#: Kills measured from the writer's start (during imports, migration or recovery) rather than
#: from its first committed trial.
STARTUP_KILLS = {3, 9}
#: Kills of a writer held inside its second trial (start committed, data not yet stored).
HELD_KILLS = {1, 6, 12}
PROGRESS_TIMEOUT_S = 60.0


def _query(db: Path, sql: str) -> list[tuple]:
    """Read without creating the file; an absent or empty database reads as no rows."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def _trial_count(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM trials")
    return rows[0][0] if rows else 0


def _start_writer(
    data_dir: Path, run_seed: int, log: Path, *, hold_at: int = -1
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, str(WRITER), str(data_dir), str(run_seed), "60", str(hold_at)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )


def _wait_holding(proc: subprocess.Popen[bytes], log: Path) -> int:
    """Wait until the writer says it holds inside a trial; returns that trial's id."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], PROGRESS_TIMEOUT_S)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("holding "):
        pytest.fail(f"the writer did not hold inside a trial ({line!r}):\n{log.read_text()}")
    return int(line.split()[1])


def _wait_alive(proc: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    """Wait ``timeout_s``; the writer must still be running afterwards."""
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return
    pytest.fail(f"the writer exited on its own (status {code}):\n{log.read_text()}")


def _wait_for_progress(proc: subprocess.Popen[bytes], db: Path, before: int, log: Path) -> None:
    """Poll the database until the writer has committed a new trial."""
    deadline = time.monotonic() + PROGRESS_TIMEOUT_S
    while _trial_count(db) <= before:
        if time.monotonic() > deadline:
            pytest.fail(
                f"the writer made no progress in {PROGRESS_TIMEOUT_S} s:\n{log.read_text()}"
            )
        _wait_alive(proc, 0.01, log)


def _check_store(data_dir: Path, checked: set[int]) -> tuple[int, set[int]]:
    """Reopen after a kill and check everything; returns (complete trials, interrupted ids)."""
    db = data_dir / "station.sqlite"
    running_trials = {r[0] for r in _query(db, "SELECT id FROM trials WHERE status = 'running'")}
    running_sessions = {
        r[0] for r in _query(db, "SELECT id FROM sessions WHERE status = 'running'")
    }
    assert len(running_trials) <= 1

    store = Store.open(data_dir)
    try:
        assert store.integrity_check() == "ok"
        recovered_trials = {i.trial_id for i in store.recovered if i.trial_id is not None}
        assert recovered_trials == running_trials
        assert {i.session_id for i in store.recovered} == running_sessions
        for item in store.recovered:
            assert item.participant_code == PARTICIPANT
            assert f"session {item.session_id}" in item.describe()

        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            counts = {
                table: dict(
                    conn.exec_driver_sql(
                        f"SELECT trial_id, count(*) FROM {table} GROUP BY trial_id"
                    ).all()
                )
                for table in ("events", "cues", "metrics")
            }
            samples = {
                (tid, pad): n
                for tid, pad, n in conn.exec_driver_sql(
                    "SELECT trial_id, pad, sum(n) FROM samples GROUP BY trial_id, pad"
                )
            }
        complete = 0
        for info in store.iter_trials(participant_code=PARTICIPANT):
            p = info.params
            if info.id in running_trials:
                assert info.status == "incomplete"
                assert INTERRUPTED_FAULT in info.faults
            if info.status == "incomplete":
                # Interrupted before finish_trial committed: nothing partial was written.
                assert all(info.id not in c for c in counts.values())
                assert not any(tid == info.id for tid, _ in samples)
                continue
            assert info.status == "complete", info
            complete += 1
            assert counts["events"].get(info.id, 0) == p["n_events"]
            assert counts["cues"].get(info.id, 0) == p["n_cues"]
            assert counts["metrics"].get(info.id, 0) == p["n_metrics"]
            pads = {pad: n for (tid, pad), n in samples.items() if tid == info.id}
            assert len(pads) == p["n_pads"] and set(pads.values()) == {p["n_samples"]}
            if info.id not in checked:
                assert_same_trial(store.trial_data(info.id), make_trial_data(p))
                assert list(info.metrics) == make_metrics(p)
                checked.add(info.id)
        return complete, running_trials
    finally:
        store.close()


@pytest.mark.slow
def test_kill_9_at_random_moments_keeps_the_store_sound(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    db = data_dir / "station.sqlite"
    log = tmp_path / "writer.log"
    checked: set[int] = set()
    complete_before = 0
    interrupted = 0
    for kill in range(KILLS):
        delay_s = rng.uniform(0.050, 0.400)
        before = _trial_count(db)
        held = kill in HELD_KILLS
        proc = _start_writer(data_dir, run_seed=kill + 1, log=log, hold_at=1 if held else -1)
        try:
            if held:
                held_trial = _wait_holding(proc, log)
            else:
                if kill not in STARTUP_KILLS:
                    _wait_for_progress(proc, db, before, log)
                _wait_alive(proc, delay_s, log)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        complete, running = _check_store(data_dir, checked)
        assert complete >= complete_before, "a committed trial was lost"
        complete_before = complete
        if held:
            assert running == {held_trial}, "the held trial was not found interrupted"
        interrupted += len(running)
    assert complete_before > KILLS, "the writer hardly wrote anything"
    assert interrupted >= len(HELD_KILLS)
