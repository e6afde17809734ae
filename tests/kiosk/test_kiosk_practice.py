"""Practice at the kiosk under Xvfb, driven by touches: a whole practice session of a real
prescription (plan with today's exercises and dose, pain and fatigue before, the run screen,
knowledge of results after each set, the enforced rest, pain and fatigue after, Borg CR10
effort, sensations, the summary with the decision), the daily cap on the plan afterwards, and
the pain stop. Every new screen is saved as test-artifacts/screenshots/800x480/sg-p*.png and
checked (see conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from station.programs.program import load_program
from station.ui.run import READY, REST
from tests.kiosk.conftest import Kiosk
from tests.ui.conftest import FakeClock
from tests.ui.test_ui_practice import EXERCISE, TINY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def selfguided(app: Any) -> Any:
    """The app's self-guided controller (Kivy is imported only once the fixture set it up)."""
    from station.kiosk.selfguided import selfguided as controller_of

    return controller_of(app)


def prepare(k: Kiosk, code: str = "S010", pin: str = "2580") -> tuple[FakeClock, int]:
    """A participant with a PIN and a prescription of the tiny program; the host clock the rests
    run on (moved by hand) and the wall clock fixed on a Monday morning."""
    c = k.controller
    clock = FakeClock()
    c.clock = clock
    c.touch()
    c.realtime = False
    store = c.store
    store.add_participant(code, dominant_hand="right")
    store.set_participant_pin(code, pin)
    folder = c.config.data_dir / "programs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.toml").write_text(TINY)
    program = load_program("tiny", c.config.data_dir)
    rx = store.add_prescription(
        code,
        program.name,
        program_version=program.version,
        program_hash=program.sha256,
        levels=len(program.levels),
        t_utc=T0 - timedelta(days=1),
    ).id
    sg = selfguided(k.app)
    sg.wall_clock = lambda: T0
    sg.tz = UTC
    return clock, rx


def sign_in(k: Kiosk, code: str = "S010", pin: str = "2580") -> Any:
    """Sign in by touch: the code by the letter and digit keypads, then the PIN."""
    k.tap(k.button("Participant sign-in"))
    signin = k.wait_screen("sg_signin")
    k.tap(k.button("ABC"))
    k.tap(k.button(code[0]))
    k.tap(k.button("123"))
    for key in code[1:]:
        k.tap(k.button(key))
    assert signin.code == code
    k.tap(k.button("Next"))
    for key in pin:
        k.tap(k.button(key))
    k.tap(k.button("Sign in"))
    return k.wait_screen("sg_plan")


def rate(k: Kiosk, value: int, shot: str | None = None) -> None:
    k.tap(k.button(str(value)))
    if shot:
        k.shot(shot, ("number", "question", "scale", "low", "high", "ok_btn"))
    k.tap(k.button(f"OK: {value}"))


def practice_run(k: Kiosk) -> Any:
    run = selfguided(k.app).practice_run
    assert run is not None
    return run


def start_set(k: Kiosk, shot: str | None = None) -> None:
    k.wait_screen("sg_run")
    k.wait_for(lambda: practice_run(k).snapshot().state == READY, "a set ready")
    k.frames(3)
    if shot:
        k.shot(shot, ("title", "phase", "start_btn", "abort_btn"))
    k.tap(k.button("Start"))


