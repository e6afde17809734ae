"""AppController: login, the idle lock on an injected clock, participants, batteries, errors."""

from __future__ import annotations

import pytest

from station.errors import StationError
from station.ui.app import AppController
from station.ui.auth import PinError
from station.ui.errors import fault_advice, message_for
from tests.ui.conftest import FakeClock


def test_first_pin_then_login_and_logout(controller: AppController) -> None:
    assert controller.needs_pin and not controller.clinician
    with pytest.raises(PinError, match="differ"):
        controller.set_first_pin("1234", "1243")
    controller.set_first_pin("1234", "1234")
    assert controller.clinician and not controller.needs_pin
    with pytest.raises(PinError, match="already set"):
        controller.set_first_pin("9999", "9999")
    controller.logout()
    assert not controller.login("0000") and not controller.clinician
    assert controller.login("1234") and controller.clinician


def test_idle_lock_after_the_configured_minutes(
    controller: AppController, clock: FakeClock
) -> None:
    controller.auth.set_idle_lock_min(3)
    controller.set_first_pin("1234", "1234")
    clock.advance(2 * 60)
    assert not controller.check_idle_lock() and controller.clinician
    controller.touch()  # a touch starts the idle time again
    clock.advance(2.9 * 60)
    assert not controller.check_idle_lock()
    clock.advance(0.2 * 60)
    assert controller.check_idle_lock() and not controller.clinician
    assert not controller.check_idle_lock()  # locked once
    with pytest.raises(StationError, match="locked"):
        controller.require_clinician()


def test_participants_search_create_select(controller: AppController) -> None:
    pc = controller.participants
    assert pc.search() == []
    row = pc.create("P010", birth_year="1961", sex="female", dominant_hand="left")
    pc.create("P011", affected_side="right")
    pc.create("Q200")
    assert [r.code for r in pc.search("p01")] == ["P010", "P011"]
    assert row.birth_year == 1961 and row.dominant_hand == "left" and "left-handed" in row.summary
    assert pc.select("P011").affected_side == "right"
    assert controller.participant is not None and controller.participant.code == "P011"
    with pytest.raises(StationError, match="already exists"):
        pc.create("P010")
    with pytest.raises(StationError, match="code"):
        pc.create("bad code!")
    with pytest.raises(StationError, match="birth year"):
        pc.create("P012", birth_year="nineteen")
    with pytest.raises(StationError, match="no participant"):
        pc.select("NOPE")


def test_batteries_listed_and_chosen(controller: AppController) -> None:
    infos = {b.name: b for b in controller.batteries()}
    assert {"standard", "nine_hole_peg", "uiquick"} <= set(infos)
    assert "Nine-Hole Peg Test" in infos["standard"].steps
    assert controller.choose_battery("uiquick").name == "uiquick"
    with pytest.raises(StationError, match="no battery named"):
        controller.choose_battery("nope")


def test_a_run_needs_the_clinician_a_participant_and_a_battery(controller: AppController) -> None:
    with pytest.raises(StationError, match="locked"):
        controller.start_run()
    controller.set_first_pin("1234", "1234")
    with pytest.raises(StationError, match="participant"):
        controller.start_run()
    controller.participants.create("P001")
    with pytest.raises(StationError, match="battery"):
        controller.start_run()


def test_attempt_turns_exceptions_into_messages(controller: AppController) -> None:
    value, message = controller.attempt(lambda: 42)
    assert value == 42 and message is None

    def broken() -> None:
        raise ZeroDivisionError("division by zero")

    value, message = controller.attempt(broken, doing="scoring")
    assert value is None and message is not None
    assert message.title == "Something went wrong" and "while scoring" in message.text
    assert "ZeroDivisionError" in message.text and "Traceback" not in message.text
    assert message.what_to_do
    _, message = controller.attempt(controller.choose_battery, "nope")
    assert message is not None and message.severity == "warning" and "nope" in message.text


def test_messages_and_fault_advice() -> None:
    assert "technician" in message_for(RuntimeError("x")).what_to_do
    assert "cable" in fault_advice("adc1: no answer from the ADS1115 at 0x49")
    assert "Take the peg out" in fault_advice("hole3 is closed at start (a peg is already in it)")
    assert "Release the button" in fault_advice("btn_index is closed at start (held down or stuck)")
    assert fault_advice("something new")


def test_recovered_sessions_are_reported(config, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from station.store import Store

    store = Store.open(config.data_dir)
    store.add_participant("P001")
    store.start_session("P001", "b", "", "s", {}, 0, 0, "v", "sim", "virtual")
    store.close()  # the session stays "running": as after a crash
    app = AppController.open(config, clock=clock)
    try:
        assert len(app.recovered) == 1 and "P001" in app.recovered[0]
    finally:
        app.close()


def test_the_controllers_never_load_kivy() -> None:
    """The house rule, at run time: importing and using the controllers loads no Kivy."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = (
        "import sys, station.ui.app, station.ui.demo, station.ui.run, station.ui.virtual, "
        "station.ui.results, station.ui.auth, station.kiosk.main; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'kivy'], 'kivy loaded'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
