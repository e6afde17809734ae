"""Self-guided mode's controller (no Kivy): sign-in by code and PIN or QR card with lockout,
today's plan, the pain stop, ratings stored and linked, rests on an injected clock, the same
engine as clinician mode, the summary against the participant's own recorded past, idle sign-out,
the clinician's setup, and the printed card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from station.assess import run_battery
from station.battery import load_battery
from station.cards import _matrix, card_payload
from station.errors import StationError
from station.ui.app import AppController
from station.ui.rest import DEFAULT_REST_S, MIN_REST_S
from station.ui.run import ENDED, FINISHED, READY, REST, RunSnapshot
from station.ui.selfguided import (
    ACTIVE,
    BREAK,
    DEFAULT_PAIN_STOP_AT,
    IDLE_SIGN_OUT_S,
    PAIN_STOP,
    PLAN,
    RATE,
    SIGNED_OUT,
    SUMMARY,
    SelfGuidedController,
    SelfGuidedSetup,
    SignInError,
)
from tests.conftest import run_cli
from tests.ui.conftest import FakeClock

TIMEOUT_S = 60.0
# the wall clock's start: mid-day and mid-week (a Wednesday), so no test crosses a day or a week
NOON_WEDNESDAY = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

PEG_BATTERY = """
name = "sgpeg"
title = "Pegboard, one trial"
[[step]]
protocol = "nine_hole_peg"
hands = ["dominant"]
practice = 0
trials = 1
[step.params]
foreperiod_s = 0.5
"""

TAP_BATTERY = """
name = "sgtap"
title = "Tapping, both hands"
[[step]]
protocol = "finger_tapping"
hands = ["dominant", "non_dominant"]
trials = 1
[step.params]
duration_s = 3.0
foreperiod_s = 0.5
best_n = 1
max_trials = 1
"""


class FakeWall:
    """An aware UTC wall clock that moves only when told."""

    def __init__(self, start: datetime = NOON_WEDNESDAY) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def app(controller: AppController, wall: FakeWall) -> AppController:
    folder = controller.config.data_dir / "batteries"
    (folder / "sgpeg.toml").write_text(PEG_BATTERY)
    (folder / "sgtap.toml").write_text(TAP_BATTERY)
    controller.set_first_pin("2468", "2468")  # the clinician
    controller.participants.create("P001", dominant_hand="right", birth_year=1970)
    controller.store.set_participant_pin("P001", "1357")
    return controller


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> FakeWall:
    """The controller's wall clock, and the store's: sessions are stored at the wall's time."""
    wall = FakeWall()
    monkeypatch.setattr("station.store.store._now_utc", wall)
    return wall


@pytest.fixture
def sg(app: AppController, wall: FakeWall) -> SelfGuidedController:
    return SelfGuidedController(app, wall_clock=wall, tz=UTC)


def drive(
    sg: SelfGuidedController, clock: FakeClock, until: Callable[[], bool], on_rest: Any = None
) -> None:
    """Play the participant: press Start for each trial, let rests pass (on the fake clock),
    until ``until()`` (the visit's state moves on through update())."""
    for _ in range(200):
        sg.update()
        if until():
            return
        run = sg.run
        if run is None:
            rest = sg.rest()
            assert rest is not None, f"nothing to drive in state {sg.state}"
            if on_rest is not None:
                on_rest(rest)
            clock.advance(rest.left_s + 0.01)
            continue
        snap = run.wait_for(lambda s: s.state in (READY, REST), TIMEOUT_S)
        if snap.state == READY:
            run.start_trial()
            run.wait_for(lambda s, n=snap.trial_serial: s.trial_serial > n, TIMEOUT_S)
        elif snap.state == REST:
            if on_rest is not None:
                on_rest(sg.rest())
            clock.advance(snap.rest_total_s + 0.01)
            run.wait_for(lambda s: s.state != REST, TIMEOUT_S)
        else:
            assert snap.state in ENDED
    pytest.fail(f"the visit did not get there (state {sg.state})")


