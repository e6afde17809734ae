"""Real practice sessions end to end: the small test program (and, marked slow, level 1 of each
shipped program) planned, run through the engine and the protocols on the simulated rig with
the virtual participant, recorded in the store, decided by the rules, the decision stored."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware.clock import NS_PER_S
from hardware.sim.participant import VirtualParticipant
from station.assess import run_battery
from station.battery import parse_battery
from station.programs.metrics import CRITERION_METRICS
from station.programs.program import load_program
from station.programs.run import PracticeError, PracticeRun, run_practice
from station.rig import Rig
from station.store import Store
from tests.programs.conftest import MINI

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


class Clock:
    """The injected wall clock: a day per session unless told otherwise."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data")
    s.add_participant("P001", 1970, "male", "right", "right")
    (tmp_path / "data" / "programs").mkdir()
    (tmp_path / "data" / "programs" / "mini.toml").write_text(MINI)
    yield s
    s.close()


def prescribe(store: Store, name: str = "mini", **kwargs: object) -> int:
    program = load_program(name, store.data_dir)
    return store.add_prescription(
        "P001",
        program.name,
        program_version=program.version,
        program_hash=program.sha256,
        levels=len(program.levels),
        t_utc=T0 - timedelta(days=1),
        **kwargs,  # type: ignore[arg-type]
    ).id


def answers(pain: tuple[int, int] = (2, 2), effort: float | None = 3.0) -> Callable:
    table = {
        ("pain", "before"): pain[0],
        ("fatigue", "before"): 1,
        ("pain", "after"): pain[1],
        ("fatigue", "after"): 2,
        ("borg_cr10", "after"): effort,
    }
    return lambda scale, timing: table[(scale, timing)]


def practice(
    sim_rig: Rig, store: Store, clock: Clock, seed: int, profile: str = "healthy", **kw: object
) -> PracticeRun:
    return PracticeRun(
        sim_rig,
        store,
        "P001",
        data_dir=store.data_dir,
        person=VirtualParticipant(profile, seed),
        say=lambda text: None,
        now_utc=clock,
        tz=UTC,
        **kw,  # type: ignore[arg-type]
    )


def test_sessions_are_run_recorded_and_decided(sim_rig: Rig, store: Store) -> None:
    rx = prescribe(store, sessions_per_week=5, daily_cap=1)
    clock = Clock()
    outcomes = []
    for day in range(3):
        clock.now = T0 + timedelta(days=day)
        run = practice(sim_rig, store, clock, seed=10 + day)
        outcomes.append(run_practice(run, answers(), sensations=lambda: "warm fingers"))
    kinds = [o.decision.kind for o in outcomes]

    assert kinds == ["stay", "advance", "stay"]  # advance_sessions = 2 in the mini program
    assert store.prescription(rx).current_level == 2
    stored = store.decisions(rx)
    assert [d.kind for d in stored] == kinds
    assert [d.session_id for d in stored] == [o.session_id for o in outcomes]
    assert stored[1].level_before == 1 and stored[1].level_after == 2
    assert stored[1].rule_version == "1" and stored[1].rules["advance_sessions"] == 2

    sessions = store.practice_sessions(rx)
    assert [s.level for s in sessions] == [1, 1, 2]
    assert all(s.status == "complete" and s.sensations == "warm fingers" for s in sessions)
    assert store.participant_sessions("P001") == []  # practice is not an assessment
    assert len(store.participant_sessions("P001", kind="practice")) == 3

    # level 1: the affected (right) hand, 3 sets of the metronome and 3 of the sequence
    first = sessions[0]
    placed = [(t.exercise, t.hand, t.set_index, t.rep_index, t.protocol) for t in first.trials]
    assert placed == [
        ("tap", "right", 1, 1, "sync_continuation"),
        ("tap", "right", 2, 1, "sync_continuation"),
        ("tap", "right", 3, 1, "sync_continuation"),
        ("seq", "right", 1, 1, "finger_sequence"),
        ("seq", "right", 2, 1, "finger_sequence"),
        ("seq", "right", 3, 1, "finger_sequence"),
    ]
    trial_rows = store.session_trials(first.session_id)
    assert trial_rows[0].params["n_sync"] == 8  # the dose's repetitions reach the protocol
    # the stored decision's inputs are the medians of the stored trials' metrics
    async_sd = [
        next(m.value for m in t.metrics if m.name == "asynchrony_sd_ms")
        for t in first.trials
        if t.exercise == "tap"
    ]
    criterion = stored[0].inputs["sessions"][0]["criteria"][0]
    assert criterion["set_values"] == pytest.approx(async_sd)
    assert criterion["value"] == pytest.approx(statistics.median(async_sd))
    # the rest between sets passed on the rig's clock
    tap = [t for t in trial_rows if t.protocol == "sync_continuation"]
    for a, b in itertools.pairwise(tap):
        assert b.start_t_ns - a.end_t_ns >= 30 * NS_PER_S  # rest_s = 30
    # ratings before and after belong to the session
    scales = [(r.scale, r.timing) for r in first.ratings]
    assert scales == [
        ("pain", "before"),
        ("fatigue", "before"),
        ("pain", "after"),
        ("fatigue", "after"),
        ("borg_cr10", "after"),
    ]
    # knowledge of results after each set, and the summary
    assert len(outcomes[0].feedback) == 6
    assert "set 1 of 3" in outcomes[0].feedback[0].text()
    assert outcomes[0].feedback[0].rest_s == 30 and outcomes[0].feedback[2].rest_s == 0
    summary = outcomes[1].summary
    assert summary is not None and summary.level_after == 2
    assert "Level 2: Faster." in summary.next_goal
    assert "Pain: 2 before, 2 after" in summary.ratings
    # the change of level is in the history with its reason
    changes = store.prescription_changes(rx)
    assert [c.kind for c in changes] == ["created"]


