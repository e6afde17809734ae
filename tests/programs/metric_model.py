"""A metric-level model of a virtual participant practising a program for weeks.

Running the real engine and the simulated rig for every session of 12 weeks would take minutes,
so the many-week tests use this model instead: it produces, for each session, the per-set values
of the metrics the program's criteria use (what :func:`station.programs.history.session_record`
gives the rules from stored trials), and the pain ratings; the rules are the real ones
(:mod:`station.programs.rules`), driven in the order :class:`station.programs.run.PracticeRun`
drives them (cap, pain before, the session, the decision, the new level). The slow end-to-end test
(``test_practice_run.py``) runs real sessions through the engine, the simulated rig and the store.

Model (a simulation choice, not clinical data): an *ability* a(day) against a level's difficulty
(level L has difficulty L). With the margin m = a - L, a criterion with goal T gives per set

* lower is better: T * exp(-0.25 m) (m = 0: at the goal; m = -1.9: about 1.6 T, past the floors
  of the shipped programs);
* higher is better (a percentage): T + 8 m, within 0-100;
* relative to the participant's start (``better_than_baseline_percent``, and exercises whose
  metric has no goal at the level): B0 * exp(-0.2 (a - a0)) (or the inverse when higher is
  better), B0 = 40 and a0 the ability on the first day;

times multiplicative noise (log-normal, sigma 0.08; additive normal, SD 3 points, for a
percentage), and with probability 0.05 a wild set (three times worse, or 30 points lower).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from station.programs.program import Criterion, Program
from station.programs.rules import (
    BlockRecord,
    Decision,
    SessionRecord,
    SetValues,
    check_cap,
    check_pain,
    decide,
)

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday
HANDS = {"affected": ("right",), "dominant": ("right",), "non_dominant": ("left",)}
WILD_SET_PROB = 0.05


@dataclass
class Persona:
    name: str
    ability: Callable[[int], float]  # day -> ability
    pain: Callable[[int], tuple[int, int]] = lambda day: (1, 1)  # day -> (before, after)
    start_level: int = 1
    attempts_per_day: int = 1
    days_per_week: int = 5  # Monday to Friday


@dataclass
class Event:
    day: int
    attempt: int
    level: int
    decision: Decision
    record: SessionRecord | None = None


@dataclass
class Run:
    persona: Persona
    events: list[Event] = field(default_factory=list)

    @property
    def decisions(self) -> list[Decision]:
        return [e.decision for e in self.events]

    def kinds(self) -> list[str]:
        return [d.kind for d in self.decisions]

    def levels(self) -> list[int]:
        return [e.decision.level_after for e in self.events]


def _criteria_by_exercise(program: Program) -> dict[str, list[Criterion]]:
    """Every criterion used anywhere for each exercise id (the metrics it reports)."""
    found: dict[str, list[Criterion]] = {}
    for level in program.levels:
        for e in level.exercises:
            for c in e.criteria:
                if all(x.metric != c.metric for x in found.setdefault(e.id, [])):
                    found[e.id].append(c)
    return found


def _noisy(rng: np.random.Generator, value: float, c: Criterion) -> float:
    wild = rng.random() < WILD_SET_PROB
    if c.unit == "%" and c.higher_is_better:
        v = value + rng.normal(0, 3.0) - (30.0 if wild else 0.0)
        return float(min(100.0, max(0.0, v)))
    v = value * math.exp(rng.normal(0, 0.08))
    if wild:
        v = v * 3.0 if not c.higher_is_better else v / 3.0
    return float(v)


def session_values(
    program: Program,
    level: int,
    ability: float,
    ability0: float,
    rng: np.random.Generator,
) -> tuple[BlockRecord, ...]:
    all_criteria = _criteria_by_exercise(program)
    lv = program.level(level)
    blocks = []
    for e in lv.exercises:
        goals = {c.metric: c for c in e.criteria}
        for word in e.hands:
            for hand in HANDS[word]:
                sets = []
                for k in range(e.sets):
                    values: dict[str, float | None] = {}
                    for c in all_criteria.get(e.id, []):
                        here = goals.get(c.metric)
                        if here is not None and here.target is not None:
                            m = ability - level
                            if here.higher_is_better:
                                mean = min(100.0, max(0.0, here.target + 8 * m))
                            else:
                                mean = here.target * math.exp(-0.25 * m)
                            values[c.metric] = _noisy(rng, mean, here)
                        else:
                            gain = math.exp(-0.2 * (ability - ability0))
                            mean = 40.0 * (gain if not c.higher_is_better else 1 / gain)
                            values[c.metric] = _noisy(rng, mean, c)
                    sets.append(SetValues(k + 1, values, True))
                blocks.append(BlockRecord(e.id, hand, e.sets, tuple(sets)))
    return tuple(blocks)


def simulate(
    program: Program,
    persona: Persona,
    *,
    weeks: int = 12,
    sessions_per_week: int = 5,
    daily_cap: int = 1,
    seed: int = 0,
) -> Run:
    """``weeks`` of practice: each practice day the persona tries ``attempts_per_day`` times."""
    rng = np.random.default_rng(seed)
    rules = program.rules
    level = persona.start_level
    level_since: datetime | None = None
    history: list[SessionRecord] = []
    stops: list[datetime] = []
    run = Run(persona)
    a0 = persona.ability(0)
    for day in range(weeks * 7):
        if day % 7 >= persona.days_per_week:
            continue
        for attempt in range(persona.attempts_per_day):
            t = T0 + timedelta(days=day, hours=attempt * 3)
            today = [s for s in history if (s.started_utc - T0).days == day]
            week = [s for s in history if (s.started_utc - T0).days // 7 == day // 7]
            hold = check_cap(
                level,
                rules,
                sessions_today=len(today),
                daily_cap=daily_cap,
                sessions_this_week=len(week),
                sessions_per_week=sessions_per_week,
            )
            if hold is not None:
                run.events.append(Event(day, attempt, level, hold))
                continue
            before, after = persona.pain(day)
            stop = check_pain(level, before, "before", rules)
            if stop is not None:
                stops.append(t)
                run.events.append(Event(day, attempt, level, stop))
                continue
            record = SessionRecord(
                session_id=len(history) + 1,
                started_utc=t,
                level=level,
                status="complete",
                blocks=session_values(program, level, persona.ability(day), a0, rng),
                pain_before=before,
                pain_after=after,
                fatigue_before=1,
                fatigue_after=2,
                effort=3,
            )
            history.append(record)
            decision = decide(
                program, level, history, rules, level_since_utc=level_since, stops_utc=stops
            )
            run.events.append(Event(day, attempt, level, decision, record))
            if decision.level_after != level:
                level = decision.level_after
                level_since = t + timedelta(minutes=30)  # the decision's time
    return run
