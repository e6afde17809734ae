"""The kiosk under Xvfb, driven by touches: the clinician's flow from the home screen to the
results, the virtual-hardware panel, the demo, errors, the idle lock, and the layouts at
800x480, 1024x600 and 1280x720. Every screen is saved and checked (see conftest.py)."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from station.ui.run import REVIEW, RUNNING, RunSnapshot
from tests.kiosk.conftest import Kiosk

#: A failure bound: a hold the test never releases (it failed first) lets the trial go after this.
HOLD_BOUND_S = 60.0


def enter_pin(k: Kiosk, pin: str) -> None:
    for digit in pin:
        k.tap(k.button(digit))
    k.tap(k.button("OK"))


def run_snapshot(k: Kiosk) -> Any:
    assert k.controller.run is not None
    return k.controller.run.snapshot()


class Hold:
    """Holds a real-time trial still at one moment, so that the screen shows it for as many
    frames as the test needs, however slow the frames are. Given every snapshot the run publishes
    (on its worker thread, between simulation steps), it stops the worker at the first one
    ``when`` accepts until :meth:`release`: the trial's virtual time stands still meanwhile (the
    simulation catches up with the host clock afterwards)."""

    def __init__(self, when: Callable[[RunSnapshot], bool]):
        self.when = when
        self.snap: RunSnapshot | None = None
        self._released = threading.Event()

    def __call__(self, snap: RunSnapshot) -> None:  # the run's worker thread
        if self.snap is None and self.when(snap):
            self.snap = snap
            self._released.wait(HOLD_BOUND_S)

    def release(self) -> None:
        self._released.set()

    def shown(self, k: Kiosk, what: str) -> RunSnapshot:
        """Wait until the run screen shows the held snapshot; returns it."""
        run = k.app.screen("run")
        k.wait_for(lambda: self.snap is not None and run.shown is self.snap, what, 60)
        assert self.snap is not None
        return self.snap


@pytest.fixture
def listen(kiosk: Kiosk, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``listen(*listeners)``: the runs the kiosk starts from then on give every snapshot they
    publish to each listener, on their worker thread (RunController's ``listener``), and publish
    one at every simulation step (a host clock that ticks a second per reading), so that every
    moment of a trial is published, whatever the load. Holds are released at the end."""
    c = kiosk.controller
    start_run = c.start_run
    holds: list[Hold] = []

    def install(*listeners: Callable[[RunSnapshot], None]) -> None:
        holds.extend(f for f in listeners if isinstance(f, Hold))

        def each(snap: RunSnapshot) -> None:
            for f in listeners:
                f(snap)

        def start(**kwargs: Any) -> Any:
            clock = itertools.count(0.0, 1.0).__next__
            return start_run(listener=each, host_clock=clock, **kwargs)

        monkeypatch.setattr(c, "start_run", start)

    yield install
    for hold in holds:  # a failed test: let the worker go, so the kiosk fixture can stop it
        hold.release()


def test_clinician_flow_to_the_results(kiosk: Kiosk, listen: Callable[..., None]) -> None:
    k = kiosk
    force_held = Hold(
        lambda s: (
            s.protocol == "force_steadiness"
            and s.state == RUNNING
            and s.phase_kind == "active"
            and s.live.forces_n.get("pad_index", 0) > 1.0
        )
    )
    beat_held = Hold(  # just after a click (the disc is lit for its flash_s, 0.12 s)
        lambda s: (
            s.protocol == "sync_continuation"
            and s.state == RUNNING
            and s.live.beat_age_s is not None
            and 0 <= s.live.beat_age_s < 0.05
        )
    )
    listen(force_held, beat_held)
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
    held = force_held.shown(k, "the participant holding the force")
    bar = run.feedback["force"]
    assert bar.force_n == held.live.forces_n["pad_index"] > 1.0
    assert bar.target_n is not None and bar.band_n is not None
    assert run.feedback["fingers"].finger == "index"
    k.shot("06-run-force-bar", ("phase", "timer", "values", "visuals"))
    force_held.release()

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
    held = beat_held.shown(k, "a metronome click")
    metronome = run.feedback["metronome"]
    assert metronome.beat_age_s == held.live.beat_age_s < metronome.flash_s
    assert metronome.lit, "a metronome click lights the disc"
    k.shot("09-run-metronome", ("phase", "timer", "values", "visuals"))
    beat_held.release()
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
    assert [n.text for n in store.session_notes(session_id)] == ["tremor visible at rest"]
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
    k.wait_for(lambda: run_snapshot(k).phase_kind == "active", "the go cue", 60)
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


