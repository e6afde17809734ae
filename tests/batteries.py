"""Batteries the tests share (TOML text for a data folder's ``batteries/``)."""

from __future__ import annotations

_EVERY_PROTOCOL_STEPS = """
[[step]]
protocol = "nine_hole_peg"
hands = ["dominant"]
practice = {practice}
trials = 1
[step.params]
foreperiod_s = 1.0

[[step]]
protocol = "finger_tapping"
hands = ["dominant"]
trials = 1
[step.params]
duration_s = 3.0
foreperiod_s = 1.0

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

[[step]]
protocol = "reaction_time"
hands = ["dominant"]
trials = 1
[step.params]
mode = "choice"
n_stimuli = 4
foreperiod_min_s = 0.5
foreperiod_max_s = 1.0

[[step]]
protocol = "finger_sequence"
hands = ["dominant"]
trials = 1
[step.params]
duration_s = 4.0
guided = true
foreperiod_s = 1.0

[[step]]
protocol = "max_force"
hands = ["dominant"]
trials = 1
[step.params]
n_efforts = 1
effort_s = 2.0
foreperiod_s = 1.0

[[step]]
protocol = "force_steadiness"
hands = ["dominant"]
trials = 1
[step.params]
hold_s = 3.0
settle_s = 0.5
welch_segment_s = 1.0
foreperiod_s = 1.0

[[step]]
protocol = "force_tracking"
hands = ["dominant"]
trials = 1
[step.params]
duration_s = 4.0
period_s = 2.0
lead_in_s = 0.5
foreperiod_s = 1.0

[[step]]
protocol = "finger_individuation"
hands = ["dominant"]
trials = 1
[step.params]
fingers = ["index", "middle"]
press_s = 2.0
rest_s = 0.5
foreperiod_s = 1.0
"""


def every_protocol_battery(name: str, title: str, *, practice: int = 0) -> str:
    """A short battery of every protocol but the Purdue board (which needs 50 sensed holes):
    one trial each on the dominant hand, with ``practice`` practice trials of the Nine-Hole Peg
    Test first."""
    header = f'name = "{name}"\ntitle = "{title}"\n'
    return header + _EVERY_PROTOCOL_STEPS.format(practice=practice)
