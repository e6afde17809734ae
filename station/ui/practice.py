"""Practice at the kiosk: today's session of a participant's prescription, self-guided.

The rules and the session are :class:`station.programs.run.PracticeRun`'s (the runner
``station practice`` uses); this module only puts it on a screen:

* :func:`practice_offer` - what the plan screen shows: the program, the level, each exercise
  with its dose, or why not today (the daily cap or this week's sessions reached, paused);
  nothing is stored.
* :class:`PracticeRunController` - a :class:`station.ui.run.RunController` (the same run screen,
  live feedback, snapshot, Start/Stop and worker thread) whose worker drives a
  :class:`PracticeRun` instead of a battery: after the last repetition of a set it shows the
  set's knowledge of results (state :data:`FEEDBACK`, :attr:`PracticeRunController.feedback`)
  until the participant presses OK (:meth:`~PracticeRunController.acknowledge`; meanwhile
  :meth:`~PracticeRunController.rate_pain` may stop the session for pain), then the rest
  the exercise prescribes before the next set (state ``REST``; enforced: it cannot be ended
  early, :meth:`~station.ui.run.RunController.skip_rest` refuses until it is over).
* :func:`practice_view` - the summary in plain words: today against the participant's own
  baseline (their first sessions at this level), the decision (advance / stay / regress / stop
  / hold, with the rules' reason) and the next goal.

:class:`station.ui.selfguided.SelfGuidedController` runs the visit (ratings before, the run,
ratings after, effort on Borg's CR10, sensations, summary).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final

from station.errors import StationError
from station.programs.metrics import REPS_PARAMETER
from station.programs.program import load_program
from station.programs.run import (
    PlannedPracticeTrial,
    PracticeError,
    PracticeRun,
    PracticeSummary,
    SetFeedback,
)
from station.rig import Rig
from station.ui.errors import message_for
from station.ui.rest import RestTimer
from station.ui.run import (
    ABORTED,
    FAILED,
    FINISHED,
    READY,
    REST,
    REVIEW,
    RUNNING,
    LivePacer,
    LiveValues,
    RunController,
    RunSnapshot,
    TrialAbortedError,
    _instructions,
    _summary,
)

log = logging.getLogger("station.ui.practice")

#: Run state (RunSnapshot.state): a set has ended; its knowledge of results is on screen.
FEEDBACK: Final = "feedback"

#: Borg's CR10 scale, 0-10, with the scale's standard verbal anchors (the values between carry
#: no words). Stored as the rating scale ``borg_cr10``.
CR10_ANCHORS: Final[dict[int, str]] = {
    0: "Nothing at all",
    1: "Very weak",
    2: "Weak",
    3: "Moderate",
    5: "Strong",
    7: "Very strong",
    10: "Extremely strong",
}
#: The sensations a participant may report after a session (a product choice, not a clinical
#: list): stored, comma-separated, with the session (``Store.set_practice_sensations``).
SENSATIONS: Final = ("tingling", "numbness", "cramp", "stiffness")


@dataclass(frozen=True)
class PracticeOffer:
    """Today's practice as the plan screen shows it."""

    prescription_id: int
    program_title: str
    level: int
    levels: int
    level_title: str
    goal: str
    exercises: tuple[str, ...]  # "Slow taps (right hand): 3 sets of 8 taps, rest 30 s"
    notices: tuple[str, ...]
    available: bool
    reason: str  # why not today ("" when available)

    @property
    def heading(self) -> str:
        return f"{self.program_title}: level {self.level} of {self.levels}, {self.level_title}"


def _hand_text(hand: str) -> str:
    return "both hands" if hand == "both" else f"{hand} hand"


def _dose_text(block: Any) -> str:
    e = block.exercise
    counted = e.protocol.name in REPS_PARAMETER
    unit = "repetition" if counted else "try"
    units = unit if e.reps == 1 else ("repetitions" if counted else "tries")
    sets = "1 set" if e.sets == 1 else f"{e.sets} sets"
    rest = f", rest {e.rest_s:g} s between sets" if e.sets > 1 and e.rest_s else ""
    return f"{e.title} ({_hand_text(block.hand)}): {sets} of {e.reps} {units}{rest}"


