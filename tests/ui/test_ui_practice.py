"""Practice at the kiosk, controller side (no Kivy): a signed-in participant with a real
prescription is offered today's session, runs it through the core practice runner on the
simulated rig with the virtual participant (knowledge of results after each set, the enforced
rest between sets), rates effort and sensations, and sees the summary with the decision; the
daily cap, a paused prescription and the pain stop keep the session from starting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from station.errors import StationError
from station.programs.program import load_program
from station.ui.app import AppController
from station.ui.practice import FEEDBACK, PracticeRunController
from station.ui.run import FINISHED, READY, REST
from station.ui.selfguided import (
    ACTIVE,
    EFFORT,
    PAIN_STOP,
    PLAN,
    RATE,
    SENSATIONS_STATE,
    SUMMARY,
    SelfGuidedController,
)
from tests.ui.conftest import FakeClock

TIMEOUT_S = 60.0
EXERCISE = "Finger sequences in the natural order"  # the drill's title
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

#: Three sets of a guided finger sequence (quick on the simulated rig), 20 s rest between them.
TINY = """\
name = "tiny"
version = "1.0"
title = "Finger practice"

[[level]]
title = "Sequences"
goal = "Accurate sequences"

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
duration_s = 3.0
guided = true
[[level.exercise.criterion]]
metric = "accuracy_pct"
at_least = 80.0
floor = 50.0
kind = "accuracy"
source = "product default"

[[level]]
title = "Longer sequences"

