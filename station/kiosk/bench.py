"""``station kiosk --bench``: the kiosk's own figures for docs/benchmarks.md.

* ``home_screen_s``: from the process's start (the kernel's start time of this process) to the
  end of the first frame that shows the home screen;
* ``fps_force_bar`` and ``fps_metronome``: frames drawn (buffer flips) per second while a force-steadiness trial
  (force bar with its band, finger cue) and a synchronization-continuation trial (visual metronome)
  run in real time on the simulated backend, the virtual participant acting.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kivy.clock import Clock

from station.ui.demo import DemoDriver, demo_battery

BENCH_BATTERY_TOML = """
name = "bench"
title = "Kiosk benchmark: force bar, then metronome"

[[step]]
protocol = "force_steadiness"
hands = ["dominant"]
trials = 1
[step.params]
hold_s = 8.0
foreperiod_s = 1.0

[[step]]
protocol = "sync_continuation"
hands = ["dominant"]
trials = 1
[step.params]
n_sync = 16
n_continuation = 6
skip_beats = 2
foreperiod_s = 1.0
"""

FEEDBACK_OF = {"force_steadiness": "fps_force_bar", "sync_continuation": "fps_metronome"}


def process_age_s() -> float:
    """Seconds since this process started (Linux: /proc/self/stat and /proc/uptime)."""
    stat = Path("/proc/self/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    start_ticks = int(fields[19])  # field 22 of the whole line: starttime
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    return uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")


class KioskBench:
    def __init__(self, figures: dict[str, Any]):
        self.figures = figures
        self.app: Any = None
        self.driver: DemoDriver | None = None
        self._frames: dict[str, list[float]] = {}

    def attach(self, app: Any, driver: DemoDriver | None) -> None:
        self.app = app
        self.driver = driver

    def home_shown(self) -> None:
        # on_start ran and this is the first frame's clock tick: measure after it is drawn
        Clock.schedule_once(self._after_first_frame, 0)

    def _after_first_frame(self, _dt: float) -> None:
        self.figures["home_screen_s"] = round(process_age_s(), 2)
        app = self.app
        driver = self.driver or DemoDriver(app.controller)
        driver.battery_name = demo_battery(BENCH_BATTERY_TOML)
        app.demo = driver
        app.start_demo()
        from kivy.core.window import Window

        Window.bind(on_flip=self._frame)

    def _frame(self, window: Any) -> None:
        """After each frame is drawn and shown (the window's buffer flip)."""
        run = self.app.controller.run
        if run is None:
            return
        snap = run.snapshot()
        key = FEEDBACK_OF.get(snap.protocol)
        if key is not None and snap.state == "running" and snap.phase_kind == "active":
            self._frames.setdefault(key, []).append(time.monotonic())
        if run.ended:
            for name, times in self._frames.items():
                if len(times) > 1:
                    self.figures[name] = round((len(times) - 1) / (times[-1] - times[0]), 1)
                    self.figures[name.replace("fps", "seconds")] = round(times[-1] - times[0], 1)
            self.figures["run_state"] = snap.state
            window.unbind(on_flip=self._frame)
            Clock.schedule_once(lambda _dt: self.app.stop(), 0)
