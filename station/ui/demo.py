"""``station kiosk --demo``: the virtual participant runs a battery on its own.

The demo uses the same controllers as a clinician's session: a participant ``DEMO`` (created when
missing), a battery (by default :data:`DEMO_BATTERY_TOML`, one short trial of each kind of live
feedback: pegboard, tapping, metronome, force band), and a :class:`~station.ui.run.RunController`
with ``auto=True`` (trials start and are kept by themselves). The Kivy app shows it; without a
display :func:`run_terminal_demo` prints it.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable

from station.battery import Battery, parse_battery
from station.errors import StationError
from station.ui.app import AppController
from station.ui.run import FINISHED, RunController

DEMO_CODE = "DEMO"
DEMO_BATTERY_TOML = """
name = "demo"
title = "Demonstration: one short trial of each kind"

[[step]]
protocol = "nine_hole_peg"
hands = ["dominant"]
practice = 0
trials = 1
[step.params]
foreperiod_s = 1.0

[[step]]
protocol = "finger_tapping"
hands = ["dominant"]
trials = 1
[step.params]
duration_s = 5.0
foreperiod_s = 1.0
best_n = 1
max_trials = 1

[[step]]
protocol = "sync_continuation"
hands = ["dominant"]
trials = 1
[step.params]
n_sync = 8
n_continuation = 8
skip_beats = 2
foreperiod_s = 1.0

[[step]]
protocol = "force_steadiness"
hands = ["dominant"]
trials = 1
[step.params]
hold_s = 5.0
foreperiod_s = 1.0
"""


def demo_battery(toml_text: str = DEMO_BATTERY_TOML) -> Battery:
    raw = toml_text.encode()
    return parse_battery(
        tomllib.loads(toml_text), toml_text, "<demo battery>", hashlib.sha256(raw).hexdigest()
    )


class DemoDriver:
    """Sets up and starts the demo on an :class:`AppController` (simulated backend only)."""

    def __init__(
        self,
        app: AppController,
        *,
        battery: str | Battery | None = None,
        profile: str | None = None,
        seed: int | None = None,
    ):
        if not app.simulated:
            raise StationError("the demo needs the simulated backend (STATION_HARDWARE=sim)")
        self.app = app
        self.battery_name = battery
        self.profile = profile
        self.seed = seed
        self.run: RunController | None = None

    def start(self, say: Callable[[str], None] | None = None) -> RunController:
        app = self.app
        if app.store.get_participant(DEMO_CODE) is None:
            app.participants.create(DEMO_CODE, dominant_hand="right", affected_side="none")
        app.participants.select(DEMO_CODE)
        if isinstance(self.battery_name, Battery):
            app.battery = self.battery_name
        elif self.battery_name:
            app.choose_battery(self.battery_name)
        else:
            app.battery = demo_battery()
        person = app.virtual_participant(self.profile, self.seed)
        self.run = app.start_run(person=person, auto=True, say=say)
        return self.run

    @property
    def ended(self) -> bool:
        return self.run is not None and self.run.ended


def run_terminal_demo(
    app: AppController,
    *,
    battery: str | None = None,
    profile: str | None = None,
    seed: int | None = None,
    say: Callable[[str], None] = print,
    timeout_s: float = 3600.0,
) -> int:
    """The demo without a display: every line the runner says, then the results. Exit status."""
    driver = DemoDriver(app, battery=battery, profile=profile, seed=seed)
    run = driver.start(say=say)
    try:
        if not run.wait(timeout_s):
            run.abort()
            run.wait(10.0)
    except KeyboardInterrupt:
        run.abort()
        run.wait(10.0)
        raise
    snap = run.snapshot()
    if snap.state != FINISHED:
        if snap.message is not None:
            say(f"{snap.message.title}: {snap.message.text} {snap.message.what_to_do}")
        say(f"demo ended: {snap.state}")
        return 1
    session = app.results.session(DEMO_CODE, snap.session_id)
    say(f"\nsession {snap.session_id} ({snap.battery_title}): results")
    if session is not None:
        for row in session.rows:
            flag = "  RELIABLE CHANGE" if row.reliable else ""
            if row.baseline == "baseline":
                versus = "(this is the baseline)"
            else:
                versus = f"baseline {row.baseline}, change {row.change}{flag}"
            say(f"  {row.protocol:18s} {row.hand:6s} {row.metric:28s} {row.value:>14s}  {versus}")
    return 0