def test_a_live_adc_fault_shows_a_banner_flags_the_trial_and_the_app_carries_on(
    kiosk: Kiosk, listen: Callable[..., None]
) -> None:
    """The simulated ADC is unplugged during the hold: the run screen names the fault and what
    to do, the review shows the trial flagged, the ADC comes back and the next test runs."""
    k = kiosk
    c = k.controller
    world = c.rig.world
    adc0 = c.config.adc("adc0").address
    unplugged: list[RunSnapshot] = []

    def unplug_in_the_hold(snap: RunSnapshot) -> None:  # the worker thread, between steps
        if snap.protocol == "force_steadiness" and snap.phase_kind == "active" and not unplugged:
            unplugged.append(snap)
            world.unplug_adc(adc0)

    fault_held = Hold(lambda s: s.state == RUNNING and bool(s.live.faults))
    listen(unplug_in_the_hold, fault_held)
    c.set_first_pin("1111", "1111")
    c.participants.create("F001", dominant_hand="right")
    k.app.start_battery("kiosktest", virtual=True)
    run = k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the first trial")
    k.tap(k.button("Start trial"))
    held = fault_held.shown(k, "the fault during the trial")
    assert unplugged and held.phase_kind == "active"  # unplugged, and seen, during the hold
    assert "adc0" in run.fault_text and "What to do" in run.fault_text
    assert "flagged" in run.fault_text and "cable" in run.fault_text
    k.shot("14-run-fault-live", ("fault_banner", "fault", "phase", "abort_btn"))
    fault_held.release()
    review = k.wait_screen("review")
    assert "flagged" in review.status_text and "cable" in review.faults_text
    k.shot("15-review-fault-live", ("status", "faults", "keep_btn"))
    world.schedule(c.rig.clock.now_ns(), lambda: world.replug_adc(adc0))
    k.tap(k.button("Keep, next"))
    k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the next test")
    assert run_snapshot(k).protocol == "sync_continuation" and not run.fault_text
    stored = c.store.session_trials(run_snapshot(k).session_id)
    assert stored[0].faults and "recorded with faults" in stored[0].notes
    k.tap(k.button("Abort session"))
    k.wait_screen("results")


