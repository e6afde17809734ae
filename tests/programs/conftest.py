"""Shared pieces of the graded-practice tests: a small program that runs fast on the simulated
rig (metronome presses and a guided finger sequence, no force sampling)."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.programs.program import Program, parse_program

MINI = """\
name = "mini"
version = "1.0"
title = "A small test program"

[rules]
advance_sessions = 2
regress_sessions = 2

[[level]]
title = "Slow"
goal = "Even taps"

[[level.exercise]]
id = "tap"
drill = "metronome_tapping"
protocol = "sync_continuation"
hands = ["affected"]
sets = 3
reps = 8
rest_s = 30
[level.exercise.params]
interval_ms = 500.0
n_continuation = 6
[[level.exercise.criterion]]
metric = "asynchrony_sd_ms"
at_most = 60.0
floor = 120.0
kind = "consistency"
source = "product default"

[[level.exercise]]
id = "seq"
drill = "sequences"
protocol = "finger_sequence"
hands = ["affected"]
sets = 3
reps = 1
rest_s = 20
[level.exercise.params]
sequence = "index,middle,ring,little"
duration_s = 6.0
guided = true
[[level.exercise.criterion]]
metric = "accuracy_pct"
at_least = 80.0
floor = 50.0
kind = "accuracy"
source = "product default"

[[level]]
title = "Faster"

[[level.exercise]]
id = "tap"
drill = "metronome_tapping"
protocol = "sync_continuation"
hands = ["affected"]
sets = 3
reps = 8
rest_s = 30
[level.exercise.params]
interval_ms = 400.0
n_continuation = 6
[[level.exercise.criterion]]
metric = "asynchrony_sd_ms"
at_most = 50.0
floor = 100.0
source = "product default"
"""


def parse_text(text: str, file: str = "mini.toml") -> Program:
    import hashlib
    import tomllib

    return parse_program(tomllib.loads(text), text, file, hashlib.sha256(text.encode()).hexdigest())


@pytest.fixture
def mini() -> Program:
    return parse_text(MINI)


@pytest.fixture
def mini_file(tmp_path: Path) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(MINI)
    return path