def person(app: AppController, seed: int = 3) -> Any:
    return app.virtual_participant("healthy", seed)


# -- signing in -----------------------------------------------------------------------------------
def test_sign_in_wrong_pin_unknown_code_and_case(sg: SelfGuidedController) -> None:
    app = sg.app
    assert app.clinician  # the fixture set the clinician PIN and is logged in
    with pytest.raises(SignInError, match="do not match"):
        sg.sign_in("P001", "1358")
    with pytest.raises(SignInError, match="do not match"):  # the same words: no code revealed
        sg.sign_in("P999", "1357")
    with pytest.raises(SignInError, match="code first"):
        sg.sign_in("  ", "1357")
    assert sg.state == SIGNED_OUT
    sg.sign_in("p001", "1357")  # a code differing only in case
    assert sg.state == PLAN and sg.code == "P001" and sg.signed_in
    assert not app.clinician  # a participant at the screen: clinician mode has ended
    sg.sign_out()
    assert sg.state == SIGNED_OUT and sg.code is None


def test_lockout_after_five_wrong_pins_then_wait(sg: SelfGuidedController, wall: FakeWall) -> None:
    for _ in range(5):
        with pytest.raises(SignInError, match="do not match"):
            sg.sign_in("P001", "0000")
    with pytest.raises(SignInError, match="wait 5 minutes"):
        sg.sign_in("P001", "1357")  # even the right PIN, while locked
    wall.advance(4 * 60 + 1)
    with pytest.raises(SignInError, match="wait 1 minute "):
        sg.sign_in("P001", "1357")
    wall.advance(60)
    sg.sign_in("P001", "1357")
    assert sg.state == PLAN


def test_blocked_after_ten_wrong_pins_until_the_clinician_sets_a_new_one(
    sg: SelfGuidedController, wall: FakeWall
) -> None:
    for _ in range(10):
        with pytest.raises(SignInError, match="do not match"):
            sg.sign_in("P001", "0000")
        wall.advance(301)  # past each lockout
    with pytest.raises(SignInError, match="ask your therapist for a new PIN"):
        sg.sign_in("P001", "1357")
    setup = SelfGuidedSetup(sg.app)
    assert setup.access("P001").blocked
    setup.set_pin("P001", "8642", "8642")
    sg.sign_in("P001", "8642")
    assert sg.state == PLAN


def test_qr_card_payload_fills_the_code(sg: SelfGuidedController) -> None:
    assert card_payload("P001") == "DXS1:P001"
    assert sg.card_code("DXS1:P001\n") == "P001"
    assert sg.card_code(" dxs1:P001") == "P001"
    for text in ("P001", "DXS1:", "DXS2:P001", "DXS1:P 001", "DXS1:" + "x" * 33):
        assert sg.card_code(text) is None
    sg.sign_in(sg.card_code("DXS1:P001\r\n") or "", "1357", by_card=True)
    assert sg.by_card and sg.code == "P001"


# -- the plan -------------------------------------------------------------------------------------
def test_plan_shows_what_is_due_today_and_this_week(
    sg: SelfGuidedController, wall: FakeWall
) -> None:
    app, store = sg.app, sg.app.store
    store.add_assignment("P001", "sgpeg", sessions_per_week=2, note="slowly, left hand too")
    store.add_assignment("P001", "sgtap", sessions_per_week=1)
    store.add_assignment("P001", "gone_battery", sessions_per_week=1)
    participant = store.get_participant("P001")
    result = run_battery(
        app.rig,
        store,
        participant,
        load_battery("sgtap", app.config.data_dir),
        person=person(app),
        say=lambda _t: None,
    )
    started = store.session(result.session_id).started_utc
    assert started == NOON_WEDNESDAY  # stored on the wall's clock
    wall.now = started + timedelta(seconds=1)
    sg.sign_in("P001", "1357")
    plan = {item.name: item for item in sg.plan()}
    peg, tap, gone = plan["sgpeg"], plan["sgtap"], plan["gone_battery"]
    assert peg.due and peg.title == "Pegboard, one trial" and peg.note == "slowly, left hand too"
    assert peg.status_text == "To do today (0 of 2 done this week)"
    assert "Nine-Hole Peg Test (dominant)" in peg.steps
    assert tap.done_today and tap.done_this_week == 1 and not tap.due
    assert tap.status_text.startswith("Done today")
    assert not gone.available and not gone.due and "ask your therapist" in gone.status_text
    # the next day the tapping is still done for this week (once a week); next week it is due
    wall.now = started + timedelta(days=7)
    later = {item.name: item for item in sg.plan()}
    assert later["sgtap"].due and later["sgtap"].done_this_week == 0


