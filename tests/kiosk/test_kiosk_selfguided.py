"""Self-guided mode in the kiosk under Xvfb, driven by touches (and a QR reader typing as a
keyboard): a whole visit from the home screen to the summary, a wrong PIN, the pain stop, the
clinician's setup screen, and the layouts at 800x480, 1024x600 and 1280x720. Every screen is
saved as test-artifacts/screenshots/<size>/sg-*.png and checked (see conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from station.ui.rest import MIN_REST_S
from station.ui.run import READY, REST
from station.ui.selfguided import ACTIVE, BREAK
from tests.kiosk.conftest import Kiosk
from tests.ui.conftest import FakeClock


def selfguided(app: Any) -> Any:
    """The app's self-guided controller (Kivy is imported only once the fixture set it up)."""
    from station.kiosk.selfguided import selfguided as controller_of

    return controller_of(app)


def prepare(k: Kiosk, code: str = "S001", pin: str = "2580") -> FakeClock:
    """A participant with a PIN and the host clock the rests run on (moved by hand)."""
    c = k.controller
    clock = FakeClock()
    c.clock = clock
    c.touch()
    c.realtime = False
    c.store.add_participant(code, dominant_hand="right")
    c.store.set_participant_pin(code, pin)
    return clock


def tap_keys(k: Kiosk, text: str) -> None:
    for key in text:
        k.tap(k.button(key))


def reader_types(k: Kiosk, payload: str) -> None:
    """A USB QR reader in keyboard mode: the payload's characters, then Enter."""
    for ch in payload:
        k.window.dispatch("on_textinput", ch)
    k.frames(1)
    k.window.dispatch("on_key_down", 13, 0, None, [])
    k.window.dispatch("on_key_up", 13, 0)
    k.frames(2)


def rate(k: Kiosk, value: int, shot: str | None = None) -> None:
    k.tap(k.button(str(value)))
    if shot:
        k.shot(shot, ("number", "question", "scale", "low", "high", "ok_btn"))
    k.tap(k.button(f"OK: {value}"))


def sg_run(k: Kiosk) -> Any:
    run = selfguided(k.app).run
    assert run is not None
    return run


def start_when_ready(k: Kiosk, shot: str | None = None) -> None:
    k.wait_screen("sg_run")
    k.wait_for(lambda: sg_run(k).snapshot().state == READY, "a trial ready")
    k.frames(3)
    if shot:
        k.shot(shot, ("title", "phase", "start_btn", "abort_btn"))
    k.tap(k.button("Start"))


