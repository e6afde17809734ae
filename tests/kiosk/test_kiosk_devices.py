"""The device check's finding on the kiosk's home screen: `station kiosk` runs
``AppController.check_devices`` before it builds the app (tests/kiosk/test_kiosk_systemd.py runs
the real command); here the same order with an ADC unplugged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from station.ui.app import AppController
from tests.kiosk.conftest import Kiosk


@pytest.fixture
def before_build() -> Callable[[AppController], None]:
    def unplugged_and_checked(controller: AppController) -> None:
        controller.rig.world.unplug_adc(0x49)  # adc1
        assert controller.check_devices() is not None

    return unplugged_and_checked


def test_the_home_screen_names_the_failing_devices(kiosk: Kiosk) -> None:
    home = kiosk.wait_screen("home")
    problem = kiosk.controller.device_problem
    assert problem is not None and problem.startswith("Device check: ")
    assert "(adc1, " in problem and problem in home.notice_text
    kiosk.shot("home-device-problem", ("title", "notice", "clinician_btn"))