def test_nothing_due_cannot_begin(sg: SelfGuidedController) -> None:
    sg.sign_in("P001", "1357")
    assert sg.plan() == []
    with pytest.raises(StationError, match="Nothing is planned"):
        sg.begin()


# -- pain stop ------------------------------------------------------------------------------------
def test_pain_at_the_stop_value_stops_before_anything_runs(sg: SelfGuidedController) -> None:
    store = sg.app.store
    store.add_assignment("P001", "sgpeg")
    sg.sign_in("P001", "1357")
    question = sg.begin(person=person(sg.app))
    assert (question.scale, question.timing, question.number) == ("pain", "before", 1)
    assert question.low == "no pain" and sg.pain_stop_at == DEFAULT_PAIN_STOP_AT
    with pytest.raises(StationError, match="0 to 10"):
        sg.rate(11)
    sg.rate(DEFAULT_PAIN_STOP_AT)
    assert sg.state == PAIN_STOP and sg.run is None and sg.app.run is None
    assert sg.stop_message is not None and "contact your therapist" in sg.stop_message.what_to_do
    assert store.participant_sessions("P001") == []  # nothing ran
    (rating,) = store.ratings("P001")
    assert (rating.scale, rating.timing, rating.value, rating.session_id) == (
        "pain",
        "before",
        7.0,
        None,
    )


def test_the_clinicians_stop_value_applies(sg: SelfGuidedController) -> None:
    app = sg.app
    setup = SelfGuidedSetup(app)
    setup.set_pain_stop_at("P001", 4)
    assert setup.pain_stop_at("P001") == 4
    app.store.add_assignment("P001", "sgpeg")
    sg.sign_in("P001", "1357")
    sg.begin(person=person(app))
    sg.rate(3)  # below 4: on to fatigue
    assert sg.state == RATE and sg.question is not None and sg.question.scale == "fatigue"
    sg.sign_out()
    sg.sign_in("P001", "1357")
    sg.begin(person=person(app))
    sg.rate(4)
    assert sg.state == PAIN_STOP