def test_a_visit_by_touch_from_sign_in_to_summary(kiosk: Kiosk) -> None:
    k = kiosk
    clock = prepare(k)
    store = k.controller.store
    store.add_assignment("S001", "kiosktest", rest_s=20, note="Keep your wrist on the table")
    store.add_assignment("S001", "pegs", rest_s=0)
    k.shot("sg-00-home", ("title", "clinician_btn", "participant_btn"))
    k.tap(k.button("Participant sign-in"))
    signin = k.wait_screen("sg_signin")
    k.shot("sg-01-signin", ("title", "code_field", "pin_field", "keypad", "next_btn", "cancel_btn"))
    reader_types(k, "DXS1:S001")  # the printed card under the reader
    assert signin.code == "S001" and signin.step == "pin" and signin.by_card
    tap_keys(k, "2581")
    k.tap(k.button("Sign in"))
    assert "do not match" in signin.error and signin.pin == ""
    k.shot("sg-02-signin-wrong-pin", ("title", "error", "keypad", "next_btn"))
    tap_keys(k, "2580")
    k.tap(k.button("Sign in"))

    plan = k.wait_screen("sg_plan")
    assert plan.any_due and "S001" in plan.greeting
    k.shot("sg-03-plan", ("title", "sign_out_btn", "info", "start_btn"))
    k.tap(k.button("Virtual participant acts"))
    k.tap(k.button("Start"))

    rating = k.wait_screen("sg_rating")
    assert "pain" in rating.question_text and rating.number_text == "Question 1 of 4"
    rate(k, 2, "sg-04-rating")
    assert "tired" in rating.question_text
    rate(k, 3)

    start_when_ready(k, "sg-05-run-ready")
    k.wait_for(lambda: sg_run(k).snapshot().state == REST, "the rest between blocks")
    rest = k.wait_screen("sg_rest")
    k.frames(2)
    assert rest.left_text == "0:20" and "Synchronization" in rest.next_text
    assert not rest.can_skip and rest.button_text == "Continue in 10 s"
    k.shot("sg-06-rest", ("title", "countdown", "next_label", "stop_btn", "continue_btn"))
    clock.advance(MIN_REST_S)
    k.frames(2)
    assert rest.can_skip and rest.left_text == "0:10"
    k.tap(k.button("Continue"))
    start_when_ready(k)
    k.wait_for(lambda: selfguided(k.app).state == BREAK, "the break before the next battery")
    k.wait_screen("sg_rest")
    clock.advance(20)
    k.wait_for(lambda: selfguided(k.app).state == ACTIVE, "the pegboard")
    start_when_ready(k)

    rating = k.wait_screen("sg_rating", timeout_s=60)
    assert rating.number_text == "Question 3 of 4"
    rate(k, 1)
    rate(k, 2)
    summary = k.wait_screen("sg_summary")
    texts = [w.text for w in summary.ids.lines.children]
    joined = "\n".join(texts)
    assert "Nine-Hole Peg Test, right hand" in joined and "first time" in joined
    assert "Pain: 2 before, 1 after" in joined
    k.shot("sg-07-summary", ("title", "scroll", "finish_btn"))
    k.tap(k.button("Finish and sign out"))
    k.wait_screen("home")
    assert not selfguided(k.app).signed_in

    sessions = store.participant_sessions("S001")
    assert [(s.battery_name, s.status) for s in sessions] == [
        ("kiosktest", "complete"),
        ("pegs", "complete"),
    ]
    assert all(t.status == "complete" for s in sessions for t in store.session_trials(s.id))
    ratings = [(r.scale, r.timing, r.value, r.session_id) for r in store.ratings("S001")]
    first, last = sessions[0].id, sessions[1].id
    assert ratings == [
        ("pain", "before", 2.0, first),
        ("fatigue", "before", 3.0, first),
        ("pain", "after", 1.0, last),
        ("fatigue", "after", 2.0, last),
    ]
    assert "a printed card" in store.session_notes(first)[0].text


def test_pain_stop_by_keypad_sign_in(kiosk: Kiosk) -> None:
    k = kiosk
    prepare(k, code="PK7", pin="1357")
    k.controller.store.add_assignment("PK7", "pegs")
    k.tap(k.button("Participant sign-in"))
    signin = k.wait_screen("sg_signin")
    k.tap(k.button("ABC"))
    k.shot("sg-08-signin-letters", ("keypad", "letters_btn", "next_btn"))
    k.tap(k.button("P"))
    k.tap(k.button("K"))
    k.tap(k.button("123"))
    k.tap(k.button("7"))
    assert signin.code == "PK7"
    k.tap(k.button("Next"))
    tap_keys(k, "1357")
    k.tap(k.button("Sign in"))
    k.wait_screen("sg_plan")
    k.tap(k.button("Start"))
    k.wait_screen("sg_rating")
    rate(k, 8)
    message = k.wait_screen("message")
    assert message.title_text == "Please do not practise today"
    assert "contact your therapist" in message.what_to_do
    k.shot("sg-09-pain-stop", ("title", "text", "what_to_do", "ok_btn"))
    assert not selfguided(k.app).signed_in and k.controller.run is None
    k.tap(k.button("OK"))
    k.wait_screen("home")


