"""A practice session: plan today's session of a prescription, run it, record it, decide.

:class:`PracticeRun` is the step runner shared by ``station practice`` (:func:`run_practice`) and,
later, the kiosk. It plans the current level's exercises with their dose (each exercise with
each hand is a block of ``sets`` x ``trials_per_set`` trials), runs every trial through the same
engine and protocols as an assessment (:class:`station.assess.BatteryRun`, one trial at a time
through :func:`station.engine.run_trial`), records the session as a ``practice`` session with
each trial's exercise, hand, set and repetition, gives knowledge of results after each set, and
after the session applies the progression rules (:func:`station.programs.rules.decide`) and
stores the decision with its inputs.

Order of use::

    run = PracticeRun(rig, store, "P017", prescription_id, data_dir=...)
    hold = run.gate()                      # daily cap / week done: a stored "hold", or None
    stop = run.rate_before(pain, fatigue)  # pain at the stop value: a stored "stop", or None
    run.start()
    while (trial := run.next_trial()) is not None:
        if trial.rest_before_s: ...        # the rest between sets (the runner enforces it)
        result, feedback = run.run(trial)  # feedback after the last repetition of a set
        stop = run.rate_during(pain)       # optional, between sets: a stop ends the session
    run.finish("complete")
    decision = run.conclude(pain_after, fatigue_after, effort=3, sensations="tingling")
    summary = run.summary()

The wall clock (``now_utc``: "today", "this week", the times stored) and the time zone are
injected, so tests can run weeks of sessions.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from station.assess import BatteryRun, TrialResult, resolve_hand
from station.battery import Battery, Step
from station.errors import StationError
from station.programs.history import (
    level_since,
    pain_stops,
    session_record,
    sessions_in_week,
    sessions_on,
)
from station.programs.metrics import REPS_PARAMETER, format_value
from station.programs.program import Exercise, Level, Program, load_program
from station.programs.rules import (
    Decision,
    Rules,
    SessionRecord,
    baselines,
    check_cap,
    check_pain,
    decide,
)
from station.protocols.base import Pacer, Phase
from station.records import Metric
from station.rig import Rig

Say = Callable[[str], None]


class PracticeError(StationError):
    """A practice session cannot be planned or run (no prescription, paused, wrong order)."""


@dataclass(frozen=True)
class PlannedBlock:
    """An exercise with one hand, as today's session runs it."""

    exercise: Exercise
    hand: str  # recorded: right | left | both
    word: str  # the program's word for it: affected, dominant, ...

    @property
    def trials(self) -> int:
        return self.exercise.sets * self.exercise.trials_per_set

    def as_dict(self) -> dict[str, Any]:
        e = self.exercise
        return {
            "exercise": e.id,
            "drill": e.drill,
            "title": e.title,
            "protocol": e.protocol.name,
            "protocol_version": e.protocol.version,
            "hand": self.hand,
            "hand_word": self.word,
            "sets": e.sets,
            "reps": e.reps,
            "trials_per_set": e.trials_per_set,
            "rest_s": e.rest_s,
            "params": e.make().params_dict(),
            "criteria": [c.as_dict() for c in e.criteria],
        }


@dataclass(frozen=True)
class PracticePlan:
    program: Program
    level: Level
    blocks: tuple[PlannedBlock, ...]
    notices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "program": self.program.name,
            "program_version": self.program.version,
            "program_hash": self.program.sha256,
            "level": self.level.number,
            "level_title": self.level.title,
            "goal": self.level.goal,
            "notices": list(self.notices),
            "blocks": [b.as_dict() for b in self.blocks],
        }

    def describe(self) -> list[str]:
        lines = [f"Level {self.level.number} of {len(self.program.levels)}: {self.level.title}"]
        if self.level.goal:
            lines.append(f"  goal: {self.level.goal}")
        for b in self.blocks:
            e = b.exercise
            counted = e.protocol.name in REPS_PARAMETER
            unit = "repetition" if counted else "trial"
            reps = f"{e.reps} {unit}{'' if e.reps == 1 else 's'} in each"
            lines.append(f"  {e.title} ({b.hand} hand): {e.sets} sets, {reps}, rest {e.rest_s:g} s")
        lines += [f"  note: {n}" for n in self.notices]
        return lines