# -- a whole visit --------------------------------------------------------------------------------
def test_a_visit_runs_each_due_battery_with_rests_and_stores_the_ratings(
    sg: SelfGuidedController, clock: FakeClock
) -> None:
    app, store = sg.app, sg.app.store
    store.add_assignment("P001", "sgtap", rest_s=20)  # two blocks: one rest between them
    store.add_assignment("P001", "sgpeg", rest_s=0)
    sg.sign_in("P001", "1357")
    sg.begin(person=person(app))
    sg.rate(2)
    sg.rate(3)
    assert sg.state == ACTIVE and sg.item is not None and sg.item.name == "sgtap"
    run = sg.run
    assert run is not None and run.self_guided and app.run is run  # the clinician's engine

    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    assert snap.protocol == "finger_tapping" and snap.hand == "right"
    run.start_trial()
    snap = run.wait_for(lambda s: s.state == REST, TIMEOUT_S)  # kept without a review
    rest = sg.rest()
    assert rest is not None and rest.total_s == 20 and rest.left_s == 20
    assert rest.next_text == "Finger Tapping Test, left hand" and not rest.can_skip
    with pytest.raises(StationError, match="go on in 10 s"):
        sg.skip_rest()
    clock.advance(MIN_REST_S)
    rest = sg.rest()
    assert rest is not None and rest.can_skip and rest.left_s == pytest.approx(10)
    sg.skip_rest()
    snap = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    assert snap.hand == "left"
    run.start_trial()
    run.wait_for(lambda s: s.state in ENDED, TIMEOUT_S)
    assert sg.update() == BREAK  # the tapping's 20 s of rest, now before the next battery
    rest = sg.rest()
    assert rest is not None and rest.total_s == 20 and rest.next_text == "Pegboard, one trial"
    assert sg.item is not None and sg.item.name == "sgpeg"  # what comes next
    clock.advance(20)
    assert sg.update() == ACTIVE and sg.run is not None and sg.run is not run
    drive(sg, clock, lambda: sg.state == RATE)
    question = sg.question
    assert question is not None and (question.scale, question.timing) == ("pain", "after")
    sg.rate(4)
    sg.rate(5)
    assert sg.state == SUMMARY

    first, last = sg.session_ids
    assert [store.session(s).status for s in sg.session_ids] == ["complete", "complete"]
    assert [s.battery_name for s in store.participant_sessions("P001")] == ["sgtap", "sgpeg"]
    assert all(t.status == "complete" for s in sg.session_ids for t in store.session_trials(s))
    ratings = [(r.scale, r.timing, r.value, r.session_id) for r in store.ratings("P001")]
    assert ratings == [
        ("pain", "before", 2.0, first),
        ("fatigue", "before", 3.0, first),
        ("pain", "after", 4.0, last),
        ("fatigue", "after", 5.0, last),
    ]
    for sid in sg.session_ids:
        (note,) = store.session_notes(sid)
        assert note.author == "station" and note.text.startswith("self-guided")
    summary = sg.summary()
    assert summary.ratings == (
        "Pain: 2 before, 4 after (out of 10)",
        "Fatigue: 3 before, 5 after (out of 10)",
    )
    assert [line.title for line in summary.lines] == [
        "Finger Tapping Test, right hand",
        "Finger Tapping Test, left hand",
        "Nine-Hole Peg Test, right hand",
    ]
    assert all("first time" in line.comparison for line in summary.lines)
    assert summary.notices == ()
    # done today: the plan says so
    assert not any(item.due for item in sg.plan())


def test_a_break_between_batteries_counts_down_on_the_clock(
    sg: SelfGuidedController, clock: FakeClock
) -> None:
    app = sg.app
    app.store.add_assignment("P001", "sgpeg", rest_s=45)
    app.store.add_assignment("P001", "sgpeg", rest_s=0)  # the same battery twice: two sessions
    sg.sign_in("P001", "1357")
    sg.begin(person=person(app))
    sg.rate(0)
    sg.rate(0)
    drive(sg, clock, lambda: sg.state == BREAK)
    rest = sg.rest()
    assert rest is not None and rest.total_s == 45 and rest.next_text == "Pegboard, one trial"
    clock.advance(30)
    assert sg.update() == BREAK and sg.rest().left_s == pytest.approx(15)  # type: ignore[union-attr]
    clock.advance(15)
    assert sg.update() == ACTIVE
    drive(sg, clock, lambda: sg.state == RATE)
    assert len(sg.session_ids) == 2


def test_the_participant_stops_and_is_asked_the_ratings_after(
    sg: SelfGuidedController, clock: FakeClock
) -> None:
    app = sg.app
    app.store.add_assignment("P001", "sgtap")
    app.store.add_assignment("P001", "sgpeg")
    sg.sign_in("P001", "1357")
    sg.begin(person=person(app))
    sg.rate(1)
    sg.rate(1)
    run = sg.run
    assert run is not None
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    sg.stop()
    run.wait_for(lambda s: s.state in ENDED, TIMEOUT_S)
    assert sg.update() == RATE  # the pegboard is left out
    sg.rate(6)
    sg.rate(2)
    summary = sg.summary()
    assert app.store.session(sg.session_ids[0]).status == "aborted"
    assert any("stopped" in n and "early" in n for n in summary.notices)


