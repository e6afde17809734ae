"""The kiosk's display settings: text size, high contrast, mirroring for the left hand, sound.

Kept in ``<data_dir>/kiosk-settings.json`` (beside the PIN's ``kiosk.json``, which
:mod:`station.ui.auth` owns), written atomically (a temporary file in the same folder, fsynced,
then renamed), so a power cut leaves the old settings or the new ones, never half. A missing file
means the defaults; a damaged one is reported in one line (the kiosk then starts with the
defaults and says so on the home screen) and replaced by the next change.

* ``text_size``: ``normal``, ``large`` or ``largest`` (every font times 1, 1.2 or 1.4; a text
  that would not fit its place on a small screen is drawn as large as fits);
* ``high_contrast``: pure black and white with outlined buttons (off: the standard dark theme);
* ``mirror_run_screen``: for a left-hand test, the whole run screen is mirrored (the buttons on
  the left, the drawings on the right). The live feedback and the instruction drawings always
  follow the tested hand (little finger first for the left hand), whatever this setting says;
* ``sound``: the screen's sound cues (the buzzer's go, stop and metronome clicks played through
  the display's speaker). Unset, it is on for the simulated backend (there is no buzzer) and off
  on a real station (the buzzer sounds; a second, later sound would confuse the participant).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from station.errors import StationError

log = logging.getLogger("station.ui.settings")

SETTINGS_FILENAME: Final = "kiosk-settings.json"
#: Text sizes and the factor every font is multiplied by.
TEXT_SIZES: Final = {"normal": 1.0, "large": 1.2, "largest": 1.4}


class SettingsError(StationError):
    """A setting was refused (an unknown name or a wrong value) or the file is damaged."""


@dataclass(frozen=True)
class DisplaySettings:
    text_size: str = "normal"
    high_contrast: bool = False
    mirror_run_screen: bool = False
    sound: bool | None = None  # None: on for the simulated backend, off on a real station

    @property
    def text_scale(self) -> float:
        return TEXT_SIZES[self.text_size]

    def sound_on(self, simulated: bool) -> bool:
        return simulated if self.sound is None else self.sound

    @staticmethod
    def mirror_feedback(hand: str) -> bool:
        """The feedback widgets and drawings are mirrored for a left-hand test."""
        return hand == "left"

    def mirror_screen(self, hand: str) -> bool:
        """The whole run screen is mirrored: a left-hand test with the setting on."""
        return self.mirror_run_screen and hand == "left"


def settings_path(data_dir: Path) -> Path:
    return Path(data_dir) / SETTINGS_FILENAME


def _check(name: str, value: Any, where: str = "") -> Any:
    prefix = f"{where}: " if where else ""
    if name == "text_size":
        if value not in TEXT_SIZES:
            raise SettingsError(
                f"{prefix}text_size must be one of {', '.join(TEXT_SIZES)}, got {value!r}"
            )
        return value
    if name == "sound":
        if value is not None and not isinstance(value, bool):
            raise SettingsError(f"{prefix}sound must be true, false or null, got {value!r}")
        return value
    if name in ("high_contrast", "mirror_run_screen"):
        if not isinstance(value, bool):
            raise SettingsError(f"{prefix}{name} must be true or false, got {value!r}")
        return value
    known = ", ".join(f.name for f in fields(DisplaySettings))
    raise SettingsError(f"{prefix}no setting named {name!r} (known: {known})")


def load_display_settings(data_dir: Path) -> DisplaySettings:
    """Read the settings file (the defaults when there is none); a damaged file is an error."""
    path = settings_path(data_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DisplaySettings()
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path}: cannot read the display settings ({exc})") from None
    if not isinstance(doc, dict):
        raise SettingsError(f"{path}: the display settings must be a JSON object")
    values = {name: _check(name, value, str(path)) for name, value in doc.items()}
    return DisplaySettings(**values)


def save_display_settings(data_dir: Path, settings: DisplaySettings) -> Path:
    """Write the settings file atomically (temporary file, fsync, rename, fsync the folder)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = settings_path(data_dir)
    fd, tmp = tempfile.mkstemp(prefix=".kiosk-settings-", suffix=".json", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(settings), fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


class SettingsController:
    """The display settings of one kiosk: read at start, changed by the settings screen.

    :param simulated: the backend is simulated (the default of ``sound``)."""

    def __init__(self, data_dir: Path, *, simulated: bool):
        self.data_dir = Path(data_dir)
        self.simulated = simulated
        #: Why the saved settings were not used (a damaged file), for the home screen; or "".
        self.problem = ""
        try:
            self.settings = load_display_settings(self.data_dir)
        except SettingsError as exc:
            log.warning("%s; using the default display settings", exc)
            self.problem = f"{exc}; the default display settings are used until one is changed"
            self.settings = DisplaySettings()

    @property
    def sound_on(self) -> bool:
        return self.settings.sound_on(self.simulated)

    def change(self, **changes: Any) -> DisplaySettings:
        """Change and save settings by name (``text_size="large"``, ``sound=False``, ...)."""
        checked = {name: _check(name, value) for name, value in changes.items()}
        new = replace(self.settings, **checked)
        save_display_settings(self.data_dir, new)
        self.settings = new
        self.problem = ""
        return new