[[level.exercise]]
id = "seq"
drill = "sequences"
protocol = "finger_sequence"
hands = ["affected"]
sets = 3
reps = 1
rest_s = 20
[level.exercise.params]
sequence = "index,ring,middle,little"
duration_s = 3.0
guided = true
[[level.exercise.criterion]]
metric = "accuracy_pct"
at_least = 80.0
floor = 50.0
kind = "accuracy"
source = "product default"
"""


class FakeWall:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def prescribe(app: AppController, code: str = "P001", **kwargs: Any) -> int:
    folder = app.config.data_dir / "programs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.toml").write_text(TINY)
    program = load_program("tiny", app.config.data_dir)
    return app.store.add_prescription(
        code,
        program.name,
        program_version=program.version,
        program_hash=program.sha256,
        levels=len(program.levels),
        t_utc=T0 - timedelta(days=1),
        **kwargs,
    ).id


@pytest.fixture
def app(controller: AppController) -> AppController:
    controller.store.add_participant("P001", 1970, "female", "right", "right")
    controller.store.set_participant_pin("P001", "1357")
    return controller


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
def sg(app: AppController, wall: FakeWall) -> SelfGuidedController:
    sg = SelfGuidedController(app, wall_clock=wall, tz=UTC)
    sg.sign_in("P001", "1357")
    return sg


def run_session(sg: SelfGuidedController, clock: FakeClock) -> list[Any]:
    """Play the participant through the run: Start each set, read its results (OK), rest (the
    rest cannot be ended early). Returns the feedback shown after each set."""
    shown = []
    for _ in range(50):
        sg.update()
        if sg.state != ACTIVE:
            return shown
        run = sg.practice_run
        assert run is not None
        snap = run.wait_for(lambda s: s.state in (READY, FEEDBACK, REST), TIMEOUT_S)
        if snap.state == READY:
            assert snap.trial_label.startswith("set ")
            run.start_trial()
            run.wait_for(lambda s, n=snap.trial_serial: s.trial_serial > n, TIMEOUT_S)
        elif snap.state == FEEDBACK:
            assert run.feedback is not None
            shown.append(run.feedback)
            run.acknowledge()
            run.wait_for(lambda s: s.state != FEEDBACK, TIMEOUT_S)
        elif snap.state == REST:
            rest = sg.rest()
            assert rest is not None and rest.total_s == 20.0
            assert not rest.can_skip
            with pytest.raises(StationError, match="rest a little longer"):
                sg.skip_rest()
            clock.advance(10.0)
            assert sg.rest() is not None and sg.rest().left_s == pytest.approx(10.0)
            clock.advance(10.01)
            run.wait_for(lambda s: s.state != REST, TIMEOUT_S)
        else:
            assert snap.state == FINISHED
    pytest.fail(f"the run did not end (state {sg.state})")


def test_plan_offers_todays_practice_without_storing(sg: SelfGuidedController) -> None:
    assert sg.practice_offer() is None  # nothing prescribed yet
    rx = prescribe(sg.app)
    offer = sg.practice_offer()
    assert offer is not None and offer.available and offer.reason == ""
    assert offer.prescription_id == rx
    assert offer.heading == "Finger practice: level 1 of 2, Sequences"
    assert offer.goal == "Accurate sequences"
    assert offer.exercises == (f"{EXERCISE} (right hand): 3 sets of 1 try, rest 20 s between sets",)
    assert sg.store.decisions(rx) == []  # looking at the plan stores nothing


def test_paused_prescription_is_not_offered(sg: SelfGuidedController) -> None:
    rx = prescribe(sg.app)
    sg.store.update_prescription(rx, status="paused", reason="holiday")
    offer = sg.practice_offer()
    assert offer is not None and not offer.available
    assert "paused" in offer.reason
    with pytest.raises(StationError, match="paused"):
        sg.begin_practice()
    assert sg.state == PLAN


def test_pain_before_at_the_stop_value_stops_before_anything_runs(
    sg: SelfGuidedController,
) -> None:
    rx = prescribe(sg.app)
    sg.store.set_pain_stop_at("P001", 5)
    sg.begin_practice()
    assert sg.state == RATE and sg.pain_stop_at == 5
    sg.rate(5)
    sg.rate(1)
    assert sg.state == PAIN_STOP
    assert sg.stop_message is not None and "contact your therapist" in str(sg.stop_message)
    assert [d.kind for d in sg.store.decisions(rx)] == ["stop"]
    assert sg.store.practice_sessions(rx) == []
    assert sg.app.run is None


def test_a_whole_practice_session_then_the_daily_cap(
    sg: SelfGuidedController, clock: FakeClock, wall: FakeWall
) -> None:
    app = sg.app
    rx = prescribe(app)
    question = sg.begin_practice(person=app.virtual_participant("healthy", 5))
    assert (question.scale, question.timing) == ("pain", "before")
    sg.rate(2)
    sg.rate(1)
    assert sg.state == ACTIVE and isinstance(sg.run, PracticeRunController)

    feedback = run_session(sg, clock)
    assert [f.set_index for f in feedback] == [1, 2, 3]
    for f in feedback:
        assert f.title == EXERCISE and f.hand == "right" and f.sets == 3
        (line,) = f.lines
        assert line.value.endswith("%") and line.goal
        assert "set " in f.text() and "goal" in f.text()
    assert [f.rest_s for f in feedback] == [20.0, 20.0, 0.0]

    assert sg.state == RATE and sg.question is not None
    assert (sg.question.scale, sg.question.timing) == ("pain", "after")
    sg.rate(2)
    sg.rate(3)
    assert sg.state == EFFORT
    assert sg.effort_anchors[0] == "Nothing at all" and sg.effort_anchors[10]
    with pytest.raises(StationError):
        sg.rate_effort(11)
    sg.rate_effort(3)
    assert sg.state == SENSATIONS_STATE
    with pytest.raises(StationError, match="unknown sensation"):
        sg.report_sensations(["itching"])
    sg.report_sensations(["tingling"])
    assert sg.state == SUMMARY

    view = sg.practice_summary()
    assert view.decision_kind == "stay"  # the first session: the baseline is being measured
    assert view.decision_head == "Next time you stay at level 1."
    assert view.decision_reason
    (line,) = view.lines
    assert line.title == f"{EXERCISE}, right hand"
    assert "your start is being measured" in line.text and "goal" in line.text
    assert "Pain: 2 before, 2 after" in view.ratings
    assert "Effort (Borg CR10): 3" in view.ratings
    assert "Sensations: tingling" in view.ratings
    assert view.next_goal.startswith("Level 1: Sequences.")

    # everything went through the core runner and is stored
    (session,) = app.store.practice_sessions(rx)
    sid = session.session_id
    assert session.status == "complete" and session.sensations == "tingling"
    scales = {(r.scale, r.timing) for r in app.store.ratings("P001", session_id=sid)}
    assert scales == {
        ("pain", "before"),
        ("fatigue", "before"),
        ("pain", "after"),
        ("fatigue", "after"),
        ("borg_cr10", "after"),
    }
    assert [d.kind for d in app.store.decisions(rx)] == ["stay"]
    assert [(t.set_index, t.status) for t in session.trials] == [
        (1, "complete"),
        (2, "complete"),
        (3, "complete"),
    ]

    # the daily cap (1 by default): not again today, the plan says why
    sg.sign_out()
    sg.sign_in("P001", "1357")
    offer = sg.practice_offer()
    assert offer is not None and not offer.available and "today" in offer.reason
    with pytest.raises(StationError, match="No more practice today"):
        sg.begin_practice()
    assert [d.kind for d in app.store.decisions(rx)] == ["stay", "hold"]
    wall.now += timedelta(days=1)
    offer = sg.practice_offer()
    assert offer is not None and offer.available


def test_stopping_during_practice_keeps_it_aborted(
    sg: SelfGuidedController, clock: FakeClock
) -> None:
    app = sg.app
    rx = prescribe(app)
    sg.begin_practice(person=app.virtual_participant("healthy", 6))
    sg.rate(1)
    sg.rate(1)
    run = sg.practice_run
    assert run is not None
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    with pytest.raises(StationError, match="every set"):
        run.skip()
    sg.stop()
    assert run.wait(TIMEOUT_S)
    sg.update()
    assert sg.state == RATE
    assert any("stopped" in n for n in sg.notices)
    sg.rate(1)
    sg.rate(1)
    sg.rate_effort(0)
    sg.report_sensations([])
    view = sg.practice_summary()
    assert view.decision_kind in ("stay", "regress")
    (session,) = app.store.practice_sessions(rx)
    assert session.status == "aborted" and session.trials == ()


def test_pain_during_between_sets_stops_the_session_at_once(
    sg: SelfGuidedController, clock: FakeClock
) -> None:
    app = sg.app
    rx = prescribe(app)
    sg.store.set_pain_stop_at("P001", 6)
    sg.begin_practice(person=app.virtual_participant("healthy", 7))
    sg.rate(2)
    sg.rate(1)
    run = sg.practice_run
    assert run is not None
    with pytest.raises(StationError, match="between sets"):
        run.rate_pain(3)  # not during a set's try
    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    run.wait_for(lambda s: s.state == FEEDBACK, TIMEOUT_S)
    with pytest.raises(StationError, match="0 to 10"):
        sg.rate_pain_during(11)
    assert sg.rate_pain_during(3) is False  # below the stop value: the session goes on
    assert run.snapshot().state == FEEDBACK
    assert sg.rate_pain_during(6) is True
    assert run.wait(TIMEOUT_S)
    sg.update()
    assert sg.state == RATE and snap.trial_serial == 0
    assert any("contact your therapist" in n for n in sg.notices)
    assert not any("stopped today's practice early" in n for n in sg.notices)
    sg.rate(6)
    sg.rate(3)
    sg.rate_effort(4)
    sg.report_sensations([])
    view = sg.practice_summary()
    assert view.decision_kind == "stop" and view.contact_therapist
    assert view.decision_head == "Please stop practising for now."
    assert view.next_goal.startswith("Rest your hand and contact your therapist")
    assert view.lines == ()
    (session,) = sg.store.practice_sessions(rx)
    assert session.status == "aborted" and len(session.trials) == 1
    during = [r.value for r in sg.store.ratings("P001", scale="pain") if r.timing == "during"]
    assert during == [3, 6]
    assert [d.kind for d in sg.store.decisions(rx)] == ["stop"]