@dataclass(frozen=True)
class PlannedPracticeTrial:
    """The next trial: its block, set and repetition, and the rest due before it."""

    block_index: int
    block: PlannedBlock
    set_index: int  # 1-based
    rep_index: int  # 1-based within the set
    rest_before_s: float  # the rest between sets owed before this trial (0: none)
    inner: Any  # the assess.PlannedTrial

    @property
    def last_of_set(self) -> bool:
        return self.rep_index == self.block.exercise.trials_per_set


@dataclass(frozen=True)
class FeedbackLine:
    words: str
    value: str
    goal: str
    met: bool | None  # None: no goal yet (relative to a baseline not yet known)


@dataclass(frozen=True)
class SetFeedback:
    """Knowledge of results after a set."""

    exercise: str
    title: str
    hand: str
    set_index: int
    sets: int
    lines: tuple[FeedbackLine, ...]
    rest_s: float  # the rest before the next set (0 after the last)

    def text(self) -> str:
        head = f"{self.title} ({self.hand} hand), set {self.set_index} of {self.sets}"
        parts = []
        for x in self.lines:
            mark = "" if x.met is None else (" - goal met" if x.met else " - not yet")
            parts.append(f"{x.words} {x.value} (goal {x.goal}){mark}")
        body = "; ".join(parts) if parts else "done"
        rest = f" Rest {self.rest_s:g} s." if self.rest_s else ""
        return f"{head}: {body}.{rest}"


@dataclass(frozen=True)
class SummaryLine:
    title: str  # "Slow presses with the clicks, right hand"
    words: str
    today: str
    baseline: str  # "your start: 60 ms" or "today is your start"
    goal: str
    met: bool


@dataclass(frozen=True)
class PracticeSummary:
    level_before: int
    level_after: int
    decision: Decision
    lines: tuple[SummaryLine, ...]
    next_goal: str
    ratings: tuple[str, ...]

    def text(self) -> str:
        out = [f"Decision: {self.decision.reason}"]
        for x in self.lines:
            mark = "met" if x.met else "not yet"
            out.append(f"  {x.title}: {x.words} {x.today} ({x.baseline}; goal {x.goal}, {mark})")
        out += [f"  {r}" for r in self.ratings]
        out.append(f"Next goal: {self.next_goal}")
        return "\n".join(out)


def resolve_block_hands(word: str, participant: Any) -> tuple[list[str], str]:
    """A program's hand word -> the recorded hands it means, and a notice ("" if none)."""
    if word == "affected":
        side = getattr(participant, "affected_side", None)
        if side in ("right", "left"):
            return [side], ""
        if side == "both":
            return ["right", "left"], ""
        hand, _ = resolve_hand("dominant", participant.dominant_hand)
        return [hand], (
            f"no affected side is recorded for {participant.code}: the {hand} (dominant) hand "
            "practises; record it with `station participants add ... --affected-side`"
        )
    hand, _ = resolve_hand(word, participant.dominant_hand)
    return [hand], ""


def plan_level(program: Program, level_number: int, participant: Any) -> PracticePlan:
    level = program.level(level_number)
    blocks: list[PlannedBlock] = []
    notices: list[str] = []
    for exercise in level.exercises:
        for word in exercise.hands:
            hands, notice = resolve_block_hands(word, participant)
            if notice and notice not in notices:
                notices.append(notice)
            for hand in hands:
                if not any(b.exercise.id == exercise.id and b.hand == hand for b in blocks):
                    blocks.append(PlannedBlock(exercise, hand, word))
    return PracticePlan(program, level, tuple(blocks), tuple(notices))