def practice_offer(
    rig: Rig,
    store: Any,
    code: str,
    *,
    data_dir: Any,
    now_utc: Callable[[], datetime],
    tz: tzinfo | None = None,
) -> PracticeOffer | None:
    """Today's practice for ``code``, or None when no program is prescribed (nothing stored)."""
    found = [p for p in store.prescriptions(code) if p.status != "ended"]
    if not found:
        return None
    active = [p for p in found if p.status == "active"]
    if not active:
        rx = found[0]
        try:
            program = load_program(rx.program_name, data_dir)
            title, levels = program.title, len(program.levels)
            level_title = program.level(rx.current_level).title
        except StationError:
            title, levels, level_title = rx.program_name, rx.current_level, ""
        return PracticeOffer(
            rx.id,
            title,
            rx.current_level,
            levels,
            level_title,
            "",
            (),
            (),
            False,
            "Your practice is paused. Your therapist will tell you when to start again.",
        )
    rx = active[0]
    try:
        run = PracticeRun(rig, store, code, rx.id, data_dir=data_dir, now_utc=now_utc, tz=tz)
    except StationError as exc:
        log.warning("practice for %s not available: %s", code, exc)
        return PracticeOffer(
            rx.id,
            rx.program_name,
            rx.current_level,
            rx.current_level,
            "",
            "",
            (),
            (),
            False,
            "Your practice cannot start on this station. Please tell your therapist.",
        )
    plan = run.plan
    hold = run.hold_today()
    return PracticeOffer(
        rx.id,
        plan.program.title,
        plan.level.number,
        len(plan.program.levels),
        plan.level.title,
        plan.level.goal,
        tuple(_dose_text(b) for b in plan.blocks),
        plan.notices,
        hold is None,
        hold.reason if hold is not None else "",
    )


class PracticeRunController(RunController):
    """Today's practice session on the run screen (see the module docstring).

    ``practice`` is a :class:`PracticeRun` whose ratings before have been given (and passed);
    :meth:`start` opens its session on the worker thread."""

    def __init__(
        self,
        practice: PracticeRun,
        *,
        realtime: bool = True,
        host_clock: Callable[[], float] = time.monotonic,
        listener: Callable[[RunSnapshot], None] | None = None,
    ):
        super().__init__(
            practice.rig,
            practice.store,
            practice.participant,
            practice.battery,
            person=practice.person,
            realtime=realtime,
            listener=listener,
            host_clock=host_clock,
            self_guided=True,
        )
        self.practice = practice
        practice.say = self._say  # the runner's lines and phases reach the screen
        practice.on_phase = self._phase
        self.feedback: SetFeedback | None = None

    # -- the screen's side -----------------------------------------------------------------
    def acknowledge(self) -> None:
        """The participant has read the set's results: go on (to the rest, or the next set)."""
        self._command("ok", (FEEDBACK,))

    def skip(self) -> None:
        raise StationError("not in practice: every set of today's session runs")

    def rate_pain(self, value: int) -> Any:
        """Pain now (0-10), between sets (state :data:`FEEDBACK`): stored by the runner; at or
        above the stop value its stored ``stop`` is returned and no further set runs (the
        session ends as aborted at once), else None."""
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
            raise StationError("choose a number from 0 to 10")
        if self.snapshot().state != FEEDBACK:
            raise StationError("not now: pain is rated between sets")
        stop = self.practice.rate_during(value)  # the worker waits for OK meanwhile
        if stop is not None:
            self._commands.put(("ok", ""))  # the runner gives no further trial: it ends now
        return stop

    # -- the worker --------------------------------------------------------------------------
    def _work(self) -> None:
        prun = self.practice
        planned: PlannedPracticeTrial | None = None
        try:
            prun.start()
            self._publish(session_id=prun.session_id, blocks_total=len(prun.plan.blocks))
            while not self._abort.is_set():
                planned = prun.next_trial()
                if planned is None:
                    break
                if planned.rest_before_s:
                    self._rest_between_sets(planned)
                    if self._abort.is_set():
                        break
                self._planned = planned.inner
                self._show(planned)
                name, _ = self._next_command(("start",))
                if name == "abort":
                    break
                if self._run_set_trial(planned):
                    name, _ = self._next_command(("ok",))
                    if name == "abort":
                        break
            status = "aborted" if self._abort.is_set() or prun.stop_decision else "complete"
            prun.finish(status)
            self._publish(
                state=ABORTED if status == "aborted" else FINISHED,
                phase_name="",
                phase_kind="",
                phase_text="",
            )
        except TrialAbortedError:
            self._finish_quietly("aborted")
            self._publish(state=ABORTED)
        except BaseException as exc:  # the screen shows what happened, never a traceback
            title = planned.block.exercise.title if planned is not None else ""
            message = message_for(exc, f"running {title}" if title else "starting")
            self._finish_quietly("incomplete")
            self._publish(state=FAILED, message=message)
            if not isinstance(exc, Exception):
                raise

    def _finish_quietly(self, status: str) -> None:
        prun = self.practice
        try:
            if prun.session_id is not None and prun.status is None:
                prun.finish(status)
        except Exception as exc:
            log.error("could not end the practice session: %s", exc)

    def _show(self, planned: PlannedPracticeTrial) -> None:
        inner = planned.inner
        protocol = inner.protocol
        e = planned.block.exercise
        label = f"set {planned.set_index} of {e.sets}"
        if e.trials_per_set > 1:
            label += f", try {planned.rep_index} of {e.trials_per_set}"
        instructions = _instructions(protocol)
        self._publish(
            state=READY,
            protocol=protocol.name,
            protocol_title=e.title,
            hand=planned.block.hand,
            trial_label=label,
            practice=False,
            instructions=instructions,
            phase_name="instructions",
            phase_kind="instructions",
            phase_text=instructions,
            blocks_done=planned.block_index,
            live=LiveValues(),
            params=protocol.params_dict(),
        )

    def _run_set_trial(self, planned: PlannedPracticeTrial) -> bool:
        """Run one trial; True when it ended a set (its results are on screen)."""
        with self._lock:
            serial = self._snapshot.trial_serial + 1
        self._publish(state=RUNNING, trial_serial=serial)
        pacer = LivePacer(self.realtime and self.rig.simulated, self._on_step)
        self._pacer = pacer
        result, feedback = self.practice.run(planned, pacer=pacer, on_context=self._on_context)
        with self._lock:
            self._live = None
        self._publish(state=REVIEW, last_trial=_summary(planned.inner, result))
        if feedback is not None:
            self.feedback = feedback
            self._publish(
                state=FEEDBACK,
                phase_name="feedback",
                phase_kind="feedback",
                phase_text=feedback.text(),
            )
        return feedback is not None

    def _rest_between_sets(self, planned: PlannedPracticeTrial) -> None:
        """The rest the exercise prescribes before this set: it cannot be ended early."""
        e = planned.block.exercise
        next_text = f"{e.title}, {_hand_text(planned.block.hand)}: set {planned.set_index}"
        next_text += f" of {e.sets}"
        rest = RestTimer(self._host_clock, planned.rest_before_s, planned.rest_before_s, next_text)
        self._rest = rest
        info = rest.info()
        self._publish(
            state=REST,
            rest_total_s=info.total_s,
            rest_left_s=info.left_s,
            rest_skip_in_s=info.skip_in_s,
            rest_next=info.next_text,
            phase_name="rest",
            phase_kind="rest",
            phase_text="Rest",
        )
        self.practice.rest(planned)  # the simulated world's time passes too (no-op on hardware)
        while not rest.done and not self._abort.is_set():
            try:  # host time: woken by a command, else looks at the clock again shortly
                self._commands.get(timeout=min(0.1, max(0.01, rest.left_s)))
            except queue.Empty:
                continue
        self._rest = None


