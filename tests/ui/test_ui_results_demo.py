"""Results beside baseline and change; the demo driver; `station kiosk` without a display."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.records import unit_text
from station.ui.app import AppController
from station.ui.demo import DEMO_CODE, DemoDriver, demo_battery, run_terminal_demo
from station.ui.run import FINISHED
from tests.conftest import run_cli

TIMEOUT_S = 60.0


def test_results_show_baseline_then_change(clinician: AppController) -> None:
    for profile, seed in (("healthy", 1), ("older", 2)):
        person = clinician.virtual_participant(profile, seed)
        run = clinician.start_run(person=person, auto=True)
        assert run.wait(TIMEOUT_S) and run.snapshot().state == FINISHED
    sessions = clinician.results.sessions("P001")
    assert len(sessions) == 2 and all(s.simulated for s in sessions)
    first = {(r.protocol, r.metric): r for r in sessions[0].rows}
    later = {(r.protocol, r.metric): r for r in sessions[1].rows}
    key = ("force_steadiness", "mean_mean_force_n")
    assert first[key].baseline == "baseline" and first[key].change == "-"
    assert later[key].baseline == first[key].value
    assert later[key].change.endswith("%") and later[key].norm == "-"
    assert clinician.results.session("P001").session_id == sessions[1].session_id  # latest
    assert clinician.results.norms_loaded("P001") == 0


def test_demo_driver_runs_the_demo_battery_on_its_own(controller: AppController) -> None:
    battery = demo_battery()
    assert [s.protocol.name for s in battery.steps] == [
        "nine_hole_peg",
        "finger_tapping",
        "sync_continuation",
        "force_steadiness",
    ]
    driver = DemoDriver(controller)
    run = driver.start()
    assert not controller.clinician  # the demo needs no login
    assert run.wait(TIMEOUT_S) and driver.ended
    snap = run.snapshot()
    assert snap.state == FINISHED
    trials = controller.store.session_trials(snap.session_id)
    assert len(trials) == 4 and all(t.status == "complete" for t in trials)
    assert controller.store.get_participant(DEMO_CODE).dominant_hand == "right"


def test_terminal_demo_prints_the_run_and_results(controller: AppController) -> None:
    lines: list[str] = []
    assert run_terminal_demo(controller, battery="uiquick", say=lines.append) == 0
    text = "\n".join(lines)
    assert "== Force steadiness and tremor: right hand ==" in text and "results" in text
    assert "mean_cv_percent" in text and "sync_continuation" in text
    assert "{" not in text  # UCUM annotations in words: "ms per tap", not "ms/{tap}"


def test_units_are_written_for_people() -> None:
    assert unit_text("ms/{tap}") == "ms per tap"
    assert unit_text("{taps}/s") == "taps/s"
    assert unit_text("ms") == "ms" and unit_text("N2") == "N2"


def test_kiosk_without_a_display(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    status, _, err = run_cli(["kiosk"], capsys)
    assert status == 1 and "needs a screen" in err and "--demo" in err and "Traceback" not in err
    battery = Path(os.environ["STATION_DATA_DIR"]) / "batteries" / "one.toml"
    battery.parent.mkdir(parents=True, exist_ok=True)
    battery.write_text(
        'name = "one"\n[[step]]\nprotocol = "force_steadiness"\nhands = ["dominant"]\n'
        "[step.params]\nhold_s = 2.0\nsettle_s = 0.5\nwelch_segment_s = 1.0\n"
    )
    status, out, err = run_cli(["kiosk", "--demo", "--fast", "--battery", "one"], capsys)
    assert status == 0, err
    assert "no display here" in err and "running the demonstration in the terminal" in err
    assert "Force steadiness and tremor: right hand" in out and "mean_cv_percent" in out


def test_kiosk_set_pin_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["1357", "1357"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt="": next(answers))
    status, out, err = run_cli(["kiosk", "--set-pin"], capsys)
    assert status == 0, err
    assert "clinician PIN set" in out
    answers = iter(["1357", "12", "12"])
    status, _, err = run_cli(["kiosk", "--set-pin"], capsys)
    assert status == 1 and "4 to 8 digits" in err and "Traceback" not in err


def test_kiosk_idle_lock_option(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(["kiosk", "--idle-lock-min", "2.5"], capsys)
    assert status == 0, err
    assert "2.5 min" in out
    from station.ui.auth import load_settings

    assert load_settings(Path(os.environ["STATION_DATA_DIR"])).idle_lock_min == 2.5
    status, _, err = run_cli(["kiosk", "--idle-lock-min", "1000"], capsys)
    assert status == 1 and "0.5 to 240" in err