def _assessed_max_force(store: Any, code: str) -> dict[str, tuple[float, int]]:
    """Per hand, the best maximal force of the participant's latest assessment that measured it
    (for targets in % of maximum), with that session's id."""
    found: dict[str, tuple[float, int]] = {}
    for s in store.participant_sessions(code, "max_force"):
        for m in s.metrics:
            if m.metric.name == "best_max_force_n" and m.metric.value:
                found[m.hand] = (float(m.metric.value), s.id)
    return found


class PracticeRun:
    """Today's practice session of one prescription (see the module docstring)."""

    def __init__(
        self,
        rig: Rig,
        store: Any,
        participant_code: str,
        prescription_id: int | None = None,
        *,
        data_dir: Path | None = None,
        program: Program | None = None,
        person: Any = None,
        say: Say = print,
        on_phase: Callable[[Phase, str], None] | None = None,
        pacer: Pacer | None = None,
        now_utc: Callable[[], datetime] | None = None,
        tz: tzinfo | None = None,
    ):
        self.rig = rig
        self.store = store
        self.person = person
        self.say = say
        self.on_phase = on_phase
        self.pacer = pacer
        self.now_utc = now_utc or (lambda: datetime.now(UTC))
        self.tz = tz
        participant = store.get_participant(participant_code)
        if participant is None:
            raise PracticeError(f"no participant {participant_code!r} (see `station participants`)")
        self.participant = participant
        self.prescription = self._find_prescription(prescription_id)
        rx = self.prescription
        if rx.status != "active":
            raise PracticeError(
                f"{participant_code}'s prescription of {rx.program_name} is {rx.status}: "
                "no practice until the clinician resumes it"
            )
        self.program = program or load_program(rx.program_name, data_dir)
        if self.program.name != rx.program_name:
            raise PracticeError(
                f"program {self.program.name!r} is not the one prescribed ({rx.program_name!r})"
            )
        if rx.current_level > len(self.program.levels):
            raise PracticeError(
                f"{rx.program_name} has {len(self.program.levels)} levels now but the "
                f"prescription is at level {rx.current_level}: the clinician sets the level"
            )
        own_stop = store.self_guided_access(participant_code).pain_stop_at
        self.rules: Rules = self.program.rules
        if own_stop is not None:
            self.rules = replace(self.rules, pain_stop_at=int(own_stop))
        self.level = rx.current_level
        self.plan = plan_level(self.program, self.level, participant)
        notices = list(self.plan.notices)
        if self.program.sha256 != rx.program_hash:
            notices.append(
                f"the program file changed since it was prescribed (version "
                f"{rx.program_version} -> {self.program.version}); this session uses the new one"
            )
        self.plan = PracticePlan(
            self.plan.program, self.plan.level, self.plan.blocks, tuple(notices)
        )
        self.history = [session_record(s) for s in store.practice_sessions(rx.id)]
        self._baselines = baselines(self.history, self.rules)
        self._battery = Battery(
            name=self.program.name,
            title=f"{self.program.title}, level {self.level}",
            steps=tuple(
                Step(
                    b.exercise.protocol,
                    b.exercise.params,
                    (b.hand,),
                    0,
                    b.trials,
                )
                for b in self.plan.blocks
            ),
            path=self.program.path,
            sha256=self.program.sha256,
        )
        self._run: BatteryRun | None = None
        self._before_ratings: list[int] = []
        self._pending: PlannedPracticeTrial | None = None
        self._set_trials: dict[tuple[int, int], list[TrialResult]] = {}
        self._last_block: int | None = None
        self._sets_seen: set[tuple[int, int]] = set()
        self.stop_decision: Decision | None = None
        self.decision: Decision | None = None
        self.status: str | None = None
        self.feedback: list[SetFeedback] = []
        self.max_force_from: dict[str, tuple[float, int]] = {}

    # -- the prescription ------------------------------------------------------------------

    def _find_prescription(self, prescription_id: int | None) -> Any:
        code = self.participant.code
        if prescription_id is not None:
            rx = self.store.prescription(prescription_id)
            if rx.participant_code != code:
                raise PracticeError(f"prescription {prescription_id} is not {code}'s")
            return rx
        found = [p for p in self.store.prescriptions(code) if p.status != "ended"]
        if not found:
            raise PracticeError(
                f"{code} has no practice program prescribed (`station prescribe {code} PROGRAM`)"
            )
        active = [p for p in found if p.status == "active"]
        if len(active) > 1:
            names = ", ".join(f"{p.program_name} (id {p.id})" for p in active)
            raise PracticeError(f"{code} has several programs ({names}): say which")
        return (active or found)[0]

    @property
    def session_id(self) -> int | None:
        return self._run.session_id if self._run is not None and self._run.result else None

    @property
    def battery(self) -> Battery:
        """Today's blocks as the battery the engine runs (the kiosk's run screen shows it)."""
        return self._battery

    def _today(self) -> tuple[int, int]:
        now = self.now_utc()
        day = now.astimezone(self.tz).date() if self.tz else now.astimezone().date()
        sessions = self.store.practice_sessions(self.prescription.id)
        return len(sessions_on(sessions, day, self.tz)), len(
            sessions_in_week(sessions, day, self.tz)
        )

    def _store_decision(self, d: Decision) -> Decision:
        self.store.add_decision(
            self.prescription.id,
            kind=d.kind,
            level_before=d.level_before,
            level_after=d.level_after,
            reason=d.reason,
            inputs=d.inputs,
            rules=d.rules,
            rule_version=d.rule_version,
            session_id=d.session_id,
            t_utc=self.now_utc(),
        )
        return d

    # -- before ----------------------------------------------------------------------------

    def gate(self) -> Decision | None:
        """Before anything: a stored ``hold`` when today's cap or this week's sessions are
        reached, else None."""
        hold = self.hold_today()
        return self._store_decision(hold) if hold is not None else None

    def hold_today(self) -> Decision | None:
        """The ``hold`` :meth:`gate` would store now (nothing stored): for a plan screen."""
        today, week = self._today()
        rx = self.prescription
        hold = check_cap(
            self.level,
            self.rules,
            sessions_today=today,
            daily_cap=rx.daily_cap,
            sessions_this_week=week,
            sessions_per_week=rx.sessions_per_week,
        )
        return hold

    def rate_before(self, pain: int, fatigue: int) -> Decision | None:
        """Pain and fatigue (0-10) before: stored; a stored ``stop`` when pain is at or above
        the stop value (the session must not start), else None."""
        code = self.participant.code
        t = self.now_utc()
        r1 = self.store.add_rating(code, "pain", "before", pain, t_utc=t)
        r2 = self.store.add_rating(code, "fatigue", "before", fatigue, t_utc=t)
        self._before_ratings = [r1.id, r2.id]
        stop = check_pain(self.level, pain, "before", self.rules)
        if stop is not None:
            self.stop_decision = self._store_decision(stop)
        return self.stop_decision

    # -- the session -----------------------------------------------------------------------

    def start(self) -> int:
        if self._run is not None:
            raise PracticeError("the session has started already")
        if self.stop_decision is not None:
            raise PracticeError("practice stopped for pain: the session does not start")
        if not self._before_ratings:
            raise PracticeError("rate pain and fatigue before the session first")
        run = BatteryRun(
            self.rig,
            self.store,
            self.participant,
            self._battery,
            person=self.person,
            say=self.say,
            on_phase=self.on_phase,
            session_kind="practice",
            started_utc=self.now_utc(),
        )
        self.max_force_from = _assessed_max_force(self.store, self.participant.code)
        for hand, (value, sid) in self.max_force_from.items():
            run.earlier[("max_force", hand)] = [
                Metric("best_max_force_n", value, "N", f"from assessment session {sid}")
            ]
        run.start()
        self._run = run
        sid = run.session_id
        self.store.add_practice_session(
            sid,
            self.prescription.id,
            level=self.level,
            program_version=self.program.version,
            program_hash=self.program.sha256,
            plan=self.plan.as_dict(),
        )
        self.store.attach_ratings(self._before_ratings, sid)
        return sid

    def next_trial(self) -> PlannedPracticeTrial | None:
        if self._run is None:
            raise PracticeError("start() first")
        if self.stop_decision is not None:
            return None
        while True:
            inner = self._run.next_trial()
            if inner is None:
                return None
            block = self.plan.blocks[inner.step_index]
            per_set = block.exercise.trials_per_set
            if inner.index > block.trials:  # a protocol asking for more trials: not in practice
                self._run.skip_rest_of_hand()
                continue
            set_index = (inner.index - 1) // per_set + 1
            rep_index = (inner.index - 1) % per_set + 1
            rest = 0.0
            if rep_index == 1 and set_index > 1:
                rest = block.exercise.rest_s
            planned = PlannedPracticeTrial(
                inner.step_index, block, set_index, rep_index, rest, inner
            )
            self._pending = planned
            return planned

    def rest(self, planned: PlannedPracticeTrial) -> None:
        """The rest owed before ``planned`` on the simulated backend: virtual time passes (in
        step with the host clock when paced). A real station's runner waits instead."""
        if planned.rest_before_s and self.rig.world is not None:
            self.rig.world.run_for(planned.rest_before_s)
            if self.pacer is not None:
                self.pacer.pace(self.rig.clock.now_ns())

    def run(
        self,
        planned: PlannedPracticeTrial,
        *,
        pacer: Pacer | None = None,
        on_context: Callable[[Any], None] | None = None,
    ) -> tuple[TrialResult, SetFeedback | None]:
        """Run and store one trial; after the last repetition of a set, the set's feedback.
        ``pacer`` (default: the run's) and ``on_context`` go to the engine (the kiosk's live
        feedback, :mod:`station.ui.practice`)."""
        if self._run is None or planned is not self._pending:
            raise PracticeError("run the trial next_trial() gave")
        self._pending = None
        result = self._run.run(planned.inner, pacer=pacer or self.pacer, on_context=on_context)
        self._run.review(None)
        self.store.add_practice_trial(
            result.trial_id,
            exercise=planned.block.exercise.id,
            hand=planned.block.hand,
            set_index=planned.set_index,
            rep_index=planned.rep_index,
        )
        key = (planned.block_index, planned.set_index)
        self._set_trials.setdefault(key, []).append(result)
        feedback = None
        if planned.last_of_set:
            feedback = self._set_feedback(planned, self._set_trials[key])
            self.feedback.append(feedback)
            self.say(f"   {feedback.text()}")
        return result, feedback

    def _set_feedback(
        self, planned: PlannedPracticeTrial, trials: list[TrialResult]
    ) -> SetFeedback:
        block = planned.block
        e = block.exercise
        lines = []
        for c in e.criteria:
            found = [
                m.value
                for t in trials
                if t.status == "complete"
                for m in t.metrics
                if m.name == c.metric and m.value is not None
            ]
            value = float(statistics.median(found)) if found else None
            baseline = self._baselines.get((e.id, block.hand, c.metric))
            met = None if c.goal(baseline) is None else c.met(value, baseline)
            lines.append(
                FeedbackLine(c.words, format_value(value, c.unit), c.describe(baseline), met)
            )
        rest = e.rest_s if planned.set_index < e.sets else 0.0
        return SetFeedback(e.id, e.title, block.hand, planned.set_index, e.sets, tuple(lines), rest)

    def rate_during(self, pain: int) -> Decision | None:
        """Pain rated during the session (between sets): stored; at or above the stop value a
        stored ``stop``, and no further trial runs (finish the session as ``aborted``)."""
        sid = self.session_id
        if sid is None:
            raise PracticeError("the session has not started")
        self.store.add_rating(
            self.participant.code, "pain", "during", pain, session_id=sid, t_utc=self.now_utc()
        )
        stop = check_pain(self.level, pain, "during", self.rules, sid)
        if stop is not None and self.stop_decision is None:
            self.stop_decision = self._store_decision(stop)
        return stop

    def finish(self, status: str) -> None:
        """End the session: ``complete``, ``incomplete`` or ``aborted``."""
        if self._run is None:
            raise PracticeError("the session has not started")
        self._run.finish(status, ended_utc=self.now_utc())
        self.status = status

    # -- after -----------------------------------------------------------------------------

    def conclude(
        self,
        pain_after: int,
        fatigue_after: int,
        *,
        effort: float | None = None,
        sensations: str = "",
    ) -> Decision:
        """Store the ratings after (and the sensations), apply the rules, store the decision.
        After a stop for pain during the session the stop is the decision."""
        sid = self.session_id
        if sid is None or self.status is None:
            raise PracticeError("finish() the session first")
        code = self.participant.code
        t = self.now_utc()
        self.store.add_rating(code, "pain", "after", pain_after, session_id=sid, t_utc=t)
        self.store.add_rating(code, "fatigue", "after", fatigue_after, session_id=sid, t_utc=t)
        if effort is not None:
            self.store.add_rating(code, "borg_cr10", "after", effort, session_id=sid, t_utc=t)
        if sensations.strip():
            self.store.set_practice_sensations(sid, sensations)
        if self.stop_decision is not None:
            self.decision = self.stop_decision
            return self.decision
        rx = self.store.prescription(self.prescription.id)
        if rx.current_level != self.level:
            raise PracticeError(
                f"the level changed during the session ({self.level} -> {rx.current_level}): "
                "no decision is taken on this session"
            )
        stored = self.store.practice_sessions(rx.id)
        history = [session_record(s) for s in stored]
        decisions = self.store.decisions(rx.id)
        changes = self.store.prescription_changes(rx.id)
        decision = decide(
            self.program,
            self.level,
            history,
            self.rules,
            level_since_utc=level_since(rx, decisions, changes),
            stops_utc=pain_stops(decisions),
        )
        self.history = history
        self.decision = self._store_decision(decision)
        return self.decision

    def summary(self) -> PracticeSummary:
        """Today against the participant's own baseline, the ratings, and the next goal."""
        if self.decision is None:
            raise PracticeError("conclude() first")
        sid = self.session_id
        record: SessionRecord | None = next((r for r in self.history if r.session_id == sid), None)
        base = baselines(self.history, self.rules)
        lines: list[SummaryLine] = []
        for b in self.plan.blocks:
            block = record.block(b.exercise.id, b.hand) if record else None
            for c in b.exercise.criteria:
                value = block.session_value(c.metric) if block else None
                baseline = base.get((b.exercise.id, b.hand, c.metric))
                n = len(self.history)
                start = (
                    f"your start is being measured (session {n} of {self.rules.baseline_sessions})"
                    if n <= self.rules.baseline_sessions
                    else f"your start: {format_value(baseline, c.unit)}"
                )
                lines.append(
                    SummaryLine(
                        f"{b.exercise.title}, {b.hand} hand",
                        c.words,
                        format_value(value, c.unit),
                        start,
                        c.describe(baseline),
                        c.met(value, baseline),
                    )
                )
        ratings = []
        if record is not None:
            for scale, a, z in (
                ("Pain", record.pain_before, record.pain_after),
                ("Fatigue", record.fatigue_before, record.fatigue_after),
            ):
                if a is not None or z is not None:
                    ratings.append(f"{scale}: {_num(a)} before, {_num(z)} after")
            if record.effort is not None:
                ratings.append(f"Effort (Borg CR10): {record.effort:g}")
        d = self.decision
        return PracticeSummary(
            d.level_before, d.level_after, d, tuple(lines), self._next_goal(d, base), tuple(ratings)
        )

    def _next_goal(self, d: Decision, base: dict[tuple[str, str, str], float | None]) -> str:
        if d.kind == "stop":
            return "Rest your hand and contact your therapist before practising again."
        plan = plan_level(self.program, d.level_after, self.participant)
        level = plan.level
        goals = [
            f"{b.exercise.title} ({b.hand} hand): {c.words} "
            f"{c.describe(base.get((b.exercise.id, b.hand, c.metric)))}"
            for b in plan.blocks
            for c in b.exercise.criteria
        ]
        need = self.rules.advance_sessions
        head = f"Level {level.number}: {level.title}." + (f" {level.goal}" if level.goal else "")
        if level.number == len(self.program.levels) and d.kind != "regress":
            tail = "This is the last level: keep meeting its goals"
        else:
            tail = f"Meet every goal in {need} sessions in a row"
        return f"{head} {tail}: " + "; ".join(goals) + "."


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


