"""Controllers of the kiosk (station.ui), without Kivy: simulated hardware, a fake clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.config import StationConfig, load_config
from station.ui.app import AppController

QUICK_BATTERY = """
name = "uiquick"
title = "Quick: force band and metronome"

[[step]]
protocol = "force_steadiness"
hands = ["dominant"]
trials = 1
[step.params]
hold_s = 2.0
settle_s = 0.5
welch_segment_s = 1.0
foreperiod_s = 0.5

[[step]]
protocol = "sync_continuation"
hands = ["dominant"]
trials = 1
[step.params]
n_sync = 6
n_continuation = 4
skip_beats = 1
interval_ms = 400.0
lead_in_s = 0.5
foreperiod_s = 0.5
"""


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def data_dir() -> Path:
    path = Path(os.environ["STATION_DATA_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def config(data_dir: Path) -> StationConfig:
    return load_config(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def controller(config: StationConfig, clock: FakeClock) -> Iterator[AppController]:
    (config.data_dir / "batteries").mkdir(parents=True, exist_ok=True)
    (config.data_dir / "batteries" / "uiquick.toml").write_text(QUICK_BATTERY)
    app = AppController.open(config, clock=clock)
    app.realtime = False
    yield app
    app.close()


@pytest.fixture
def clinician(controller: AppController) -> AppController:
    """Logged in, participant P001 (right-handed) and the quick battery chosen."""
    controller.set_first_pin("2468", "2468")
    controller.participants.create("P001", dominant_hand="right", birth_year=1970)
    controller.choose_battery("uiquick")
    return controller
