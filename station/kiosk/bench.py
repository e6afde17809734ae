"""``station kiosk --bench``: the kiosk's own figures for docs/benchmarks.md.

* ``home_screen_s``: from the process's start (the kernel's start time of this process) to the
  end of the first frame that shows the home screen;
* ``fps_force_bar`` and ``fps_metronome``: frames drawn (buffer flips) per second while a
  force-steadiness trial (force bar with its band, finger cue) and a synchronization-continuation
  trial (visual metronome) run in real time on the simulated backend, the virtual participant
  acting;
* ``force_to_screen_ms``: during the force trial's hold, for each frame drawn, the age of the
  newest force sample that frame shows: the window's buffer flip (host CLOCK_MONOTONIC, read in
  ``on_flip``, after the frame is drawn and swapped) minus the host time at which that sample was
  taken. On the simulated backend a sample's time is virtual; the trial's pacer keeps virtual time
  in step with the host clock from one origin per trial (virtual v0 <-> host h0, and virtual time
  never runs ahead of it), so the sample "was taken" at host time h0 + (t_sample - v0)
  (:attr:`~station.ui.run.LiveValues.sample_host_ns`). The delay therefore includes any lag of
  the simulation behind real time, the worker's publishing period (1/60 s), the screen's refresh
  period (1/60 s), drawing and the buffer swap; not the display panel's own scan-out and pixel
  response (unmeasurable here). ``force_to_screen_first_ms``: the same, counting only the first
  frame that shows each new sample (the delay until a new sample is first seen).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
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
        self._delays_ns: list[int] = []
        self._first_delays_ns: list[int] = []
        self._last_sample: int | None = None
        self._worst = (0, 0.0)  # the longest delay, and when (s after the go cue)

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
        flip_ns = time.monotonic_ns()
        key = FEEDBACK_OF.get(snap.protocol)
        if key is not None and snap.state == "running" and snap.phase_kind == "active":
            self._frames.setdefault(key, []).append(flip_ns / 1e9)
            if key == "fps_force_bar":
                self._force_delay(flip_ns)
        if run.ended:
            for name, times in self._frames.items():
                if len(times) > 1:
                    self.figures[name] = round((len(times) - 1) / (times[-1] - times[0]), 1)
                    self.figures[name.replace("fps", "seconds")] = round(times[-1] - times[0], 1)
            for name, delays in (
                ("force_to_screen_ms", self._delays_ns),
                ("force_to_screen_first_ms", self._first_delays_ns),
            ):
                if delays:
                    ms = np.asarray(delays, dtype=np.float64) / 1e6
                    self.figures[name] = {
                        "p50": round(float(np.percentile(ms, 50)), 1),
                        "p95": round(float(np.percentile(ms, 95)), 1),
                        "max": round(float(ms.max()), 1),
                        "frames": len(delays),
                    }
            if self._delays_ns:
                self.figures["force_to_screen_ms"]["max_at_s"] = round(self._worst[1], 2)
            self.figures["run_state"] = snap.state
            self.figures["host"] = platform.node()
            self.figures["cpus"] = os.cpu_count()
            self.figures["load_1min"] = round(os.getloadavg()[0], 2)
            window.unbind(on_flip=self._frame)
            Clock.schedule_once(lambda _dt: self.app.stop(), 0)

    def _force_delay(self, flip_ns: int) -> None:
        """The age of the newest force sample the frame just drawn shows (see the docstring)."""
        shown = getattr(self.app.screen("run"), "shown", None)
        if shown is None or shown.state != "running":
            return
        sample_host_ns = shown.live.sample_host_ns
        if sample_host_ns is None:
            return
        delay = flip_ns - sample_host_ns
        self._delays_ns.append(delay)
        if delay > self._worst[0]:
            self._worst = (delay, shown.live.elapsed_s)
        if shown.live.sample_t_ns != self._last_sample:
            self._last_sample = shown.live.sample_t_ns
            self._first_delays_ns.append(delay)