@dataclass
class PracticeOutcome:
    """What :func:`run_practice` did."""

    plan: PracticePlan
    decision: Decision
    session_id: int | None = None
    status: str | None = None
    summary: PracticeSummary | None = None
    feedback: list[SetFeedback] = field(default_factory=list)


Ratings = Callable[[str, str], float | None]
"""``ask(scale, timing)`` -> a rating (pain/fatigue 0-10, borg_cr10 0-10), or None to skip an
optional one (effort)."""


def run_practice(
    run: PracticeRun,
    ask: Ratings,
    *,
    rest: Callable[[PlannedPracticeTrial], None] | None = None,
    sensations: Callable[[], str] | None = None,
    ready: Callable[[PracticeRun], None] | None = None,
) -> PracticeOutcome:
    """Run today's session of ``run`` from a terminal (or a test): the gate, ratings before,
    every trial with the rests between sets, ratings after, the decision, the summary.

    ``rest(planned)`` enforces the rest before a trial that starts a new set (default: the
    simulated rest of :meth:`PracticeRun.rest`). ``ready(run)`` is called once the gate has
    passed, before anything is asked (e.g. to refuse early when a rating could not be asked).
    Ctrl-C stores the session as aborted (no decision: the ratings after were not given) and is
    raised again."""
    say = run.say
    for line in run.plan.describe():
        say(line)
    hold = run.gate()
    if hold is not None:
        return PracticeOutcome(run.plan, hold)
    if ready is not None:
        ready(run)
    pain = ask("pain", "before")
    fatigue = ask("fatigue", "before")
    if pain is None or fatigue is None:
        raise PracticeError("pain and fatigue before the session are needed")
    stop = run.rate_before(int(pain), int(fatigue))
    if stop is not None:
        return PracticeOutcome(run.plan, stop)
    sid = run.start()
    status = "incomplete"
    try:
        while (planned := run.next_trial()) is not None:
            if planned.rest_before_s:
                (rest or run.rest)(planned)
            run.run(planned)
        status = "aborted" if run.stop_decision is not None else "complete"
    except KeyboardInterrupt:
        status = "aborted"
        raise
    finally:
        run.finish(status)
    pain_after = ask("pain", "after")
    fatigue_after = ask("fatigue", "after")
    if pain_after is None or fatigue_after is None:
        raise PracticeError("pain and fatigue after the session are needed")
    effort = ask("borg_cr10", "after")
    decision = run.conclude(
        int(pain_after),
        int(fatigue_after),
        effort=effort,
        sensations=sensations() if sensations is not None else "",
    )
    return PracticeOutcome(run.plan, decision, sid, status, run.summary(), list(run.feedback))


__all__ = [
    "FeedbackLine",
    "PlannedBlock",
    "PlannedPracticeTrial",
    "PracticeError",
    "PracticeOutcome",
    "PracticePlan",
    "PracticeRun",
    "PracticeSummary",
    "SetFeedback",
    "SummaryLine",
    "plan_level",
    "resolve_block_hands",
    "run_practice",
]
