"""The kiosk's display settings (station.ui.settings) and the crash-restart notice
(AppController.interrupted): no Kivy."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from station.config import StationConfig
from station.ui.app import AppController
from station.ui.settings import (
    DisplaySettings,
    SettingsController,
    SettingsError,
    load_display_settings,
    settings_path,
)
from tests.ui.conftest import FakeClock


def test_defaults_then_changes_are_saved_and_read_back(data_dir: Path) -> None:
    settings = SettingsController(data_dir, simulated=True)
    assert settings.settings == DisplaySettings() and settings.problem == ""
    assert settings.settings.text_scale == 1.0
    settings.change(text_size="largest", high_contrast=True, mirror_run_screen=True, sound=False)
    path = settings_path(data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "text_size": "largest",
        "high_contrast": True,
        "mirror_run_screen": True,
        "sound": False,
    }
    again = SettingsController(data_dir, simulated=True)
    assert again.settings.text_scale == 1.4 and again.settings.high_contrast
    assert not again.sound_on
    assert not list(data_dir.glob(".kiosk-settings-*"))  # no temporary file left


def test_sound_defaults_to_the_backend(data_dir: Path) -> None:
    # no buzzer on the simulated backend: the screen sounds; on a real station the buzzer does
    assert SettingsController(data_dir, simulated=True).sound_on
    real = SettingsController(data_dir, simulated=False)
    assert not real.sound_on
    real.change(sound=True)
    assert SettingsController(data_dir, simulated=False).sound_on


def test_mirroring_follows_the_tested_hand() -> None:
    off = DisplaySettings()
    on = DisplaySettings(mirror_run_screen=True)
    assert DisplaySettings.mirror_feedback("left") and not DisplaySettings.mirror_feedback("right")
    assert not off.mirror_screen("left")
    assert on.mirror_screen("left") and not on.mirror_screen("right")
    assert not on.mirror_screen("both")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text_size": "huge"}, "text_size must be one of normal, large, largest"),
        ({"high_contrast": "yes"}, "high_contrast must be true or false"),
        ({"sound": 1}, "sound must be true, false or null"),
        ({"colour": "red"}, "no setting named 'colour'"),
    ],
)
def test_bad_values_are_refused_clearly(data_dir: Path, change: dict, message: str) -> None:  # type: ignore[type-arg]
    settings = SettingsController(data_dir, simulated=True)
    with pytest.raises(SettingsError, match=message):
        settings.change(**change)
    assert not settings_path(data_dir).exists()  # nothing half-saved


def test_a_damaged_file_is_named_and_the_defaults_are_used(data_dir: Path) -> None:
    path = settings_path(data_dir)
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="cannot read the display settings"):
        load_display_settings(data_dir)
    settings = SettingsController(data_dir, simulated=True)
    assert settings.settings == DisplaySettings()
    assert "kiosk-settings.json" in settings.problem and "default" in settings.problem
    path.write_text(json.dumps({"text_size": "tiny"}))
    assert "text_size must be one of" in SettingsController(data_dir, simulated=True).problem
    settings.change(text_size="large")  # the next change writes a good file
    assert settings.problem == ""
    assert load_display_settings(data_dir).text_size == "large"


def test_the_pin_file_is_left_alone(
    data_dir: Path, config: StationConfig, clock: FakeClock
) -> None:
    app = AppController.open(config, clock=clock)
    try:
        app.set_first_pin("1234", "1234")
        app.settings.change(text_size="large")
        assert app.auth.verify("1234")  # kiosk.json (the PIN) untouched by the settings
        assert json.loads((data_dir / "kiosk.json").read_text())["pin"]["kdf"] == "scrypt"
    finally:
        app.close()


def test_a_trial_interrupted_by_a_crash_is_named_with_what_to_do(
    config: StationConfig, clock: FakeClock
) -> None:
    """A trial started and never finished (the process died): the next start recovers it and
    the home screen's controller names participant, battery, protocol, hand, trial and time."""
    from station.store import Store

    store = Store.open(config.data_dir)
    store.add_participant("C007", dominant_hand="right")
    wall_ns = time.time_ns()
    session = store.start_session(
        "C007", "standard", "", "s", {}, 2_000_000_000, wall_ns, "v", "sim", "virtual"
    )
    store.start_trial(session, 1, "nine_hole_peg", "1", "h", "right", True, 1, {}, {}, 1)
    store.close()  # the process "dies": the session and its trial stay running

    store = Store.open(config.data_dir, recover=False)  # (recovering is the kiosk's job here)
    s2 = store.start_session(
        "C007", "quick", "", "s", {}, 2_000_000_000, wall_ns, "v", "sim", "virtual"
    )
    store.start_trial(
        s2, 4, "finger_tapping", "1", "h", "left", False, 3, {}, {}, 2_000_000_000 + 90 * 10**9
    )
    store.close()

    app = AppController.open(config, clock=clock)
    try:
        found = {i.session_id: i for i in app.interrupted}
        assert set(found) == {session, s2}
        first, second = found[session], found[s2]
        assert (first.participant, first.battery, first.protocol, first.hand, first.trial) == (
            "C007",
            "standard",
            "Nine-Hole Peg Test",
            "right",
            "practice trial",
        )
        assert (second.battery, second.protocol, second.hand, second.trial) == (
            "quick",
            "Finger Tapping Test",
            "left",
            "trial 1",
        )
        expected = time.strftime("%Y-%m-%d %H:%M", time.localtime(wall_ns / 1e9 + 90))
        assert second.when == expected  # the trial's own start, on the wall clock
        assert "repeat it in a new session" in second.what_to_do
        assert "C007" in second.what and "left hand" in second.what
        assert len(app.recovered) == 2  # the store's own descriptions are kept too
    finally:
        app.close()
    app = AppController.open(config, clock=clock)  # a second start: nothing more to recover
    try:
        assert app.interrupted == []
    finally:
        app.close()