def test_pain_before_at_the_stop_value_stops_without_a_session(sim_rig: Rig, store: Store) -> None:
    rx = prescribe(store)
    run = practice(sim_rig, store, Clock(), seed=1)
    outcome = run_practice(run, answers(pain=(7, 7)))
    assert outcome.decision.kind == "stop" and outcome.session_id is None
    assert "Please contact your therapist" in outcome.decision.reason
    (d,) = store.decisions(rx)
    assert d.kind == "stop" and d.session_id is None and d.inputs["pain"] == 7
    assert store.practice_sessions(rx) == []
    assert [(r.scale, r.session_id) for r in store.ratings("P001")] == [
        ("pain", None),
        ("fatigue", None),
    ]
    with pytest.raises(PracticeError, match="stopped for pain"):
        run.start()


def test_the_participants_own_stop_value_wins(sim_rig: Rig, store: Store) -> None:
    prescribe(store)
    store.set_pain_stop_at("P001", 5)
    run = practice(sim_rig, store, Clock(), seed=1)
    assert run.rules.pain_stop_at == 5
    assert run.rate_before(5, 1) is not None


def test_pain_during_the_session_stops_it_at_once(sim_rig: Rig, store: Store) -> None:
    rx = prescribe(store)
    run = practice(sim_rig, store, Clock(), seed=2)
    assert run.rate_before(3, 1) is None
    sid = run.start()
    planned = run.next_trial()
    assert planned is not None
    run.run(planned)
    stop = run.rate_during(8)
    assert stop is not None and stop.kind == "stop" and stop.session_id == sid
    assert run.next_trial() is None  # nothing more runs
    run.finish("aborted")
    decision = run.conclude(8, 5)
    assert decision is stop
    assert [d.kind for d in store.decisions(rx)] == ["stop"]
    (session,) = store.practice_sessions(rx)
    assert session.status == "aborted" and len(session.trials) == 1
    assert [r.timing for r in session.ratings if r.scale == "pain"] == ["before", "during", "after"]


def test_the_daily_cap_holds_a_second_session(sim_rig: Rig, store: Store) -> None:
    rx = prescribe(store, daily_cap=1)
    clock = Clock()
    run_practice(practice(sim_rig, store, clock, seed=3), answers())
    clock.now = T0 + timedelta(hours=5)
    outcome = run_practice(practice(sim_rig, store, clock, seed=4), answers())
    assert outcome.decision.kind == "hold" and outcome.session_id is None
    assert "today's 1 session" in outcome.decision.reason
    assert [d.kind for d in store.decisions(rx)] == ["stay", "hold"]
    assert len(store.practice_sessions(rx)) == 1