@dataclass(frozen=True)
class PracticeLine:
    title: str  # "Slow taps, right hand"
    text: str  # "timing spread 42 ms - your start: 55 ms - goal at most 60 ms"
    met: bool


@dataclass(frozen=True)
class PracticeView:
    """The practice summary in plain words (the kiosk's last screen)."""

    title: str
    decision_kind: str  # advance | stay | regress | stop | hold
    decision_head: str  # "Next time: level 2" ...
    decision_reason: str
    contact_therapist: bool
    lines: tuple[PracticeLine, ...]
    ratings: tuple[str, ...]
    next_goal: str
    notices: tuple[str, ...]


_HEADS: Final = {
    "advance": "Well done: next time you move up to level {after}.",
    "stay": "Next time you stay at level {after}.",
    "regress": "Next time you go back to level {after}.",
    "stop": "Please stop practising for now.",
    "hold": "No more practice for now.",
}


def practice_view(
    summary: PracticeSummary, *, notices: tuple[str, ...] = (), sensations: str = ""
) -> PracticeView:
    d = summary.decision
    lines = tuple(
        PracticeLine(
            x.title,
            f"{x.words} {x.today} today - {x.baseline} - goal {x.goal}",
            x.met,
        )
        for x in summary.lines
        if d.kind != "stop"  # stopped for pain: no comparison, the stop is what counts
    )
    ratings = list(summary.ratings)
    if sensations:
        ratings.append(f"Sensations: {sensations}")
    title = "Thank you" if d.kind in ("stop", "hold") else "Well done: today's practice"
    return PracticeView(
        title,
        d.kind,
        _HEADS.get(d.kind, "").format(after=d.level_after),
        d.reason,
        d.contact_therapist,
        lines,
        tuple(ratings),
        summary.next_goal,
        notices,
    )


__all__ = [
    "CR10_ANCHORS",
    "FEEDBACK",
    "SENSATIONS",
    "PracticeError",
    "PracticeLine",
    "PracticeOffer",
    "PracticeRunController",
    "PracticeView",
    "practice_offer",
    "practice_view",
]
