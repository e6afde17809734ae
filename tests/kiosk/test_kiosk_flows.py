"""The kiosk under Xvfb, driven by touches: the clinician's flow from the home screen to the
results, the virtual-hardware panel, the demo, errors, the idle lock, and the layouts at
800x480, 1024x600 and 1280x720. Every screen is saved and checked (see conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from station.ui.run import REVIEW, RUNNING
from tests.kiosk.conftest import Kiosk


def enter_pin(k: Kiosk, pin: str) -> None:
    for digit in pin:
        k.tap(k.button(digit))
    k.tap(k.button("OK"))


def run_snapshot(k: Kiosk) -> Any:
    assert k.controller.run is not None
    return k.controller.run.snapshot()


def test_clinician_flow_to_the_results(kiosk: Kiosk) -> None:
    k = kiosk
    k.shot("01-home", ("title", "clinician_btn", "demo_btn"))
    k.tap(k.button("Clinician"))
    pin = k.wait_screen("pin")
    assert "No PIN yet" in pin.prompt  # no default PIN: one is set first
    k.shot("02-pin-set", ("prompt", "keypad", "ok_btn", "cancel_btn"))
    enter_pin(k, "2580")
    assert pin.mode == "confirm"
    enter_pin(k, "2580")
    screen = k.wait_screen("participant")
    assert k.controller.clinician and k.controller.auth.verify("2580")

    screen.ids.code.text = "K001"
    screen.ids.year.text = "1958"
    k.tap(k.button("female"))
    k.tap(k.button("left"))  # dominant hand (the first "left" toggle on the form)
    k.shot("03-participant", ("search", "code", "year", "create_btn", "home_btn"))
    k.tap(k.button("Create and continue"))
    battery = k.wait_screen("battery")
    p = k.controller.store.get_participant("K001")
    assert p.birth_year == 1958 and p.sex == "female" and p.dominant_hand == "left"
    k.tap(k.button("Virtual participant acts"))
    k.shot("04-battery", ("title", "back_btn", "virtual_toggle"))
    kiosk_battery = next(
        b for b in battery.ids.batteries.children if b.text.startswith("Kiosk test")
    )
    k.tap(kiosk_battery)

    run = k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the first trial")
    k.frames(2)
    assert "press the pad" in run.instructions_text and "left hand" in run.title_text
    k.shot("05-run-instructions", ("title", "phase", "instructions", "start_btn", "abort_btn"))
    k.tap(k.button("Start trial"))
    k.wait_for(
        lambda: (
            run_snapshot(k).phase_kind == "active"
            and run_snapshot(k).live.forces_n.get("pad_index", 0) > 1.0
        ),
        "the participant holding the force",
    )
    k.frames(3)
    bar = run.feedback["force"]
    assert bar.target_n is not None and bar.band_n is not None and bar.force_n > 1.0
    assert run.feedback["fingers"].finger == "index"
    k.shot("06-run-force-bar", ("phase", "timer", "values", "visuals"))

    review = k.wait_screen("review")
    assert review.status_text == "Complete" and "mean force n" in review.metrics_text
    k.shot("07-review", ("title", "status", "metrics", "keep_btn", "invalid_btn", "reason"))
    k.tap(k.button("distracted"))
    k.tap(k.button("Mark invalid and repeat"))
    k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the repeated trial")
    assert run_snapshot(k).protocol == "force_steadiness"
    k.tap(k.button("Start trial"))
    review = k.wait_screen("review")

    k.tap(k.button("Note"))
    k.wait_for(lambda: k.app._note is not None, "the note pop-up")
    k.frames(2)
    note_input = next(w for w in k.app._note.walk() if type(w).__name__ == "KInput")
    note_input.text = "tremor visible at rest"
    k.shot("08-note")
    k.tap(k.button("Save note"))
    k.wait_for(lambda: k.app._note is None, "the note saved")
    k.tap(k.button("Keep, next"))

    k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the metronome test")
    k.tap(k.button("Start trial"))
    k.wait_for(
        lambda: run_snapshot(k).state == RUNNING and run.feedback["metronome"].lit,
        "a metronome beat lighting the disc",
    )
    k.shot("09-run-metronome", ("phase", "timer", "values", "visuals"))
    k.wait_screen("review")
    k.tap(k.button("Keep, next"))

    results = k.wait_screen("results")
    assert "K001" in results.title_text
    texts = [c.text for c in results.ids.table.children]
    assert "mean force n" in " ".join(texts) and "mean asynchrony mean ms" in " ".join(texts)
    k.shot("10-results", ("title", "summary", "header", "new_btn", "home_btn"))

    store = k.controller.store
    session_id = run_snapshot(k).session_id
    trials = store.session_trials(session_id)
    assert [t.status for t in trials] == ["invalid", "complete", "complete"]
    assert trials[0].invalid_reason == "distracted"
    assert "tremor visible at rest" in store.get_participant("K001").notes
    k.tap(k.button("Done"))
    k.wait_screen("home")


def test_virtual_hardware_panel_runs_a_pegboard_trial(kiosk: Kiosk) -> None:
    k = kiosk
    c = k.controller
    c.set_first_pin("1111", "1111")
    c.participants.create("V001", dominant_hand="right")
    k.app.start_battery("pegs", virtual=False)
    run = k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the trial")
    k.tap(k.button("Home pad"))  # the hand rests on the home pad
    k.tap(k.button("Start trial"))
    k.wait_for(lambda: run_snapshot(k).phase_kind == "active", "the go cue", 10)
    k.tap(k.button("Home pad"))  # lift-off
    for _ in range(4):
        k.tap(k.button("Peg in"))
    for _ in range(5):
        k.key("p")  # the keyboard works too
    k.wait_for(lambda: run_snapshot(k).live.holes_filled == 9, "nine pegs in")
    k.frames(2)
    assert run.feedback["pegboard"].holes == [True] * 9
    k.shot("11-run-pegboard-panel", ("phase", "timer", "values", "visuals", "start_btn"))
    for _ in range(9):
        k.tap(k.button("Peg out"))
    k.wait_for(lambda: run_snapshot(k).live.holes_filled == 0, "nine pegs out")
    k.tap(k.button("Dish"))
    review = k.wait_screen("review")
    assert run_snapshot(k).state == REVIEW and review.status_text == "Complete"
    assert "total time s" in review.metrics_text
    k.tap(k.button("Keep, next"))
    k.wait_screen("results")


def test_demo_runs_by_itself(kiosk: Kiosk, monkeypatch: pytest.MonkeyPatch) -> None:
    from station.ui import demo
    from tests.kiosk.conftest import KIOSK_BATTERY

    monkeypatch.setattr(demo, "DEMO_BATTERY_TOML", KIOSK_BATTERY)
    k = kiosk
    k.controller.realtime = False
    k.tap(k.button("Demonstration"))
    run = k.wait_screen("run")
    assert run.auto and not k.controller.clinician
    results = k.wait_screen("results", timeout_s=60)
    assert "DEMO" in results.title_text


def test_errors_become_a_message_screen(kiosk: Kiosk, monkeypatch: pytest.MonkeyPatch) -> None:
    k = kiosk
    c = k.controller
    c.set_first_pin("1111", "1111")

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(c.participants, "search", broken)
    k.tap(k.button("Clinician"))
    message = k.wait_screen("message")
    assert message.title_text == "Something went wrong"
    assert "the store went away" in message.body_text and "Traceback" not in message.body_text
    k.shot("12-message", ("title", "text", "what_to_do", "ok_btn"))
    monkeypatch.undo()
    k.tap(k.button("OK"))
    k.wait_screen("participant")

    # an exception escaping a Kivy callback: the message screen, and the app goes on
    from kivy.clock import Clock

    def explode(_dt: float) -> None:
        raise ValueError("a widget bug")

    Clock.schedule_once(explode, 0)
    message = k.wait_screen("message")
    assert "a widget bug" in message.body_text
    k.tap(k.button("OK"))
    k.wait_screen("home")


def test_idle_lock_returns_to_the_pin(kiosk: Kiosk) -> None:
    k = kiosk
    c = k.controller
    c.set_first_pin("1111", "1111")
    k.tap(k.button("Clinician"))
    k.wait_screen("participant")
    now = [0.0]
    c.clock = c.auth.clock = lambda: now[0]
    c.touch()
    now[0] += c.auth.idle_lock_s + 1
    k.app._idle_check(0)
    pin = k.wait_screen("pin")
    assert "Locked after" in pin.error and not c.clinician
    k.shot("13-pin-locked", ("prompt", "keypad", "ok_btn"))
    enter_pin(k, "1112")
    assert pin.error == "Wrong PIN"
    enter_pin(k, "1111")
    k.wait_screen("participant")


@pytest.mark.parametrize("size", [(1024, 600), (1280, 720)])
def test_layouts_at_larger_displays(kiosk: Kiosk, size: tuple[int, int]) -> None:
    k = kiosk
    k.window.size = size
    k.frames(3)
    k.shot("01-home", ("title", "clinician_btn", "demo_btn"))
    c = k.controller
    c.set_first_pin("1111", "1111")
    k.tap(k.button("Clinician"))
    k.wait_screen("participant")
    k.shot("03-participant", ("search", "code", "year", "create_btn"))
    c.participants.create("L001")
    k.app.go("battery")
    k.wait_screen("battery")
    k.shot("04-battery", ("title", "back_btn"))
    k.app.start_battery("pegs", virtual=False)
    k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the trial")
    k.frames(2)
    k.shot("05-run-instructions", ("title", "phase", "instructions", "start_btn", "abort_btn"))
    k.tap(k.button("Abort session"))
    k.wait_screen("results")
    k.shot("10-results", ("title", "new_btn", "home_btn"))