def test_the_metronome_clicks_sound_on_the_screen_and_the_setting_silences_them(
    kiosk: Kiosk, listen: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buzzer's cues reach the screen's sound (SDL's silent device under test): the go beep,
    every click and the stop beep of a metronome trial; with the sound setting off, none."""
    from station.kiosk import audio as audio_module

    # a cue the screen sees late is not played (unit-tested below): here every cue counts,
    # however slow the frames
    monkeypatch.setattr(audio_module, "MAX_AGE_S", math.inf)
    # the trial's end waits for the screen to have seen the stop beep (0.3 s before the end)
    stop_held = Hold(
        lambda s: s.state == RUNNING and any(cue.kind == "stop" for cue in s.live.sounds)
    )
    listen(stop_held)
    k = kiosk
    c = k.controller
    c.set_first_pin("1111", "1111")
    c.participants.create("A001", dominant_hand="right")
    assert c.settings.sound_on  # the simulated backend: on by default
    k.app.start_battery("kiosktest", virtual=True)
    k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the force trial")
    k.tap(k.button("Skip test"))
    k.wait_for(
        lambda: run_snapshot(k).state == "ready" and run_snapshot(k).protocol != "force_steadiness",
        "the metronome test",
    )
    audio = k.app.audio
    before = audio.played
    k.tap(k.button("Start trial"))
    held = stop_held.shown(k, "the stop beep")
    stop_held.release()
    k.wait_screen("review")
    assert not audio.unavailable, "SDL's dummy audio device should load the tones"
    assert [cue.kind for cue in held.live.sounds] == ["go"] + ["click"] * 6 + ["stop"]
    assert audio.played - before == 8  # each once
    assert list((c.config.data_dir / "kivy" / "sounds").glob("tone-*.wav"))

    c.settings.change(sound=False)
    k.app.apply_settings()
    assert not audio.enabled
    k.tap(k.button("distracted"))
    k.tap(k.button("Mark invalid and repeat"))
    k.wait_screen("run")
    k.wait_for(lambda: run_snapshot(k).state == "ready", "the repeated metronome test")
    silent_from = audio.played
    k.tap(k.button("Start trial"))
    k.wait_screen("review")
    assert audio.played == silent_from
    k.tap(k.button("Abort session"))
    k.wait_screen("results")


def test_settings_screen_changes_text_size_contrast_and_sound(kiosk: Kiosk) -> None:
    from station.kiosk.theme import FONT_BODY, HIGH_CONTRAST, style

    k = kiosk
    c = k.controller
    c.set_first_pin("1111", "1111")
    k.tap(k.button("Clinician"))
    k.wait_screen("participant")
    k.tap(k.button("Settings"))
    settings = k.wait_screen("settings")
    k.tap(k.button("Large"))
    assert c.settings.settings.text_size == "large" and style.font_body == round(FONT_BODY * 1.2)
    assert settings.ids.note.font_size <= style.font_small  # bound to the theme
    k.tap(settings.ids.contrast_on)
    assert style.high_contrast and tuple(style.bg) == HIGH_CONTRAST["bg"]
    k.tap(settings.ids.sound_off)
    assert not k.app.audio.enabled and c.settings.settings.sound is False
    k.tap(settings.ids.mirror_on)
    assert c.settings.settings.mirror_run_screen
    k.shot("16-settings-changed", ("title", "back_btn", "text_large", "contrast_on"))
    k.tap(k.button("Back"))
    k.wait_screen("participant")
    # saved: a new start reads them back
    from station.ui.settings import load_display_settings

    saved = load_display_settings(c.config.data_dir)
    assert (saved.text_size, saved.high_contrast, saved.sound) == ("large", True, False)
    c.settings.change(text_size="normal", high_contrast=False)
    k.app.apply_settings()
    assert style.font_body == FONT_BODY and not style.high_contrast


def test_the_screen_sound_without_an_audio_device_logs_once_and_stays_quiet(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import wave

    from station.kiosk.audio import SAMPLE_RATE_HZ, CuePlayer, write_tone
    from station.ui.run import LiveValues, SoundCue

    path = write_tone(tmp_path / "t.wav", 0.2)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE_HZ)
        assert w.getnframes() == round(0.2 * SAMPLE_RATE_HZ)

    class Silent:  # what Kivy's SDL2 loader gives without a device: a sound of no length
        length = 0

    loads: list[str] = []

    def loader(p: str) -> Any:
        loads.append(p)
        return Silent()

    player = CuePlayer(tmp_path / "sounds", loader=loader)
    live = LiveValues(
        t_s=1.0, sounds=(SoundCue(0, "go", 0.2, 0.95), SoundCue(1, "click", 0.01, 0.99))
    )
    with caplog.at_level(logging.WARNING, logger="station.kiosk.audio"):
        assert player.update(1, live) == 0
        assert player.update(2, live) == 0
    assert player.unavailable and len(loads) == 1
    warnings = [r for r in caplog.records if r.name == "station.kiosk.audio"]
    assert len(warnings) == 1 and "no audio output" in warnings[0].getMessage()

    def broken(p: str) -> Any:
        raise OSError("no such device")

    assert CuePlayer(tmp_path / "s2", loader=broken).update(1, live) == 0

    class Plays:
        length = 0.2

        def __init__(self) -> None:
            self.played = 0

        def stop(self) -> None:
            pass

        def play(self) -> None:
            self.played += 1

    sounds: list[Plays] = []
    good = CuePlayer(tmp_path / "s3", loader=lambda p: sounds.append(Plays()) or sounds[-1])
    assert good.update(1, live) == 2
    assert good.update(1, live) == 0  # each cue once per trial
    late = LiveValues(t_s=5.0, sounds=(SoundCue(0, "go", 0.2, 1.0),))
    assert good.update(2, late) == 0  # seen 4 s late: not played
    good.enabled = False
    assert good.update(3, live) == 0
