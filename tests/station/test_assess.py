"""`station assess` end to end on the simulated backend, results over sessions, and kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.store import Store
from tests.conftest import REPO, run_cli

QUICK_BATTERY = """
name = "quick"
[[step]]
protocol = "nine_hole_peg"
hands = ["dominant", "non_dominant"]
practice = 0
trials = 2
"""


def assess(
    capsys: pytest.CaptureFixture[str], code: str, seed: int, profile: str = "healthy"
) -> dict:
    battery = Path(os.environ["STATION_DATA_DIR"]) / "batteries" / "quick.toml"
    battery.parent.mkdir(parents=True, exist_ok=True)
    battery.write_text(QUICK_BATTERY)
    status, out, err = run_cli(
        [
            "assess",
            "--participant",
            code,
            "--battery",
            "quick",
            "--sim-profile",
            profile,
            "--seed",
            str(seed),
            "--fast",
            "--json",
        ],
        capsys,
    )
    assert status == 0, err
    assert "SIMULATED" in err
    return json.loads(out)


def test_assess_runs_stores_and_reports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = assess(capsys, "P001", seed=1)
    trials = result["trials"]
    assert [(t["hand"], t["practice"]) for t in trials] == [
        ("right", False),
        ("right", False),
        ("left", False),
        ("left", False),
    ]
    assert all(t["status"] == "complete" for t in trials)
    means = {(s["hand"], s["name"]): s["value"] for s in result["summary"]}
    right = [
        next(m["value"] for m in t["metrics"] if m["name"] == "total_time_s") for t in trials[0:2]
    ]
    assert means[("right", "mean_total_time_s")] == pytest.approx(sum(right) / 2)

    store = Store.open(Path(os.environ["STATION_DATA_DIR"]))
    try:
        session = store.session(result["session_id"])
        assert session.status == "complete" and session.hardware_backend == "sim"
        infos = store.session_trials(result["session_id"])
        assert len(infos) == 4
        data = store.trial_data(infos[1].id)
        assert len(data.events) > 18 and set(data.samples) == {"pad_home", "pad_dish"}
        assert infos[1].provenance["backend"] == "sim"
    finally:
        store.close()

    # a second session: results show the change from the baseline with the 9HPT's 20% rule
    assess(capsys, "P001", seed=2, profile="older")
    status, out, _ = run_cli(["results", "P001", "--json"], capsys)
    assert status == 0
    report = json.loads(out)
    assert len(report["sessions"]) == 2
    later = {(r["hand"], r["metric"]): r for r in report["sessions"][1]["metrics"]}
    row = later[("right", "mean_total_time_s")]
    assert "change_percent" in row and row["threshold_percent"] == 20.0
    assert row["reliable_change"] == (abs(row["change_percent"]) >= 20.0)

    status, out, _ = run_cli(["export", "--format", "csv", "--participant", "P001"], capsys)
    assert status == 0
    header, *rows = out.strip().splitlines()
    assert (
        header.startswith("participant")
        and len(rows) > 20
        and any(",total_time_s," in r for r in rows)
    )


def test_invalidate_and_rescore(capsys: pytest.CaptureFixture[str]) -> None:
    result = assess(capsys, "P002", seed=3)
    first_scored = result["trials"][0]["trial_id"]
    status, _, err = run_cli(["invalidate", str(first_scored), "--reason", "dropped peg"], capsys)
    assert status == 0, err
    status, out, _ = run_cli(["results", "P002", "--json"], capsys)
    rows = {(r["hand"], r["metric"]): r["value"] for r in json.loads(out)["sessions"][0]["metrics"]}
    second = next(m["value"] for m in result["trials"][1]["metrics"] if m["name"] == "total_time_s")
    assert rows[("right", "mean_total_time_s")] == pytest.approx(second)  # the invalid one left out
    status, out, _ = run_cli(["rescore"], capsys)
    assert status == 0 and "rescored 4 trials" in out


def test_unknown_battery_and_bad_code_are_clear(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(
        ["assess", "--participant", "P1", "--battery", "nope", "--fast"], capsys
    )
    assert status == 2 or status == 1
    assert "no battery named 'nope'" in err and "Traceback" not in err
    status, _, err = run_cli(["assess", "--participant", "bad code!", "--fast"], capsys)
    assert status in (1, 2) and "code" in err and "Traceback" not in err


@pytest.mark.slow
def test_kill_9_during_assess_keeps_completed_trials(tmp_path: Path) -> None:
    """A real `station assess` process killed at random moments: nothing completed is lost."""
    rng = random.Random(20261122)
    env = {
        **os.environ,
        "STATION_HARDWARE": "sim",
        "STATION_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    db = tmp_path / "data" / "station.sqlite"
    for round_no in range(3):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "station.cli",
                "assess",
                "--participant",
                f"K{round_no}",
                "--battery",
                "nine_hole_peg",
                "--fast",
                "--quiet",
                "--seed",
                str(round_no),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        want = rng.randint(1, 3)  # completed trials before the kill
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                    try:
                        n = con.execute(
                            "select count(*) from trials t join sessions s on s.id = t.session_id "
                            "join participants p on p.id = s.participant_id where p.code = ? and t.status = 'complete'",
                            (f"K{round_no}",),
                        ).fetchone()[0]
                    except sqlite3.OperationalError:
                        n = 0
                if n >= want:
                    break
            time.sleep(0.2)  # polling the database for progress, not timing anything
        time.sleep(rng.uniform(0.0, 0.5))  # a random moment inside the next trial
        assert proc.poll() is None, "the battery finished before the kill: make it longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

        store = Store.open(tmp_path / "data")
        try:
            assert store.integrity_check() == "ok"
            described = [r.describe() for r in store.recovered]
            assert any(f"participant K{round_no}" in d for d in described), described
            for info in store.iter_trials(participant_code=f"K{round_no}"):
                if info.status == "complete":
                    data = store.trial_data(info.id)
                    assert len(data.events) > 18 and data.samples["pad_home"].t_ns.size > 1000
                else:
                    assert info.status == "incomplete"
        finally:
            store.close()


def test_bench_scoring_on_a_stored_session(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(["bench", "scoring"], capsys)
    assert status == 2 and "no sessions" in err
    result = assess(capsys, "P003", seed=4)
    status, out, _ = run_cli(["bench", "scoring", "--json"], capsys)
    assert status == 0
    figures = json.loads(out)
    assert figures["session_id"] == result["session_id"] and figures["trials"] == 4
    assert figures["force_samples"] > 10_000 and figures["scoring_ms_median"] > 0
