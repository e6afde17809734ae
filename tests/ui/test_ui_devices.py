"""The device check the kiosk runs as it starts (``AppController.check_devices``): every device
tested on the simulated backend, the report kept for the health check and the server's status
page, and what is wrong said for the home screen."""

from __future__ import annotations

import pytest

import station.selftest
from station.errors import StationError
from station.selftest import load_last_report
from station.ui.app import AppController


def test_all_ok_keeps_a_report_and_says_nothing(controller: AppController) -> None:
    assert controller.check_devices() is None
    assert controller.device_problem is None
    report = load_last_report(controller.config.data_dir)
    assert report is not None and report["ok"] is True
    assert report["devices"] == 31 and report["simulated"] is True


def test_an_unplugged_adc_is_named_for_the_home_screen(controller: AppController) -> None:
    controller.rig.world.unplug_adc(0x48)  # adc0: pads index and home
    problem = controller.check_devices()
    assert problem is not None and problem == controller.device_problem
    assert problem == (
        "Device check: 3 of 31 devices failing (adc0, pad_index, pad_home). Check their "
        "cables before recording; station selftest --watch shows why."
    )
    report = load_last_report(controller.config.data_dir)
    assert report is not None and report["ok"] is False
    assert set(report["failing"]) == {"adc0", "pad_index", "pad_home"}


def test_many_failing_devices_are_counted_not_all_named(controller: AppController) -> None:
    for address in (0x48, 0x49, 0x4A, 0x4B):
        controller.rig.world.unplug_adc(address)
    problem = controller.check_devices()
    assert problem is not None and problem.startswith("Device check: 10 of 31 devices failing (")
    assert " and 5 more). " in problem


def test_a_check_that_cannot_run_or_be_kept_is_the_problem(
    controller: AppController, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(station.selftest, "save_last_report", no_disk)
    problem = controller.check_devices()
    assert (
        problem
        == "The device check's report could not be saved: [Errno 28] No space left on device."
    )

    def broken(*_: object, **__: object) -> None:
        raise StationError("adc1: I2C bus error")

    monkeypatch.setattr(station.selftest, "run_selftest", broken)
    problem = controller.check_devices()
    assert problem is not None
    assert problem.startswith("The device check at start could not run: adc1: I2C bus error.")