def test_high_pain_after_is_pointed_out(sg: SelfGuidedController, clock: FakeClock) -> None:
    app = sg.app
    app.store.add_assignment("P001", "sgpeg")
    sg.sign_in("P001", "1357")
    sg.begin(person=person(app))
    sg.rate(2)
    sg.rate(2)
    drive(sg, clock, lambda: sg.state == RATE)
    sg.rate(8)
    sg.rate(7)
    assert any("pain is high" in n for n in sg.summary().notices)


# -- the summary against the participant's own past -----------------------------------------------
def test_summary_compares_with_the_last_three_sessions(
    sg: SelfGuidedController, clock: FakeClock, wall: FakeWall
) -> None:
    app, store = sg.app, sg.app.store
    participant = store.get_participant("P001")
    battery = load_battery("sgpeg", app.config.data_dir)
    for seed, profile in ((1, "older"), (2, "healthy"), (3, "older"), (4, "healthy")):
        run_battery(
            app.rig,
            store,
            participant,
            battery,
            person=app.virtual_participant(profile, seed),
            say=lambda _t: None,
        )
    store.add_assignment("P001", "sgpeg", sessions_per_week=14)
    wall.advance(24 * 3600)  # the next day: the earlier sessions are not today's
    sg.sign_in("P001", "1357")
    sg.begin(person=app.virtual_participant("healthy", 9))
    sg.rate(1)
    sg.rate(1)
    drive(sg, clock, lambda: sg.state == RATE)
    sg.rate(1)
    sg.rate(1)

    def peg_time(session_id: int) -> float:
        metrics = store.session(session_id).metrics
        return next(m.metric.value for m in metrics if m.metric.name == "mean_total_time_s")

    sessions = store.participant_sessions("P001")
    past = [peg_time(s.id) for s in sessions[1:4]]  # the last three before today's
    now = peg_time(sessions[4].id)
    (line,) = sg.summary().lines
    assert line.title == "Nine-Hole Peg Test, right hand" and line.measure == "time"
    assert line.value == f"{now:.3g} s"
    mean = sum(past) / len(past)
    word = "Faster" if now < mean else "Slower"
    assert line.comparison == (
        f"{word} than the average of your last 3 sessions ({mean:.3g} s), "
        f"by {abs(now - mean):.3g} s."
    )
    assert line.better is (now < mean)
    # against the first session: the 9HPT's 20% reliable-change threshold (Schwid 2002)
    first = peg_time(sessions[0].id)
    change = 100 * (now - first) / first
    assert bool(line.since_first) == (abs(change) >= 20)
    if line.since_first:
        assert line.since_first.startswith(f"{abs(change):.0f}% ")


# -- idle ------------------------------------------------------------------------------------------
def test_idle_sign_out_but_not_during_a_rest(sg: SelfGuidedController, clock: FakeClock) -> None:
    app = sg.app
    app.store.add_assignment("P001", "sgtap", rest_s=300)
    sg.sign_in("P001", "1357")
    clock.advance(IDLE_SIGN_OUT_S - 1)
    assert sg.update() == PLAN
    sg.begin(person=person(app))  # a touch
    sg.rate(0)
    sg.rate(0)
    run = sg.run
    assert run is not None
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    run.wait_for(lambda s: s.state == REST, TIMEOUT_S)
    clock.advance(IDLE_SIGN_OUT_S + 60)  # resting: nobody needs to touch
    assert sg.update() == ACTIVE
    clock.advance(300)
    run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    assert sg.update() == ACTIVE  # the rest's end counts as a touch
    clock.advance(IDLE_SIGN_OUT_S - 1)
    assert sg.update() == ACTIVE
    clock.advance(1)  # then walked away before the next trial
    assert sg.update() == SIGNED_OUT and "without a touch" in sg.signed_out_reason
    assert run.wait(TIMEOUT_S)
    assert run.snapshot().state != FINISHED
    assert app.store.participant_sessions("P001")[0].status == "aborted"