def test_a_whole_practice_session_by_touch(kiosk: Kiosk) -> None:
    k = kiosk
    clock, rx = prepare(k)
    store = k.controller.store
    plan = sign_in(k)
    assert plan.practice_due and not plan.any_due
    texts = "\n".join(w.text for w in plan.ids.plan_items.children)
    assert "Finger practice: level 1 of 2, Sequences" in texts
    assert "3 sets of 1 try, rest 20 s between sets" in texts
    k.shot("sg-p01-plan-practice", ("title", "plan_items", "info", "practice_btn"))
    k.tap(k.button("Virtual participant acts"))
    k.tap(k.button("Practice"))

    rating = k.wait_screen("sg_rating")
    assert "pain" in rating.question_text
    rate(k, 2)
    rate(k, 1)

    for set_index in (1, 2, 3):
        start_set(k, "sg-p02-run-ready" if set_index == 1 else None)
        result = k.wait_screen("sg_set_result", timeout_s=60)
        assert result.title_text == f"Set {set_index} of 3 done"
        assert result.sub_text == f"{EXERCISE}, right hand"
        lines = "\n".join(w.text for w in result.ids.result_lines.children)
        assert "Your goal:" in lines and "%" in lines
        if set_index == 1:
            assert result.next_text == "Next: a rest of 20 s"
            k.shot("sg-p03-set-result", ("title", "exercise", "scroll", "next_label", "ok_btn"))
        k.tap(k.button("OK"))
        if set_index < 3:
            k.wait_for(lambda: practice_run(k).snapshot().state == REST, "the rest")
            rest = k.wait_screen("sg_rest")
            k.frames(2)
            assert rest.left_text == "0:20" and f"set {set_index + 1} of 3" in rest.next_text
            assert not rest.can_skip  # enforced: no Continue before the rest is over
            if set_index == 1:
                k.shot("sg-p04-rest", ("title", "countdown", "next_label", "stop_btn"))
            clock.advance(19)
            k.frames(2)
            assert not rest.can_skip and rest.left_text == "0:01"
            clock.advance(1.01)

    rating = k.wait_screen("sg_rating", timeout_s=60)
    assert rating.number_text == "Question 3 of 4"
    rate(k, 2)
    rate(k, 2)

    effort = k.wait_screen("sg_effort")
    keys = list(reversed(effort.ids.scale.children))
    assert len(keys) == 11 and "Moderate" in keys[3].text and "Nothing at all" in keys[0].text
    k.tap(keys[3])
    k.shot("sg-p05-effort", ("question", "hint", "scale", "ok_btn"))
    k.tap(k.button("OK: 3"))

    sensations = k.wait_screen("sg_sensations")
    assert sensations.ids.done_btn.text == "None of these"
    k.tap(k.button("Tingling"))
    assert sensations.any_chosen and sensations.ids.done_btn.text == "Done"
    k.shot("sg-p06-sensations", ("question", "hint", "choices", "done_btn"))
    k.tap(k.button("Done"))

    summary = k.wait_screen("sg_practice_summary")
    joined = "\n".join(w.text for w in summary.ids.lines.children)
    assert "Next time you stay at level 1." in joined
    assert f"{EXERCISE}, right hand" in joined and "your start is being measured" in joined
    assert "Effort (Borg CR10): 3" in joined and "Sensations: tingling" in joined
    assert "Next goal" in joined
    k.shot("sg-p07-summary", ("title", "scroll", "finish_btn"))
    k.tap(k.button("Finish and sign out"))
    k.wait_screen("home")

    (session,) = store.practice_sessions(rx)
    assert session.status == "complete" and session.sensations == "tingling"
    assert [t.set_index for t in session.trials] == [1, 2, 3]
    assert [d.kind for d in store.decisions(rx)] == ["stay"]

    # the same day again: the plan says why not, and Practice is off
    plan = sign_in(k)
    texts = "\n".join(w.text for w in plan.ids.plan_items.children)
    assert "No more practice today" in texts
    assert not plan.practice_due and plan.ids.practice_btn.disabled
    k.shot("sg-p08-plan-cap", ("title", "plan_items", "info"))


def test_pain_before_at_the_stop_value(kiosk: Kiosk) -> None:
    k = kiosk
    _, rx = prepare(k)
    k.controller.store.set_pain_stop_at("S010", 6)
    sign_in(k)
    k.tap(k.button("Practice"))
    k.wait_screen("sg_rating")
    rate(k, 8)
    rate(k, 2)
    message = k.wait_screen("message")
    assert message.title_text == "Please do not practise today"
    assert "contact your therapist" in message.what_to_do
    k.shot("sg-p09-pain-stop", ("title", "text", "what_to_do", "ok_btn"))
    assert k.controller.store.practice_sessions(rx) == []
    assert [d.kind for d in k.controller.store.decisions(rx)] == ["stop"]
    assert not selfguided(k.app).signed_in


def test_pain_during_between_sets_stops_at_once(kiosk: Kiosk) -> None:
    k = kiosk
    _, rx = prepare(k)
    k.controller.store.set_pain_stop_at("S010", 6)
    sign_in(k)
    k.tap(k.button("Virtual participant acts"))
    k.tap(k.button("Practice"))
    k.wait_screen("sg_rating")
    rate(k, 1)
    rate(k, 1)
    start_set(k)
    result = k.wait_screen("sg_set_result", timeout_s=60)
    k.tap(k.button("My hand hurts"))
    assert result.asking_pain and len(result.ids.pain_row.children) == 11
    k.shot("sg-p10-set-result-pain", ("title", "pain_row", "next_label", "pain_btn", "ok_btn"))
    k.tap(k.button("2"))
    assert not result.asking_pain and "Pain 2 out of 10 saved" in result.next_text
    k.tap(k.button("My hand hurts"))
    k.tap(k.button("7"))
    message = k.wait_screen("message")
    assert message.title_text == "Please stop now"
    assert "contact your therapist" in message.what_to_do
    k.shot("sg-p11-pain-stop-during", ("title", "text", "what_to_do", "ok_btn"))
    k.wait_for(lambda: selfguided(k.app).state == "rate", "the questions after")
    k.tap(k.button("OK"))
    k.wait_screen("sg_rating")
    rate(k, 7)
    rate(k, 3)
    k.wait_screen("sg_effort")
    k.tap(list(reversed(k.app.screen("sg_effort").ids.scale.children))[5])
    k.tap(k.button("OK: 5"))
    k.wait_screen("sg_sensations")
    k.tap(k.button("None of these"))
    summary = k.wait_screen("sg_practice_summary")
    joined = "\n".join(w.text for w in summary.ids.lines.children)
    assert "Please stop practising for now." in joined and "contact your therapist" in joined
    k.shot("sg-p12-summary-stop", ("title", "scroll", "finish_btn"))
    (session,) = k.controller.store.practice_sessions(rx)
    assert session.status == "aborted" and len(session.trials) == 1
    assert [d.kind for d in k.controller.store.decisions(rx)] == ["stop"]
