"""The progression rules, one by one, on hand-made session records of the small test program
(level 1: metronome timing spread at most 60 ms, floor 120; sequence accuracy at least 80%,
floor 50; level 2: timing spread at most 50 ms, floor 100; advance after 2 sessions, regress
after 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from station.programs.program import Program
from station.programs.rules import (
    BlockRecord,
    Rules,
    SessionRecord,
    SetValues,
    check_cap,
    check_pain,
    decide,
)
from station.store.store import dumps_json
from tests.programs.conftest import MINI, parse_text

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(
    n: int,
    *,
    level: int = 1,
    tap: Sequence[float | None] = (40.0, 42.0, 41.0),
    seq: Sequence[float | None] = (90.0, 92.0, 91.0),
    pain: tuple[float | None, float | None] = (2, 2),
    during: float | None = None,
    complete_sets: int | None = None,
    status: str = "complete",
) -> SessionRecord:
    """Session ``n`` (one a day from T0): per-set values of each criterion metric."""

    def sets(metric: str, values: Sequence[float | None]) -> tuple[SetValues, ...]:
        done = len(values) if complete_sets is None else complete_sets
        return tuple(SetValues(i + 1, {metric: v}, i < done) for i, v in enumerate(values))

    blocks = [BlockRecord("tap", "right", len(tap), sets("asynchrony_sd_ms", tap))]
    if level == 1:
        blocks.append(BlockRecord("seq", "right", len(seq), sets("accuracy_pct", seq)))
    return SessionRecord(
        session_id=n,
        started_utc=T0 + timedelta(days=n),
        level=level,
        status=status,
        blocks=tuple(blocks),
        pain_before=pain[0],
        pain_during=during,
        pain_after=pain[1],
        fatigue_before=1,
        fatigue_after=2,
        effort=3,
    )


@pytest.fixture
def rules(mini: Program) -> Rules:
    return mini.rules


def test_defaults_are_the_documented_ones() -> None:
    from station.ui.selfguided import DEFAULT_PAIN_STOP_AT

    r = Rules()
    assert (r.advance_sessions, r.regress_sessions, r.pain_rise_regress) == (3, 2, 2)
    assert r.pain_stop_at == DEFAULT_PAIN_STOP_AT == 7  # the self-guided mode's stop value
    assert (r.pain_rise_no_advance, r.baseline_sessions, r.min_sets_fraction) == (1, 3, 0.8)


def test_advance_after_consecutive_sessions_meeting_every_goal(mini: Program, rules: Rules) -> None:
    history = [record(1), record(2)]
    d = decide(mini, 1, history, rules)
    assert (d.kind, d.level_before, d.level_after) == ("advance", 1, 2)
    assert d.reason.startswith("Up to level 2: in each of your last 2 sessions at level 1")
    assert "timing spread with the clicks (SD) 41 ms (goal at most 60 ms)" in d.reason
    assert d.session_id == 2 and d.rule_version == "1" and d.rules["advance_sessions"] == 2
    # every input is kept: each session, each criterion with the values of its sets
    sessions = d.inputs["sessions"]
    assert [s["session_id"] for s in sessions] == [1, 2]
    tap = sessions[0]["criteria"][0]
    assert tap["set_values"] == [40.0, 42.0, 41.0] and tap["value"] == 41.0 and tap["met"]
    assert sessions[1]["pain_before"] == 2 and sessions[1]["effort_borg_cr10"] == 3
    dumps_json(d.inputs)  # storable as strict JSON


def test_one_good_session_is_not_enough(mini: Program, rules: Rules) -> None:
    d = decide(mini, 1, [record(1)], rules)
    assert (d.kind, d.level_after) == ("stay", 1)
    assert "1 of the 2 sessions in a row needed to advance" in d.reason
    assert d.inputs["sessions_meeting_goals_in_a_row"] == 1


def test_an_unmet_goal_says_which_and_by_how_much(mini: Program, rules: Rules) -> None:
    d = decide(mini, 1, [record(1), record(2, seq=(70.0, 75.0, 72.0))], rules)
    assert d.kind == "stay"
    assert "did not meet sequence accuracy (seq, right hand) 72%, goal at least 80%" in d.reason


def test_a_single_noisy_set_does_not_decide(mini: Program, rules: Rules) -> None:
    # One wild set among three: the session's value is the median of its sets.
    noisy = record(2, tap=(40.0, 400.0, 42.0))
    d = decide(mini, 1, [record(1), noisy], rules)
    assert d.kind == "advance"
    assert d.inputs["sessions"][1]["criteria"][0]["value"] == 42.0
    # Nor does it regress at level 2: a floor must be crossed by the median, twice in a row.
    level2 = [record(3, level=2), record(4, level=2, tap=(500.0, 45.0, 48.0))]
    assert decide(mini, 2, level2, rules).kind == "stay"


def test_a_single_bad_session_does_not_regress(mini: Program, rules: Rules) -> None:
    history = [record(3, level=2), record(4, level=2, tap=(150.0, 160.0, 155.0))]
    d = decide(mini, 2, history, rules)
    assert d.kind == "stay"


def test_regress_when_performance_falls_below_the_floor_twice(mini: Program, rules: Rules) -> None:
    history = [
        record(3, level=2, tap=(150.0, 160.0, 155.0)),
        record(4, level=2, tap=(130.0, 170.0, 140.0)),
    ]
    d = decide(mini, 2, history, rules)
    assert (d.kind, d.level_after) == ("regress", 1)
    assert (
        "in your last 2 sessions timing spread with the clicks (SD) (tap, right hand)" in d.reason
    )
    assert "155 ms, 140 ms, past the limit of 100 ms" in d.reason


def test_at_level_one_a_fall_stays_and_asks_for_the_therapist(mini: Program, rules: Rules) -> None:
    history = [record(1, seq=(40.0, 45.0, 42.0)), record(2, seq=(30.0, 35.0, 44.0))]
    d = decide(mini, 1, history, rules)
    assert (d.kind, d.level_after) == ("stay", 1)
    assert "Staying at level 1, the easiest" in d.reason and "contact your therapist" in d.reason


def test_pain_rising_within_a_session_regresses(mini: Program, rules: Rules) -> None:
    history = [record(3, level=2), record(4, level=2, pain=(2, 4))]
    d = decide(mini, 2, history, rules)
    assert (d.kind, d.level_after) == ("regress", 1)
    assert "your pain rose from 2 before to 4 of 10" in d.reason
    assert d.contact_therapist
    # ... and at level 1 it stays, asking for the therapist
    d1 = decide(mini, 1, [record(1), record(2, pain=(2, 5))], rules)
    assert (d1.kind, d1.level_after) == ("stay", 1) and "contact your therapist" in d1.reason


def test_pain_before_above_the_baseline_regresses(mini: Program, rules: Rules) -> None:
    history = [record(1, level=2, pain=(1, 1)), record(2, level=2, pain=(1, 1))]
    history.append(record(3, level=2, pain=(3, 3)))
    d = decide(mini, 2, history, rules)
    assert d.kind == "regress"
    assert "your pain before practice (3 of 10) is 2 above where you started (1)" in d.reason
    assert d.inputs["baseline_pain"] == 1.0


def test_a_smaller_pain_rise_only_blocks_advancing(mini: Program, rules: Rules) -> None:
    d = decide(mini, 1, [record(1), record(2, pain=(2, 3))], rules)
    assert (d.kind, d.level_after) == ("stay", 1)
    assert "pain rose by 1 during practice" in d.reason


def test_pain_at_the_stop_value_during_or_after_stops(mini: Program, rules: Rules) -> None:
    d = decide(mini, 1, [record(1), record(2, pain=(6, 7))], rules)
    assert (d.kind, d.level_after) == ("stop", 1)
    assert "7 of 10 after practice" in d.reason and "contact your therapist" in d.reason
    d2 = decide(mini, 1, [record(1), record(2, pain=(2, 3), during=8)], rules)
    assert d2.kind == "stop" and "8 of 10 during practice" in d2.reason


def test_pain_before_a_session_stops_it_and_the_value_is_configurable(rules: Rules) -> None:
    assert check_pain(2, 6, "before", rules) is None
    d = check_pain(2, 7, "before", rules)
    assert d is not None and (d.kind, d.level_after, d.session_id) == ("stop", 2, None)
    assert "Do not practise today. Please contact your therapist." in d.reason
    assert d.inputs == {"pain": 7, "timing": "before", "pain_stop_at": 7, "contact_therapist": True}
    lower = replace(rules, pain_stop_at=5)
    assert check_pain(2, 5, "during", lower, session_id=9).session_id == 9  # type: ignore[union-attr]


def test_the_daily_cap_and_the_week_hold_practice(rules: Rules) -> None:
    common = {"daily_cap": 2, "sessions_per_week": 5}
    assert check_cap(1, rules, sessions_today=1, sessions_this_week=3, **common) is None
    today = check_cap(1, rules, sessions_today=2, sessions_this_week=3, **common)
    assert today is not None and today.kind == "hold" and "today's 2 sessions" in today.reason
    week = check_cap(1, rules, sessions_today=0, sessions_this_week=5, **common)
    assert week is not None and week.kind == "hold" and "this week's 5 sessions" in week.reason


def test_an_unfinished_session_does_not_count(mini: Program, rules: Rules) -> None:
    d = decide(mini, 1, [record(1), record(2, complete_sets=2)], rules)
    assert d.kind == "stay" and "was not finished (4 of 6 sets done)" in d.reason


def test_a_session_without_pain_ratings_does_not_count(mini: Program, rules: Rules) -> None:
    d = decide(mini, 1, [record(1), record(2, pain=(2, None))], rules)
    assert d.kind == "stay" and "no pain rating before and after" in d.reason


def test_only_sessions_since_the_level_was_reached_count(mini: Program, rules: Rules) -> None:
    earlier = [record(1, level=2), record(2, level=2)]  # before a regress and a new advance
    history = [*earlier, record(5, level=2)]
    since = T0 + timedelta(days=4)
    d = decide(mini, 2, history, rules, level_since_utc=since)
    assert d.kind == "stay" and [s["session_id"] for s in d.inputs["sessions"]] == [5]


def test_a_stop_for_pain_before_a_session_blocks_advancing(mini: Program, rules: Rules) -> None:
    stop = T0 + timedelta(days=1, hours=12)
    d = decide(mini, 1, [record(1), record(2)], rules, stops_utc=[stop])
    assert d.kind == "stay" and "practice was stopped for pain on 2026-03-03" in d.reason
    # a stop before the run of good sessions does not
    d2 = decide(mini, 1, [record(1), record(2)], rules, stops_utc=[T0])
    assert d2.kind == "advance"


def test_the_last_level_is_kept(mini: Program, rules: Rules) -> None:
    d = decide(mini, 2, [record(3, level=2), record(4, level=2)], rules)
    assert (d.kind, d.level_after) == ("stay", 2)
    assert "every goal of the last level" in d.reason


def test_a_goal_relative_to_the_participants_start() -> None:
    text = MINI.replace("at_least = 80.0\nfloor = 50.0", "better_than_baseline_percent = 20.0")
    program = parse_text(text)
    rules = replace(program.rules, baseline_sessions=2)
    start = [record(1, seq=(50.0, 50.0, 50.0)), record(2, seq=(50.0, 50.0, 50.0))]
    d = decide(program, 1, start, rules)
    assert d.kind == "stay"  # no better than the start yet
    crit = d.inputs["sessions"][1]["criteria"][1]
    assert crit["baseline"] == 50.0 and crit["goal"] == "20% higher than your start (60%)"
    better = [*start, record(3, seq=(61.0, 62.0, 60.0)), record(4, seq=(65.0, 60.0, 63.0))]
    assert decide(program, 1, better, rules).kind == "advance"


def test_decide_needs_a_session() -> None:
    with pytest.raises(ValueError, match="needs the session"):
        decide(parse_text(MINI), 1, [], Rules())


def test_a_session_from_before_a_level_change_does_not_count(mini: Program, rules: Rules) -> None:
    # the clinician moved the participant to level 2 after this level-1 session
    d = decide(mini, 2, [record(1), record(2)], rules, level_since_utc=T0 + timedelta(days=3))
    assert (d.kind, d.level_after) == ("stay", 2)
    assert "this session was at level 1, before the level changed" in d.reason
    assert d.inputs["sessions"] == [] and d.inputs["last_session"]["session_id"] == 2