def test_a_paused_prescription_does_not_run(sim_rig: Rig, store: Store) -> None:
    rx = prescribe(store)
    store.update_prescription(rx, status="paused", reason="flare-up")
    with pytest.raises(PracticeError, match="is paused: no practice until the clinician"):
        practice(sim_rig, store, Clock(), seed=1)


def test_a_clinician_override_during_a_session_takes_precedence(sim_rig: Rig, store: Store) -> None:
    rx = prescribe(store)
    run = practice(sim_rig, store, Clock(), seed=5)
    run.rate_before(1, 1)
    run.start()
    while (planned := run.next_trial()) is not None:
        run.run(planned)
    run.finish("complete")
    store.override_level(rx, 2, reason="seen in clinic")
    with pytest.raises(PracticeError, match="the level changed during the session"):
        run.conclude(1, 1)
    assert store.decisions(rx) == []


def test_no_affected_side_practises_the_dominant_hand_and_says_so(
    sim_rig: Rig, store: Store
) -> None:
    store.update_participant("P001", affected_side=None, dominant_hand="left")
    prescribe(store)
    run = practice(sim_rig, store, Clock(), seed=1)
    assert {b.hand for b in run.plan.blocks} == {"left"}
    assert any("no affected side is recorded" in n for n in run.plan.notices)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "profile", "hands"),
    [
        ("nerve_distal", "nerve_injury", {"right"}),
        ("musician_timing", "musician", {"right", "left"}),
    ],
)
def test_level_one_of_each_shipped_program_runs(
    sim_rig: Rig, store: Store, name: str, profile: str, hands: set[str]
) -> None:
    rx = prescribe(store, name)
    outcome = run_practice(practice(sim_rig, store, Clock(), seed=7, profile=profile), answers())
    assert outcome.status == "complete" and outcome.decision.kind == "stay"
    (session,) = store.practice_sessions(rx)
    assert {t.hand for t in session.trials} == hands
    assert all(t.status == "complete" for t in session.trials)
    criteria = outcome.decision.inputs["sessions"][0]["criteria"]
    assert criteria and all(c["value"] is not None for c in criteria)


@pytest.mark.slow
def test_every_criterion_metric_is_one_the_protocol_gives(sim_rig: Rig, tmp_path: Path) -> None:
    """Each protocol (but the Purdue board, which needs 50 sensed holes) once, shortened."""
    text = """
name = "all"
[[step]]
protocol = "sync_continuation"
hands = ["right"]
[step.params]
n_sync = 8
n_continuation = 6
[[step]]
protocol = "finger_sequence"
hands = ["right"]
[step.params]
duration_s = 5.0
[[step]]
protocol = "finger_tapping"
hands = ["right"]
trials = 1
[step.params]
duration_s = 3.0
[[step]]
protocol = "reaction_time"
hands = ["right"]
[step.params]
n_stimuli = 4
[[step]]
protocol = "max_force"
hands = ["right"]
[step.params]
n_efforts = 1
rest_s = 1.0
[[step]]
protocol = "force_steadiness"
hands = ["right"]
[step.params]
hold_s = 4.0
[[step]]
protocol = "force_tracking"
hands = ["right"]
[step.params]
duration_s = 4.0
period_s = 2.0
[[step]]
protocol = "finger_individuation"
hands = ["right"]
[step.params]
fingers = ["index", "middle"]
press_s = 2.0
rest_s = 1.0
[[step]]
protocol = "nine_hole_peg"
hands = ["right"]
practice = 0
trials = 1
"""
    import tomllib

    battery = parse_battery(tomllib.loads(text), text, "all.toml", "x")
    with Store.open(tmp_path / "d") as store:
        participant = store.add_participant("P1")
        result = run_battery(
            sim_rig,
            store,
            participant,
            battery,
            person=VirtualParticipant("healthy", 1),
            say=lambda text: None,
        )
    seen: dict[str, set[str]] = {}
    for t in result.trials:
        seen.setdefault(t.protocol, set()).update(m.name for m in t.metrics if m.value is not None)
    for protocol, metrics in CRITERION_METRICS.items():
        if protocol == "purdue_pegboard":
            continue
        assert set(metrics) <= seen[protocol], (protocol, set(metrics) - seen[protocol])
