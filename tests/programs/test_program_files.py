"""Program files: the shipped ones load and every threshold is sourced; bad files are refused
with the file, the line and what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from station.programs.metrics import CRITERION_METRICS, DRILLS, REPS_PARAMETER
from station.programs.program import (
    ProgramError,
    find_program,
    load_program,
    program_names,
    program_summary,
)
from station.protocols import PROTOCOLS
from tests.programs.conftest import MINI, parse_text

SHIPPED = ("nerve_distal", "musician_timing")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_programs_load_with_their_sources(name: str) -> None:
    program = load_program(name)
    assert program.name == name and program.version
    assert len(program.levels) >= 4
    assert program.sources, "a shipped program names what it is built from"
    for level in program.levels:
        assert level.criteria, f"level {level.number} has no criterion"
        for exercise in level.exercises:
            assert exercise.drill in DRILLS and exercise.drill != "other"
            for c in exercise.criteria:
                text = c.source.lower()
                # every threshold: a cited source or labelled a product default
                assert "product default" in text or re.search(r"\b(19|20)\d\d\b", text), c
    # the graded structure: the metronome gets faster level by level where it is used
    summary = program_summary(program)
    assert summary["levels"][0]["exercises"][0]["criteria"]


def test_the_shipped_programs_cover_the_seed_drills() -> None:
    drills = {e.drill for n in SHIPPED for lv in load_program(n).levels for e in lv.exercises}
    assert drills >= set(DRILLS) - {"other"}


def test_musician_tempo_rises_with_the_level() -> None:
    program = load_program("musician_timing")
    intervals = [
        e.params.interval_ms
        for lv in program.levels
        for e in lv.exercises
        if e.protocol.name == "sync_continuation"
    ]
    assert intervals == sorted(intervals, reverse=True) and len(set(intervals)) == len(intervals)


def test_criterion_metrics_and_reps_parameters_exist_in_the_protocols() -> None:
    for protocol, metrics in CRITERION_METRICS.items():
        assert protocol in PROTOCOLS
        assert metrics
    for protocol, param in REPS_PARAMETER.items():
        fields = {name for name, _, _ in PROTOCOLS[protocol].describe_params()}
        assert param in fields


def test_a_clinic_program_replaces_a_shipped_one(tmp_path: Path) -> None:
    own = tmp_path / "programs"
    own.mkdir()
    (own / "nerve_distal.toml").write_text(MINI.replace('name = "mini"', 'name = "nerve_distal"'))
    (own / "extra.toml").write_text(MINI.replace('name = "mini"', 'name = "extra"'))
    assert find_program("nerve_distal", tmp_path) == own / "nerve_distal.toml"
    assert load_program("nerve_distal", tmp_path).title == "A small test program"
    assert program_names(tmp_path) == ["extra", "musician_timing", "nerve_distal"]
    with pytest.raises(ProgramError, match=r"no program named 'nope' \(known: extra"):
        load_program("nope", tmp_path)


def test_the_mini_program(tmp_path: Path) -> None:
    program = parse_text(MINI)
    assert program.rules.advance_sessions == 2 and program.rules.pain_stop_at == 7
    assert program.rules_set == ("advance_sessions", "regress_sessions")
    tap = program.level(1).exercises[0]
    assert tap.params.n_sync == 8 and tap.trials_per_set == 1  # reps inside the trial
    seq = program.level(1).exercises[1]
    assert seq.trials_per_set == 1 and seq.reps == 1
    assert program.exercise_ids() == ["tap", "seq"]
    with pytest.raises(ProgramError, match="levels 1-2, not 3"):
        program.level(3)


def line_of(text: str, needle: str, nth: int = 0) -> int:
    lines = text.splitlines()
    found = [i + 1 for i, ln in enumerate(lines) if needle in ln]
    return found[nth]


def refused(text: str) -> str:
    with pytest.raises(ProgramError) as info:
        parse_text(text)
    return str(info.value)


def swap(old: str, new: str, text: str = MINI, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ('title = "A small', 'colour = "red"\ntitle = "A small', "colour", "unknown key 'colour'"),
        ('name = "mini"', 'name = "two words"', "name =", "'name' must be letters"),
        ('version = "1.0"\n', "", None, "'version' is required"),
        ("advance_sessions = 2", "advance_sessions = 1", "advance_sessions", "whole number 2-20"),
        ("regress_sessions = 2", "regress_sessions = 2.5", "regress_sessions", "whole number"),
        ("advance_sessions = 2", "advance_after = 2", "advance_after", "[rules]: unknown key"),
        (
            'protocol = "finger_sequence"',
            'protocol = "juggling"',
            "juggling",
            "unknown protocol 'juggling'",
        ),
        ("interval_ms = 500.0", "tempo_bpm = 120", "tempo_bpm", "has no parameter 'tempo_bpm'"),
        ("interval_ms = 500.0", "n_sync = 12", "n_sync", "give the repetitions as 'reps'"),
        ("interval_ms = 500.0", 'interval_ms = "fast"', "interval_ms", "must be like 500.0"),
        ("reps = 8", "reps = 0", "reps = 0", "'reps' (n_sync of sync_continuation)"),
        ("reps = 1\n", "reps = 11\n", "reps = 11", "(trials of finger_sequence per set)"),
        ("sets = 3", "sets = 11", "sets = 11", "'sets' must be a whole number 1-10"),
        ("rest_s = 30", "rest_s = 700", "rest_s = 700", "'rest_s' (rest between sets, s)"),
        ("rest_s = 30\n", "", None, "'rest_s' is required (the dose)"),
        ('drill = "sequences"', 'drill = "scales"', "scales", "'drill' must be one of"),
        ('hands = ["affected"]', 'hands = ["middle"]', "middle", "'hands' must be a list"),
        (
            'metric = "accuracy_pct"',
            'metric = "beauty"',
            "beauty",
            "finger_sequence's accuracy_pct",
        ),
        (
            "at_least = 80.0",
            "at_most = 80.0",
            "at_most = 80",
            "higher is better, so the goal is 'at_least'",
        ),
        ("at_most = 60.0", "at_most = 60.0\nat_least = 10.0", "at_most = 60", "exactly one of"),
        ("floor = 50.0", "floor = 90.0", "floor = 90", "'floor' (90) must be below the goal (80)"),
        ("floor = 120.0", "floor = 30.0", "floor = 30", "must be above the goal"),
        ('kind = "accuracy"', 'kind = "style"', "style", "'kind' must be one of"),
        (
            'kind = "accuracy"\nsource = "product default"',
            'kind = "accuracy"',
            None,
            "'source' is required",
        ),
        (
            "at_least = 80.0",
            "better_than_baseline_percent = 120.0",
            "better_than",
            "between 0 and 100",
        ),
    ],
)
def test_bad_files_name_the_line_and_the_problem(
    old: str, new: str, needle: str | None, message: str
) -> None:
    text = swap(old, new)
    error = refused(text)
    assert error.startswith("mini.toml, line "), error
    assert message in error, error
    if needle is not None:
        assert f", line {line_of(text, needle)}:" in error, error


def test_criteria_need_three_sets_so_no_single_set_decides() -> None:
    text = swap("sets = 3\nreps = 1\n", "sets = 2\nreps = 1\n")
    error = refused(text)
    assert "at least 3 sets" in error and "median of its sets" in error
    line = line_of(text, "sets = 2")
    assert f"line {line}:" in error


def test_a_level_without_criteria_is_refused() -> None:
    start = MINI.index('[[level]]\ntitle = "Faster"')
    text = (
        MINI[:start]
        + '[[level]]\ntitle = "Faster"\n\n[[level.exercise]]\nid = "tap"\n'
        + (
            'drill = "metronome_tapping"\nprotocol = "sync_continuation"\nsets = 3\nreps = 8\n'
            "rest_s = 30\n"
        )
    )
    error = refused(text)
    assert "level 2: no exercise has a [[level.exercise.criterion]]" in error
    line = line_of(text, 'title = "Faster"') - 1
    assert f"line {line}:" in error


def test_the_same_exercise_id_is_the_same_drill() -> None:
    second = MINI.index('id = "tap"', MINI.index('title = "Faster"'))
    text = MINI[:second] + 'id = "seq"' + MINI[second + len('id = "tap"') :]
    error = refused(text)
    assert "exercise 'seq' uses sync_continuation here but finger_sequence" in error
    duplicate = swap('id = "seq"', 'id = "tap"')
    assert "two exercises have the id 'tap'" in refused(duplicate)


def test_structure_errors() -> None:
    assert "at least one [[level]]" in refused('name = "x"\nversion = "1"\n')
    assert "'sources' must be a list" in refused(
        swap('title = "A small', 'sources = "me"\ntitle = "A small')
    )
    assert "at least one [[level.exercise]]" in refused(
        'name = "x"\nversion = "1"\n[[level]]\ntitle = "empty"\n'
    )


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ProgramError, match=r"bad\.toml: not valid TOML"):
        load_program(str(bad))
    with pytest.raises(ProgramError, match="cannot read program file"):
        load_program(str(tmp_path / "missing.toml"))
