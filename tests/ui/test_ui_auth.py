"""The clinician PIN: scrypt-hashed with a salt in kiosk.json, written atomically; no default."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from station.errors import StationError
from station.ui.auth import (
    LOCKOUT_S,
    MAX_FAILURES,
    ClinicianAuth,
    PinError,
    load_settings,
    set_pin_interactive,
    settings_path,
)
from tests.ui.conftest import FakeClock


def test_no_default_pin(data_dir: Path, clock: FakeClock) -> None:
    auth = ClinicianAuth(data_dir, clock)
    assert not auth.has_pin
    with pytest.raises(PinError, match="no clinician PIN is set"):
        auth.verify("0000")
    assert not settings_path(data_dir).exists()


def test_pin_is_stored_hashed_salted_and_private(data_dir: Path, clock: FakeClock) -> None:
    auth = ClinicianAuth(data_dir, clock)
    auth.set_pin("123456")
    path = settings_path(data_dir)
    text = path.read_text()
    assert "123456" not in text
    doc = json.loads(text)
    assert doc["pin"]["kdf"] == "scrypt" and len(bytes.fromhex(doc["pin"]["salt"])) == 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(data_dir.glob(".kiosk-*"))  # the temporary file was renamed, not left
    again = ClinicianAuth(data_dir, clock)
    assert again.verify("123456") and not again.verify("123457")
    # the same PIN set again gets a new salt, so a new hash
    first_hash = doc["pin"]["hash"]
    again.set_pin("123456", current="123456")
    assert json.loads(path.read_text())["pin"]["hash"] != first_hash


def test_changing_the_pin_needs_the_current_one(data_dir: Path, clock: FakeClock) -> None:
    auth = ClinicianAuth(data_dir, clock)
    auth.set_pin("1111")
    with pytest.raises(PinError, match="current PIN"):
        auth.set_pin("2222")
    with pytest.raises(PinError, match="current PIN"):
        auth.set_pin("2222", current="9999")
    auth.set_pin("2222", current="1111")
    assert auth.verify("2222")


@pytest.mark.parametrize("bad", ["123", "123456789", "12a4", ""])
def test_pin_format(data_dir: Path, clock: FakeClock, bad: str) -> None:
    with pytest.raises(PinError, match="4 to 8 digits"):
        ClinicianAuth(data_dir, clock).set_pin(bad)


def test_too_many_wrong_pins_lock_out_for_a_while(data_dir: Path, clock: FakeClock) -> None:
    auth = ClinicianAuth(data_dir, clock)
    auth.set_pin("4321")
    for _ in range(MAX_FAILURES):
        assert not auth.verify("0000")
    with pytest.raises(PinError, match="too many wrong PINs"):
        auth.verify("4321")
    clock.advance(LOCKOUT_S + 1)
    assert auth.verify("4321")


def test_idle_lock_minutes_are_kept(data_dir: Path, clock: FakeClock) -> None:
    auth = ClinicianAuth(data_dir, clock)
    auth.set_idle_lock_min(2)
    auth.set_pin("1234")
    assert load_settings(data_dir).idle_lock_min == 2.0
    assert ClinicianAuth(data_dir, clock).idle_lock_s == 120.0


def test_a_damaged_settings_file_is_a_clear_error(data_dir: Path, clock: FakeClock) -> None:
    settings_path(data_dir).write_text("{not json")
    with pytest.raises(StationError, match="set the PIN again"):
        ClinicianAuth(data_dir, clock)


def test_set_pin_command_prompts_twice(data_dir: Path) -> None:
    answers = iter(["5678", "5678"])
    said: list[str] = []
    assert set_pin_interactive(data_dir, ask=lambda _p: next(answers), say=said.append) == 0
    assert "PIN set" in said[0]
    # changing it: the current PIN first
    answers = iter(["5678", "8765", "8765"])
    set_pin_interactive(data_dir, ask=lambda _p: next(answers), say=said.append)
    assert ClinicianAuth(data_dir, FakeClock()).verify("8765")
    answers = iter(["0000"])
    with pytest.raises(PinError, match="not the current PIN"):
        set_pin_interactive(data_dir, ask=lambda _p: next(answers), say=said.append)
    answers = iter(["8765", "1111", "2222"])
    with pytest.raises(PinError, match="differ"):
        set_pin_interactive(data_dir, ask=lambda _p: next(answers), say=said.append)