# -- the clinician's setup ------------------------------------------------------------------------
def test_setup_needs_the_clinician_and_checks_its_input(app: AppController) -> None:
    setup = SelfGuidedSetup(app)
    row = setup.assign("P001", "sgpeg", sessions_per_week=2)
    assert row.rest_s == DEFAULT_REST_S and row.text == "Pegboard, one trial: 2x a week, rest 30 s"
    with pytest.raises(StationError, match="no battery named"):
        setup.assign("P001", "nonexistent")
    with pytest.raises(StationError, match="differ"):
        setup.set_pin("P001", "1234", "1243")
    with pytest.raises(StationError, match="4 to 8 digits"):
        setup.set_pin("P001", "12", "12")
    assert [r.name for r in setup.assignments("P001")] == ["sgpeg"]
    setup.unassign(row.assignment_id)
    assert setup.assignments("P001") == []
    app.logout()
    for call in (
        lambda: setup.assign("P001", "sgpeg"),
        lambda: setup.set_pin("P001", "1234", "1234"),
        lambda: setup.access("P001"),
        lambda: setup.set_pain_stop_at("P001", 5),
    ):
        with pytest.raises(StationError, match="clinician mode is locked"):
            call()


# -- the RunController's options keep clinician mode as it was --------------------------------------
def test_run_controller_defaults_are_clinician_mode(app: AppController) -> None:
    app.participants.select("P001")
    app.choose_battery("uiquick")
    run = app.start_run(person=person(app))
    assert not run.self_guided and run.rest_s == 0
    snap: RunSnapshot = run.wait_for(lambda s: s.state == READY, TIMEOUT_S)
    run.start_trial()
    snap = run.wait_for(lambda s: s.state not in (READY, "running"), TIMEOUT_S)
    assert snap.state == "review"  # waits for the clinician, no rest
    run.abort()
    assert run.wait(TIMEOUT_S)


# -- the printed card -----------------------------------------------------------------------------
def test_card_cli_writes_a_png_whose_qr_code_is_the_payload(
    app: AppController, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "card.png"
    code, out, err = run_cli(["participants", "card", "P001", "--out", str(png)], capsys)
    assert code == 0 and "DXS1:P001" in out, err
    from PIL import Image

    image = np.asarray(Image.open(png).convert("L"))
    matrix = np.array(_matrix("DXS1:P001"), dtype=bool)
    # the code's squares: find the QR code's box (its first and last dark pixels in the left half)
    left = image[:, : image.shape[1] // 2] < 128
    left[[0, 1, -2, -1], :] = False  # the cut line
    left[:, [0, 1]] = False
    ys, xs = np.nonzero(left)
    n = matrix.shape[0] - 8  # modules without the quiet zone
    cell = (ys.max() - ys.min() + 1) / n
    centres = ys.min() + (np.arange(n) + 0.5) * cell
    xcentres = xs.min() + (np.arange(n) + 0.5) * cell
    seen = left[np.ix_(centres.astype(int), xcentres.astype(int))]
    assert (seen == matrix[4:-4, 4:-4]).all()

    pdf = tmp_path / "card.pdf"
    code, out, _ = run_cli(["participants", "card", "P001", "--out", str(pdf)], capsys)
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF")
    code, _, err = run_cli(["participants", "card", "NOBODY", "--out", str(pdf)], capsys)
    assert code == 2 and "no participant with code 'NOBODY'" in err
    code, _, err = run_cli(
        ["participants", "card", "P001", "--out", str(tmp_path / "c.jpg")], capsys
    )
    assert code == 2 and ".pdf or .png" in err and "Traceback" not in err