def test_idle_sign_out_returns_home(kiosk: Kiosk) -> None:
    k = kiosk
    clock = prepare(k)
    k.tap(k.button("Participant sign-in"))
    k.wait_screen("sg_signin")
    reader_types(k, "DXS1:S001")
    tap_keys(k, "2580")
    k.tap(k.button("Sign in"))
    k.wait_screen("sg_plan")
    clock.advance(181)
    message = k.wait_screen("message")
    assert message.title_text == "Signed out"
    k.tap(k.button("OK"))
    k.wait_screen("home")


def test_clinician_sets_the_pin_and_assigns_a_battery(kiosk: Kiosk) -> None:
    k = kiosk
    c = k.controller
    c.set_first_pin("1111", "1111")
    c.participants.create("C001", dominant_hand="left")
    k.app.go("battery")
    k.wait_screen("battery")
    k.tap(k.button("Self-guided"))
    setup = k.wait_screen("sg_setup")
    assert setup.code == "C001" and "No PIN yet" in setup.pin_status
    tap_keys(k, "4321")
    k.tap(k.button("Set"))
    assert setup.pin_prompt == "The same PIN again"
    tap_keys(k, "4321")
    k.tap(k.button("Set"))
    assert setup.pin_status == "PIN set" and c.store.verify_participant_pin("C001", "4321")
    while setup.battery_text != "Nine-Hole Peg Test, one trial":
        k.tap(k.button(">"))
    for _ in range(2):
        k.tap(setup.ids.per_week.children[0])  # "+" (the stepper's last child)
    k.tap(setup.ids.pain_stop.children[-2])  # "-"
    k.tap(k.button("Assign"))
    k.shot("sg-10-setup", ("title", "back_btn", "keypad", "set_pin_btn", "assign_btn"))
    (a,) = c.store.assignments("C001")
    assert (a.name, a.sessions_per_week, a.rest_s) == ("pegs", 5, 30.0)
    assert c.store.self_guided_access("C001").pain_stop_at == 6
    k.tap(k.button("Remove"))
    assert c.store.assignments("C001") == []
    k.tap(k.button("Back"))
    k.wait_screen("battery")


@pytest.mark.parametrize("size", [(1024, 600), (1280, 720)])
def test_layouts_at_larger_displays(kiosk: Kiosk, size: tuple[int, int]) -> None:
    k = kiosk
    k.window.size = size
    k.frames(3)
    clock = prepare(k)
    k.controller.store.add_assignment("S001", "pegs", rest_s=15)
    k.controller.store.add_assignment("S001", "pegs", rest_s=0)
    k.tap(k.button("Participant sign-in"))
    k.wait_screen("sg_signin")
    k.shot("sg-01-signin", ("title", "code_field", "pin_field", "keypad", "next_btn", "cancel_btn"))
    reader_types(k, "DXS1:S001")
    tap_keys(k, "2580")
    k.tap(k.button("Sign in"))
    k.wait_screen("sg_plan")
    k.shot("sg-03-plan", ("title", "sign_out_btn", "info", "start_btn"))
    k.tap(k.button("Virtual participant acts"))
    k.tap(k.button("Start"))
    k.wait_screen("sg_rating")
    rate(k, 1, "sg-04-rating")
    rate(k, 1)
    start_when_ready(k, "sg-05-run-ready")
    k.wait_for(lambda: selfguided(k.app).state == BREAK, "the break")
    k.wait_screen("sg_rest")
    k.shot("sg-06-rest", ("title", "countdown", "next_label", "stop_btn", "continue_btn"))
    clock.advance(15)
    start_when_ready(k)
    k.wait_screen("sg_rating", timeout_s=60)
    rate(k, 0)
    rate(k, 0)
    k.wait_screen("sg_summary")
    k.shot("sg-07-summary", ("title", "scroll", "finish_btn"))
    k.tap(k.button("Finish and sign out"))
    k.wait_screen("home")
    c = k.controller
    c.set_first_pin("1111", "1111")
    c.participants.select("S001")
    k.app.go("sg_setup")
    k.wait_screen("sg_setup")
    k.shot("sg-10-setup", ("title", "back_btn", "keypad", "set_pin_btn", "assign_btn"))
