"""Twelve weeks of practice by virtual participants who improve, plateau, worsen or report rising
pain, on the shipped programs, with the real rules and the metric-level model of
``metric_model.py`` (sessions on weekdays; a wild set in one of twenty). The rules must act as
specified in each case."""

from __future__ import annotations

import pytest

from station.programs.program import load_program
from station.programs.rules import Decision
from station.store.store import dumps_json
from tests.programs.metric_model import Persona, Run, simulate

SEEDS = (1, 2, 3)


def advance_inputs_hold(d: Decision, n: int) -> None:
    """An advance's stored inputs show ``n`` sessions at the level, every criterion met."""
    sessions = d.inputs["sessions"][-n:]
    assert len(sessions) == n
    assert all(s["level"] == d.level_before for s in sessions)
    assert all(c["met"] for s in sessions for c in s["criteria"])
    assert all(s["pain_after"] <= s["pain_before"] for s in sessions)


def check_common(run: Run) -> None:
    for e in run.events:
        dumps_json(e.decision.inputs)  # every decision is storable with its inputs
        assert e.decision.reason
        assert abs(e.decision.level_after - e.decision.level_before) <= 1
    # a level is never left after fewer sessions than the rules ask for
    sessions_at_level = 0
    for e in run.events:
        if e.record is not None:
            sessions_at_level += 1
        d = e.decision
        if d.kind == "advance":
            assert sessions_at_level >= d.rules["advance_sessions"]
        if d.kind in ("advance", "regress"):
            sessions_at_level = 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["nerve_distal", "musician_timing"])
def test_an_improving_participant_climbs_to_the_last_level(name: str, seed: int) -> None:
    program = load_program(name)
    top = len(program.levels)
    persona = Persona("improves", ability=lambda day: 1.3 + 0.075 * day)
    run = simulate(program, persona, seed=seed)
    check_common(run)
    levels = run.levels()
    assert levels == sorted(levels), "an improving participant never goes back"
    assert levels[-1] == top
    advances = [d for d in run.decisions if d.kind == "advance"]
    assert [d.level_after for d in advances] == list(range(2, top + 1))
    for d in advances:
        advance_inputs_hold(d, program.rules.advance_sessions)
    assert "regress" not in run.kinds() and "stop" not in run.kinds()
    # at the last level: stays, told to keep it up
    assert run.decisions[-1].kind == "stay"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_plateau_stays_at_its_level(seed: int) -> None:
    program = load_program("nerve_distal")
    persona = Persona("plateau", ability=lambda day: 1.6, start_level=2)
    run = simulate(program, persona, seed=seed)
    check_common(run)
    assert set(run.kinds()) == {"stay"}
    assert set(run.levels()) == {2}
    assert len(run.events) == 60  # 12 weeks x 5 sessions, none held or stopped
    # the reasons say which goal is not yet met
    assert all("did not meet" in d.reason for d in run.decisions)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_worsening_participant_is_taken_back_after_two_sessions_past_a_limit(
    seed: int,
) -> None:
    program = load_program("nerve_distal")
    persona = Persona("worsens", ability=lambda day: 3.4 - 0.03 * day, start_level=3)
    run = simulate(program, persona, seed=seed)
    check_common(run)
    assert "advance" not in run.kinds()
    regresses = [d for d in run.decisions if d.kind == "regress"]
    assert regresses, "performance past the floors must take the participant back"
    n = program.rules.regress_sessions
    for d in regresses:
        window = d.inputs["sessions"][-n:]
        assert len(window) == n
        assert all(any(c["below_floor"] for c in s["criteria"]) for s in window)
        assert "past the limit of" in d.reason
    levels = run.levels()
    assert levels == sorted(levels, reverse=True) and levels[-1] < 3


@pytest.mark.parametrize("seed", SEEDS)
def test_rising_pain_blocks_advancing_regresses_then_stops(seed: int) -> None:
    program = load_program("nerve_distal")

    def pain(day: int) -> tuple[int, int]:
        before = 1 + day // 10  # one point more every 10 days: 1 ... 9
        return before, before + (1 if day >= 30 else 0)

    persona = Persona("pain rises", ability=lambda day: 2.5 + 0.05 * day, pain=pain)
    run = simulate(program, persona, seed=seed)
    check_common(run)
    rules = program.rules
    first_rise = next(e.day for e in run.events if pain(e.day)[0] > 1)
    # advancing only while the pain had not risen
    for e in run.events:
        if e.decision.kind == "advance":
            assert e.day < first_rise
    # a rise of 2 over the baseline (or within a session) regresses
    regress_days = [e.day for e in run.events if e.decision.kind == "regress"]
    assert regress_days and min(regress_days) >= first_rise
    for e in run.events:
        if e.decision.kind == "regress":
            before, after = pain(e.day)
            assert (
                before - 1 >= rules.pain_rise_regress or after - before >= rules.pain_rise_regress
            )
            assert "pain" in e.decision.reason
    # from the stop value on, no session runs: every attempt stops and asks for the therapist
    stop_day = next(d for d in range(84) if pain(d)[0] >= rules.pain_stop_at)
    late = [e for e in run.events if e.day >= stop_day]
    assert late and all(e.decision.kind == "stop" and e.record is None for e in late)
    assert all("contact your therapist" in e.decision.reason for e in late)
    # a session whose pain after reaches the stop value also stops (and keeps the level)
    after_stops = [
        e for e in run.events if e.record is not None and pain(e.day)[1] >= rules.pain_stop_at
    ]
    assert after_stops and all(e.decision.kind == "stop" for e in after_stops)
    assert all(e.decision.level_after == e.decision.level_before for e in after_stops)


def test_the_daily_cap_and_the_weekly_sessions_hold_practice() -> None:
    program = load_program("musician_timing")
    keen = Persona("too keen", ability=lambda day: 1.0, attempts_per_day=3, days_per_week=7)
    run = simulate(program, keen, weeks=2, sessions_per_week=6, daily_cap=2)
    check_common(run)
    per_day: dict[int, int] = {}
    for e in run.events:
        if e.record is not None:
            per_day[e.day] = per_day.get(e.day, 0) + 1
    assert max(per_day.values()) == 2  # never more than the daily cap
    assert sum(per_day.values()) == 12  # 6 a week
    holds = [d for d in run.decisions if d.kind == "hold"]
    assert any("today's 2 sessions" in d.reason for d in holds)
    assert any("this week's 6 sessions" in d.reason for d in holds)
