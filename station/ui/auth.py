"""The clinician PIN and the kiosk's own settings, in ``<data_dir>/kiosk.json``.

The PIN is never stored: only a random salt and its scrypt hash (``hashlib.scrypt``, n=2**14, r=8,
p=1: about 16 MiB and a few tens of ms per check, so guessing is slow). There is no default PIN: until
one is set (``station kiosk --set-pin`` or the kiosk's own first screen) clinician mode cannot be
entered. The file is written atomically (a temporary file in the same folder, fsynced, then
renamed over the old one), so a power cut leaves the old settings or the new ones, never half.

After :data:`MAX_FAILURES` wrong PINs in a row, further tries are refused for
:data:`LOCKOUT_S` seconds (on the injected clock).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from station.errors import StationError

SETTINGS_FILENAME: Final = "kiosk.json"
PIN_MIN_DIGITS: Final = 4
PIN_MAX_DIGITS: Final = 8
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
#: Lock clinician mode after this long without a touch, unless configured otherwise, min.
DEFAULT_IDLE_LOCK_MIN: Final = 5.0
MAX_FAILURES: Final = 5
LOCKOUT_S: Final = 60.0

Clock = Callable[[], float]
"""Seconds on a monotonic clock (``time.monotonic`` in the app; a fake in tests)."""


class PinError(StationError):
    """A PIN was refused (wrong, badly formed, or too many tries)."""


@dataclass(frozen=True)
class KioskSettings:
    pin_salt_hex: str | None = None
    pin_hash_hex: str | None = None
    idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_salt_hex and self.pin_hash_hex)


def settings_path(data_dir: Path) -> Path:
    return Path(data_dir) / SETTINGS_FILENAME


def load_settings(data_dir: Path) -> KioskSettings:
    """Read ``kiosk.json`` (defaults when it does not exist); a damaged file is a clear error."""
    path = settings_path(data_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return KioskSettings()
    except (OSError, ValueError) as exc:
        raise StationError(
            f"{path}: cannot read the kiosk settings ({exc}); set the PIN again with "
            "`station kiosk --set-pin`"
        ) from None
    if not isinstance(doc, dict):
        raise StationError(f"{path}: the kiosk settings must be a JSON object")
    pin = doc.get("pin") or {}
    idle = doc.get("idle_lock_min", DEFAULT_IDLE_LOCK_MIN)
    if not isinstance(idle, int | float) or isinstance(idle, bool) or not 0.5 <= idle <= 240:
        raise StationError(f"{path}: idle_lock_min must be a number of minutes 0.5-240")
    if pin and (
        pin.get("kdf") != "scrypt"
        or not isinstance(pin.get("salt"), str)
        or not isinstance(pin.get("hash"), str)
    ):
        raise StationError(f"{path}: the stored PIN is not readable; set it again")
    return KioskSettings(pin.get("salt"), pin.get("hash"), float(idle))


def save_settings(data_dir: Path, settings: KioskSettings) -> Path:
    """Write ``kiosk.json`` atomically (temporary file, fsync, rename, fsync the folder)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"idle_lock_min": settings.idle_lock_min}
    if settings.has_pin:
        doc["pin"] = {
            "kdf": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": settings.pin_salt_hex,
            "hash": settings.pin_hash_hex,
        }
    path = settings_path(data_dir)
    fd, tmp = tempfile.mkstemp(prefix=".kiosk-", suffix=".json", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
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


def check_pin_format(pin: str) -> str:
    if not pin.isdigit() or not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise PinError(f"a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    return pin


def hash_pin(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 1024 * 1024
    )


class ClinicianAuth:
    """Checks and sets the clinician PIN; counts failures (see the module docstring)."""

    def __init__(self, data_dir: Path, clock: Clock):
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.settings = load_settings(self.data_dir)
        self._failures = 0
        self._locked_until_s: float | None = None

    @property
    def has_pin(self) -> bool:
        return self.settings.has_pin

    @property
    def idle_lock_s(self) -> float:
        return self.settings.idle_lock_min * 60.0

    def set_pin(self, pin: str, *, current: str | None = None) -> None:
        """Set (or change) the PIN. Changing it needs the current one."""
        check_pin_format(pin)
        if self.has_pin and (current is None or not self.verify(current)):
            raise PinError("the current PIN is needed to change it")
        salt = secrets.token_bytes(SALT_BYTES)
        self.settings = KioskSettings(
            salt.hex(), hash_pin(pin, salt).hex(), self.settings.idle_lock_min
        )
        save_settings(self.data_dir, self.settings)

    def set_idle_lock_min(self, minutes: float) -> None:
        if not 0.5 <= minutes <= 240:
            raise PinError("the idle lock is 0.5 to 240 minutes")
        s = self.settings
        self.settings = KioskSettings(s.pin_salt_hex, s.pin_hash_hex, float(minutes))
        save_settings(self.data_dir, self.settings)

    def verify(self, pin: str) -> bool:
        """True when ``pin`` is the PIN. Raises :class:`PinError` while locked out or unset."""
        now = self.clock()
        if self._locked_until_s is not None and now < self._locked_until_s:
            wait_s = self._locked_until_s - now
            raise PinError(f"too many wrong PINs: try again in {wait_s:.0f} s")
        if not self.has_pin:
            raise PinError("no clinician PIN is set yet: set one first")
        assert self.settings.pin_salt_hex and self.settings.pin_hash_hex
        salt = bytes.fromhex(self.settings.pin_salt_hex)
        ok = pin.isdigit() and hmac.compare_digest(
            hash_pin(pin, salt), bytes.fromhex(self.settings.pin_hash_hex)
        )
        if ok:
            self._failures = 0
            self._locked_until_s = None
            return True
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            self._failures = 0
            self._locked_until_s = now + LOCKOUT_S
        return False


def set_pin_interactive(
    data_dir: Path,
    ask: Callable[[str], str] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """``station kiosk --set-pin``: prompt for the PIN twice (and the current one to change it)."""
    ask = ask or getpass.getpass
    auth = ClinicianAuth(data_dir, time.monotonic)
    current = None
    if auth.has_pin:
        current = ask("Current clinician PIN: ")
        if not auth.verify(current):
            raise PinError("that is not the current PIN; nothing changed")
    pin = ask("New clinician PIN (4-8 digits): ")
    check_pin_format(pin)
    if ask("The same PIN again: ") != pin:
        raise PinError("the two PINs differ; nothing changed")
    auth.set_pin(pin, current=current)
    say(f"clinician PIN set (stored hashed in {auth.data_dir / 'kiosk.json'})")
    return 0


def set_idle_lock(data_dir: Path, minutes: float, say: Callable[[str], None] = print) -> None:
    """``station kiosk --idle-lock-min N``: save the idle lock time."""
    ClinicianAuth(data_dir, time.monotonic).set_idle_lock_min(minutes)
    say(f"clinician mode locks after {minutes:g} min without a touch")
