"""Every screen of clinician mode, at 800x480, 1024x600 and 1280x720, saved as
``test-artifacts/screenshots/<size>/<screen>.png`` and checked (conftest.check_screen: not blank,
nothing cut off, buttons at least 9 mm): home (with a crash-interrupted trial named), the PIN
screens, participant, battery, settings, the message screens, the run screen of every protocol
ready to start (instructions beside its drawing) and running (its live feedback), the countdown,
a fault banner, review (with and without a fault) and results; then the same at the largest text
size with the high-contrast theme, and the left-hand mirrored run screen.

The run screen is shown real snapshots: every protocol (but the Purdue board, which needs 50
sensed holes the reference station does not have: its snapshot is built here) is run once by the
virtual participant through the same RunController the app uses, and a snapshot is kept from the
ready state and from the middle of its active phase.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from station.ui.errors import Message, fault_advice
from station.ui.run import READY, RUNNING, LiveValues, RunSnapshot, TrialSummary
from tests.batteries import every_protocol_battery
from tests.kiosk.conftest import KIOSK_BATTERY, Kiosk

SIZES = [(800, 480), (1024, 600), (1280, 720)]
#: Pictures of a running trial are taken after the "Go!" flash (station.kiosk.screens.GO_SHOWN_S).
AFTER_GO_S = 1.0

ALL_PROTOCOLS_TOML = every_protocol_battery("every", "Every protocol, short", practice=1)

#: When a protocol's active phase shows something worth a picture.
INTERESTING: dict[str, Callable[[LiveValues], bool]] = {
    "nine_hole_peg": lambda lv: lv.holes_filled >= 5,
    "finger_tapping": lambda lv: lv.taps >= 6,
    "sync_continuation": lambda lv: (
        lv.beats_done >= 3 and lv.beat_age_s is not None and lv.beat_age_s < 0.05
    ),
    "reaction_time": lambda lv: lv.cue_finger is not None and lv.stimuli_done >= 2,
    "finger_sequence": lambda lv: lv.taps >= 5 and bool(lv.pressed),
    "max_force": lambda lv: lv.forces_n.get(lv.force_pad or "", 0.0) > 8.0,
    "force_steadiness": lambda lv: (
        lv.band_n is not None
        and lv.band_n[0] <= lv.forces_n.get(lv.force_pad or "", 0) <= lv.band_n[1]
    ),
    "force_tracking": lambda lv: lv.elapsed_s > 2.5,
    "finger_individuation": lambda lv: (
        lv.cue_finger == "middle" and lv.forces_n.get(lv.force_pad or "", 0.0) > 3.0
    ),
}


@dataclasses.dataclass
class Pictures:
    ready: dict[str, RunSnapshot]
    active: dict[str, RunSnapshot]
    countdown: RunSnapshot
    review: TrialSummary
    tracking: list[RunSnapshot]  # every snapshot of the tracking trial's active phase


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pictures]:
    """Real snapshots of every protocol (see the module docstring)."""
    from station.config import load_config
    from station.ui.app import AppController

    saved = {k: os.environ.get(k) for k in ("STATION_HARDWARE", "STATION_DATA_DIR")}
    data = tmp_path_factory.mktemp("pictures")
    os.environ["STATION_HARDWARE"] = "sim"
    os.environ["STATION_DATA_DIR"] = str(data)
    try:
        config = load_config(None)
        (config.data_dir / "batteries").mkdir(parents=True, exist_ok=True)
        (config.data_dir / "batteries" / "every.toml").write_text(ALL_PROTOCOLS_TOML)
        app = AppController.open(config)
        app.realtime = False
        try:
            app.set_first_pin("1357", "1357")
            app.participants.create("S001", dominant_hand="right")
            app.choose_battery("every")
            ready: dict[str, RunSnapshot] = {}
            active: dict[str, RunSnapshot] = {}
            countdown: list[RunSnapshot] = []
            tracking: list[RunSnapshot] = []

            def keep(snap: RunSnapshot) -> None:
                p = snap.protocol
                if snap.state == READY and p not in ready and not snap.practice:
                    ready[p] = snap
                if snap.state == READY and snap.practice and "practice" not in ready:
                    ready["practice"] = snap
                if snap.state != RUNNING:
                    return
                lv = snap.live
                if not countdown and lv.countdown and lv.go_in_s is not None and lv.go_in_s > 0.3:
                    countdown.append(snap)
                if snap.phase_kind != "active" or snap.practice:
                    return
                if p == "force_tracking" and lv.force_pad is not None:
                    tracking.append(snap)
                if p not in active and lv.elapsed_s > AFTER_GO_S and INTERESTING[p](lv):
                    active[p] = snap

            person = app.virtual_participant("healthy", 11)
            run = app.start_run(
                person=person, auto=True, listener=keep, host_clock=itertools.count().__next__
            )
            assert run.wait(240), "the battery of every protocol did not finish"
            final = run.snapshot()
            assert final.state == "finished", final.message
            trials = app.store.session_trials(final.session_id)
            first = trials[0]
            review = TrialSummary(
                first.id,
                "nine_hole_peg",
                "Nine-Hole Peg Test",
                "right",
                "trial 1",
                "complete",
                "total time 18.2 s",
                (
                    ("total time s", "18.2 s"),
                    ("insert time s", "9.1 s"),
                    ("remove time s", "7.4 s"),
                ),
                "",
                (),
            )
        finally:
            app.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    missing = set(INTERESTING) - set(active)
    assert not missing, f"no interesting live values seen for {sorted(missing)}"
    assert countdown, "no countdown before a go cue"
    # the Purdue board: 2 columns of 25 holes (not wired on the reference station)
    purdue_ready = dataclasses.replace(
        ready["nine_hole_peg"],
        protocol="purdue_pegboard",
        protocol_title="Purdue Pegboard",
        instructions="With your right hand, take pins from the right cup one at a time and place "
        "them in the right column, top to bottom, as quickly as you can until the stop beep.",
        params={"subtest": "right", "holes_per_column": 25},
    )
    holes = tuple([True] * 9 + [False] * 41)  # the right column (first in the roles)
    purdue_active = dataclasses.replace(
        active["nine_hole_peg"],
        protocol="purdue_pegboard",
        protocol_title="Purdue Pegboard",
        params={"subtest": "right", "holes_per_column": 25},
        live=dataclasses.replace(active["nine_hole_peg"].live, holes=holes),
    )
    ready["purdue_pegboard"] = purdue_ready
    active["purdue_pegboard"] = purdue_active
    yield Pictures(ready, active, countdown[0], review, tracking)


def show_run(k: Kiosk, snap: RunSnapshot) -> Any:
    run = k.app.screen("run")
    k.app.sm.current = "run"
    run.show(snap)
    k.frames(2)
    run.show(snap)  # laid out at the new size: drawn again
    k.frames(2)
    return run


def interrupted_trial(data_dir: Path) -> None:
    """A session whose trial was running when the process died (start_trial, never finished)."""
    from station.store import Store

    store = Store.open(data_dir)
    try:
        store.add_participant("C042", dominant_hand="left")
        wall_ns = time.time_ns() - 600 * 1_000_000_000  # ten minutes ago
        session = store.start_session(
            "C042", "standard", "", "st", {}, 1_000_000_000, wall_ns, "v", "sim", "virtual"
        )
        store.start_trial(
            session_id=session,
            seq=3,
            protocol="finger_tapping",
            version="1",
            protocol_hash="x",
            hand="left",
            practice=False,
            trial_index=2,
            params={},
            roles={},
            start_t_ns=5_000_000_000,
        )
    finally:
        store.close()


@pytest.fixture
def crashed(kiosk_config: Any) -> Any:
    interrupted_trial(kiosk_config.data_dir)
    return kiosk_config


def visit_every_screen(k: Kiosk, pictures: Pictures, size: tuple[int, int], tag: str = "") -> None:
    c = k.controller
    app = k.app
    k.window.size = size
    k.frames(3)
    home = k.wait_screen("home")
    assert "C042" in home.notice_text and "Finger Tapping Test" in home.notice_text
    k.shot(f"home{tag}", ("title", "notice", "clinician_btn"))

    pin = app.screen("pin")
    pin.start("set")
    app.sm.current = "pin"
    k.shot(f"pin-set{tag}", ("prompt", "keypad", "ok_btn", "cancel_btn"))
    if not c.auth.has_pin:
        c.set_first_pin("2468", "2468")
    c.logout()
    pin.start("login", "Locked after 5 min without a touch")
    k.shot(f"pin-login{tag}", ("prompt", "keypad", "ok_btn"))
    assert c.login("2468")

    for code, hand in (("C042", None), ("P101", "right"), ("P102", "left")):
        if c.store.get_participant(code) is None:
            c.participants.create(code, dominant_hand=hand, birth_year=1950)
    app.go("participant")
    k.wait_screen("participant")
    k.shot(f"participant{tag}", ("search", "code", "create_btn", "settings_btn", "home_btn"))
    c.participants.select("P101")
    app.go("battery")
    k.wait_screen("battery")
    k.shot(f"battery{tag}", ("title", "back_btn", "virtual_toggle"))
    app.open_settings()
    k.wait_screen("settings")
    k.shot(f"settings{tag}", ("title", "back_btn", "text_largest", "contrast_on", "sound_on"))

    app.show(
        Message(
            "Something went wrong",
            "An internal error happened while saving the note (OSError: [Errno 28] No space left "
            "on device).",
            "The data recorded so far is kept. Go back to the home screen and try again; if it "
            "happens again, tell the technician (details are in the station's log).",
        )
    )
    k.shot(f"message-error{tag}", ("title", "text", "what_to_do", "ok_btn"))
    app.show(Message("Give a reason", "Choose or type why the trial is invalid.", "", "warning"))
    k.shot(f"message-warning{tag}", ("title", "text", "ok_btn"))

    for protocol, snap in pictures.ready.items():
        run = show_run(k, snap)
        assert run.diagram is not None and run.diagram.kind
        k.shot(f"run-ready-{protocol}{tag}", ("title", "phase", "instructions", "start_btn"))
    for protocol, snap in pictures.active.items():
        if protocol == "force_tracking":  # the trace draws the seconds before this one
            shown = [s for s in pictures.tracking if s.live.t_s <= snap.live.t_s]
            for earlier in shown[-300:]:
                k.app.screen("run").show(earlier)
        run = show_run(k, snap)
        assert run.feedback, f"{protocol}: no live feedback"
        k.shot(f"run-active-{protocol}{tag}", ("title", "phase", "timer", "values", "visuals"))
    run = show_run(k, pictures.countdown)
    assert run.countdown_text.isdigit()
    k.shot(f"run-countdown{tag}", ("phase", "countdown", "visuals"))
    steady = pictures.active["force_steadiness"]
    fault = (
        "adc0 (ADS1115 at 0x48): I2C read failed ([Errno 5] Input/output error); samples missing"
    )
    run = show_run(
        k, dataclasses.replace(steady, live=dataclasses.replace(steady.live, faults=(fault,)))
    )
    assert "What to do" in run.fault_text and "flagged" in run.fault_text
    k.shot(f"run-fault{tag}", ("fault_banner", "fault", "phase", "visuals", "abort_btn"))

    review = app.screen("review")
    review.show_trial(pictures.review)
    app.sm.current = "review"
    k.frames(2)
    k.shot(f"review{tag}", ("title", "status", "metrics", "keep_btn", "invalid_btn"))
    flagged = dataclasses.replace(
        pictures.review,
        faults=((fault, fault_advice(fault)),),
    )
    review.show_trial(flagged)
    k.frames(2)
    assert "flagged" in review.status_text
    k.shot(f"review-fault{tag}", ("title", "status", "metrics", "faults", "keep_btn"))


def results_session(k: Kiosk) -> int:
    """Run the quick battery (virtual participant, as fast as possible) for the results screen."""
    c = k.controller
    c.realtime = False
    c.participants.select("P101")
    c.choose_battery("kiosktest")
    run = c.start_run(person=c.virtual_participant("healthy", 5), auto=True)
    assert run.wait(120) and run.snapshot().state == "finished"
    session_id = run.snapshot().session_id
    c.run = None  # the screens below are shown by hand
    assert session_id is not None
    return session_id


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_screen_at_each_size(
    crashed: Any, kiosk: Kiosk, pictures: Pictures, size: tuple[int, int]
) -> None:
    assert KIOSK_BATTERY  # the quick battery is in the kiosk's data folder (conftest)
    k = kiosk
    visit_every_screen(k, pictures, size)
    session_id = results_session(k)
    results = k.app.screen("results")
    results.show("P101", session_id)
    k.app.sm.current = "results"
    k.frames(2)
    assert results.ids.table.children
    k.shot("results", ("title", "summary", "header", "new_btn", "home_btn"))


def test_largest_text_high_contrast_and_mirrored(
    crashed: Any, kiosk: Kiosk, pictures: Pictures
) -> None:
    """The settings at their most demanding on the smallest display: nothing is cut off."""
    from station.kiosk.theme import style

    k = kiosk
    c = k.controller
    c.set_first_pin("2468", "2468")
    c.settings.change(text_size="largest", high_contrast=True, mirror_run_screen=True)
    k.app.apply_settings()
    assert style.high_contrast and style.font_body == round(18 * 1.4)
    visit_every_screen(k, pictures, (800, 480), tag="-largest-hc")
    # a left-hand test with the whole-screen mirror: the buttons move to the left
    snap = pictures.active["force_steadiness"]
    left = dataclasses.replace(snap, hand="left")
    run = show_run(k, left)
    assert run.mirrored and run.ids.controls.x < run.ids.left.x
    assert run.feedback["fingers"].mirrored
    k.shot("run-active-left-mirrored-largest-hc", ("controls", "visuals", "timer"))
    right = show_run(k, snap)
    assert not right.mirrored and right.ids.controls.x > right.ids.left.x
    # the drawing for a left-hand test: mirrored (the dish on the left)
    pegs = dataclasses.replace(pictures.ready["nine_hole_peg"], hand="left")
    run = show_run(k, pegs)
    assert run.diagram is not None and run.diagram.mirrored
    k.shot("run-ready-nine_hole_peg-left-largest-hc", ("instructions", "visuals", "start_btn"))


def test_home_names_failing_devices_beside_a_crash_at_largest_text(
    crashed: Any, kiosk: Kiosk
) -> None:
    """The device check's finding (every ADC unplugged: the longest it says) and a crashed
    trial on the home screen together, smallest display, largest text: nothing cut off."""
    from station.kiosk.screens import interrupted_notice

    k = kiosk
    c = k.controller
    c.settings.change(text_size="largest")
    k.app.apply_settings()
    for address in (0x48, 0x49, 0x4A, 0x4B):
        c.rig.world.unplug_adc(address)
    problem = c.check_devices()
    assert problem is not None and "10 of 31 devices failing" in problem
    home = k.wait_screen("home")
    home.notice_text = interrupted_notice(c.interrupted, (c.settings.problem, problem))
    assert "C042" in home.notice_text and problem in home.notice_text
    k.shot("home-device-problem-largest", ("title", "notice", "clinician_btn"))


def test_the_layout_check_finds_what_is_cut_off(kiosk: Kiosk) -> None:
    """check_screen fails on a shortened button text, a button below 9 mm, a widget outside the
    window and a wrapped text taller than its label (so the screenshots' checks can fail)."""
    from kivy.factory import Factory
    from kivy.uix.widget import Widget

    from tests.kiosk.conftest import check_screen

    k = kiosk
    home = k.app.screen("home")
    k.frames(2)
    check_screen(k, home, ("title",))  # as it is: fine
    box = home.children[0]

    def fails(widget: Any, match: str) -> None:
        box.add_widget(widget)
        k.frames(3)
        try:
            with pytest.raises(AssertionError, match=match):
                check_screen(k, home, ())
        finally:
            box.remove_widget(widget)
            k.frames(2)

    fails(
        Factory.KButton(text="a button with far too long a text " * 3, fit=False),
        "cut off",
    )
    fails(Factory.KButton(text="x", size_hint=(None, None), size=(30, 30)), "below 9 mm")
    stray = Widget(size_hint=(None, None), size=(40, 40))
    stray.bind(pos=lambda w, _p: setattr(w, "x", k.window.width - 10))
    fails(stray, "cut off")
    tall = Factory.KLabel(text="line\n" * 40, fit=False, size_hint_y=None, height=60)
    tall.text_size = (300, None)
    fails(tall, "cut off")


def test_no_control_acts_on_hover() -> None:
    """A touchscreen has no hover: no kiosk file binds the mouse position or a hover event."""
    from tests.conftest import REPO

    kiosk_dir = REPO / "station" / "kiosk"
    files = [*kiosk_dir.glob("*.py"), *(kiosk_dir / "kv").glob("*.kv")]
    assert len(files) > 10
    for path in files:
        text = path.read_text().lower()
        for word in ("mouse_pos", "on_hover", "hoverbehavior", "on_enter_hover"):
            assert word not in text, f"{path.name} uses {word}"
