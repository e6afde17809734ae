"""Graded motor practice: prescribed programs that progress on measured performance and symptoms.

* :mod:`station.programs.program`: program TOML files (levels of exercises with their dose and
  criteria), loaded and validated;
* :mod:`station.programs.metrics`: what criteria and doses can refer to in each protocol;
* :mod:`station.programs.rules`: the progression rules (pure functions -> a Decision);
* :mod:`station.programs.history`: a prescription's history from the store, adherence, trends;
* :mod:`station.programs.run`: a practice session planned, run on the station, recorded, decided.

See docs/practice.md.
"""

from station.programs.program import (
    Criterion,
    Exercise,
    Level,
    Program,
    ProgramError,
    load_program,
    program_names,
)
from station.programs.rules import RULES_VERSION, Decision, Rules

__all__ = [
    "RULES_VERSION",
    "Criterion",
    "Decision",
    "Exercise",
    "Level",
    "Program",
    "ProgramError",
    "Rules",
    "load_program",
    "program_names",
]
